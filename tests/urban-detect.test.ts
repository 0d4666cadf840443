/**
 * `detect --preset urban` and its model (issue 14 item 5): the learned model with --model FILE or from the cache
 * directory, named in summary.json and the report; without one, the best unsupervised method with a note; typed
 * errors for missing and malformed model files. The model is trained on synthetic pairs with planted construction
 * (tests/helpers/urban-model.ts), and the map is scored against those planted pixels.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { URBAN_UNSUPERVISED_METHOD, urban } from '../src/change/presets/urban.js';
import { isS2ChangeError } from '../src/errors.js';
import { chooseUrbanModel, TRAIN_URBAN_MODEL_COMMAND, URBAN_MODEL_FILE } from '../src/pipeline/urban-model-choice.js';
import { userCacheDir as urbanCacheDir } from '../src/io/cache-dir.js';
import { openTiffFile } from '../src/io/tiff/index.js';
import type { Grid } from '../src/raster/grid.js';
import { trainTestModel, writeModel, writeUrbanPair } from './helpers/urban-model.js';

const CLI = path.resolve('dist/cli/main.js');
const dir = mkdtempSync(path.join(tmpdir(), 's2change-urban-detect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const grid: Grid = { crs: { epsg: 32631 }, transform: [440000, 10, 0, 5400000, 0, -10], width: 120, height: 100 };
let modelFile = '';
let pair: { before: string; after: string; truth: Uint8Array };

beforeAll(async () => {
  modelFile = writeModel(path.join(dir, 'models', 'urban-model.json'), trainTestModel());
  pair = await writeUrbanPair(path.join(dir, 'pair'), grid, 21);
}, 60_000);

/** sha256sum (coreutils) of a file: an oracle independent of node:crypto. */
function sha256sum(file: string): string {
  return spawnSync('sha256sum', [file], { encoding: 'utf8' }).stdout.split(' ')[0]!;
}

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function readClasses(file: string): Promise<Uint8Array> {
  const t = await openTiffFile(file);
  try {
    const [v] = await t.images[0]!.readWindow(undefined, [0]);
    return v as Uint8Array;
  } finally {
    await t.close();
  }
}

