/**
 * A Sentinel-2 SAFE product (folder or .zip, L1C or L2A) as a Scene: one JPEG 2000 file per band from
 * GRANULE/<granule>/IMG_DATA (L2A: the finest resolution folder holding each band), its grid from the JP2's own
 * georeferencing checked against MTD_TL.xml, radiometry from the product metadata (quantification value and per-band
 * additive offset — never from the date), SCL as the class band for L2A, and for L1C a class band made from the
 * MSK_CLASSI_B00 cloud/cirrus/snow mask where the product has one. Pixels are decoded by OpenJPEG in the decode
 * sandbox (decode-sandbox.ts), one whole band at a time, at most once per band (reduced resolution levels serve
 * the band's overviews).
 */
import path from 'node:path';
import { LimitExceededError, MissingBandError, S2ChangeError, UsageError } from '../../errors.js';
import { canonicalBand, type BandName } from '../../indices/bands.js';
import type { Grid, GeoTransform, Window } from '../../raster/grid.js';
import type { SampleArray } from '../tiff/types.js';
import { decodeSandboxed, type DecodeBudgetOptions, type DecodedImage } from '../decode/decode-sandbox.js';
import { NeedMoreBytesError, readJp2Header, type Jp2Header } from '../jp2/jp2-header.js';
import type { BandOverview } from '../overviews.js';
import type { BandRef, LayerName, Radiometry, Scene, SceneOptions } from '../scene.js';
import { openSafeContainer, singleFileContainer, type SafeContainer } from './safe-container.js';
import { mgrsTile, parseProductMetadata, parseTileMetadata, type TileMetadata } from './safe-metadata.js';

/** Bytes of a JP2 read to find its boxes and main header (GMLJP2 and SIZ/COD come before the tile data). */
const HEADER_BYTES = 256 * 1024;
/** Bytes per pixel and component OpenJPEG needs while decoding (its int32 image plus our output). */
const DECODE_BYTES_PER_SAMPLE = 8;
/** Most reduced resolutions exposed as overviews. */
const MAX_OVERVIEW_LEVELS = 5;

const BAND_FILE = /^GRANULE\/([^/]+)\/IMG_DATA\/(?:R(\d+)m\/)?[^/]*_(B\d{2}|B8A|SCL)(?:_(\d+)m)?\.jp2$/i;

/** One decodable JPEG 2000 file of the product. */
interface Jp2File {
  rel: string;
  label: string;
  header: Jp2Header;
  grid: Grid;
}

const ARRAYS = { uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array } as const;

function planeArray(img: DecodedImage, c: number): SampleArray {
  const Ctor = ARRAYS[img.sampleType as keyof typeof ARRAYS] ?? Uint16Array;
  return new Ctor(img.planes[c]!);
}

function copyWindow(src: SampleArray, width: number, w: Window): SampleArray {
  const Ctor = src.constructor as new (n: number) => SampleArray;
  const out = new Ctor(w.width * w.height);
  for (let y = 0; y < w.height; y++) {
    const s = (w.y + y) * width + w.x;
    out.set(src.subarray(s, s + w.width) as never, y * w.width);
  }
  return out;
}

function checkWindow(label: string, grid: Grid, w: Window): void {
  if (w.x < 0 || w.y < 0 || w.width <= 0 || w.height <= 0 || w.x + w.width > grid.width || w.y + w.height > grid.height) {
    throw new UsageError('window outside the image', { input: label, expected: `a window inside ${grid.width} x ${grid.height}`, found: JSON.stringify(w) });
  }
}

/** Opens, decodes (once, in the sandbox) and serves windows of one JP2 file at one reduction level. */
class Jp2Decoder {
  private decoded = new Map<number, Promise<DecodedImage>>();
  constructor(private readonly container: SafeContainer, readonly file: Jp2File, private readonly budget: DecodeBudgetOptions) {}

