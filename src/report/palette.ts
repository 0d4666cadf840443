/**
 * Class colours per preset, shared by the PNG quicklooks, the HTML legend and the COG colormap.
 *
 * Class values: 0 = no change (unburned for wildfire), 255 = nodata, 1..n = the preset's classes.
 * The wildfire palette is the USGS/FIREMON dNBR severity scheme (Key & Benson 2006) with the colours of the
 * UN-SPIDER "Burn severity mapping" recommended practice.
 */

export type Rgb = readonly [number, number, number];

export interface ClassStyle {
  value: number;
  name: string;
  colour: Rgb;
  description?: string;
}

export interface ClassPalette {
  /** Palette id, e.g. "flood". */
  id: string;
  /** The change classes 1..n, in legend order. */
  classes: readonly ClassStyle[];
  /** Value 0. Drawn transparent on overlays; listed in legends and area tables. */
  noChange: ClassStyle;
  /** Value 255. Drawn transparent (or grey) on overlays. */
  nodata: ClassStyle;
}

export const NO_CHANGE_VALUE = 0;
export const NODATA_VALUE = 255;

const NODATA: ClassStyle = { value: NODATA_VALUE, name: 'no data', colour: [128, 128, 128], description: 'masked: cloud, shadow, outside a scene or nodata' };
const NO_CHANGE: ClassStyle = { value: NO_CHANGE_VALUE, name: 'no change', colour: [255, 255, 255] };

/** USGS dNBR severity classes (Key & Benson 2006) with the UN-SPIDER colours; dNBR ranges are ×1000. */
export const WILDFIRE_PALETTE: ClassPalette = {
  id: 'wildfire',
  noChange: { value: 0, name: 'unburned', colour: [10, 224, 66], description: 'dNBR -100 to +99' },
  classes: [
    { value: 1, name: 'low severity', colour: [255, 247, 11], description: 'dNBR +100 to +269' },
    { value: 2, name: 'moderate-low severity', colour: [255, 175, 56], description: 'dNBR +270 to +439' },
    { value: 3, name: 'moderate-high severity', colour: [255, 100, 27], description: 'dNBR +440 to +659' },
    { value: 4, name: 'high severity', colour: [164, 31, 214], description: 'dNBR +660 to +1300' },
    { value: 5, name: 'enhanced regrowth, low', colour: [172, 190, 77], description: 'dNBR -250 to -101' },
    { value: 6, name: 'enhanced regrowth, high', colour: [122, 135, 55], description: 'dNBR -500 to -251' },
  ],
  nodata: NODATA,
};

export const FLOOD_PALETTE: ClassPalette = {
  id: 'flood',
  noChange: NO_CHANGE,
  classes: [
    { value: 1, name: 'new water', colour: [0, 112, 255], description: 'water after, land before (flooded)' },
    { value: 2, name: 'receded water', colour: [230, 152, 0], description: 'water before, land after' },
    { value: 3, name: 'permanent water', colour: [0, 38, 115], description: 'water on both dates' },
  ],
  nodata: NODATA,
};

export const URBAN_PALETTE: ClassPalette = {
  id: 'urban',
  noChange: NO_CHANGE,
  classes: [{ value: 1, name: 'new built-up', colour: [230, 0, 0], description: 'built-up after, not before' }],
  nodata: NODATA,
};

export const VEGETATION_PALETTE: ClassPalette = {
  id: 'vegetation',
  noChange: NO_CHANGE,
  classes: [
    { value: 1, name: 'vegetation loss', colour: [215, 48, 39], description: 'NDVI decreased beyond the threshold' },
    { value: 2, name: 'vegetation gain', colour: [26, 152, 80], description: 'NDVI increased beyond the threshold' },
  ],
  nodata: NODATA,
};

export const GENERIC_PALETTE: ClassPalette = {
  id: 'generic',
  noChange: NO_CHANGE,
  classes: [{ value: 1, name: 'change', colour: [255, 0, 255], description: 'spectral change beyond the threshold' }],
  nodata: NODATA,
};

const PALETTES: Record<string, ClassPalette> = {
  wildfire: WILDFIRE_PALETTE,
  burn: WILDFIRE_PALETTE,
  flood: FLOOD_PALETTE,
  water: FLOOD_PALETTE,
  urban: URBAN_PALETTE,
  vegetation: VEGETATION_PALETTE,
  generic: GENERIC_PALETTE,
};

/** Distinct colours for class values a palette does not know (Okabe-Ito, colour-blind safe). */
const FALLBACK: readonly Rgb[] = [
  [230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66], [0, 114, 178], [213, 94, 0], [204, 121, 167],
];

/** The palette of a preset (`wildfire`, `flood`, `water`, `urban`, `vegetation`, `generic`); unknown ids get `generic`. */
export function paletteFor(preset: string): ClassPalette {
  return PALETTES[preset] ?? GENERIC_PALETTE;
}

/**
 * A palette for classes named by a preset at run time: known values keep the preset's colours, other values get
 * distinct fallback colours, and names come from `classes` (so legends always match the class map).
 */
