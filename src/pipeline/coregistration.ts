/**
 * Co-registration in a run: estimate once per scene pair the sub-pixel shift of the after date on a 10 m band
 * (phase correlation on the central window of the target grid, `src/raster/coregister.ts`), decide whether to apply
 * it, and express it as a correction of the after scene's georeferencing (`SceneOptions.groundShift`), which the
 * whole-array path, the block engine's workers (each block read with its interpolation halo) and the accuracy bench
 * all apply by reading the after bands bilinearly onto the target grid.
 */
import { correctedTransform, correlationWindowSize, centralWindow, decideCoregistration, estimateShift } from '../raster/coregister.js';
import { isGeographic, isGeoreferenced, windowGrid, type Grid } from '../raster/grid.js';
import type { GroundShift, LayerName, Scene } from '../io/scene.js';
import { readOnGrid } from './align.js';

/** Bands tried for the estimate, in order: sharp 10 m bands with much structure (NIR first: fields, roads, shores). */
export const COREGISTRATION_BANDS: readonly LayerName[] = ['B08', 'B04', 'B03', 'B02', 'B8A', 'B11', 'B12'];

/** What summary.json (`coregistration`) and the report say about co-registration. */
export interface CoregistrationReport {
  /** True when the after date was resampled by the shift. */
  applied: boolean;
  /** Why not applied ('' when applied). */
  reason: string;
  /** Band the shift was measured on (null when not estimated). */
  band: string | null;
  /** Shift in target pixels: the after date shows at (x + dx, y + dy) what the before date shows at (x, y). */
  dx: number | null;
  dy: number | null;
  /** The same in metres on the ground (east, south; for lat/lon grids at the window's centre; assumed pixel size when not georeferenced). */
  dxMetres: number | null;
  dyMetres: number | null;
  /** Phase-correlation peak height in [0, 1]. */
  confidence: number | null;
  /** Window correlated, in target pixels. */
  window: { x: number; y: number; size: number } | null;
  method: string;
}

const METHOD = 'phase correlation (partly whitened cross-power spectrum, Hann taper) on the central window, peak refined to 0.01 px by an upsampled DFT; applied by bilinear resampling of every after band when confident (peak ≥ 0.15) and |shift| ≥ 0.1 px';

/** A report of a run without co-registration and why. */
export function skippedCoregistration(reason: string): CoregistrationReport {
  return { applied: false, reason, band: null, dx: null, dy: null, dxMetres: null, dyMetres: null, confidence: null, window: null, method: METHOD };
}

/** Metres per target pixel along x and y (lat/lon grids: at row `row`; others: the transform's units). */
function metresPerPixel(g: Grid, row: number): [number, number] {
  const t = g.transform;
  if (!isGeographic(g.crs)) return [Math.abs(t[1]), Math.abs(t[5])];
  const lat = ((t[3] + (row + 0.5) * t[5]) * Math.PI) / 180;
  // WGS84 metres per degree of longitude and latitude at `lat` (to ~1e-5 relative).
  const lon = 111412.84 * Math.cos(lat) - 93.5 * Math.cos(3 * lat);
  const la = 111132.92 - 559.82 * Math.cos(2 * lat) + 1.175 * Math.cos(4 * lat);
  return [Math.abs(t[1]) * lon, Math.abs(t[5]) * la];
}

/**
 * Estimate the shift of `after` relative to `before` on `target` (reading only the central window of one band of
 * each) and decide whether to apply it. `enabled: false` (`--no-coregister`) skips the estimate.
 */
export async function estimateCoregistration(before: Scene, after: Scene, target: Grid, opts: { enabled?: boolean } = {}): Promise<CoregistrationReport> {
  if (opts.enabled === false) return skippedCoregistration('turned off (--no-coregister)');
  const band = COREGISTRATION_BANDS.find((b) => before.bands.has(b) && after.bands.has(b));
  if (!band) return skippedCoregistration(`no band shared by both dates among ${COREGISTRATION_BANDS.join(', ')}`);
  const size = correlationWindowSize(target.width, target.height);
  if (!size) return skippedCoregistration(`the overlap (${target.width}×${target.height} px) is smaller than 32×32 px`);
  const win = centralWindow(target.width, target.height, size);
  const grid = windowGrid(target, { x: win.x, y: win.y, width: size, height: size });
  const ref = await readOnGrid(before.bands.get(band)!, grid);
  const mov = await readOnGrid(after.bands.get(band)!, grid);
  let finite = 0;
  for (let i = 0; i < ref.length; i++) if (ref[i] === ref[i] && mov[i] === mov[i]) finite++;
  if (finite < ref.length / 2) {
    return { ...skippedCoregistration(`less than half of the central ${size}×${size} window is valid on both dates in ${band}`), band, window: win };
  }
  const e = estimateShift(ref, mov, size, size, { maxWindow: size })!;
  const decision = decideCoregistration(e);
  const [mx, my] = metresPerPixel(target, win.y + size / 2);
  const r = (v: number, d: number) => Number(v.toFixed(d));
  return {
    applied: decision.applied, reason: decision.reason, band,
    dx: r(e.dx, 3), dy: r(e.dy, 3), dxMetres: r(e.dx * mx, 2), dyMetres: r(e.dy * my, 2), confidence: r(e.confidence, 3),
    window: win, method: METHOD,
  };
}

/** The after scene's georeferencing correction for an applied shift (null when nothing is applied). */
export function groundShiftOf(c: CoregistrationReport, target: Grid): GroundShift | null {
  if (!c.applied || c.dx === null || c.dy === null) return null;
  const t = correctedTransform(target.transform, target.transform, c.dx, c.dy);
  return { x: target.transform[0] - t[0], y: target.transform[3] - t[3] };
}

/** One line for the report and the logs. */
export function describeCoregistration(c: CoregistrationReport, target: Grid): string {
  const units = isGeoreferenced(target.crs) ? 'm' : 'm, assumed pixel size';
  const shift = c.dx !== null ? `shift of the after date ${c.dx.toFixed(2)}, ${c.dy!.toFixed(2)} px (${c.dxMetres!.toFixed(1)}, ${c.dyMetres!.toFixed(1)} ${units}) on ${c.band}, peak confidence ${c.confidence!.toFixed(2)}` : '';
  if (c.applied) return `Co-registration: ${shift}; applied (after bands resampled bilinearly onto the before grid)`;
  return `Co-registration: not applied — ${c.reason}${shift ? ` (${shift})` : ''}`;
}