describe('urban model choice', () => {
  it('cache directory: $S2CHANGE_CACHE, else $XDG_CACHE_HOME/s2change, else ~/.cache/s2change', () => {
    expect(urbanCacheDir({ S2CHANGE_CACHE: '/a/b', XDG_CACHE_HOME: '/x' })).toBe('/a/b');
    expect(urbanCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/s2change');
    expect(urbanCacheDir({ HOME: '/home/u' })).toMatch(/\.cache\/s2change$/);
    // The tests run with a cache directory that does not exist (vitest.config.ts): no user's model leaks in.
    expect(existsSync(urbanCacheDir())).toBe(false);
  });

  it('without a model: the unsupervised default and a note with the expected accuracy and the training command', async () => {
    const c = await chooseUrbanModel({ env: { S2CHANGE_CACHE: path.join(dir, 'empty-cache') } });
    expect(c.method).toBe(URBAN_UNSUPERVISED_METHOD);
    expect(urban.defaultMethod).toBe(URBAN_UNSUPERVISED_METHOD);
    expect(c.info).toBeNull();
    expect(c.notes).toHaveLength(1);
    expect(c.notes[0]).toContain('docs/ACCURACY.md');
    expect(c.notes[0]).toContain(TRAIN_URBAN_MODEL_COMMAND);
    expect(c.notes[0]).toContain(path.join(dir, 'empty-cache', URBAN_MODEL_FILE));
    // An explicit method runs without a model and without the note.
    expect(await chooseUrbanModel({ method: 'cva', env: { S2CHANGE_CACHE: path.join(dir, 'empty-cache') } })).toEqual({ method: 'cva', info: null, notes: [] });
  });

  it('a model in the cache directory is found and named; --model wins over it', async () => {
    const cache = path.join(dir, 'cache-a');
    mkdirSync(cache, { recursive: true });
    writeFileSync(path.join(cache, URBAN_MODEL_FILE), readFileSync(modelFile));
    const c = await chooseUrbanModel({ env: { S2CHANGE_CACHE: cache } });
    expect(c.method).toBe('learned');
    expect(c.info).toMatchObject({ path: path.join(cache, URBAN_MODEL_FILE), foundBy: 'cache', version: 1, trainingCities: ['north', 'south'] });
    expect(c.info!.sha256).toBe(sha256sum(path.join(cache, URBAN_MODEL_FILE)));
    const o = await chooseUrbanModel({ modelPath: modelFile, env: { S2CHANGE_CACHE: cache } });
    expect(o.info).toMatchObject({ path: modelFile, foundBy: 'option' });
  });

  it('a missing, malformed or foreign model file is a ModelError naming the file and the fix', async () => {
    const expectModelError = async (p: Promise<unknown>, file: string, found: RegExp) => {
      const err = await p.then(() => null, (e: unknown) => e);
      expect(isS2ChangeError(err, 'MODEL'), String(err)).toBe(true);
      expect((err as Error).message).toContain(file);
      expect((err as Error).message).toMatch(found);
      expect((err as Error).message).toMatch(/bench accuracy --dataset oscd/);
    };
    const missing = path.join(dir, 'no-such-model.json');
    await expectModelError(chooseUrbanModel({ modelPath: missing }), missing, /ENOENT/);
    const bad = path.join(dir, 'truncated.json');
    writeFileSync(bad, readFileSync(modelFile, 'utf8').slice(0, 200));
    await expectModelError(chooseUrbanModel({ modelPath: bad }), bad, /JSON/);
    const foreign = path.join(dir, 'forest.json');
    writeFileSync(foreign, JSON.stringify({ format: 'something-else', version: 1 }));
    await expectModelError(chooseUrbanModel({ modelPath: foreign }), foreign, /format/);
    // A malformed model in the cache is refused too (it is named, with how to get rid of it).
    const cache = path.join(dir, 'cache-bad');
    mkdirSync(cache, { recursive: true });
    writeFileSync(path.join(cache, URBAN_MODEL_FILE), '{');
    await expectModelError(chooseUrbanModel({ env: { S2CHANGE_CACHE: cache } }), path.join(cache, URBAN_MODEL_FILE), /delete it/);
    // --method learned without any model.
    await expect(chooseUrbanModel({ method: 'learned', env: { S2CHANGE_CACHE: path.join(dir, 'empty-cache') } })).rejects.toThrow(/--model FILE/);
    // --model with another method is a usage error.
    await expect(chooseUrbanModel({ method: 'cva', modelPath: modelFile })).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe.skipIf(!existsSync(CLI))('detect --preset urban (compiled CLI)', () => {
  const run = (name: string, extra: string[], env: Record<string, string> = {}) => {
    const out = path.join(dir, name);
    const r = cli(['detect', '--before', pair.before, '--after', pair.after, '--preset', 'urban', '--out', out, '--json', ...extra], env);
    return { ...r, out, summary: r.code === 0 ? JSON.parse(r.stdout) : null };
  };

  it('--model FILE: the learned model finds the planted construction and is named in summary.json and the report', async () => {
    const r = run('with-model', ['--model', modelFile]);
    expect(r.code, r.stderr).toBe(0);
    const s = r.summary;
    expect(s.method).toBe('learned');
    expect(s.urbanModel).toMatchObject({
      path: modelFile, foundBy: 'option', format: 's2change-urban-model', version: 1, trainingCities: ['north', 'south'],
      looScore: { f1: 0.9 },
    });
    expect(s.urbanModel.sha256).toBe(sha256sum(modelFile));
    expect(s.thresholds[0].name).toBe('learned change probability');
    expect(s.warnings.join(' ')).not.toMatch(/No learned urban model/);
    const html = readFileSync(path.join(r.out, 'report.html'), 'utf8');
    expect(html).toContain('Urban model:');
    expect(html).toContain(modelFile);
    expect(html).toContain('BY-NC-SA');
    // Scored against the planted pixels (the truth of the synthetic pair), not against our own output.
    const classes = await readClasses(path.join(r.out, 'change.tif'));
    let tp = 0, fp = 0, fn = 0;
    for (let i = 0; i < classes.length; i++) {
      const p = classes[i] === 1, t = pair.truth[i] === 1;
      if (p && t) tp++; else if (p) fp++; else if (t) fn++;
    }
    expect(tp / (tp + fn)).toBeGreaterThan(0.7);
    expect(tp / (tp + fp)).toBeGreaterThan(0.7);
  });

  it('a model in $S2CHANGE_CACHE is used without --model; without one, the unsupervised default and its note', () => {
    const cache = path.join(dir, 'cache-cli');
    mkdirSync(cache, { recursive: true });
    writeFileSync(path.join(cache, URBAN_MODEL_FILE), readFileSync(modelFile));
    const found = run('from-cache', [], { S2CHANGE_CACHE: cache });
    expect(found.code, found.stderr).toBe(0);
    expect(found.summary.method).toBe('learned');
    expect(found.summary.urbanModel).toMatchObject({ path: path.join(cache, URBAN_MODEL_FILE), foundBy: 'cache' });

    const none = run('no-model', []);
    expect(none.code, none.stderr).toBe(0);
    expect(none.summary.method).toBe(URBAN_UNSUPERVISED_METHOD);
    expect(none.summary.urbanModel).toBeNull();
    const note = none.summary.warnings.find((w: string) => w.startsWith('No learned urban model'));
    expect(note).toContain(TRAIN_URBAN_MODEL_COMMAND);
    expect(readFileSync(path.join(none.out, 'report.html'), 'utf8')).toContain('docs/ACCURACY.md');
  });

  it('a missing model file: exit 1, MODEL error naming the file, nothing written', () => {
    const missing = path.join(dir, 'nope', 'urban-model.json');
    const r = run('missing-model', ['--model', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('MODEL');
    expect(r.stderr).toContain(missing);
    expect(existsSync(r.out) ? readdirSync(r.out) : []).toEqual([]);
  });
});
