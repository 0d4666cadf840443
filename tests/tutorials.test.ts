/**
 * The tutorials in docs/tutorials/ (issue #18): every command they show is run on the sample data and every number
 * and figure they quote must match the run (scripts/tutorials.mjs --check). A second case proves the check can fail:
 * a tutorial whose number disagrees with its run, and whose figure was never committed, must be refused by name.
 * Skipped when the sample data folder is absent.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { dataDir } from './helpers/gdal.js';

const run = promisify(execFile);
const DATA = dataDir();
const SCRIPT = path.resolve(__dirname, '..', 'scripts', 'tutorials.mjs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-tutorials-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Run the script; resolve to its exit code and stderr (never throw on a non-zero exit). */
async function tutorials(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run(process.execPath, [SCRIPT, ...args], { env: { ...process.env, S2CHANGE_DATA: DATA }, maxBuffer: 64 << 20 });
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stderr: String(e.stderr ?? err) };
  }
}

describe.skipIf(!existsSync(DATA))('docs/tutorials', () => {
  it('every command runs, every number and figure matches the text (scripts/tutorials.mjs --check)', async () => {
    const { code, stderr } = await tutorials(['--check', '--work', path.join(tmp, 'work')]);
    // on failure the script's own message names the tutorial, the number or figure, and what the run gave
    if (code !== 0) expect.fail(`scripts/tutorials.mjs --check exited ${code}:\n${stderr.slice(-4000)}`);
    expect(stderr).toMatch(/tutorials checked: construction\.md, flood\.md, vegetation\.md, wildfire\.md, your-own-area\.md/);
  }, 300_000);

  it('refuses a tutorial whose number differs from its run and whose figure is not committed', async () => {
    const dir = path.join(tmp, 'tampered');
    mkdirSync(dir, { recursive: true });
    const chip = '$S2CHANGE_DATA/wildfire-calfire-s2/data';
    writeFileSync(path.join(dir, 'fire.md'), [
      '<!-- run -->',
      '```sh',
      `s2change detect --preset wildfire --no-coregister --out t --before "${chip}/pre_fire/5_INCIDENT_20240715.tif" \\`,
      `  --after "${chip}/post_fire/5_INCIDENT_20240715.tif"`,
      '```',
      // the chip is 107 × 226 px (gdalinfo): 24182 pixels; the text claims one more
      'Pixels: <!--= t/summary.json pixels.total 0 -->24183, width <!--= t/summary.json grid.width 0 -->107.',
      '<!-- figure: t/change.png -->',
      '![change](figures/fire-change.png)',
      '',
    ].join('\n'));
    const { code, stderr } = await tutorials(['--check', '--dir', dir, '--work', path.join(tmp, 'work-tampered')]);
    expect(code).toBe(1);
    expect(stderr).toContain('fire.md: the text says 24183 for t/summary.json pixels.total, the run gives 24182');
    expect(stderr).toContain('fire.md: figure fire-change.png is not committed');
    expect(stderr).not.toContain('grid.width');
    expect(stderr).toMatch(/2 problem\(s\)/);
  }, 120_000);
});
