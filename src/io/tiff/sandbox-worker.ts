/**
 * Worker side of the decode sandbox (see sandbox.ts): opens the file, describes it, decodes the probe and posts
 * one SandboxReply. Runs inside a node:worker_threads Worker with resourceLimits; the parent terminates it on
 * its time budget.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { describeTiff } from './describe.js';
import { openTiffFile } from './reader.js';
import { serializeError, type ProbedArea, type SandboxReply, type SandboxRequest } from './sandbox-protocol.js';

async function inspect(req: SandboxRequest): Promise<SandboxReply> {
  const file = await openTiffFile(req.path, req.limits);
  try {
    const description = describeTiff(file);
    const probed: ProbedArea[] = [];
    if (req.probe === 'all') {
      for (const img of file.images) {
        await img.readWindow();
        probed.push({ image: img.index, window: { x: 0, y: 0, width: img.width, height: img.height }, bands: img.samplesPerPixel });
      }
    } else {
      const img = file.images[0];
      const w = req.probe;
      const window = { x: w.x, y: w.y, width: Math.min(w.width, img.width - w.x), height: Math.min(w.height, img.height - w.y) };
      await img.readWindow(window);
      probed.push({ image: 0, window, bands: img.samplesPerPixel });
    }
    return { ok: true, description, probed };
  } finally {
    await file.close();
  }
}

const reply = await inspect(workerData as SandboxRequest).catch((err: unknown): SandboxReply => ({ ok: false, error: serializeError(err) }));
parentPort!.postMessage(reply);
