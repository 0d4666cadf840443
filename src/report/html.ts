/**
 * The self-contained HTML report: one file, images as base64 data URIs, inline CSS, no scripts, no external
 * requests. Every string that comes from inputs (file names, STAC ids, class names, warnings) is HTML-escaped.
 */
import { writeFile } from 'node:fs/promises';
import { colormapStops, rgbHex, type ColormapName, type Rgb } from './palette.js';
import type { IndexHistogram } from '../change/index-histogram.js';
import { histogramSvg, scaleBarHtml } from './report-svg.js';

export interface ReportInput {
  /** "before", "after", "labels", ... */
  role: string;
  /** File name, URL or STAC item id. */
  name: string;
  /** Acquisition date/time (ISO 8601) if known. */
  date?: string;
  /** Where the date was read (e.g. "dates.txt (OSCD) date_1"). */
  dateSource?: string;
  /** Where it came from: product id, processing baseline, collection, licence. */
  provenance?: string;
}

export interface ReportThreshold {
  /** What it separates, e.g. "burned (dNBR)". */
  name: string;
  value: number;
  /** Where the number comes from, e.g. "Otsu (1979) on the valid pixels", "USGS (Key & Benson 2006)". */
  source: string;
}

export interface ReportClass {
  value: number;
  name: string;
  /** RGB triple or "#rrggbb". */
  colour: Rgb | string;
  pixels: number;
  hectares: number;
  /** Percent of the valid (unmasked) area. */
  percent: number;
  description?: string;
}

export interface ReportImage {
  title: string;
  caption?: string;
  png: Buffer;
  /** For index / difference pictures: the colour ramp and the values at its ends. */
  legend?: { colormap: ColormapName; min: number; max: number; label?: string };
  /** Ground width the picture spans, metres: a scale bar is drawn under it. */
  groundWidthM?: number;
}

/** Accuracy against reference labels (as summary.json's `accuracy`). */
export interface ReportAccuracy {
  labels: string;
  /** Labelled pixels compared. */
  pixels: number;
  scores: { precision: number; recall: number; f1: number; iou: number; kappa: number; overallAccuracy?: number };
  confusion: { tp: number; fp: number; fn: number; tn: number };
  messages?: string[];
  licence?: string;
}

export interface ReportModel {
  title: string;
  /** What was compared, e.g. before/after scenes with dates and provenance. */
  inputs: ReportInput[];
  /** Preset id, e.g. "flood". */
  preset: string;
  /** Method, e.g. "threshold", "otsu", "cva". */
  method: string;
  /** The index formula(s), e.g. "MNDWI = (B3 − B11) / (B3 + B11)". */
  formula?: string;
  /** A few sentences on how the classes were computed, for a student. */
  explanation?: string;
  thresholds: ReportThreshold[];
  classes: ReportClass[];
  images: ReportImage[];
  warnings: string[];
  /** Pixels valid on both dates. */
  validPixels: number;
  /** Pixels masked (nodata, cloud, shadow, outside a scene). */
  maskedPixels: number;
  /** The masked pixels split by cause, for the legend. */
  maskedBy?: { nodata: number; cloudShadowSnow: number };
  /** Colours the change picture draws masked pixels with (a hatch of these two). */
  maskedHatch?: [Rgb, Rgb];
  /** Longitude/latitude (WGS84) extent of the map. */
  extent?: { west: number; south: number; east: number; north: number } | null;
  /** The histogram of the index with the thresholds (summary.json's `indexHistogram`). */
  histogram?: IndexHistogram | null;
  /** Colours of the class values, for the histogram's bars. */
  classColours?: Record<number, Rgb | string>;
  /** Accuracy against reference labels, when the run had them. */
  accuracy?: ReportAccuracy | null;
  /** The run's output files (links beside the report), in order. */
  outputs?: { name: string; what: string }[];
  /** Extra facts shown under "How this was computed", e.g. "Grid: EPSG:32629, 10 m", "Minimum mapping unit: 0.5 ha". */
  details?: string[];
  /** ISO 8601 time or a Date. */
  generatedAt: string | Date;
  toolVersion: string;
}

/** Escape text for HTML element content and quoted attribute values. */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const dec2 = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const fmtNum = (v: number): string => (Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)))) : String(v));

