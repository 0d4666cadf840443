/**
 * Drawings for the self-contained report: the histogram of the index with the thresholds drawn (inline SVG), and
 * a scale bar under each map picture (HTML, sized in percent of the picture). Pure text builders: no I/O, no scripts; every label is escaped.
 */
import type { IndexHistogram } from '../change/index-histogram.js';
import { rgbHex, type Rgb } from './palette.js';

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const num = (v: number): string => String(Number(v.toPrecision(4)));

/** A step of 1, 2 or 5 × 10^k near `span / ticks`. */
export function niceStep(span: number, ticks = 5): number {
  const raw = span / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/** The class the rules give a value (first match), or 0. */
function classOf(rules: NonNullable<IndexHistogram['classRules']>, v: number): number {
  for (const r of rules) {
    if (r.op === '<' ? v < r.bound : r.op === '<=' ? v <= r.bound : r.op === '>=' ? v >= r.bound : v > r.bound) return r.class;
  }
  return 0;
}

/** Display range of a histogram: its 0.1–99.9 % of pixels, widened to show every threshold bound. */
function displayRange(h: IndexHistogram, bounds: number[]): [number, number] {
  const total = h.counts.reduce((a, b) => a + b, 0);
  let acc = 0;
  let lo = h.min;
  let hi = h.max;
  let loSet = false;
  for (let k = 0; k < h.counts.length; k++) {
    acc += h.counts[k]!;
    if (!loSet && acc >= 0.001 * total) { lo = h.min + k * h.binWidth; loSet = true; }
    if (acc >= 0.999 * total) { hi = h.min + (k + 1) * h.binWidth; break; }
  }
  for (const b of bounds) if (b >= -2 && b <= 2) { lo = Math.min(lo, b); hi = Math.max(hi, b); }
  const pad = Math.max(0.05 * (hi - lo), h.binWidth);
  return [lo - pad, hi + pad];
}

/**
 * The histogram of the index as an SVG bar chart: bars coloured by the class the rules give their centre (grey
 * without rules), a dashed line at each threshold bound with its rule, axes in index units and pixels.
 * Null when the histogram is empty.
 */
export function histogramSvg(h: IndexHistogram, classColours: Record<number, Rgb | string> = {}, bars = 120): string | null {
  if (!h.counts.length) return null;
  const rules = h.classRules;
  const bounds = rules ? [...new Set(rules.map((r) => r.bound))] : h.thresholds.map((t) => t.value);
  const [lo, hi] = displayRange(h, bounds);
  const bw = (hi - lo) / bars;
  const sums = new Float64Array(bars);
  for (let k = 0; k < h.counts.length; k++) {
    const centre = h.min + (k + 0.5) * h.binWidth;
    const j = Math.floor((centre - lo) / bw);
    if (j >= 0 && j < bars) sums[j]! += h.counts[k]!;
  }
  const max = Math.max(...sums, 1);
  const W = 720, H = 250, L = 60, R = 12, T = 12, B = 44;
  const pw = W - L - R, ph = H - T - B;
  const x = (v: number) => L + ((v - lo) / (hi - lo)) * pw;
  const y = (c: number) => T + ph - (c / max) * ph;
  const colour = (v: number): string => {
    if (!rules) return '#8a8a8a';
    const c = classOf(rules, v);
    const col = classColours[c];
    if (c === 0 || col === undefined) return '#c8c8c8';
    return typeof col === 'string' ? col : rgbHex(col);
  };
  const parts: string[] = [];
  for (let j = 0; j < bars; j++) {
    if (!sums[j]) continue;
    const v0 = lo + j * bw;
    parts.push(`<rect x="${(x(v0)).toFixed(2)}" y="${y(sums[j]!).toFixed(2)}" width="${Math.max(0.5, (pw / bars) - 0.3).toFixed(2)}" height="${(T + ph - y(sums[j]!)).toFixed(2)}" fill="${colour(v0 + bw / 2)}"/>`);
  }
  // Axes and ticks.
  parts.push(`<line x1="${L}" y1="${T + ph}" x2="${L + pw}" y2="${T + ph}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="#333"/>`);
  const xs = niceStep(hi - lo, 6);
  for (let v = Math.ceil(lo / xs) * xs; v <= hi + 1e-9; v += xs) {
    parts.push(`<line x1="${x(v).toFixed(2)}" y1="${T + ph}" x2="${x(v).toFixed(2)}" y2="${T + ph + 4}" stroke="#333"/><text x="${x(v).toFixed(2)}" y="${T + ph + 16}" text-anchor="middle">${esc(num(Math.abs(v) < 1e-12 ? 0 : v))}</text>`);
  }
  const ys = niceStep(max, 4);
  for (let c = ys; c <= max; c += ys) {
    parts.push(`<line x1="${L - 4}" y1="${y(c).toFixed(2)}" x2="${L}" y2="${y(c).toFixed(2)}" stroke="#333"/><text x="${L - 6}" y="${(y(c) + 4).toFixed(2)}" text-anchor="end">${esc(num(c))}</text>`);
  }
  parts.push(`<text x="${L + pw / 2}" y="${H - 6}" text-anchor="middle">${esc(h.product)} (bars of ${esc(num(bw))}; ${esc(h.binWidth)} in summary.json)</text>`);
  parts.push(`<text x="12" y="${T + ph / 2}" text-anchor="middle" transform="rotate(-90 12 ${T + ph / 2})">pixels</text>`);
  // Threshold lines, labelled by their rule.
  const sign: Record<string, string> = { '<': '<', '<=': '≤', '>=': '≥', '>': '>' };
  const rulesAt = (b: number) => (rules ? rules.filter((r) => r.bound === b).map((r) => `${sign[r.op]} ${num(r.bound)} → class ${r.class}`).join(', ') : `threshold ${num(b)}`);
  bounds.forEach((b, k) => {
    if (b < lo || b > hi) return;
    const t = h.thresholds.find((t) => Math.abs(Math.abs(b) - Math.abs(t.value)) < 1e-12);
    const label = `${rulesAt(b)}${t ? ` (${t.kind === 'otsu' ? 'Otsu' : 'fixed'})` : ''}`;
    parts.push(`<line x1="${x(b).toFixed(2)}" y1="${T}" x2="${x(b).toFixed(2)}" y2="${T + ph}" stroke="${t ? '#d00' : '#555'}" stroke-width="${t ? 2 : 1}" stroke-dasharray="5 3"><title>${esc(label)}</title></line>`);
    parts.push(`<text x="${(x(b) + 3).toFixed(2)}" y="${T + 12 + (k % 4) * 12}" fill="${t ? '#b00' : '#444'}">${esc(label)}</text>`);
  });
  return `<svg class="histogram" role="img" aria-label="Histogram of ${esc(h.product)} with the thresholds" viewBox="0 0 ${W} ${H}" font-size="11" font-family="system-ui,sans-serif">${parts.join('')}</svg>`;
}

/**
 * A scale bar under a picture spanning `groundWidthM` metres: a bar of a round length (1, 2 or 5 × 10^k m, about a
 * fifth of the width) whose width is that share of the picture's, so it stays true at any displayed size.
 */
export function scaleBarHtml(groundWidthM: number): string | null {
  if (!(groundWidthM > 0) || !Number.isFinite(groundWidthM)) return null;
  const len = niceStep(groundWidthM, 5);
  const label = len >= 1000 ? `${num(len / 1000)} km` : `${num(len)} m`;
  return `<div class="scalebar" title="scale bar"><span class="bar" style="width:${(100 * len / groundWidthM).toFixed(3)}%"></span><span class="label">${esc(label)}</span></div>`;
}
