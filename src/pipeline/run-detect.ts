/**
 * A whole `detect` run: compute (detect.ts), then write every output atomically into --out with provenance.
 */
import path from 'node:path';
import { getPreset } from '../change/presets/index.js';
import { isGeoreferenced, pixelSize } from '../raster/grid.js';
import { writeCog } from '../io/cog-writer.js';
import { OutputDir, SUMMARY_NAME, type ManifestEntry } from '../io/output-dir.js';
import { changePolygonsToGeoJSON } from '../report/geojson.js';
import { classOverlayPng, indexPng, stretchRange, trueColourPng } from '../report/quicklook.js';
import { renderReport, type ReportModel } from '../report/html.js';
import { paletteForClasses, type ClassPalette } from '../report/palette.js';
import { VERSION } from '../version.js';
import { detect, type DetectOptions, type DetectResult } from './detect.js';

export interface RunDetectOptions extends DetectOptions {
  out: string;
  overwrite: boolean;
  /** Title for the report (default: derived from the preset and inputs). */
  title?: string;
  /** How the inputs were found (STAC search + pair ranking), copied into summary.json as `discovery`. */
  discovery?: Record<string, unknown>;
}

/** What `detect --json` prints and summary.json holds (plus `outputs`). */
export interface RunSummary {
  tool: { name: 's2change'; version: string };
  createdAt: string;
  preset: { name: string; title: string };
  method: string;
  formula: string;
  thresholds: { name: string; value: number; source: string }[];
  inputs: DetectResult['inputs'];
  bandsUsed: string[];
  grid: { crs: string; transform: readonly number[]; width: number; height: number; pixelSize: [number, number]; georeferenced: boolean };
  bbox: DetectOptions['bbox'];
  areas: DetectResult['areas'];
  classes: { value: number; name: string; description: string; colour: string }[];
  pixels: { total: number; valid: number; masked: number; maskedNodata: number; maskedCloudShadowSnow: number; validPercent: number };
  minMappingUnit: DetectResult['minMappingUnit'];
  polygons: { features: number; dropped: number } | null;
  warnings: string[];
  /** Present when the scenes were found by `--event-date` (search parameters, ranking, bytes read). */
  discovery?: Record<string, unknown>;
  outputs?: ManifestEntry[];
}

const STANDARD_OUTPUTS = ['change.tif', 'change.geojson', 'before.png', 'after.png', 'change.png', 'report.html', SUMMARY_NAME];

/** Run detect and write change.tif, <index>.tif, PNGs, change.geojson, report.html and summary.json into `out`. */
export async function runDetect(opts: RunDetectOptions): Promise<RunSummary> {
  getPreset(opts.preset); // an unknown preset is a usage error before anything is created
  // Refuse existing outputs before any work; the product name (e.g. dnbr.tif) is checked again when written.
  const out = await OutputDir.open(opts.out, { overwrite: opts.overwrite, planned: STANDARD_OUTPUTS, signals: true });
  try {
    const r = await detect(opts);
    const summary = buildSummary(r, opts);
    await writeOutputs(out, r, summary, opts);
    summary.outputs = await out.commit({ summary: (outputs) => ({ ...summary, outputs }) });
    return summary;
  } catch (err) {
    await out.abort();
    throw err;
  }
}

function hex([r, g, b]: readonly number[]): string {
  return `#${[r, g, b].map((v) => v!.toString(16).padStart(2, '0')).join('')}`;
}

/** Class value → RGB for all 256 values (the COG palette and summary colours). */
function colourTable(p: ClassPalette): [number, number, number][] {
  const t = Array.from({ length: 256 }, () => [0, 0, 0] as [number, number, number]);
  for (const s of [p.noChange, p.nodata, ...p.classes]) t[s.value] = [...s.colour] as [number, number, number];
  return t;
}

function buildSummary(r: DetectResult, opts: RunDetectOptions): RunSummary {
  const palette = colourTable(paletteForClasses(r.preset.name, r.preset.classes));
  const total = r.grid.width * r.grid.height;
  return {
    tool: { name: 's2change', version: VERSION },
    createdAt: new Date().toISOString(),
    preset: { name: r.preset.name, title: r.preset.title },
    method: r.result.method,
    formula: r.result.formula,
    thresholds: r.result.thresholds,
    inputs: r.inputs,
    bandsUsed: r.bandsUsed,
    grid: {
      crs: isGeoreferenced(r.grid.crs) ? `EPSG:${r.grid.crs.epsg}` : 'none (not georeferenced)', transform: r.grid.transform,
      width: r.grid.width, height: r.grid.height, pixelSize: pixelSize(r.grid), georeferenced: r.georeferenced,
    },
    bbox: opts.bbox ?? null,
    areas: r.areas,
    classes: r.preset.classes.map((c) => ({ ...c, colour: hex(palette[c.value] ?? [0, 0, 0]) })),
    pixels: {
      total, valid: r.validPixels, masked: r.maskedPixels.total, maskedNodata: r.maskedPixels.nodata,
      maskedCloudShadowSnow: r.maskedPixels.cloudShadowSnow, validPercent: (100 * r.validPixels) / total,
    },
    minMappingUnit: r.minMappingUnit,
    polygons: null,
    warnings: r.warnings,
    ...(opts.discovery ? { discovery: opts.discovery } : {}),
  };
}

