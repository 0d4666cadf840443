/**
 * The pure raster core (raster/, indices/, change/, eval/) must run in a browser or a worker unchanged: it may not
 * import Node built-ins, file or image libraries, or anything from the I/O, report, pipeline or CLI layers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const PURE = ['raster', 'indices', 'change', 'eval'];
const FORBIDDEN = /from\s+'(node:[^']+|fs|path|os|child_process|sharp|geotiff|piscina|commander|[./]+\/(io|report|pipeline|cli|engine|bench)\/[^']*)'/;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []);
}

describe('architecture', () => {
  it('the pure core imports no Node, I/O, image or CLI code', () => {
    const offenders: string[] = [];
    for (const dir of PURE) {
      for (const f of files(path.join('src', dir))) {
        readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
          if (FORBIDDEN.test(line)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
        });
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the check itself catches a forbidden import', () => {
    expect(FORBIDDEN.test("import { readFile } from 'node:fs/promises';")).toBe(true);
    expect(FORBIDDEN.test("import { x } from '../../io/scene.js';")).toBe(true);
    expect(FORBIDDEN.test("import { otsuThreshold } from '../otsu.js';")).toBe(false);
  });
});