export function paletteForClasses(preset: string, classes: ReadonlyArray<{ value: number; name: string; description?: string }>): ClassPalette {
  const base = paletteFor(preset);
  let k = 0;
  const styles: ClassStyle[] = [];
  let noChange = base.noChange;
  for (const c of classes) {
    if (c.value === NODATA_VALUE) continue;
    const known = c.value === 0 ? base.noChange : base.classes.find((s) => s.value === c.value);
    const style: ClassStyle = { value: c.value, name: c.name, colour: known?.colour ?? FALLBACK[k++ % FALLBACK.length]!,
      description: c.description ?? known?.description };
    if (c.value === 0) noChange = style;
    else styles.push(style);
  }
  return { id: base.id, classes: styles, noChange, nodata: base.nodata };
}

/** The style of a class value (0 and 255 included), or undefined. */
export function classStyle(p: ClassPalette, value: number): ClassStyle | undefined {
  if (value === p.noChange.value) return p.noChange;
  if (value === p.nodata.value) return p.nodata;
  return p.classes.find((c) => c.value === value);
}

/**
 * RGBA lookup table of 256 entries (1024 bytes) for drawing a class map: change classes opaque, no change and
 * nodata transparent, unknown values transparent.
 */
export function rgbaLut(p: ClassPalette, opts: { showNoChange?: boolean; showNodata?: boolean } = {}): Uint8Array {
  const lut = new Uint8Array(256 * 4);
  const put = (s: ClassStyle): void => { lut.set([s.colour[0], s.colour[1], s.colour[2], 255], s.value * 4); };
  for (const c of p.classes) put(c);
  if (opts.showNoChange) put(p.noChange);
  if (opts.showNodata) put(p.nodata);
  return lut;
}

/**
 * The TIFF ColorMap tag (320) for a uint8 palette image: 3 x 256 uint16 values, all reds, then greens, then blues,
 * each 8-bit colour scaled by 257 (so 255 -> 65535), as GDAL writes it. Unknown values are black.
 */
export function tiffColorMap(p: ClassPalette): Uint16Array {
  const map = new Uint16Array(3 * 256);
  for (const s of [p.noChange, ...p.classes, p.nodata]) {
    for (let ch = 0; ch < 3; ch++) map[ch * 256 + s.value] = s.colour[ch]! * 257;
  }
  return map;
}

/** `#rrggbb` for CSS. */
export function rgbHex(c: Rgb): string {
  return `#${c.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;
}

/** Continuous colour ramps for index and difference pictures. */
export type ColormapName = 'rdylgn' | 'blues' | 'dnbr';

const hex = (s: string): Rgb => [parseInt(s.slice(0, 2), 16), parseInt(s.slice(2, 4), 16), parseInt(s.slice(4, 6), 16)];
const COLORMAPS: Record<ColormapName, readonly Rgb[]> = {
  // ColorBrewer RdYlGn (11 classes): low = red, high = green (e.g. NDVI, dNDVI).
  rdylgn: ['a50026', 'd73027', 'f46d43', 'fdae61', 'fee08b', 'ffffbf', 'd9ef8b', 'a6d96a', '66bd63', '1a9850', '006837'].map(hex),
  // ColorBrewer Blues (9 classes): low = white, high = dark blue (e.g. MNDWI, water probability).
  blues: ['f7fbff', 'deebf7', 'c6dbef', '9ecae1', '6baed6', '4292c6', '2171b5', '08519c', '08306b'].map(hex),
  // USGS / UN-SPIDER dNBR severity colours, from enhanced regrowth (low) to high severity (high).
  dnbr: ['7a8737', 'acbe4d', '0ae042', 'fff70b', 'ffaf38', 'ff641b', 'a41fd6'].map(hex),
};

/** The colour stops of a colormap, evenly spaced from min (first) to max (last); for legends. */
export function colormapStops(name: ColormapName): readonly Rgb[] {
  const stops = COLORMAPS[name];
  if (!stops) throw new RangeError(`unknown colormap "${String(name)}"; expected rdylgn, blues or dnbr`);
  return stops;
}

/** Colour at t in [0, 1] (clamped), linearly interpolated between the stops. */
export function colormapColour(name: ColormapName, t: number): Rgb {
  const stops = colormapStops(name);
  const x = (t <= 0 ? 0 : t >= 1 ? 1 : t) * (stops.length - 1);
  const k = Math.min(stops.length - 2, Math.floor(x));
  const f = x - k;
  const a = stops[k]!, b = stops[k + 1]!;
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/** How a product (file stem) is drawn: colormap and the values at its ends (the report's picture and `<index>.qml`). */
export function indexStyleFor(product: string): { colormap: ColormapName; range: [number, number] } {
  if (product === 'dnbr') return { colormap: 'dnbr', range: [-0.5, 1] };
  if (product.startsWith('cva')) return { colormap: 'blues', range: [0, 0.3] };
  return { colormap: 'rdylgn', range: [-1, 1] };
}

/** The stripes masked pixels (255) are drawn with in the change picture: dark and light grey. */
export const MASKED_HATCH: readonly [Rgb, Rgb] = [[64, 64, 64], [200, 200, 200]];
