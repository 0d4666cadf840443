/**
 * Worker side of the decode sandbox (see sandbox.ts): opens each requested file, describes it, decodes the probe
 * and posts one SandboxReply (preceded, for a list, by one SandboxProgress per file). Runs inside a
 * node:worker_threads Worker with resourceLimits; the parent terminates it on its time budget.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { describeTiff } from './describe.js';
import { openTiffFile } from './reader.js';
import {
  serializeError, type FileInspection, type ProbedArea, type SandboxProbe, type SandboxReply, type SandboxRequest,
} from './sandbox-protocol.js';
import type { TiffImage } from './types.js';

const BYTES: Record<TiffImage['sampleType'], number> = { uint8: 1, int8: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, float64: 8 };
/** Largest chunk decoded at once by a full read (bytes, all bands); rows are whole strips/tile rows when possible. */
const FULL_CHUNK_BYTES = 64 * 1024 * 1024;

/** Image 0 in full, all bands, in row chunks of at most FULL_CHUNK_BYTES (at least one tile row). */
async function readFull(img: TiffImage, chunkBytes: number): Promise<ProbedArea> {
  const rowBytes = img.width * img.samplesPerPixel * BYTES[img.sampleType];
  const th = Math.max(1, Math.min(img.tileHeight, img.height));
  const rows = Math.max(th, Math.floor(chunkBytes / rowBytes / th) * th);
  for (let y = 0; y < img.height; y += rows) {
    await img.readWindow({ x: 0, y, width: img.width, height: Math.min(rows, img.height - y) });
  }
  return { image: 0, window: { x: 0, y: 0, width: img.width, height: img.height }, bands: img.samplesPerPixel };
}

async function inspect(path: string, req: SandboxRequest): Promise<FileInspection> {
  const file = await openTiffFile(path, req.limits);
  try {
    const description = describeTiff(file);
    const probed: ProbedArea[] = [];
    const probe: SandboxProbe = req.probe;
    const img = file.images[0];
    if (probe === 'all') {
      for (const im of file.images) {
        await im.readWindow();
        probed.push({ image: im.index, window: { x: 0, y: 0, width: im.width, height: im.height }, bands: im.samplesPerPixel });
      }
    } else if ('maxFullPixels' in probe && img.width * img.height <= probe.maxFullPixels) {
      probed.push(await readFull(img, Math.min(FULL_CHUNK_BYTES, req.limits.maxWindowBytes ?? FULL_CHUNK_BYTES)));
    } else {
      const w = 'maxFullPixels' in probe ? probe.probe : probe;
      const window = { x: w.x, y: w.y, width: Math.min(w.width, img.width - w.x), height: Math.min(w.height, img.height - w.y) };
      await img.readWindow(window);
      probed.push({ image: 0, window, bands: img.samplesPerPixel });
    }
    return { path, description, probed };
  } finally {
    await file.close();
  }
}

async function run(req: SandboxRequest): Promise<SandboxReply> {
  if (!req.paths) {
    const one = await inspect(req.path, req);
    return { ok: true, description: one.description, probed: one.probed };
  }
  const files: FileInspection[] = [];
  for (const p of req.paths) {
    parentPort!.postMessage({ progress: p });
    files.push(await inspect(p, req));
  }
  return { ok: true, description: files[0]?.description ?? {}, probed: files[0]?.probed ?? [], files };
}

const reply = await run(workerData as SandboxRequest).catch((err: unknown): SandboxReply => ({ ok: false, error: serializeError(err) }));
parentPort!.postMessage(reply);
