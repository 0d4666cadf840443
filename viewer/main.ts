/**
 * The `s2change view` page: an OpenLayers map of one run, read from the view server (manifest.json, the run's COGs
 * and the local input bands) with HTTP range requests through ol/source/GeoTIFF (geotiff.js underneath). Bundled
 * by esbuild at build time (scripts/build-viewer.mjs); no CDN, no inline script (the server's CSP forbids it).
 *
 * Contract for tests and accessibility: one labelled checkbox per layer; the swipe divider is a slider labelled
 * "Swipe"; the threshold slider is labelled "Threshold"; the area display has `data-hectares`; the inspector's
 * output has role="status"; `#inspect=LON,LAT` opens the inspector there.
 */
import 'ol/ol.css';
import './viewer.css';
import Map from 'ol/Map.js';
import View from 'ol/View.js';
import GeoTIFF from 'ol/source/GeoTIFF.js';
import WebGLTileLayer from 'ol/layer/WebGLTile.js';
import VectorLayer from 'ol/layer/Vector.js';
import VectorSource from 'ol/source/Vector.js';
import TileLayer from 'ol/layer/Tile.js';
import XYZ from 'ol/source/XYZ.js';
import GeoJSON from 'ol/format/GeoJSON.js';
import { Style, Stroke, Fill, Circle as CircleStyle } from 'ol/style.js';
import Feature from 'ol/Feature.js';
import Point from 'ol/geom/Point.js';
import { ScaleLine, MousePosition, defaults as defaultControls } from 'ol/control.js';
import { createStringXY } from 'ol/coordinate.js';
import { register } from 'ol/proj/proj4.js';
import { fromLonLat, toLonLat } from 'ol/proj.js';
import { getRenderPixel } from 'ol/render.js';
import type RenderEvent from 'ol/render/Event.js';
import type BaseLayer from 'ol/layer/Base.js';
import proj4 from 'proj4';
import { fromUrl, type GeoTIFF as GeoTIFFFile, type GeoTIFFImage } from 'geotiff';
import { getIndex } from '../src/indices/registry.js';
import { addToIndexHistogram, classRulesOfProduct, hectaresBeyond, summarizeIndexHistogram, type IndexHistogram } from '../src/change/index-histogram.js';
import type { ViewManifest, ViewInput } from '../src/view/manifest.js';

// ---- projections: WGS84 UTM zones (what Sentinel-2 tiles use) registered with proj4 for OpenLayers -------------
for (let z = 1; z <= 60; z++) {
  proj4.defs(`EPSG:${32600 + z}`, `+proj=utm +zone=${z} +datum=WGS84 +units=m +no_defs +type=crs`);
  proj4.defs(`EPSG:${32700 + z}`, `+proj=utm +zone=${z} +south +datum=WGS84 +units=m +no_defs +type=crs`);
}
register(proj4);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function showError(text: string): void {
  const p = $('errors');
  p.textContent = p.textContent ? `${p.textContent}\n${text}` : text;
}

type Rgba = [number, number, number, number];
function hexToRgba(hex: string, alpha = 1): Rgba {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  return m ? [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16), alpha] : [128, 128, 128, alpha];
}

// ---- geotiff.js files for the inspector and the stretch (one open per URL) --------------------------------------
const opened = new globalThis.Map<string, Promise<GeoTIFFFile>>();
function openTiff(url: string): Promise<GeoTIFFFile> {
  let p = opened.get(url);
  if (!p) {
    p = fromUrl(new URL(url, location.href).href);
    opened.set(url, p);
  }
  return p;
}

function epsgOf(image: GeoTIFFImage): string {
  const k = image.getGeoKeys() as Record<string, number> | null;
  const code = k?.ProjectedCSTypeGeoKey ?? k?.GeographicTypeGeoKey;
  if (!code || code === 32767) throw new Error('the file has no EPSG code in its GeoKeys');
  return `EPSG:${code}`;
}

