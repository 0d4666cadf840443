/**
 * Side files that make the outputs open styled in a GIS without a plugin:
 * - `change.qml`: a QGIS paletted style for change.tif (class colours and names; "no change" transparent);
 * - `<index>.qml`: a QGIS pseudocolour style for the index COG (the report's colour ramp and range);
 * - `change.tif.aux.xml`: a GDAL PAM raster attribute table (value, class name, pixel count, hectares, colour) and
 *   category names, which `gdalinfo`, QGIS and ArcGIS read beside change.tif.
 * Pure text builders: no I/O. Every name is XML-escaped.
 */
import { colormapStops, rgbHex, type ColormapName, type Rgb } from './palette.js';

/** A class as the styles show it. */
export interface StyledClass {
  value: number;
  name: string;
  colour: Rgb;
  /** Drawn transparent (the "no change" class). */
  transparent?: boolean;
  pixels?: number;
  hectares?: number;
}

/** Escape text for XML element content and attribute values. */
export function escapeXml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const QML_HEAD = `<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.28.0" styleCategories="Symbology">
  <pipe>`;
const QML_TAIL = `    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeStrength="100" colorizeRed="255" colorizeGreen="128" colorizeBlue="128"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
`;

/** QGIS style (QML) of a class map: a paletted renderer on band 1, one entry per class, transparent ones with alpha 0. */
export function classesQml(classes: readonly StyledClass[]): string {
  const entries = classes.map((c) => `        <paletteEntry value="${c.value}" color="${rgbHex(c.colour)}" alpha="${c.transparent ? 0 : 255}" label="${escapeXml(c.name)}"/>`);
  return `${QML_HEAD}
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
${entries.join('\n')}
      </colorPalette>
    </rasterrenderer>
${QML_TAIL}`;
}

/**
 * QGIS style (QML) of a float index: a pseudocolour renderer interpolating `colormap`'s stops evenly from `min` to
 * `max` (values beyond take the end colours), as the report's picture draws it.
 */
export function indexQml(opts: { colormap: ColormapName; min: number; max: number }): string {
  const stops = colormapStops(opts.colormap);
  const value = (k: number) => Number((opts.min + ((opts.max - opts.min) * k) / (stops.length - 1)).toPrecision(6));
  const items = stops.map((c, k) => `            <item value="${value(k)}" color="${rgbHex(c)}" alpha="255" label="${value(k)}"/>`);
  return `${QML_HEAD}
    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" classificationMin="${opts.min}" classificationMax="${opts.max}" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="${opts.min}" maximumValue="${opts.max}" labelPrecision="3">
${items.join('\n')}
        </colorrampshader>
      </rastershader>
    </rasterrenderer>
${QML_TAIL}`;
}

/**
 * GDAL PAM side file (`<raster>.aux.xml`) for band 1 of a class map: category names (index = class value, up to
 * the largest class below 255) and a
 * thematic raster attribute table with Value, Class, Count (pixels), Hectares and the class colour.
 * Field types and usages are GDAL's codes (GFT_Integer 0, GFT_Real 1, GFT_String 2; GFU_Generic 0, PixelCount 1,
 * Name 2, MinMax 5, Red 6, Green 7, Blue 8, Alpha 9).
 */
export function rasterAttributeTableXml(classes: readonly StyledClass[]): string {
  const sorted = [...classes].sort((a, b) => a.value - b.value);
  // Category names up to the largest class value below 255 (the nodata value: not a category, but a row below).
  const maxValue = sorted.filter((c) => c.value < 255).reduce((m, c) => Math.max(m, c.value), -1);
  const names = Array.from({ length: maxValue + 1 }, (_, v) => sorted.find((c) => c.value === v)?.name ?? '');
  const fields: [string, number, number][] = [['Value', 0, 5], ['Class', 2, 2], ['Count', 1, 1], ['Hectares', 1, 0],
    ['Red', 0, 6], ['Green', 0, 7], ['Blue', 0, 8], ['Alpha', 0, 9]];
  const defs = fields.map(([name, type, usage], k) => `      <FieldDefn index="${k}"><Name>${name}</Name><Type>${type}</Type><Usage>${usage}</Usage></FieldDefn>`);
  const rows = sorted.map((c, k) => `      <Row index="${k}"><F>${c.value}</F><F>${escapeXml(c.name)}</F><F>${c.pixels ?? 0}</F>`
    + `<F>${Number((c.hectares ?? 0).toFixed(4))}</F><F>${c.colour[0]}</F><F>${c.colour[1]}</F><F>${c.colour[2]}</F><F>${c.transparent ? 0 : 255}</F></Row>`);
  return `<PAMDataset>
  <PAMRasterBand band="1">
    <CategoryNames>
${names.map((n) => `      <Category>${escapeXml(n)}</Category>`).join('\n')}
    </CategoryNames>
    <GDALRasterAttributeTable tableType="thematic">
${defs.join('\n')}
${rows.join('\n')}
    </GDALRasterAttributeTable>
  </PAMRasterBand>
</PAMDataset>
`;
}