  image(level: number): Promise<DecodedImage> {
    let p = this.decoded.get(level);
    if (!p) {
      p = this.decode(level);
      this.decoded.set(level, p);
      p.catch(() => this.decoded.delete(level));
    }
    return p;
  }

  private async decode(level: number): Promise<DecodedImage> {
    const h = this.file.header;
    const memMb = this.budget.memoryMb ?? 1024;
    const needed = Math.ceil(h.width / 2 ** level) * Math.ceil(h.height / 2 ** level) * h.components * DECODE_BYTES_PER_SAMPLE;
    if (needed > memMb * 1024 * 1024) {
      throw new LimitExceededError('decoding this JPEG 2000 band needs more memory than its budget', {
        input: this.file.label, expected: `at most ${memMb} MB (--decode-memory)`,
        found: `${h.width} x ${h.height} x ${h.components} samples, about ${Math.ceil(needed / 2 ** 20)} MB while decoding`,
        fix: `Raise the budget, e.g. --decode-memory ${Math.ceil(needed / 2 ** 20 / 256) * 256 + 256}`,
      });
    }
    const read = await this.container.read(this.file.rel);
    const own = read.byteOffset === 0 && read.byteLength === read.buffer.byteLength; // then transferred to the worker, not copied
    return decodeSandboxed({ op: 'jp2', name: this.file.label, bytes: own ? read : read.slice(), level }, { ...this.budget, memoryMb: memMb });
  }
}

async function readHeader(container: SafeContainer, rel: string): Promise<Jp2Header> {
  const size = await container.size(rel);
  const head = await container.readHead(rel, HEADER_BYTES);
  try {
    return await readJp2Header(head, container.label(rel), size);
  } catch (err) {
    if (!(err instanceof NeedMoreBytesError)) throw err;
    return readJp2Header(await container.read(rel), container.label(rel), size); // large boxes before the codestream
  }
}

function sameTransform(a: GeoTransform, b: GeoTransform): boolean {
  return a.every((v, i) => Math.abs(v - b[i]!) <= 1e-6 * Math.max(1, Math.abs(b[i]!)));
}

/** The JP2's grid, checked against MTD_TL.xml (which gives it when the JP2 carries no georeferencing). */
function gridOf(label: string, h: Jp2Header, res: number | null, tile: TileMetadata, warnings: string[]): Grid {
  const mtd = res !== null ? tile.grids.get(res) : undefined;
  if (h.transform && h.epsg !== null) {
    if (mtd && tile.epsg !== null) {
      if (tile.epsg !== h.epsg || !sameTransform(h.transform, mtd.transform) || mtd.width !== h.width || mtd.height !== h.height) {
        warnings.push(`${path.basename(label)}: its ${h.georefSource} georeferencing (EPSG:${h.epsg}, origin ${h.transform[0]}, ${h.transform[3]}, `
          + `${h.width}x${h.height}) differs from MTD_TL.xml (EPSG:${tile.epsg}, origin ${mtd.transform[0]}, ${mtd.transform[3]}, ${mtd.width}x${mtd.height}); the JP2's own is used`);
      }
    }
    return { crs: { epsg: h.epsg }, transform: h.transform, width: h.width, height: h.height };
  }
  if (mtd && tile.epsg !== null && mtd.width === h.width && mtd.height === h.height) {
    warnings.push(`${path.basename(label)} carries no georeferencing${h.georefWarning ? ` (${h.georefWarning})` : ''}; the grid of MTD_TL.xml is used`);
    return { crs: { epsg: tile.epsg }, transform: mtd.transform, width: h.width, height: h.height };
  }
  throw new S2ChangeError('UNSUPPORTED_CRS', 'the JPEG 2000 band is not georeferenced', {
    input: label, expected: 'a GMLJP2 or GeoJP2 box, or a matching grid in MTD_TL.xml',
    found: h.georefWarning ?? 'neither', fix: 'Re-download the product from the Copernicus Data Space',
  });
}