/** The pixel (column, row) of `image` holding WGS84 lon/lat, or null when outside: floor of the inverse geotransform. */
function pixelAt(image: GeoTIFFImage, lon: number, lat: number): [number, number] | null {
  const [x, y] = proj4('EPSG:4326', epsgOf(image), [lon, lat]) as [number, number];
  const [x0, y0] = image.getOrigin();
  const [rx, ry] = image.getResolution();
  const col = Math.floor((x - x0!) / rx!);
  const row = Math.floor((y - y0!) / ry!);
  if (col < 0 || row < 0 || col >= image.getWidth() || row >= image.getHeight()) return null;
  return [col, row];
}

/** Every sample of the pixel under WGS84 lon/lat in one read of the file (null outside it). */
const pixelReads = new globalThis.Map<string, Promise<number[] | null>>();
function readPixelSamples(url: string, lon: number, lat: number): Promise<number[] | null> {
  const key = `${url} ${lon} ${lat}`;
  let p = pixelReads.get(key);
  if (!p) {
    p = (async () => {
      const image = await (await openTiff(url)).getImage(0);
      const px = pixelAt(image, lon, lat);
      if (!px) return null;
      const r = await image.readRasters({ window: [px[0], px[1], px[0] + 1, px[1] + 1] });
      return Array.from(r as unknown as ArrayLike<number>[], (band) => Number(band[0]));
    })();
    if (pixelReads.size > 64) pixelReads.clear();
    pixelReads.set(key, p);
  }
  return p;
}

async function readPixel(url: string, sample: number, lon: number, lat: number): Promise<number | null> {
  return (await readPixelSamples(url, lon, lat))?.[sample - 1] ?? null;
}

// ---- manifest and sources ---------------------------------------------------------------------------------------
const TRUE_COLOUR = ['B04', 'B03', 'B02'] as const;

function rgbSources(input: ViewInput): { url: string; bands: number[] }[] | null {
  const refs = TRUE_COLOUR.map((b) => input.bands[b]);
  if (refs.some((r) => !r)) return null;
  const r = refs as NonNullable<(typeof refs)[number]>[];
  if (r.every((x) => x.url === r[0]!.url)) return [{ url: r[0]!.url, bands: r.map((x) => x.sample) }];
  return r.map((x) => ({ url: x.url, bands: [x.sample] }));
}

/** One shared 2–98 % reflectance stretch over both dates' B04/B03/B02, from ≤256-pixel reads (overviews when there are). */
async function sharedStretch(inputs: ViewInput[]): Promise<[number, number]> {
  const values: number[] = [];
  for (const input of inputs) {
    for (const b of TRUE_COLOUR) {
      const ref = input.bands[b];
      if (!ref) continue;
      const image = await (await openTiff(ref.url)).getImage(0);
      const scale = Math.min(1, 256 / Math.max(image.getWidth(), image.getHeight()));
      const w = Math.max(1, Math.round(image.getWidth() * scale));
      const h = Math.max(1, Math.round(image.getHeight() * scale));
      const r = await (await openTiff(ref.url)).readRasters({ width: w, height: h, samples: [ref.sample - 1], resampleMethod: 'nearest' });
      const a = r[0] as ArrayLike<number>;
      for (let i = 0; i < a.length; i++) {
        const v = a[i]!;
        if (Number.isFinite(v) && v !== ref.nodata && v !== 0) values.push((v + ref.offset) * ref.scale);
      }
    }
  }
  if (values.length === 0) return [0, 0.3];
  values.sort((p, q) => p - q);
  const lo = values[Math.floor(values.length * 0.02)]!;
  const hi = values[Math.min(values.length - 1, Math.floor(values.length * 0.98))]!;
  return hi > lo ? [lo, hi] : [lo, lo + 0.1];
}

interface Histogram { h: IndexHistogram; computedHere: boolean }

