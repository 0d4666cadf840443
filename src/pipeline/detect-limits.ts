/**
 * The pixel counts at which `detect` changes path, as plain constants: the CLI's help quotes them without loading
 * the pipeline (start-up time, see src/cli/main.ts); run-detect.ts uses and re-exports them.
 */

/** `--engine auto` uses the block engine above this many target pixels (≈ 4000²). */
export const BLOCK_ENGINE_MIN_PIXELS = 16_000_000;
/** Above this many pixels the block engine writes change.geojson only with `--polygons`. */
export const POLYGON_MAX_PIXELS = 50_000_000;