function overviewsOf(dec: Jp2Decoder, component: number, transformValues?: (img: DecodedImage, c: number) => SampleArray): BandOverview[] {
  const { header: h, grid } = dec.file;
  const out: BandOverview[] = [];
  for (let level = 1; level <= Math.min(h.levels, MAX_OVERVIEW_LEVELS); level++) {
    const width = Math.ceil(h.width / 2 ** level);
    const height = Math.ceil(h.height / 2 ** level);
    if (width < 16 || height < 16) break;
    const t = grid.transform;
    const fx = h.width / width;
    const fy = h.height / height;
    const g: Grid = { crs: grid.crs, width, height, transform: [t[0], t[1] * fx, t[2] * fy, t[3], t[4] * fx, t[5] * fy] };
    out.push({
      grid: g,
      async readStored(w: Window) {
        checkWindow(dec.file.label, g, w);
        const img = await dec.image(level);
        return copyWindow(transformValues ? transformValues(img, component) : planeArray(img, component), img.width, w);
      },
    });
  }
  return out;
}

function jp2Band(name: LayerName, dec: Jp2Decoder, radiometry: Radiometry, kind: 'reflectance' | 'class',
  component = 0, transformValues?: (img: DecodedImage, c: number) => SampleArray): BandRef {
  const { grid, label, header } = dec.file;
  return {
    name, href: label, sample: component, grid, radiometry, kind, decodedInSandbox: true,
    tile: { width: header.tileWidth, height: header.tileHeight },
    overviews: overviewsOf(dec, component, transformValues),
    async readStored(w: Window) {
      checkWindow(label, grid, w);
      const img = await dec.image(0);
      return copyWindow(transformValues ? transformValues(img, component) : planeArray(img, component), img.width, w);
    },
  };
}

/**
 * MSK_CLASSI_B00 (L1C, baseline 04.00+): component 1 opaque clouds, 2 cirrus, 3 snow, as an SCL-coded class band —
 * 9 (cloud high probability) for opaque cloud, 10 (thin cirrus) for cirrus, 11 (snow) for snow, 7 (unclassified)
 * elsewhere — so the usual SCL masking applies.
 */
function classiToScl(img: DecodedImage): SampleArray {
  const n = img.width * img.height;
  const [cloud, cirrus, snow] = [0, 1, 2].map((c) => (img.planes[c] ? new Uint8Array(img.planes[c]!) : null));
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = cloud?.[i] ? 9 : cirrus?.[i] ? 10 : snow?.[i] ? 11 : 7;
  return out;
}

/** MSK_CLDPRB (cloud probability 0–100) as SCL codes: ≥ 65 → 9, ≥ 35 → 8, else 7 (Sen2Cor's own thresholds). */
function cldprbToScl(img: DecodedImage): SampleArray {
  const p = new Uint8Array(img.planes[0]!);
  const out = new Uint8Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = p[i]! >= 65 ? 9 : p[i]! >= 35 ? 8 : 7;
  return out;
}

/**
 * One loose JPEG 2000 band file (e.g. from an unpacked product's IMG_DATA folder) as a BandRef: its grid from its own
 * GMLJP2/GeoJP2 box (UNSUPPORTED_CRS without one), decoded whole in the decode sandbox on first read.
 */
export async function openJp2BandFile(file: string, name: LayerName, radiometry: Radiometry, opts: SceneOptions): Promise<BandRef> {
  const container = singleFileContainer(file);
  const header = await readHeader(container, '');
  const grid = gridOf(file, header, null, { tileId: null, sensingTime: null, epsg: null, grids: new Map() }, []);
  const dec = new Jp2Decoder(container, { rel: '', label: file, header, grid }, { timeMs: opts.decode?.timeMs, memoryMb: opts.decode?.memoryMb });
  return jp2Band(name, dec, radiometry, name === 'SCL' ? 'class' : 'reflectance');
}

