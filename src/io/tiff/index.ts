/**
 * Public entry of the hardened GeoTIFF/COG reader.
 */
export { openTiff, openTiffFile, DEFAULT_LIMITS } from './reader.js';
export { describeTiff } from './describe.js';
export {
  inspectTiffSandboxed, sandboxWorkerUrl, sandboxFailure, DEFAULT_DECODE_TIMEOUT_MS, DEFAULT_DECODE_MEMORY_MB,
  MIN_DECODE_MEMORY_MB, DEFAULT_PROBE,
  type SandboxOptions, type SandboxedInspection, type SandboxProbe, type ProbedArea,
} from './sandbox.js';
export type * from './types.js';
