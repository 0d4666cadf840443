/**
 * `s2change info SRC`: what a file, folder or STAC item holds — bands, sizes, CRS, grid, dtype, nodata, radiometry.
 */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { isS2ChangeError } from '../errors.js';
import { DEFAULT_DECODE_MEMORY_MB, DEFAULT_DECODE_TIMEOUT_MS } from '../io/tiff/sandbox-defaults.js';
import path from 'node:path';
import { pixelSize, type Grid } from '../raster/grid.js';
import type { Scene } from '../io/scene.js';
import { parseList, parseNumber } from './options.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('describe a GeoTIFF, band folder, SAFE product (folder or .zip), STAC item or PNG: bands, sizes, CRS, grid, WGS84 extent, date, dtype, nodata, radiometry')
    .argument('<src>', 'file or folder')
    .option('--bands <list>', 'band names of a multi-band file, in order')
    .option('--decode-timeout <ms>', 'time budget for opening and decoding a sample of an untrusted file', String(DEFAULT_DECODE_TIMEOUT_MS))
    .option('--decode-memory <mb>', 'heap budget of the decoding worker', String(DEFAULT_DECODE_MEMORY_MB))
    .option('--json', 'machine-readable output on stdout')
    .action(async (src: string, o: { json?: boolean; bands?: string; decodeTimeout: string; decodeMemory: string }) => {
      const { openScene } = await import('../io/scene.js');
      const { inspectTiffSandboxed } = await import('../io/tiff/index.js');
      const result: Record<string, unknown> = { input: src };
      const isDir = (await stat(src).catch(() => null))?.isDirectory() ?? false;
      if (!isDir && /\.tiff?$/i.test(src)) {
        // An untrusted file is opened and a sample decoded in a worker with a time and heap budget first.
        const timeMs = parseNumber('--decode-timeout', o.decodeTimeout, 1);
        const memoryMb = parseNumber('--decode-memory', o.decodeMemory, 256);
        try {
          const inspected = await inspectTiffSandboxed(src, { timeMs, maxOldGenerationMb: memoryMb });
          result.tiff = inspected.description;
          result.decodedSample = inspected.probed;
        } catch (err) {
          // A codec, sample type or layout our reader refuses: the second decoder (geotiff.js, sandboxed) reads it whole.
          const { mayFallBack, openTiffWithGeotiffJs } = await import('../io/decode/geotiff-fallback.js');
          if (!mayFallBack(err)) throw err;
          const { describeTiff } = await import('../io/tiff/describe.js');
          const file = await openTiffWithGeotiffJs(src, { timeMs, memoryMb }).catch(() => {
            throw err; // our reader's message is the more precise one
          });
          const img = file.images[0]!;
          result.tiff = describeTiff(file);
          result.decodedSample = [{ image: 0, window: { x: 0, y: 0, width: img.width, height: img.height }, bands: img.samplesPerPixel }];
          result.secondDecoder = `geotiff.js (our reader: ${(err as Error).message})`;
        }
      }
      try {
        const decode = { timeMs: parseNumber('--decode-timeout', o.decodeTimeout, 1), memoryMb: parseNumber('--decode-memory', o.decodeMemory, 256) };
        const scene = await openScene(src, { bands: o.bands !== undefined ? parseList(o.bands, '--bands') : undefined, decode });
        try {
          result.format = scene.format;
          result.georeferenced = scene.georeferenced;
          result.provenance = scene.provenance;
          result.acquired = acquisitionDate(scene);
          result.extentWgs84 = scene.georeferenced ? await extentAsBbox([...scene.bands.values()].map((b) => b.grid)) : null;
          result.warnings = scene.warnings;
          result.bands = [...scene.bands.values()].map((b) => ({
            band: b.name, file: b.href, sample: b.sample + 1, width: b.grid.width, height: b.grid.height,
            crs: b.grid.crs.epsg ? `EPSG:${b.grid.crs.epsg}` : 'none', pixelSize: pixelSize(b.grid), transform: b.grid.transform,
            kind: b.kind, radiometry: b.radiometry,
          }));
        } finally {
          await scene.close();
        }
      } catch (err) {
        // A TIFF that is readable but not a Sentinel-2 scene (no band names) is still described above.
        if (!result.tiff || !isS2ChangeError(err)) throw err;
        result.sceneProblem = err.message;
      }
      if (o.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      process.stdout.write(renderInfo(result));
    });
}

