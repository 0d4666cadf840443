/**
 * Issue #19 item 9: a table of malformed command lines. Each must be a usage error (exit 2) naming the option, before
 * any file or network access (the inputs named here do not exist, so a command line that slipped through would end
 * in INPUT_NOT_FOUND, exit 1, and fail the test). Runs `main()` in-process, so the whole table costs about a second.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { decimalValue, parseBbox, parseInteger, parseList, parseNumber } from '../src/cli/options.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-malformed-'));
const OUT = path.join(tmp, 'out');
const NOWHERE = path.join(tmp, 'does-not-exist.tif');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const detect = (...extra: string[]): string[] => ['detect', '--preset', 'water', '--after', NOWHERE, '--out', OUT, ...extra];
const search = (...extra: string[]): string[] => ['search', '--bbox', '0,0,1,1', '--datetime', '2020-01-01/2020-02-01', '--stac-api', 'http://127.0.0.1:9/', ...extra];

/** [command line, a pattern the message must contain (the option)]. */
export const MALFORMED: [string[], RegExp][] = [
  // empty values (--bbox '', --bands '', --out '' and the rest)
  [detect('--bbox', ''), /--bbox/],
  [detect('--bands', ''), /--bands/],
  [detect('--out', ''), /--out/],
  [detect('--out', '  '), /--out/],
  [['detect', '--preset', 'water', '--after', '', '--out', OUT], /--after/],
  [detect('--before', ''), /--before/],
  [detect('--before-bands', ''), /--before-bands/],
  [detect('--cva-bands', ''), /--cva-bands/],
  [detect('--method', ''), /--method/],
  [detect('--model', ''), /--model/],
  [detect('--before-scl', ''), /--before-scl/],
  [detect('--allow-host', ''), /--allow-host/],
  [detect('--event-date', ''), /--event-date/],
  [detect('--threshold', ''), /--threshold/],
  // numbers: decimal only
  [detect('--threshold', '0x10'), /--threshold/],
  [detect('--threshold', '1e'), /--threshold/],
  [detect('--threshold', 'Infinity'), /--threshold/],
  [detect('--threshold', '-Infinity'), /--threshold/],
  [detect('--threshold', 'NaN'), /--threshold/],
  [detect('--threshold', ' '), /--threshold/],
  [detect('--threshold', '0b11'), /--threshold/],
  [detect('--threshold', '0o7'), /--threshold/],
  [detect('--threshold', '1_000'), /--threshold/],
  [detect('--threshold', '0.5.1'), /--threshold/],
  [detect('--threshold', '1e400'), /--threshold/],
  [detect('--bbox', '0x10,1,20,30'), /--bbox/],
  [detect('--bbox', '1,2,3'), /--bbox/],
  [detect('--bbox', '1,2,3,Infinity'), /--bbox/],
  [detect('--min-area', '-1'), /--min-area/],
  [detect('--min-area', '0o7'), /--min-area/],
  [detect('--cloud-buffer', '2.5e'), /--cloud-buffer/],
  [detect('--threads', '1.5'), /--threads/],
  [detect('--threads', '0x2'), /--threads/],
  [detect('--max-pixels', 'abc'), /--max-pixels/],
  [detect('--max-memory', '1e9999'), /--max-memory/],
  [detect('--decode-timeout', '0'), /--decode-timeout/],
  [detect('--decode-memory', '0x400'), /--decode-memory/],
  [detect('--scale', '-1'), /--scale/],
  [detect('--offset', '1,000'), /--offset/],
  [detect('--timeout', '0x5'), /--timeout/],
  [detect('--request-time', 'Infinity'), /--request-time/],
  [detect('--max-time', '-1'), /--max-time/],
  [detect('--max-time', '1h'), /--max-time/],
  [detect('--max-fetch-mb', '1e'), /--max-fetch-mb/],
  // lists and choices
  [detect('--bands', 'B2,,B4'), /--bands/],
  [detect('--bands', 'B2,B3,'), /--bands/],
  [detect('--cva-bands', 'B4,B99'), /--cva-bands/],
  [detect('--method', 'bogus'), /--method/],
  [detect('--engine', 'fast'), /--engine/],
  [detect('--allow-host', 'http://10.0.0.5/'), /--allow-host/],
  [['detect', '--preset', 'nope', '--after', NOWHERE, '--out', OUT], /nope/],
  [['detect', '--preset', 'water', '--out', OUT], /--after/],
  [detect('--event-date', '2020-02-30', '--bbox', '0,0,1,1', '--after', NOWHERE), /--event-date/],
  // other commands
  [search('--bbox', ''), /--bbox/],
  [search('--limit', '1e'), /--limit/],
  [search('--max-cloud', '0x10'), /--max-cloud/],
  [search('--datetime', ''), /--datetime/],
  [search('--timeout', 'Infinity'), /--timeout/],
  [['pair', '--event-date', '2020-02-01', '--bbox', '0,0,1,1', '--window-days', '0x1e', '--stac-api', 'http://127.0.0.1:9/'], /--window-days/],
  [['eval', '--pred', NOWHERE, '--truth', NOWHERE, '--truth-change', ''], /--truth-change/],
  [['eval', '--pred', NOWHERE, '--truth', NOWHERE, '--truth-change', '1,,2'], /--truth-change/],
  [['eval', '--pred', NOWHERE, '--truth', NOWHERE, '--truth-change', '0x1'], /--truth-change/],
  [['info', NOWHERE, '--bands', ''], /--bands/],
  [['info', NOWHERE, '--decode-timeout', 'Infinity'], /--decode-timeout/],
  [['demo', '--only', ''], /--only/],
  [['demo', '--out', ''], /--out/],
  [['demo', '--max-time', '0x10'], /--max-time/],
  [['bench', 'speed', '--runs', '0x3'], /--runs/],
  [['bench', 'speed', '--runs', '2.5'], /--runs/],
  [['bench', 'speed', '--size', '0x800'], /--size/],
  [['bench', 'speed', '--threads', '1.5'], /--threads/],
];

