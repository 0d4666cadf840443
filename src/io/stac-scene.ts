/**
 * A STAC Item as a scene: its band assets (Earth Search v1 keys red/nir/swir16…, or older B04/B08/SCL keys)
 * resolved relative to the item, read through the hardened TIFF reader (local paths now; URLs through the
 * HTTP source).
 */
import path from 'node:path';
import { MissingBandError, StacError } from '../errors.js';
import type { BandRef, LayerName, Radiometry, Scene, SceneOptions } from './scene.js';
import { normalizeItem, radiometryFor } from './stac-search.js';
import { openTiff, type TiffFile } from './tiff/index.js';
import { fileSource } from './file-source.js';
import type { ByteSource } from './byte-source.js';

export interface StacSceneOptions extends SceneOptions {
  /** Opens a URL as a ByteSource (the HTTP source); without it only local assets can be read. */
  openUrl?: (url: string) => ByteSource;
}

/** Build a scene from a parsed STAC item found at `itemPath` (a file path or URL). */
export async function loadStacItemScene(itemPath: string, json: unknown, opts: StacSceneOptions): Promise<Scene> {
  const isUrl = /^https?:\/\//i.test(itemPath);
  const base = isUrl ? itemPath : `file://${path.resolve(itemPath)}`;
  let item;
  try {
    item = normalizeItem(json, base);
  } catch (err) {
    throw new StacError('not a usable STAC item', {
      input: itemPath, expected: 'a STAC Item (type "Feature") with band assets', found: String((err as Error).message), cause: err,
    });
  }
  const files: TiffFile[] = [];
  const bands = new Map<LayerName, BandRef>();
  const warnings: string[] = [];
  try {
    for (const [name, asset] of Object.entries(item.assets)) {
      const layer = name as LayerName;
      const href = asset.href.startsWith('file://') ? decodeURIComponent(new URL(asset.href).pathname) : asset.href;
      let source: ByteSource;
      if (/^https?:\/\//i.test(href)) {
        if (!opts.openUrl) continue; // URLs are opened lazily by callers that allow the network
        source = opts.openUrl(href);
      } else {
        source = fileSource(href);
      }
      const file = await openTiff(source, opts.limits);
      files.push(file);
      const img = file.images[0]!;
      if (!img.grid) continue;
      const kind = layer === 'SCL' ? 'class' : 'reflectance';
      let radiometry: Radiometry;
      if (kind === 'class') radiometry = { scale: 1, offset: 0, nodata: img.nodata ?? 0, source: 'class band: values used as stored' };
      else {
        const r = radiometryFor(item, layer);
        radiometry = { scale: opts.scale ?? r.scale, offset: opts.offset ?? r.offset, nodata: asset.nodata ?? img.nodata ?? 0, source: r.source };
      }
      bands.set(layer, {
        name: layer, href, sample: 0, grid: img.grid, radiometry, kind,
        async readStored(w) {
          const [a] = await img.readWindow(w, [0]);
          return a!;
        },
      });
    }
  } catch (err) {
    await Promise.all(files.map((f) => f.close()));
    throw err;
  }
  if (bands.size === 0) {
    await Promise.all(files.map((f) => f.close()));
    throw new MissingBandError('no readable band assets in the STAC item', {
      input: itemPath, expected: 'band assets (red, nir, swir16, … or B04, B08, …) with local hrefs or reachable URLs',
      found: Object.keys(item.assets).join(', ') || 'none',
      fix: 'Download the assets next to the item, or allow network reads',
    });
  }
  return {
    input: itemPath, format: 'stac-item', bands, georeferenced: true, warnings,
    provenance: {
      stacItem: item.id, datetime: item.datetime, platform: item.platform, tile: item.tile,
      processingBaseline: item.processingBaseline, boaOffsetApplied: item.boaOffsetApplied, cloudCover: item.cloudCover,
    },
    close: async () => { await Promise.all(files.map((f) => f.close())); },
  };
}