/** Open a SAFE folder or .zip as a Scene. */
export async function openSafeScene(src: string, opts: SceneOptions): Promise<Scene> {
  const container = await openSafeContainer(src);
  try {
    return await buildScene(container, opts);
  } catch (err) {
    await container.close();
    throw err;
  }
}

async function buildScene(container: SafeContainer, opts: SceneOptions): Promise<Scene> {
  const mtdRel = container.files.find((f) => /^MTD_MSIL(1C|2A)\.xml$/i.test(f));
  if (!mtdRel) {
    throw new MissingBandError('no product metadata in the SAFE product', {
      input: container.input, expected: 'MTD_MSIL1C.xml or MTD_MSIL2A.xml at the top of the .SAFE folder',
      found: container.files.filter((f) => !f.includes('/')).slice(0, 8).join(', ') || 'no files',
      fix: 'Pass the .SAFE folder (or its .zip) as downloaded; products before 2016-12 (S2A_OPER_… names) are not supported',
    });
  }
  const product = parseProductMetadata(new TextDecoder().decode(await container.read(mtdRel, 64 * 2 ** 20)), container.label(mtdRel));
  const warnings: string[] = [];
  // Band files per granule.
  const candidates = new Map<string, { rel: string; res: number | null; granule: string }[]>();
  const granules = new Set<string>();
  for (const rel of container.files) {
    const m = BAND_FILE.exec(rel);
    if (!m) continue;
    const layer = /^scl$/i.test(m[3]!) ? 'SCL' : canonicalBand(m[3]!);
    if (!layer) continue;
    granules.add(m[1]!);
    const res = m[2] ? Number(m[2]) : m[4] ? Number(m[4]) : null;
    const list = candidates.get(layer) ?? [];
    list.push({ rel, res, granule: m[1]! });
    candidates.set(layer, list);
  }
  if (granules.size === 0) {
    throw new MissingBandError('no band files in the SAFE product', {
      input: container.input, expected: 'GRANULE/<granule>/IMG_DATA/…_B04(_10m).jp2 files',
      found: `${container.files.length} files, none of them a band`, fix: 'Check that the download is complete',
    });
  }
  if (granules.size > 1) {
    throw new UsageError('the SAFE product holds several granules', {
      input: container.input, expected: 'one granule (products since 2016-12 hold one tile)', found: [...granules].join(', '),
      fix: 'Export one granule with gdal_translate SENTINEL2_L2A:<MTD file>:10m:EPSG_<code> <out.tif>',
    });
  }
  const granule = [...granules][0]!;
  const tlRel = `GRANULE/${granule}/MTD_TL.xml`;
  const tile: TileMetadata = container.files.includes(tlRel)
    ? parseTileMetadata(new TextDecoder().decode(await container.read(tlRel, 64 * 2 ** 20)), container.label(tlRel))
    : { tileId: null, sensingTime: null, epsg: null, grids: new Map() };
  if (!container.files.includes(tlRel)) warnings.push(`${tlRel} is missing: the JP2 georeferencing is not cross-checked`);

  const budget: DecodeBudgetOptions = { timeMs: opts.decode?.timeMs, memoryMb: opts.decode?.memoryMb };
  const bands = new Map<LayerName, BandRef>();
  const files: Record<string, string> = {};
  const quant = product.quantification;
  if (quant === null || !(quant > 0)) {
    throw new S2ChangeError('RADIOMETRY', 'the product metadata has no quantification value', {
      input: container.label(mtdRel), expected: `${product.level === 'L2A' ? 'BOA_QUANTIFICATION_VALUE' : 'QUANTIFICATION_VALUE'} > 0`,
      found: String(quant), fix: 'Re-download the product; or export the bands as GeoTIFFs and pass --scale/--offset',
    });
  }
  const opener = async (rel: string, res: number | null): Promise<Jp2Decoder> => {
    const header = await readHeader(container, rel);
    const grid = gridOf(container.label(rel), header, res, tile, warnings);
    return new Jp2Decoder(container, { rel, label: container.label(rel), header, grid }, budget);
  };
  for (const [layer, list] of candidates) {
    // L2A: the finest resolution folder that has the band (R10m before R20m before R60m).
    const best = [...list].sort((a, b) => (a.res ?? 0) - (b.res ?? 0))[0]!;
    const dec = await opener(best.rel, best.res);
    files[layer] = best.rel;
    if (layer === 'SCL') {
      bands.set('SCL', jp2Band('SCL', dec, { scale: 1, offset: 0, nodata: 0, source: 'class band (SCL): values used as stored' }, 'class'));
      continue;
    }
    const band = layer as BandName;
    const off = product.offsets[band];
    let r: Radiometry = off !== undefined
      ? { scale: 1 / quant, offset: off, nodata: product.nodataValue ?? 0, source: `${path.basename(mtdRel)}: ${product.offsetElement} ${off}, quantification ${quant}` }
      : {
        scale: 1 / quant, offset: 0, nodata: product.nodataValue ?? 0,
        source: `${path.basename(mtdRel)}: quantification ${quant}, no ${product.level === 'L2A' ? 'BOA_ADD_OFFSET' : 'RADIO_ADD_OFFSET'} for ${band} (processing baseline ${product.processingBaseline ?? 'unknown'}) → offset 0`,
      };
    if (opts.scale !== undefined) r = { ...r, scale: opts.scale, source: `${r.source}; scale overridden by --scale` };
    if (opts.offset !== undefined) r = { ...r, offset: opts.offset, source: `${r.source}; offset overridden by --offset` };
    bands.set(band, jp2Band(band, dec, r, 'reflectance'));
  }
  if (!bands.has('SCL') && !opts.sclPath) {
    const classi = container.files.find((f) => f === `GRANULE/${granule}/QI_DATA/MSK_CLASSI_B00.jp2`);
    const cldprb = container.files.filter((f) => new RegExp(`^GRANULE/${granule}/QI_DATA/MSK_CLDPRB_(\\d+)m\\.jp2$`).test(f))
      .sort((a, b) => Number(/_(\d+)m/.exec(a)![1]) - Number(/_(\d+)m/.exec(b)![1]))[0];
    if (classi) {
      const dec = await opener(classi, 60);
      files.SCL = classi;
      bands.set('SCL', jp2Band('SCL', dec, {
        scale: 1, offset: 0, nodata: null,
        source: 'MSK_CLASSI_B00 as SCL codes: opaque cloud → 9, cirrus → 10, snow → 11, else 7 (unclassified)',
      }, 'class', 0, (img) => classiToScl(img)));
    } else if (cldprb) {
      const dec = await opener(cldprb, Number(/_(\d+)m/.exec(cldprb)![1]));
      files.SCL = cldprb;
      bands.set('SCL', jp2Band('SCL', dec, {
        scale: 1, offset: 0, nodata: null, source: 'MSK_CLDPRB cloud probability as SCL codes: ≥ 65 % → 9, ≥ 35 % → 8, else 7',
      }, 'class', 0, (img) => cldprbToScl(img)));
    } else {
      warnings.push(`${container.productName}: no SCL and no MSK_CLASSI_B00/MSK_CLDPRB cloud mask; clouds are not masked`);
    }
  }
  const tileName = mgrsTile(tile.tileId) ?? mgrsTile(product.productUri) ?? mgrsTile(container.productName);
  const provenance: Record<string, unknown> = {
    product: product.productUri ?? container.productName, level: product.level, productType: product.productType,
    datetime: product.startTime, sensingTime: tile.sensingTime, platform: product.spacecraft, relativeOrbit: product.relativeOrbit,
    tile: tileName, processingBaseline: product.processingBaseline, quantification: quant,
    offsets: product.offsets, cloudCover: product.cloudCover, container: /\.zip$/i.test(container.input) ? 'zip' : 'folder', files,
  };
  return {
    input: container.input, format: 'safe', bands, georeferenced: true, provenance, warnings,
    close: () => container.close(),
  };
}