/** West, south, east, north (degrees, 5 decimals ≈ 1 m) of the union of the grids' footprints, as a --bbox. */
async function extentAsBbox(grids: Grid[]): Promise<[number, number, number, number] | null> {
  const { wgs84Extent } = await import('../raster/reproject.js'); // proj4: loaded only when info runs
  const b = wgs84Extent(grids);
  const r5 = (v: number) => Math.round(v * 1e5) / 1e5;
  return b ? [r5(b.minX), r5(b.minY), r5(b.maxX), r5(b.maxY)] : null;
}

/** The acquisition date and where it was read: the product/STAC metadata, else a date in the band file names. */
function acquisitionDate(scene: Scene): { date: string; from: string } | null {
  const p = scene.provenance;
  const when = p.datetime ?? p.sensingTime;
  if (typeof when === 'string' && when) return { date: when, from: scene.format === 'safe' ? 'product metadata' : 'STAC item' };
  for (const b of scene.bands.values()) {
    const m = /(?:^|[_-])(20\d{2})(\d{2})(\d{2})(?:T\d{6})?(?=[_.-])/.exec(path.basename(b.href));
    if (m && Number(m[2]) >= 1 && Number(m[2]) <= 12 && Number(m[3]) >= 1 && Number(m[3]) <= 31) {
      return { date: `${m[1]}-${m[2]}-${m[3]}`, from: `file name ${path.basename(b.href)}` };
    }
  }
  return null;
}

function renderInfo(r: Record<string, unknown>): string {
  const lines: string[] = [`${r.input}`];
  const t = r.tiff as Record<string, unknown> | undefined;
  if (t) {
    lines.push('  TIFF:');
    for (const [k, v] of Object.entries(t)) {
      if (k === 'file') continue;
      lines.push(`    ${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
    }
  }
  if (r.format) lines.push(`  scene format: ${r.format}${r.georeferenced ? '' : ' (not georeferenced)'}`);
  const acq = r.acquired as { date: string; from: string } | null | undefined;
  if (r.format) lines.push(`  acquired: ${acq ? `${acq.date} (${acq.from})` : 'unknown (the input carries no date)'}`);
  const p = (r.provenance ?? {}) as Record<string, unknown>;
  const facts = [p.level, p.platform, p.tile && `tile ${p.tile}`, p.processingBaseline && `baseline ${p.processingBaseline}`].filter(Boolean);
  if (facts.length) lines.push(`  product: ${facts.join(', ')}`);
  const ext = r.extentWgs84 as number[] | null | undefined;
  if (ext) lines.push(`  WGS84 extent: lon ${ext[0]} to ${ext[2]}, lat ${ext[1]} to ${ext[3]}  (--bbox ${ext.join(',')})`);
  for (const b of (r.bands as Record<string, unknown>[] | undefined) ?? []) {
    const rad = b.radiometry as { scale: number; offset: number; nodata: number | null; source: string };
    const ps = b.pixelSize as number[];
    lines.push(`  ${String(b.band).padEnd(4)} ${b.width}x${b.height} ${b.crs} pixel ${ps.map((v) => Number(v.toPrecision(6))).join('x')}  ` +
      `reflectance = (DN + ${rad.offset}) × ${rad.scale}, nodata ${rad.nodata}  [${rad.source}]  ${b.file}${Number(b.sample) > 1 || b.kind === 'class' ? ` #${b.sample}` : ''}`);
  }
  if (r.sceneProblem) lines.push(`  not usable as a scene as is: ${r.sceneProblem}`);
  for (const w of (r.warnings as string[] | undefined) ?? []) lines.push(`  warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
