/**
 * Nearest-neighbour resampling of a label raster onto another pixel grid size. Pure.
 *
 * Target pixel (x, y) takes the source pixel that contains its centre: column ⌊(x + ½)·W_src/W_dst⌋, row
 * ⌊(y + ½)·H_src/H_dst⌋ (the rule GDAL's nearest resampling uses), so labels are never blended into new values.
 */
import { LabelMismatchError } from '../errors.js';

export interface Size {
  width: number;
  height: number;
}

export interface ResampledLabels {
  data: Uint8Array;
  width: number;
  height: number;
  /** Set when the sizes differed: what was done, for logs and reports. */
  message?: string;
}

/**
 * Resample `labels` (from.width × from.height) to `to` with nearest neighbour. Same sizes return the input as is
 * (no message). `name` labels the input in messages and errors.
 */
export function resampleLabelsNearest(labels: Uint8Array, from: Size, to: Size, name = 'labels'): ResampledLabels {
  for (const [what, s] of [['labels', from], ['target', to]] as const) {
    if (!(Number.isInteger(s.width) && Number.isInteger(s.height) && s.width > 0 && s.height > 0)) {
      throw new LabelMismatchError(`${what} size is not a positive integer size`, { input: name, expected: 'width, height ≥ 1', found: `${s.width}×${s.height}` });
    }
  }
  if (labels.length !== from.width * from.height) {
    throw new LabelMismatchError('label raster length does not match its size', {
      input: name,
      expected: `${from.width}×${from.height} = ${from.width * from.height} values`,
      found: `${labels.length}`,
    });
  }
  if (from.width === to.width && from.height === to.height) return { data: labels, width: to.width, height: to.height };
  const sx = from.width / to.width;
  const sy = from.height / to.height;
  const cols = new Int32Array(to.width);
  for (let x = 0; x < to.width; x++) cols[x] = Math.min(from.width - 1, Math.floor((x + 0.5) * sx));
  const data = new Uint8Array(to.width * to.height);
  for (let y = 0; y < to.height; y++) {
    const row = Math.min(from.height - 1, Math.floor((y + 0.5) * sy)) * from.width;
    for (let x = 0; x < to.width; x++) data[y * to.width + x] = labels[row + cols[x]!]!;
  }
  const message =
    `${name}: ${from.width}×${from.height} labels resampled to the ${to.width}×${to.height} prediction grid with nearest neighbour ` +
    `(scale ${(1 / sx).toFixed(4)} × ${(1 / sy).toFixed(4)}); check that both cover the same ground`;
  return { data, width: to.width, height: to.height, message };
}