describe('malformed command lines are usage errors (exit 2) naming the option', () => {
  it(`${MALFORMED.length} command lines`, async () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      writes.push(String(s));
      return true;
    });
    const failures: string[] = [];
    try {
      for (const [argv, re] of MALFORMED) {
        writes.length = 0;
        const code = await main(['node', 's2change', ...argv]);
        const stderr = writes.join('');
        if (code !== 2 || !re.test(stderr) || /unexpected error/.test(stderr)) {
          failures.push(`${JSON.stringify(argv)} -> exit ${code}: ${stderr.trim().split('\n')[0]}`);
        }
      }
    } finally {
      spy.mockRestore();
    }
    expect(failures).toEqual([]);
  });

  it('control: the same lines made well-formed get past parsing (exit 1, INPUT_NOT_FOUND for the missing input)', async () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      writes.push(String(s));
      return true;
    });
    try {
      for (const argv of [detect('--threshold', '0.5', '--bbox', '0,0,1,1', '--bands', 'B3,B8', '--threads', '2', '--max-time', '0'),
        detect('--threshold', '-1e-1', '--min-area', '.5', '--allow-host', '10.0.0.5:8080', '--request-time', '30')]) {
        writes.length = 0;
        expect(await main(['node', 's2change', ...argv])).toBe(1);
        expect(writes.join('')).toMatch(/INPUT_NOT_FOUND/);
      }
    } finally {
      spy.mockRestore();
    }
  });
});

describe('the parsers accept plain decimals and refuse the rest', () => {
  it('decimalValue / parseNumber / parseInteger / parseList / parseBbox', () => {
    for (const [t, v] of [['12', 12], ['-0.5', -0.5], ['.25', 0.25], ['+3', 3], ['1e3', 1000], ['2.5E-2', 0.025], [' 7 ', 7], ['0', 0], ['5.', 5]] as const) {
      expect(decimalValue(t), t).toBe(v);
      expect(parseNumber('--x', t), t).toBe(v);
    }
    for (const t of ['', ' ', '0x10', '0X1F', '1e', 'e3', '1e+', 'Infinity', 'NaN', '0b1', '0o7', '1_0', '1,5', '--1', '.', '1..2']) {
      expect(decimalValue(t), t).toBeNaN();
      expect(() => parseNumber('--x', t), t).toThrow(/--x/);
    }
    expect(() => parseNumber('--x', '1e400')).toThrow(/--x/);
    expect(() => parseNumber('--x', '5', 0, 4)).toThrow(/between 0 and 4/);
    expect(parseInteger('--n', '8', 1)).toBe(8);
    expect(() => parseInteger('--n', '8.5')).toThrow(/whole number/);
    expect(parseList('B2, B3 ,-,B8A', '--bands')).toEqual(['B2', 'B3', '-', 'B8A']);
    for (const t of ['', ',', 'B2,', ',B2', 'B2,,B3', ' ']) expect(() => parseList(t, '--bands'), t).toThrow(/--bands/);
    expect(parseBbox(' 19.4, 41.7,19.6 ,41.85')).toEqual({ minX: 19.4, minY: 41.7, maxX: 19.6, maxY: 41.85 });
    expect(() => parseBbox('0x1,0,1,1')).toThrow(/--bbox/);
  });
});
