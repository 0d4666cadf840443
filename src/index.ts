/**
 * `import { detect, openScene, indices, presets, evaluate } from 's2change'`: the Node library API (see
 * docs/api.md). The pure core alone, for browsers and workers, is `s2change/core`.
 */
export * from './library.js';