function cssColour(c: Rgb | string): string {
  if (typeof c === 'string') return /^#[0-9a-fA-F]{6}$/.test(c) ? c : '#808080';
  return rgbHex(c);
}

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1.5rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#666;font-size:.9rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.images{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:1rem;align-items:start}figure{margin:0;min-width:0}
figure img{width:100%;height:auto;border:1px solid #ccc;image-rendering:pixelated;background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/16px 16px}
figcaption{font-size:.9rem;color:#444}
.swatch{display:inline-block;width:1em;height:1em;border:1px solid #555;vertical-align:middle;margin-right:.4em}
.ramp{height:.8em;border:1px solid #555;margin-top:.3rem}.ramp-labels{display:flex;justify-content:space-between;font-size:.8rem}
.warnings{background:#fff4e5;border-left:4px solid #f0a020;padding:.5rem 1rem}
.scalebar{display:flex;align-items:center;gap:.4em;font-size:.8rem;margin:.15rem 0}.scalebar .bar{display:inline-block;height:.4em;background:#222;border:1px solid #fff}svg.histogram{width:100%;max-width:900px;height:auto;border:1px solid #ddd}
details{margin:1rem 0}summary{cursor:pointer;font-weight:600}.dates{font-size:1.05rem}
.hatch{background:repeating-linear-gradient(45deg,var(--h1) 0 3px,var(--h2) 3px 6px)}
code{background:#f4f4f4;padding:0 .2em}
`;

/** Raw PNG bytes per base64 piece (a multiple of 3: the pieces join into one valid base64 text). */
const BASE64_PIECE = 3 << 20;

/** One picture as HTML, its PNG as a data URI given in base64 pieces of ~4 MB (not one string of the whole picture). */
function* imageParts(img: ReportImage): Generator<string> {
  yield '<figure><img src="data:image/png;base64,';
  for (let i = 0; i < img.png.length; i += BASE64_PIECE) yield img.png.subarray(i, i + BASE64_PIECE).toString('base64');
  let legend = '';
  if (img.legend) {
    const stops = colormapStops(img.legend.colormap).map(rgbHex).join(',');
    legend = `<div class="ramp" style="background:linear-gradient(to right,${stops})"></div>`
      + `<div class="ramp-labels"><span>${escapeHtml(fmtNum(img.legend.min))}</span>`
      + `<span>${escapeHtml(img.legend.label ?? '')}</span><span>${escapeHtml(fmtNum(img.legend.max))}</span></div>`;
  }
  const bar = img.groundWidthM ? scaleBarHtml(img.groundWidthM) : null;
  yield `" alt="${escapeHtml(img.title)}">${bar ?? ''}<figcaption><strong>${escapeHtml(img.title)}</strong>`
    + `${img.caption ? ` — ${escapeHtml(img.caption)}` : ''}${legend}</figcaption></figure>`;
}


/** Render the report as one self-contained HTML document (no scripts, no external resources). */
export function renderReport(model: ReportModel): string {
  return [...renderReportParts(model)].join('');
}

/**
 * The report as consecutive pieces of text, for writing without holding the whole page: on a full tile the page is
 * ~23 MB (four ~5 MB pictures in base64), which as one string (plus the pictures' own base64 strings and its UTF-8
 * copy) was the peak of a run's memory.
 */
export function* renderReportParts(model: ReportModel): Generator<string> {
  const [head, tail] = pageTemplate(model);
  yield head;
  for (const [k, img] of model.images.entries()) {
    if (k) yield '\n';
    yield* imageParts(img);
  }
  yield tail;
}

/** The page before and after its pictures. */
function pageTemplate(model: ReportModel): [string, string] {
  const e = escapeHtml;
  const generated = model.generatedAt instanceof Date ? model.generatedAt.toISOString() : model.generatedAt;
  const total = model.validPixels + model.maskedPixels;
  const share = (v: number): string => (total > 0 ? `${dec2.format((100 * v) / total)} %` : 'n/a');

  const dated = model.inputs.filter((i) => i.role === 'before' || i.role === 'after');
  const dates = dated.length ? `<p class="dates">${dated.map((i) => `<strong>${e(i.role)}</strong>: ${e(i.date ?? 'date unknown')}`
    + `${i.dateSource ? ` <small>(${e(i.dateSource)})</small>` : ''}`).join(' → ')}</p>` : '';
  const ex = model.extent;
  const extent = ex ? `<p class="meta">Extent (WGS84): longitude ${e(ex.west.toFixed(5))} to ${e(ex.east.toFixed(5))}, latitude ${e(ex.south.toFixed(5))} to ${e(ex.north.toFixed(5))}</p>` : '';
  const inputs = model.inputs.map((i) => `<tr><td>${e(i.role)}</td><td>${e(i.name)}</td><td>${e(i.date ?? 'unknown')}${i.dateSource ? `<br><small>${e(i.dateSource)}</small>` : ''}</td>`
    + `<td>${e(i.provenance ?? '')}</td></tr>`).join('\n');
  const thresholds = model.thresholds.length
    ? `<table><tr><th>Threshold</th><th class="num">Value</th><th>Source</th></tr>\n${model.thresholds
      .map((t) => `<tr><td>${e(t.name)}</td><td class="num">${e(fmtNum(t.value))}</td><td>${e(t.source)}</td></tr>`).join('\n')}</table>`
    : '<p>No thresholds (the method does not use one).</p>';
  const classes = model.classes.map((c) => `<tr><td><span class="swatch" style="background:${cssColour(c.colour)}"></span>${e(c.name)}`
    + `${c.description ? `<br><small>${e(c.description)}</small>` : ''}</td><td class="num">${e(c.value)}</td>`
    + `<td class="num">${int.format(c.pixels)}</td><td class="num">${dec2.format(c.hectares)}</td><td class="num">${dec2.format(c.percent)}</td></tr>`).join('\n');
  const [h1, h2] = (model.maskedHatch ?? [[64, 64, 64], [200, 200, 200]]).map((c) => rgbHex(c));
  const by = model.maskedBy;
  const masked = `<tr><td><span class="swatch hatch" style="--h1:${h1};--h2:${h2}"></span>masked (not analysed)<br><small>${by
    ? `${int.format(by.cloudShadowSnow)} cloud, shadow or snow; ${int.format(by.nodata)} no data`
    : 'cloud, shadow, snow or no data'} — hatched in the change picture</small></td><td class="num">255</td>`
    + `<td class="num">${int.format(model.maskedPixels)}</td><td class="num"></td><td class="num">${share(model.maskedPixels)} of all</td></tr>`;
  const warnings = model.warnings.length
    ? `<h2>Warnings</h2><div class="warnings"><ul>${model.warnings.map((w) => `<li>${e(w)}</li>`).join('')}</ul></div>`
    : '';
  const details = (model.details ?? []).map((d) => `<li>${e(d)}</li>`).join('');
  const hist = model.histogram ? histogramSvg(model.histogram, model.classColours) : null;
  const histogram = hist && model.histogram ? `<h2>Why the threshold is where it is</h2>
<p>Every valid pixel counted by its ${e(model.histogram.product)} value (${e(model.histogram.description)}). The dashed lines are
the class rules; the red one is the run's threshold (${model.histogram.thresholds.map((t) => `${e(fmtNum(t.value))}, ${t.kind === 'otsu'
    ? 'found by Otsu\'s method: the cut that best separates the histogram into two groups' : 'fixed'}`).join('; ')}). Bars are coloured by
the class their values fall in${model.histogram.classRules ? '' : ' (grey: the classes need more than this index, so the bars are not split by class)'}.</p>
${hist}` : '';
  const acc = model.accuracy;
  const accuracy = acc ? `<h2>Accuracy against reference labels</h2>
<p>Compared on ${int.format(acc.pixels)} labelled pixels with <code>${e(acc.labels)}</code>${acc.licence ? ` (${e(acc.licence)})` : ''}.</p>
<table><tr><th class="num">F1</th><th class="num">Precision</th><th class="num">Recall</th><th class="num">IoU</th><th class="num">Cohen's κ</th></tr>
<tr>${[acc.scores.f1, acc.scores.precision, acc.scores.recall, acc.scores.iou, acc.scores.kappa].map((v) => `<td class="num">${e(Number.isFinite(v) ? v.toFixed(3) : 'n/a')}</td>`).join('')}</tr></table>
<table><tr><th></th><th class="num">labelled change</th><th class="num">labelled no change</th></tr>
<tr><th>mapped change</th><td class="num">${int.format(acc.confusion.tp)}</td><td class="num">${int.format(acc.confusion.fp)}</td></tr>
<tr><th>mapped no change</th><td class="num">${int.format(acc.confusion.fn)}</td><td class="num">${int.format(acc.confusion.tn)}</td></tr></table>
${(acc.messages ?? []).map((m) => `<p class="meta">${e(m)}</p>`).join('')}` : '';
  const outputs = model.outputs?.length ? `<h2>Outputs</h2><ul>${model.outputs
    .map((o) => `<li><a href="${e(encodeURIComponent(o.name))}">${e(o.name)}</a> — ${e(o.what)}</li>`).join('')}</ul>` : '';

  return [`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${e(model.title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${e(model.title)}</h1>
${dates}
<p class="meta">Generated ${e(generated)} by s2change ${e(model.toolVersion)} · preset <code>${e(model.preset)}</code> · method <code>${e(model.method)}</code></p>
${extent}
${warnings}
<h2>Pictures</h2>
<div class="images">
`, `
</div>
<h2>Legend and areas</h2>
<table><tr><th>Class</th><th class="num">Value</th><th class="num">Pixels</th><th class="num">Hectares</th><th class="num">% of valid area</th></tr>
${classes}
${masked}
</table>
<p>Valid pixels (usable on both dates): ${int.format(model.validPixels)} (${share(model.validPixels)}).
Masked pixels (no data, cloud, shadow, undefined index): ${int.format(model.maskedPixels)} (${share(model.maskedPixels)}).
Areas are measured on the ground from pixel counts, not from the map picture.</p>
${histogram}
${accuracy}
${outputs}
<details>
<summary>How this was computed, and where the inputs came from</summary>
${model.formula ? `<p>Index: <code>${e(model.formula)}</code></p>` : ''}
${model.explanation ? `<p>${e(model.explanation)}</p>` : ''}
${thresholds}
${details ? `<ul>${details}</ul>` : ''}
<h3>What was compared</h3>
<table><tr><th>Role</th><th>Input</th><th>Date</th><th>Provenance</th></tr>
${inputs}
</table>
</details>
</body>
</html>
`];
}

/** Write the report to `path` (UTF-8). */
export async function writeReport(path: string, model: ReportModel): Promise<void> {
  await writeFile(path, renderReportParts(model), 'utf8');
}
