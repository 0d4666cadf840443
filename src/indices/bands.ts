/**
 * Sentinel-2 MSI band names and facts. Pure.
 */

export type BandName =
  | 'B01' | 'B02' | 'B03' | 'B04' | 'B05' | 'B06' | 'B07' | 'B08' | 'B8A' | 'B09' | 'B10' | 'B11' | 'B12';

export interface BandInfo {
  readonly name: BandName;
  readonly common: string;
  /** Native ground sampling distance in metres. */
  readonly gsd: 10 | 20 | 60;
  /** Central wavelength, nm (S2A). */
  readonly wavelength: number;
}

export const BANDS: readonly BandInfo[] = [
  { name: 'B01', common: 'coastal aerosol', gsd: 60, wavelength: 443 },
  { name: 'B02', common: 'blue', gsd: 10, wavelength: 490 },
  { name: 'B03', common: 'green', gsd: 10, wavelength: 560 },
  { name: 'B04', common: 'red', gsd: 10, wavelength: 665 },
  { name: 'B05', common: 'red edge 1', gsd: 20, wavelength: 705 },
  { name: 'B06', common: 'red edge 2', gsd: 20, wavelength: 740 },
  { name: 'B07', common: 'red edge 3', gsd: 20, wavelength: 783 },
  { name: 'B08', common: 'NIR', gsd: 10, wavelength: 842 },
  { name: 'B8A', common: 'narrow NIR', gsd: 20, wavelength: 865 },
  { name: 'B09', common: 'water vapour', gsd: 60, wavelength: 945 },
  { name: 'B10', common: 'SWIR cirrus', gsd: 60, wavelength: 1375 },
  { name: 'B11', common: 'SWIR 1', gsd: 20, wavelength: 1610 },
  { name: 'B12', common: 'SWIR 2', gsd: 20, wavelength: 2190 },
];

const BY_NAME = new Map(BANDS.map((b) => [b.name, b]));

/** Information on a canonical band name, or undefined. */
export function bandInfo(name: string): BandInfo | undefined {
  return BY_NAME.get(name as BandName);
}

/**
 * Canonical band name from the spellings found in file names, metadata and STAC catalogues:
 * "B4", "b04", "B8a", "B08", Earth Search v1 keys ("red", "nir", "swir16", …). Returns null when unknown.
 */
export function canonicalBand(raw: string): BandName | null {
  const s = raw.trim().toLowerCase();
  const alias: Record<string, BandName> = {
    coastal: 'B01', blue: 'B02', green: 'B03', red: 'B04', rededge1: 'B05', rededge2: 'B06', rededge3: 'B07',
    nir: 'B08', nir08: 'B8A', nir09: 'B09', cirrus: 'B10', swir16: 'B11', swir22: 'B12',
  };
  if (alias[s]) return alias[s];
  const m = /^b(\d{1,2}|8a)$/.exec(s);
  if (!m) return null;
  if (m[1] === '8a') return 'B8A';
  const n = Number(m[1]);
  if (n < 1 || n > 12) return null;
  return `B${String(n).padStart(2, '0')}` as BandName;
}

/** SCL (L2A scene classification) class values. */
export const SCL = {
  NO_DATA: 0, SATURATED: 1, DARK: 2, CLOUD_SHADOW: 3, VEGETATION: 4, BARE: 5, WATER: 6, UNCLASSIFIED: 7,
  CLOUD_MEDIUM: 8, CLOUD_HIGH: 9, CIRRUS: 10, SNOW: 11,
} as const;

/** SCL classes masked by default: nodata, saturated/defective, cloud shadow, clouds, cirrus, snow. */
export const DEFAULT_SCL_MASK: readonly number[] = [0, 1, 3, 8, 9, 10, 11];
