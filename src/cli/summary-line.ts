/**
 * The one-line account of a run printed by `detect` and `demo`.
 */
import type { RunSummary } from '../pipeline/run-detect.js';

/** "flood/otsu  new water 123.4 ha (5.6 %) …  valid 98.7 %  → out/x/report.html" */
export function runLine(out: string, s: RunSummary, changeClasses: readonly number[]): string {
  const parts = s.areas
    .filter((a) => changeClasses.includes(a.value))
    .map((a) => `${a.name} ${fmtHa(a.hectares)} (${a.percent.toFixed(1)} %)`);
  return `${s.preset.name}/${s.method}  ${parts.join(', ')}  valid ${s.pixels.validPercent.toFixed(1)} %  → ${out}/report.html`;
}

export function fmtHa(ha: number): string {
  return ha >= 100 ? `${ha.toFixed(0)} ha` : `${ha.toFixed(2)} ha`;
}

export function printRunLine(stream: NodeJS.WritableStream, out: string, s: RunSummary, changeClasses?: readonly number[]): void {
  const cc = changeClasses ?? s.classes.filter((c) => c.value !== 0).map((c) => c.value);
  stream.write(`${runLine(out, s, cc)}\n`);
  for (const w of s.warnings) stream.write(`  warning: ${w}\n`);
}
