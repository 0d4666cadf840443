/**
 * The spectral index catalogue: formula, bands, what it measures, valid range and a literature reference.
 * Pure: computing an index needs only Float32Arrays of reflectance (NaN = invalid).
 */
import type { BandName } from './bands.js';
import { normalizedDifference } from './normalized-difference.js';

export type BandArrays = Partial<Record<BandName, Float32Array>>;

export interface SpectralIndex {
  readonly name: string;
  readonly longName: string;
  readonly formula: string;
  /** Bands in formula order. */
  readonly bands: readonly BandName[];
  readonly measures: string;
  readonly range: readonly [number, number];
  readonly reference: string;
  compute(b: BandArrays, out?: Float32Array): Float32Array;
}

function need(b: BandArrays, name: BandName, index: string): Float32Array {
  const a = b[name];
  if (!a) throw new RangeError(`${index} needs band ${name}`);
  return a;
}

function nd(name: string, longName: string, a: BandName, b: BandName, measures: string, reference: string): SpectralIndex {
  return {
    name, longName, measures, reference,
    formula: `(${a} − ${b}) / (${a} + ${b})`,
    bands: [a, b],
    range: [-1, 1],
    compute: (bands, out) => normalizedDifference(need(bands, a, name), need(bands, b, name), out),
  };
}

const BSI: SpectralIndex = {
  name: 'BSI',
  longName: 'Bare Soil Index',
  formula: '((B11 + B04) − (B08 + B02)) / ((B11 + B04) + (B08 + B02))',
  bands: ['B11', 'B04', 'B08', 'B02'],
  measures: 'bare soil and construction sites (high) versus vegetation (low)',
  range: [-1, 1],
  reference: 'Rikimaru, Roy & Miyatake (2002), Tropical forest cover density mapping, Tropical Ecology 43(1):39–47',
  compute(b, out) {
    const swir = need(b, 'B11', 'BSI');
    const red = need(b, 'B04', 'BSI');
    const nir = need(b, 'B08', 'BSI');
    const blue = need(b, 'B02', 'BSI');
    const n = swir.length;
    const o = out ?? new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const p = swir[i]! + red[i]!;
      const q = nir[i]! + blue[i]!;
      const s = p + q;
      o[i] = s === 0 || s !== s ? NaN : (p - q) / s;
    }
    return o;
  },
};

/** Every index s2change knows, by name. */
export const INDICES: readonly SpectralIndex[] = [
  nd('NDVI', 'Normalized Difference Vegetation Index', 'B08', 'B04',
    'green vegetation vigour and cover (high = dense green vegetation)',
    'Rouse, Haas, Schell & Deering (1974), Monitoring vegetation systems in the Great Plains with ERTS, NASA SP-351'),
  nd('NDWI', 'Normalized Difference Water Index (McFeeters)', 'B03', 'B08',
    'open water (positive) versus vegetation and soil (negative)',
    'McFeeters (1996), Int. J. Remote Sensing 17(7):1425–1432, doi:10.1080/01431169608948714'),
  nd('MNDWI', 'Modified Normalized Difference Water Index', 'B03', 'B11',
    'open water, suppressing built-up noise that NDWI confuses with water',
    'Xu (2006), Int. J. Remote Sensing 27(14):3025–3033, doi:10.1080/01431160600589179'),
  nd('NBR', 'Normalized Burn Ratio', 'B08', 'B12',
    'burn severity: healthy vegetation high, fresh burn scars low; dNBR = NBR_pre − NBR_post',
    'Key & Benson (2006), Landscape Assessment (LA), FIREMON, USDA Forest Service RMRS-GTR-164-CD'),
  nd('NDBI', 'Normalized Difference Built-up Index', 'B11', 'B08',
    'built-up and bare surfaces (positive) versus vegetation (negative)',
    'Zha, Gao & Ni (2003), Int. J. Remote Sensing 24(3):583–594, doi:10.1080/01431160304987'),
  BSI,
  nd('NDMI', 'Normalized Difference Moisture Index', 'B08', 'B11',
    'vegetation water content (canopy moisture)',
    'Gao (1996), Remote Sensing of Environment 58(3):257–266, doi:10.1016/S0034-4257(96)00067-3'),
];

const BY_NAME = new Map(INDICES.map((i) => [i.name.toUpperCase(), i]));

/** Look up an index by name (case-insensitive). */
export function getIndex(name: string): SpectralIndex | undefined {
  return BY_NAME.get(name.toUpperCase());
}