/**
 * The histogram of the index over the valid pixels: the run's (summary.json indexHistogram) or, for runs made
 * before it existed, one made here from the index COG on the same lattice (addToIndexHistogram), with the run's
 * mean pixel area.
 */
async function indexHistogram(m: ViewManifest): Promise<Histogram | null> {
  if (m.histogram) return { h: m.histogram, computedHere: false };
  if (!m.index || !m.hectaresPerPixel) return null;
  const tiff = await openTiff(m.index.url);
  const image = await tiff.getImage(0);
  const n = image.getWidth() * image.getHeight();
  const r = n <= 16e6 ? await image.readRasters({ samples: [0] }) : await tiff.readRasters({ width: 4000, height: Math.round(4000 * image.getHeight() / image.getWidth()), samples: [0], resampleMethod: 'nearest' });
  const counts = addToIndexHistogram(r[0] as ArrayLike<number>);
  const scale = n / (r[0] as ArrayLike<number>).length;
  if (scale !== 1) for (let k = 0; k < counts.length; k++) counts[k]! *= scale;
  const t = m.thresholds[0]?.value ?? 0;
  return {
    h: summarizeIndexHistogram(counts, {
      product: m.index.name, description: '', pixelAreaM2: m.hectaresPerPixel * 10_000, pixelAreaVaries: true,
      thresholds: m.thresholds, classRules: classRulesOfProduct(m.index.name, t),
    }),
    computedHere: true,
  };
}

/**
 * Which side of the threshold is change, and where the run cut: the class rule standing on the run's threshold
 * (dNBR ≥ t for wildfire; ΔNDVI ≤ −t, the loss, for vegetation), else the first rule ('above' when there is none).
 */
function changeSide(h: IndexHistogram): { side: 'above' | 'below'; start: number | null } {
  const t = h.thresholds[0]?.value;
  const first = h.classRules?.find((r) => t !== undefined && Math.abs(Math.abs(r.bound) - Math.abs(t)) < 1e-9) ?? h.classRules?.[0];
  if (!first) return { side: 'above', start: h.thresholds[0]?.value ?? null };
  return { side: first.op === '<' || first.op === '<=' ? 'below' : 'above', start: first.bound };
}

// ---- styles -----------------------------------------------------------------------------------------------------
function rgbStyle(input: ViewInput, lo: number, hi: number) {
  const ref = input.bands.B04!;
  // reflectance = (DN + offset) × scale → DN range of the shared reflectance stretch
  const loDn = lo / ref.scale - ref.offset;
  const spanDn = (hi - lo) / ref.scale;
  const ch = (i: number) => ['clamp', ['/', ['-', ['band', i], ['var', 'lo']], ['var', 'span']], 0, 1];
  return {
    variables: { lo: loDn, span: spanDn },
    color: ['array', ch(1), ch(2), ch(3), ['case', ['>', ['band', 1], 0], 1, 0]],
  };
}

function alphaOk(source: GeoTIFF, samples: number): unknown[] {
  return source.bandCount > samples ? ['>', ['band', source.bandCount], 0] : ['==', 1, 1];
}

