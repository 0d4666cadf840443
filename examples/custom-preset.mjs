// A custom change rule on the pure core: "bare soil gained" = BSI rose by more than an Otsu threshold while NDVI fell.
// Runs on two in-memory band sets (here synthetic; in practice arrays from openScene / your own reader).
//   node examples/custom-preset.mjs
import { indices, otsuThreshold } from 's2change/core';

const n = 64 * 64;
const band = (f) => Float32Array.from({ length: n }, (_, i) => f(i % 64, Math.floor(i / 64)));
const cleared = (x, y) => x > 20 && x < 40 && y > 10 && y < 30; // a construction site appears here
const before = { B02: band(() => 0.04), B04: band(() => 0.05), B08: band(() => 0.35), B11: band(() => 0.18) };
const after = {
  B02: band((x, y) => (cleared(x, y) ? 0.12 : 0.04)), B04: band((x, y) => (cleared(x, y) ? 0.2 : 0.05)),
  B08: band((x, y) => (cleared(x, y) ? 0.25 : 0.35)), B11: band((x, y) => (cleared(x, y) ? 0.32 : 0.18)),
};
const bsi = indices.get('BSI');
const ndvi = indices.get('NDVI');
const dBsi = bsi.compute(after).map((v, i) => v - bsi.compute(before)[i]);
const dNdvi = ndvi.compute(after).map((v, i) => v - ndvi.compute(before)[i]);
const t = otsuThreshold(dBsi);
const classes = dBsi.map((v, i) => (v > t && dNdvi[i] < 0 ? 1 : 0));
const changed = classes.reduce((s, c) => s + c, 0);
console.log(`${bsi.formula}; Otsu threshold on ΔBSI ${t.toFixed(3)}; ${changed} pixels = ${(changed * 100 / 10000).toFixed(2)} ha at 10 m`);
