// The pure core inside a worker: the same file runs as a Web Worker in a browser (bundled) or a Node worker thread.
// The page/main thread posts {before: {B04, B08}, after: {B04, B08}} Float32Arrays; the worker answers with the
// ΔNDVI, its Otsu threshold and a loss mask, transferring the buffers back.
//   node examples/core-worker.mjs      (runs itself as a worker on a small synthetic pair)
import { indices, otsuThreshold } from 's2change/core';

const ndvi = indices.get('NDVI');
function analyse({ before, after }) {
  const a = ndvi.compute(before);
  const b = ndvi.compute(after);
  const d = b.map((v, i) => v - a[i]);
  const t = otsuThreshold(d.map((v) => -v)); // loss is the falling side
  const loss = Uint8Array.from(d, (v) => (-v > t ? 1 : 0));
  return { delta: d, threshold: -t, loss };
}

const isBrowserWorker = typeof self !== 'undefined' && typeof self.postMessage === 'function' && typeof window === 'undefined';
if (isBrowserWorker) {
  self.onmessage = (e) => { const r = analyse(e.data); self.postMessage(r, [r.delta.buffer, r.loss.buffer]); };
} else {
  const { Worker, isMainThread, parentPort } = await import('node:worker_threads');
  if (isMainThread) {
    const n = 100 * 100;
    const make = (v) => Float32Array.from({ length: n }, (_, i) => v(i));
    const job = {
      before: { B04: make(() => 0.05), B08: make(() => 0.4) },
      after: { B04: make((i) => (i < 3000 ? 0.15 : 0.05)), B08: make((i) => (i < 3000 ? 0.2 : 0.4)) },
    };
    const w = new Worker(new URL(import.meta.url));
    w.once('message', (r) => {
      console.log(`ΔNDVI threshold ${r.threshold.toFixed(3)}, loss pixels ${r.loss.reduce((s, v) => s + v, 0)} of ${n}`);
      w.terminate();
    });
    w.postMessage(job);
  } else {
    parentPort.on('message', (job) => { const r = analyse(job); parentPort.postMessage(r, [r.delta.buffer, r.loss.buffer]); });
  }
}