// ---- the page ---------------------------------------------------------------------------------------------------
async function start(): Promise<void> {
  const res = await fetch('manifest.json');
  if (!res.ok) throw new Error(`manifest.json: HTTP ${res.status}`);
  const m = (await res.json()) as ViewManifest;
  const before = m.inputs.find((i) => i.role === 'before') ?? null;
  const after = m.inputs.find((i) => i.role === 'after') ?? null;
  const dates = [before, after].map((i) => i?.date ? i.date.slice(0, 10) : 'date unknown');
  $('title').textContent = `${m.title} — ${m.method}`;
  $('subtitle').textContent = `${m.formula}  ·  before ${dates[0]}, after ${dates[1]}  ·  ${m.crs}`;
  for (const i of m.inputs) if (i.notShown) showError(`${i.role}: ${i.notShown}`);

  const attributions = [m.attribution];
  const geotiff = (sources: { url: string; bands?: number[] }[]) => new GeoTIFF({
    sources: sources.map((s) => ({ ...s, url: new URL(s.url, location.href).href })), normalize: false, interpolate: false,
    convertToRGB: false, attributions, wrapX: false,
  });

  const beforeRgb = before && rgbSources(before);
  const afterRgb = after && rgbSources(after);
  const sources = {
    before: beforeRgb ? geotiff(beforeRgb) : null,
    after: afterRgb ? geotiff(afterRgb) : null,
    change: m.change ? geotiff([{ url: m.change }]) : null,
    index: m.index ? geotiff([{ url: m.index.url }]) : null,
  };
  const all = Object.values(sources).filter((s): s is GeoTIFF => s !== null);
  if (all.length === 0) throw new Error('the run has no GeoTIFF output to show');
  await Promise.all(all.map((s) => s.getView()));
  const ref = (sources.change ?? sources.index ?? all[0])!;
  const viewOpts = await ref.getView();
  const view = new View({ projection: viewOpts.projection, showFullExtent: true });
  const extent = viewOpts.extent!;

  const [lo, hi] = before && after && beforeRgb && afterRgb ? await sharedStretch([before, after]) : [0, 0.3];
  const histogram = await indexHistogram(m);
  const { side, start: runThreshold } = histogram ? changeSide(histogram.h) : { side: 'above' as const, start: m.thresholds[0]?.value ?? null };
  const ge = side === 'above';

  // The change classes in the run's palette; class 0 (no change) and nodata (255) transparent.
  const palette: Rgba[] = Array.from({ length: 256 }, () => [0, 0, 0, 0]);
  for (const c of m.classes) if (c.value !== 0 && c.value < 255) palette[c.value] = hexToRgba(c.colour, 0.9);
  const ramp = histogram ? Math.max(Math.abs(histogram.h.min), Math.abs(histogram.h.max)) : 1;
  const rampMax = Math.min(ramp, 1);

  function makeLayers() {
    const layers: Record<string, BaseLayer | null> = {
      basemap: m.basemap ? new TileLayer({ source: new XYZ({ url: m.basemap.url, attributions: m.basemap.attribution, crossOrigin: 'anonymous', maxZoom: 19 }) }) : null,
      before: sources.before && before ? new WebGLTileLayer({ source: sources.before, style: rgbStyle(before, lo, hi) } as never) : null,
      after: sources.after && after ? new WebGLTileLayer({ source: sources.after, style: rgbStyle(after, lo, hi) } as never) : null,
      index: sources.index ? new WebGLTileLayer({
        source: sources.index, visible: false,
        style: { color: ['case', alphaOk(sources.index, 1), ['interpolate', ['linear'], ['band', 1], -rampMax, [33, 102, 172, 1], 0, [247, 247, 247, 1], rampMax, [178, 24, 43, 1]], [0, 0, 0, 0]] },
      } as never) : null,
      change: sources.change ? new WebGLTileLayer({
        source: sources.change,
        style: { color: ['case', alphaOk(sources.change, 1), ['palette', ['band', 1], palette], [0, 0, 0, 0]] },
      } as never) : null,
      threshold: sources.index ? new WebGLTileLayer({
        source: sources.index, visible: false,
        style: {
          variables: { threshold: runThreshold ?? 0 },
          color: ['case', ['all', alphaOk(sources.index, 1), [ge ? '>=' : '<=', ['band', 1], ['var', 'threshold']]], [0, 229, 255, 0.85], [0, 0, 0, 0]],
        },
      } as never) : null,
      polygons: m.geojson ? new VectorLayer({
        visible: false,
        source: new VectorSource({ url: new URL(m.geojson, location.href).href, format: new GeoJSON() }),
        style: new Style({ stroke: new Stroke({ color: '#111', width: 1.5 }), fill: new Fill({ color: 'rgba(255,255,255,0.05)' }) }),
      }) : null,
    };
    return layers;
  }
  const LABELS: Record<string, string> = {
    basemap: 'Basemap (online)',
    before: `Before (true colour${dates[0] !== 'date unknown' ? `, ${dates[0]}` : ''})`,
    after: `After (true colour${dates[1] !== 'date unknown' ? `, ${dates[1]}` : ''})`,
    index: `Index difference (${m.index?.name ?? 'index'})`,
    change: 'Change classes',
    threshold: 'Past the threshold',
    polygons: 'Polygons (change.geojson)',
  };
  const ORDER = ['basemap', 'before', 'after', 'index', 'change', 'threshold', 'polygons'];
  const left = makeLayers();
  const right = makeLayers();
  const marker = new VectorLayer({
    source: new VectorSource(),
    style: new Style({ image: new CircleStyle({ radius: 6, stroke: new Stroke({ color: '#fff', width: 2 }), fill: new Fill({ color: '#e4007c' }) }) }),
  });
  const controls = () => defaultControls({ attributionOptions: { collapsible: false } });
  const map = new Map({
    target: 'map', view,
    layers: [...ORDER.map((k) => left[k]).filter((l): l is BaseLayer => !!l), marker],
    controls: controls().extend([
      new ScaleLine({ minWidth: 100 }),
      new MousePosition({ projection: 'EPSG:4326', coordinateFormat: (c) => `lon, lat ${createStringXY(5)(c)} (WGS84)`, placeholder: 'lon, lat (WGS84)' }),
    ]),
  });
  const map2 = new Map({
    target: 'map2', view,
    layers: ORDER.map((k) => right[k]).filter((l): l is BaseLayer => !!l),
    controls: controls().extend([new ScaleLine({ minWidth: 100 })]),
  });
  map.updateSize();
  view.fit(extent, { size: map.getSize(), padding: [10, 10, 10, 10] });

  // ---- layer checkboxes ----
  const sideBySide = $<HTMLInputElement>('side-by-side');
  const checked: Record<string, boolean> = {};
  function applyVisibility(): void {
    const sbs = sideBySide.checked;
    for (const k of ORDER) {
      left[k]?.setVisible(checked[k]! && !(sbs && k === 'after'));
      right[k]?.setVisible(checked[k]! && !(k === 'before'));
    }
  }
  const layerBox = $('layers');
  for (const k of ORDER) {
    if (!left[k]) continue;
    checked[k] = left[k]!.getVisible();
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = checked[k]!;
    box.dataset.layer = k;
    box.addEventListener('change', () => { checked[k] = box.checked; applyVisibility(); });
    label.append(box, ` ${LABELS[k]}`);
    layerBox.append(label);
  }
  applyVisibility();

  // ---- swipe: the after layer drawn only right of the divider (WebGL scissor), before underneath ----
  const swipe = $('swipe');
  let swipeAt = 50;
  function setSwipe(v: number): void {
    swipeAt = Math.max(0, Math.min(100, v));
    swipe.style.left = `${swipeAt}%`;
    swipe.setAttribute('aria-valuenow', String(Math.round(swipeAt)));
    map.render();
  }
  const afterLeft = left.after as WebGLTileLayer | null;
  afterLeft?.on('prerender', (event: RenderEvent) => {
    const gl = event.context as WebGLRenderingContext;
    const size = map.getSize();
    if (!size || sideBySide.checked) return;
    gl.enable(gl.SCISSOR_TEST);
    const bottomLeft = getRenderPixel(event, [size[0]! * swipeAt / 100, size[1]!]);
    const topRight = getRenderPixel(event, [size[0]!, 0]);
    gl.scissor(bottomLeft[0]!, bottomLeft[1]!, Math.max(0, topRight[0]! - bottomLeft[0]!), Math.max(0, topRight[1]! - bottomLeft[1]!));
  });
  afterLeft?.on('postrender', (event: RenderEvent) => {
    const gl = event.context as WebGLRenderingContext;
    gl.disable(gl.SCISSOR_TEST);
  });
  let dragging = false;
  swipe.addEventListener('pointerdown', (e) => { dragging = true; swipe.setPointerCapture(e.pointerId); e.preventDefault(); });
  swipe.addEventListener('pointermove', (e) => {
    if (!dragging) return;
    const box = $('map').getBoundingClientRect();
    setSwipe(((e.clientX - box.left) / box.width) * 100);
  });
  swipe.addEventListener('pointerup', (e) => { dragging = false; swipe.releasePointerCapture(e.pointerId); });
  swipe.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft') setSwipe(swipeAt - 5);
    else if (e.key === 'ArrowRight') setSwipe(swipeAt + 5);
    else return;
    e.preventDefault();
  });
  if (!afterLeft || !left.before) swipe.hidden = true;
  sideBySide.addEventListener('change', () => {
    $('map2').hidden = !sideBySide.checked;
    swipe.hidden = sideBySide.checked || !afterLeft || !left.before;
    applyVisibility();
    map.updateSize();
    map2.updateSize();
  });

  // ---- legend ----
  const legend = $('legend');
  for (const c of m.classes) {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = c.value === 0 ? 'transparent' : c.colour;
    li.append(sw, `${c.value} ${c.name}${c.value === 0 ? ' (not drawn)' : ''}`);
    li.title = c.description;
    legend.append(li);
  }
  if (m.index) {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = 'ramp';
    sw.style.background = 'linear-gradient(to right, rgb(33,102,172), rgb(247,247,247), rgb(178,24,43))';
    li.append(`${m.index.name} −${rampMax.toFixed(2)} `, sw, ` +${rampMax.toFixed(2)}`);
    legend.append(li);
    const t = document.createElement('li');
    const ts = document.createElement('span');
    ts.className = 'swatch';
    ts.style.background = 'rgb(0,229,255)';
    t.append(ts, 'past the slider’s threshold');
    legend.append(t);
  }

  // ---- threshold slider, histogram, hectares ----
  const slider = $<HTMLInputElement>('threshold');
  const text = $('threshold-text');
  const area = $('area');
  const canvas = $<HTMLCanvasElement>('histogram');
  if (!histogram || !m.index) {
    slider.disabled = true;
    $('histogram-note').textContent = 'No index difference in this run: no live threshold.';
  } else {
    const h = histogram.h;
    const ha1 = h.pixelAreaM2 / 10_000;
    $('histogram-note').textContent = `${histogram.computedHere ? `Histogram made in the page from ${m.index.name}.tif (this run's summary.json has none)` : 'Histogram of the run (summary.json)'}: `
      + `${h.counts.length} bins of ${h.binWidth} over the valid pixels; hectares = `
      + (h.areasM2 ? 'the ground area of the bins past the threshold (each row measured on the ellipsoid).' : `pixels past the threshold × ${ha1.toFixed(5)} ha per pixel${h.pixelAreaVaries ? ' (the grid\'s mean)' : ''}.`)
      + (h.classRules ? '' : ' The classes of this method need more than this index: the area is the index\'s, not a class\'s.');
    const decimals = Math.max(0, Math.ceil(-Math.log10(h.binWidth)));
    slider.min = String(h.min);
    slider.max = String(h.max);
    slider.step = String(h.binWidth);
    slider.value = String(runThreshold ?? (h.min + h.max) / 2);
    const draw = (t: number) => {
      const ctx = canvas.getContext('2d')!;
      const W = canvas.width, H = canvas.height;
      ctx.clearRect(0, 0, W, H);
      const xOf = (v: number) => ((v - h.min) / (h.max - h.min)) * W;
      // bins gathered into canvas columns (a column may hold several 0.001-wide bins), log scale
      const cols = new Float64Array(W);
      const past = new Float64Array(W);
      h.counts.forEach((c, k) => {
        const lo = h.min + k * h.binWidth;
        const x = Math.min(W - 1, Math.floor(xOf(lo)));
        cols[x]! += c;
        if (ge ? lo >= t : lo + h.binWidth <= t) past[x]! += c;
      });
      const top = Math.max(...Array.from(cols, (c) => Math.log1p(c)));
      for (let x = 0; x < W; x++) {
        const hh = top > 0 ? (Math.log1p(cols[x]!) / top) * (H - 28) : 0;
        ctx.fillStyle = past[x]! > cols[x]! / 2 ? 'rgb(0,180,210)' : '#999';
        ctx.fillRect(x, H - hh, 1, hh);
      }
      const mark = (v: number, colour: string, dash: number[], label: string, y: number) => {
        ctx.strokeStyle = colour; ctx.setLineDash(dash); ctx.lineWidth = 2;
        ctx.beginPath(); ctx.moveTo(xOf(v), 0); ctx.lineTo(xOf(v), H); ctx.stroke();
        ctx.setLineDash([]); ctx.fillStyle = colour; ctx.font = '11px sans-serif';
        ctx.fillText(label, Math.min(W - 70, Math.max(0, xOf(v) + 3)), y);
      };
      if (runThreshold !== null) mark(runThreshold, '#c00', [4, 3], `run ${Number(runThreshold.toPrecision(4))}`, 11);
      mark(t, '#0a6', [], `slider ${t.toFixed(decimals)}`, 24);
    };
    const update = (fromUser: boolean) => {
      const t = Number(Number(slider.value).toFixed(decimals + 3));
      const ha = hectaresBeyond(h, t, side);
      area.dataset.hectares = String(ha);
      area.textContent = ha.toFixed(2);
      slider.dataset.threshold = String(t);
      slider.setAttribute('aria-valuetext', `${m.index!.name} ${ge ? '≥' : '≤'} ${t}`);
      const source = h.thresholds[0] ? ` (${h.thresholds[0].kind}: ${h.thresholds[0].source})` : '';
      text.textContent = `${m.index!.name} ${ge ? '≥' : '≤'} ${t.toFixed(decimals)}; the run's threshold: ${runThreshold === null ? '–' : Number(runThreshold.toPrecision(6))}${source}`;
      for (const layers of [left, right]) (layers.threshold as WebGLTileLayer | null)?.updateStyleVariables({ threshold: t });
      if (fromUser && !checked.threshold) {
        checked.threshold = true;
        const box = layerBox.querySelector<HTMLInputElement>('input[data-layer="threshold"]');
        if (box) box.checked = true;
        applyVisibility();
      }
      draw(t);
    };
    slider.addEventListener('input', () => update(true));
    update(false);
  }

  // ---- polygon hover ----
  const tooltip = $('tooltip');
  map.on('pointermove', (e) => {
    if (e.dragging || !checked.polygons) { tooltip.hidden = true; return; }
    const f = map.forEachFeatureAtPixel(e.pixel, (feat) => feat, { layerFilter: (l) => l === left.polygons });
    if (!f) { tooltip.hidden = true; return; }
    tooltip.hidden = false;
    tooltip.textContent = `${f.get('class')} — ${Number(f.get('area_ha')).toFixed(2)} ha`;
    tooltip.style.left = `${e.pixel[0]! + 12}px`;
    tooltip.style.top = `${e.pixel[1]! + 12}px`;
  });

  // ---- pixel inspector ----
  const inspector = $('inspector');
  const fmt = (v: number | null, digits: number) => (v === null || !Number.isFinite(v) ? '–' : v.toFixed(digits));
  async function inspect(lon: number, lat: number): Promise<void> {
    marker.getSource()!.clear();
    marker.getSource()!.addFeature(new Feature(new Point(fromLonLat([lon, lat], view.getProjection()))));
    inspector.dataset.lon = String(lon);
    inspector.dataset.lat = String(lat);
    const table = document.createElement('table');
    const head = table.insertRow();
    for (const h of ['band', 'before', 'after']) { const th = document.createElement('th'); th.textContent = h; head.append(th); }
    const bandNames = [...new Set(m.inputs.flatMap((i) => Object.keys(i.bands)))].sort();
    const refl: Record<string, Record<string, Float32Array>> = { before: {}, after: {} };
    for (const b of bandNames) {
      const row = table.insertRow();
      row.insertCell().textContent = b;
      for (const role of ['before', 'after'] as const) {
        const input = m.inputs.find((i) => i.role === role);
        const ref = input?.bands[b];
        const cell = row.insertCell();
        if (!ref) { cell.textContent = '–'; continue; }
        const dn = await readPixel(ref.url, ref.sample, lon, lat);
        const r = dn === null || dn === ref.nodata ? null : (dn + ref.offset) * ref.scale;
        cell.textContent = `${fmt(r, 4)} (DN ${dn ?? '–'})`;
        cell.dataset.role = role;
        cell.dataset.band = b;
        cell.dataset.dn = String(dn);
        cell.dataset.reflectance = String(r);
        refl[role]![b] = Float32Array.of(r ?? NaN);
      }
    }
    const out: HTMLElement[] = [table];
    const idx = m.index?.perDateIndex ? getIndex(m.index.perDateIndex) : undefined;
    if (idx) {
      const row = table.insertRow();
      row.insertCell().textContent = idx.name;
      for (const role of ['before', 'after'] as const) {
        const cell = row.insertCell();
        let v: number | null = null;
        try { v = idx.compute(refl[role]!)[0] ?? null; } catch { v = null; }
        cell.textContent = fmt(v, 4);
        cell.dataset.index = `${idx.name}-${role}`;
        cell.dataset.value = String(v);
      }
    }
    const facts = document.createElement('p');
    const diff = m.index ? await readPixel(m.index.url, 1, lon, lat) : null;
    const cls = m.change ? await readPixel(m.change, 1, lon, lat) : null;
    const clsName = m.classes.find((c) => c.value === cls)?.name ?? (cls === 255 ? 'nodata / masked' : '–');
    const d = document.createElement('span');
    d.dataset.indexDifference = String(diff);
    d.textContent = `${m.index?.name ?? 'index difference'} ${fmt(diff, 4)}`;
    const c = document.createElement('span');
    c.dataset.class = String(cls);
    c.textContent = `class ${cls ?? '–'} ${clsName}`;
    facts.append(`${lon.toFixed(5)}, ${lat.toFixed(5)}: `, d, ' · ', c);
    out.unshift(facts);
    inspector.replaceChildren(...out);
    inspector.dataset.ready = 'true';
  }
  const inspectSafely = (lon: number, lat: number) => { inspector.dataset.ready = 'false'; inspect(lon, lat).catch((err) => showError(`inspector: ${(err as Error).message}`)); };
  map.on('singleclick', (e) => {
    const [lon, lat] = toLonLat(e.coordinate, view.getProjection()) as [number, number];
    history.replaceState(null, '', `#inspect=${lon.toFixed(6)},${lat.toFixed(6)}`);
    inspectSafely(lon, lat);
  });
  const fromHash = () => {
    const h = /^#inspect=(-?[\d.]+),(-?[\d.]+)$/.exec(location.hash);
    if (h) inspectSafely(Number(h[1]), Number(h[2]));
  };
  window.addEventListener('hashchange', fromHash);
  fromHash();
  // For tests and scripts: a counter of the main map's frames, and whether it is loading tiles.
  let frames = 0;
  map.on('postrender', () => { document.body.dataset.frames = String(++frames); });
  map.on('loadstart', () => { document.body.dataset.loading = 'true'; });
  map.on('loadend', () => { document.body.dataset.loading = 'false'; });
  map.render();
  document.body.dataset.ready = 'true';
}

start().catch((err) => showError(`The map could not be built: ${(err as Error).message}`));
