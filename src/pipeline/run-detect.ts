/**
 * A whole `detect` run: compute (detect.ts), then write every output atomically into --out with provenance.
 */
import path from 'node:path';
import { getPreset } from '../change/presets/index.js';
import { isGeoreferenced, pixelSize } from '../raster/grid.js';
import { writeCog } from '../io/cog-writer.js';
import { OutputDir, SUMMARY_NAME, type ManifestEntry } from '../io/output-dir.js';
import { changePolygonsToGeoJSON } from '../report/geojson.js';
import { classOverlayPng, indexPng, trueColourPng } from '../report/quicklook.js';
import { renderReport, type ReportModel } from '../report/html.js';
import { presetPalette } from '../report/palette.js';
import { VERSION } from '../version.js';
import { detect, type DetectOptions, type DetectResult } from './detect.js';

export interface RunDetectOptions extends DetectOptions {
  out: string;
  overwrite: boolean;
  /** Title for the report (default: derived from the preset and inputs). */
  title?: string;
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

function buildSummary(r: DetectResult, opts: RunDetectOptions): RunSummary {
  const palette = presetPalette(r.preset.name);
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
  };
}

async function writeOutputs(out: OutputDir, r: DetectResult, summary: RunSummary, opts: RunDetectOptions): Promise<void> {
  const { grid } = r;
  const palette = presetPalette(r.preset.name);
  const georef = isGeoreferenced(grid.crs);
  const classNames = Object.fromEntries(r.preset.classes.map((c) => [c.value, c.name]));
  const colormap = Array.from({ length: 256 }, (_, v) => (palette[v] ?? [0, 0, 0]) as [number, number, number]);

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
    summary.polygons = { features: fc.features.length, dropped: droppedOf(fc) };
    await out.writeFile('change.geojson', JSON.stringify(fc));
  }

  const images: ReportModel['images'] = [];
  const w = grid.width;
  const h = grid.height;
  const background = r.after.rgb ? await trueColourPng(...r.after.rgb, w, h) : null;
  if (r.before?.rgb) {
    const png = await trueColourPng(...r.before.rgb, w, h);
    await out.writeFile('before.png', png);
    images.push({ title: 'Before', caption: `${r.before.rgbBands} as red, green, blue (2–98 % stretch)`, png });
  }
  if (background) {
    await out.writeFile('after.png', background);
    images.push({ title: 'After', caption: `${r.after.rgbBands} as red, green, blue (2–98 % stretch)`, png: background });
  }
  const overlay = await classOverlayPng(r.result.classes, w, h, palette, { background: r.after.rgb ?? undefined });
  await out.writeFile('change.png', overlay);
  images.push({ title: 'Change', caption: `${r.preset.title}: classes over the after image`, png: overlay });
  const main = r.result.products[0];
  if (main) {
    const range = main.name === 'dnbr' ? [-0.5, 1] : [-1, 1];
    const png = await indexPng(main.values, w, h, { min: range[0]!, max: range[1]!, colormap: main.name === 'dnbr' ? 'dnbr' : 'rdylgn' });
    images.push({ title: main.description, caption: `${main.name}.tif, shown from ${range[0]} to ${range[1]}`, png });
  }

  const model: ReportModel = {
    title: opts.title ?? `${r.preset.title}`,
    inputs: r.inputs.map((i) => ({ role: i.role, input: path.basename(i.input), details: i.provenance, radiometry: i.radiometry })),
    preset: r.preset.title,
    presetDescription: r.preset.description,
    method: r.result.method,
    formula: r.result.formula,
    thresholds: r.result.thresholds,
    classes: r.areas.map((a) => ({ ...a, colour: hex(palette[a.value] ?? [0, 0, 0]), description: r.preset.classes.find((c) => c.value === a.value)?.description ?? '' })),
    images,
    warnings: r.warnings,
    validPixels: r.validPixels,
    maskedPixels: r.maskedPixels.total,
    grid: summary.grid,
    generatedAt: summary.createdAt,
    toolVersion: VERSION,
  } as ReportModel;
  await out.writeFile('report.html', renderReport(model));
}

function droppedOf(fc: unknown): number {
  const v = (fc as { s2change?: { droppedFeatures?: number } }).s2change?.droppedFeatures;
  return typeof v === 'number' ? v : 0;
}