async function writeOutputs(out: OutputDir, r: DetectResult, summary: RunSummary, opts: RunDetectOptions): Promise<void> {
  const { grid } = r;
  const palette = paletteForClasses(r.preset.name, r.preset.classes);
  const colormap = colourTable(palette);
  const georef = isGeoreferenced(grid.crs);
  const classNames = Object.fromEntries(r.preset.classes.map((c) => [c.value, c.name]));

  await out.writeWith('change.tif', (p) => writeCog(p, { grid, bands: [r.result.classes] }, {
    nodata: 255, colormap, bandDescriptions: [`${r.preset.name} classes`], overviews: 'nearest',
    metadata: { S2CHANGE_PRESET: r.preset.name, S2CHANGE_CLASSES: JSON.stringify(classNames) },
  }));
  for (const prod of r.result.products) {
    await out.writeWith(`${prod.name}.tif`, (p) => writeCog(p, { grid, bands: [prod.values] }, {
      nodata: NaN, bandDescriptions: [prod.description], overviews: 'average',
    }));
  }

  if (georef) {
    const fc = changePolygonsToGeoJSON(r.result.classes, grid, {
      classNames, skip: [0, 255, ...r.preset.classes.filter((c) => !r.preset.changeClasses.includes(c.value) && c.value !== 0).map((c) => c.value)],
      connectivity: 8, maxFeatures: 50_000,
    });
    summary.polygons = { features: fc.features.length, dropped: fc.s2change.dropped_features ?? 0 };
    await out.writeFile('change.geojson', JSON.stringify(fc));
  }

  const images: ReportModel['images'] = [];
  const w = grid.width;
  const h = grid.height;
  // One stretch for both dates, so that a colour difference between the pictures is a difference on the ground.
  const rgbBands = [...(r.before?.rgb ?? []), ...(r.after.rgb ?? [])];
  const range = rgbBands.length ? stretchRange(rgbBands) : undefined;
  const background = r.after.rgb ? await trueColourPng(...r.after.rgb, w, h, { range }) : null;
  if (r.before?.rgb) {
    const png = await trueColourPng(...r.before.rgb, w, h, { range });
    await out.writeFile('before.png', png);
    images.push({ title: 'Before', caption: `${r.before.rgbBands} as red, green, blue (2–98 % stretch shared by both dates)`, png });
  }
  if (background) {
    await out.writeFile('after.png', background);
    images.push({ title: 'After', caption: `${r.after.rgbBands} as red, green, blue (2–98 % stretch shared by both dates)`, png: background });
  }
  const overlay = await classOverlayPng(r.result.classes, w, h, palette, {
    background: r.after.rgb ? { red: r.after.rgb[0], green: r.after.rgb[1], blue: r.after.rgb[2], options: { range } } : undefined,
  });
  await out.writeFile('change.png', overlay);
  images.push({ title: 'Change', caption: `${r.preset.title}: classes over the after image`, png: overlay });
  const main = r.result.products[0];
  if (main) {
    const indexRange = main.name === 'dnbr' ? [-0.5, 1] : [-1, 1];
    const colormap = main.name === 'dnbr' ? 'dnbr' : main.name.startsWith('cva') ? 'blues' : 'rdylgn';
    const [min, max] = main.name.startsWith('cva') ? [0, 0.3] : indexRange as [number, number];
    const png = await indexPng(main.values, w, h, { min, max, colormap });
    images.push({ title: main.description, caption: `${main.name}.tif`, png, legend: { colormap, min, max, label: main.name } });
  }

  const fmtRadiometry = (rad: Record<string, string>) => Object.entries(rad).map(([b, v]) => `${b}: ${v}`).join('; ');
  const model: ReportModel = {
    title: opts.title ?? r.preset.title,
    inputs: r.inputs.map((i) => ({
      role: i.role, name: i.input, date: typeof i.provenance.datetime === 'string' ? i.provenance.datetime : undefined,
      provenance: [Object.entries(i.provenance).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('; '),
        `radiometry — ${fmtRadiometry(i.radiometry)}`].filter(Boolean).join(' · '),
    })),
    preset: r.preset.name,
    method: r.result.method,
    formula: r.result.formula,
    explanation: r.preset.description,
    thresholds: r.result.thresholds,
    classes: r.areas.map((a) => ({ ...a, colour: hex(colormap[a.value]!), description: r.preset.classes.find((c) => c.value === a.value)?.description })),
    images,
    warnings: r.warnings,
    validPixels: r.validPixels,
    maskedPixels: r.maskedPixels.total,
    details: [
      `Grid: ${summary.grid.crs}, ${grid.width} × ${grid.height} pixels of ${summary.grid.pixelSize.map((v) => Number(v.toPrecision(6))).join(' × ')} ${georef ? (summary.grid.crs === 'EPSG:4326' ? 'degrees' : 'm') : 'm (assumed)'}`,
      `Bands used: ${r.bandsUsed.join(', ')}`,
      `Masked: ${r.maskedPixels.nodata} nodata and ${r.maskedPixels.cloudShadowSnow} cloud/shadow/snow pixels (SCL, grown by ${opts.cloudBuffer ?? 2} px)`,
      ...(r.minMappingUnit ? [`Minimum mapping unit: ${r.minMappingUnit.hectares} ha (${r.minMappingUnit.pixelsRemoved} pixels removed)`] : []),
      ...(summary.polygons ? [`Polygons: ${summary.polygons.features} in change.geojson${summary.polygons.dropped ? ` (${summary.polygons.dropped} smallest dropped)` : ''}`] : []),
    ],
    generatedAt: summary.createdAt,
    toolVersion: VERSION,
  };
  await out.writeFile('report.html', renderReport(model));
}

