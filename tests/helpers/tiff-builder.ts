/**
 * A tiny little-endian classic TIFF writer for crafting test files byte by byte (valid or hostile).
 */
import { deflateSync } from 'node:zlib';

/** One IFD entry: tag, TIFF field type (ASCII, SHORT, LONG, DOUBLE) and values. */
export type Entry = [tag: number, type: 2 | 3 | 4 | 12, values: number[] | string];
/** One IFD: its entries (tile offsets/byte counts are added), its tiles, and optionally `gap` zero bytes between tiles. */
export interface IfdSpec { entries: Entry[]; tiles: Uint8Array[]; offsetsTag?: number; countsTag?: number; gap?: number }

/**
 * Write a little-endian classic TIFF: header, then per IFD its tile data, then the IFD and its out-of-line values.
 * Tile offsets/byte counts are filled in. Returns the bytes and where each IFD and its next-IFD pointer are.
 */
export function buildTiff(ifds: IfdSpec[]): { bytes: Uint8Array; ifdOffsets: number[]; nextPtrs: number[] } {
  const chunks: Uint8Array[] = [];
  let pos = 8;
  const push = (b: Uint8Array) => {
    chunks.push(b);
    pos += b.length;
    if (pos % 2) { chunks.push(new Uint8Array(1)); pos += 1; }
  };
  const ifdOffsets: number[] = [];
  const nextPtrs: number[] = [];
  for (const spec of ifds) {
    const offs: number[] = [];
    for (const t of spec.tiles) {
      if (spec.gap && offs.length > 0) push(new Uint8Array(spec.gap));
      offs.push(pos);
      push(t);
    }
    const entries: Entry[] = [...spec.entries,
      [spec.offsetsTag ?? 324, 4, offs], [spec.countsTag ?? 325, 4, spec.tiles.map((t) => t.length)]];
    entries.sort((a, b) => a[0] - b[0]);
    const ifdPos = pos;
    const ifdLen = 2 + entries.length * 12 + 4;
    let extra = ifdPos + ifdLen;
    const ifd = new DataView(new ArrayBuffer(ifdLen));
    const extras: Uint8Array[] = [];
    ifd.setUint16(0, entries.length, true);
    entries.forEach(([tag, type, values], i) => {
      const p = 2 + i * 12;
      const raw = type === 2 ? new TextEncoder().encode(`${values as string}\0`) : encode(type, values as number[]);
      ifd.setUint16(p, tag, true);
      ifd.setUint16(p + 2, type, true);
      ifd.setUint32(p + 4, type === 2 ? raw.length : (values as number[]).length, true);
      if (raw.length <= 4) new Uint8Array(ifd.buffer).set(raw, p + 8);
      else {
        ifd.setUint32(p + 8, extra, true);
        const padded = new Uint8Array(raw.length + (raw.length % 2));
        padded.set(raw);
        extras.push(padded);
        extra += padded.length;
      }
    });
    ifdOffsets.push(ifdPos);
    nextPtrs.push(ifdPos + ifdLen - 4);
    push(new Uint8Array(ifd.buffer));
    for (const e of extras) push(e);
  }
  const out = new Uint8Array(pos);
  const dv = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0], 0);
  dv.setUint32(4, ifdOffsets[0], true);
  let p = 8;
  for (const c of chunks) { out.set(c, p); p += c.length; }
  ifdOffsets.slice(1).forEach((o, i) => dv.setUint32(nextPtrs[i], o, true));
  return { bytes: out, ifdOffsets, nextPtrs };
}

/** Little-endian bytes of SHORT/LONG/DOUBLE values. */
export function encode(type: 3 | 4 | 12, values: number[]): Uint8Array {
  const size = type === 3 ? 2 : type === 4 ? 4 : 8;
  const dv = new DataView(new ArrayBuffer(values.length * size));
  values.forEach((v, i) => (type === 3 ? dv.setUint16(i * 2, v, true) : type === 4 ? dv.setUint32(i * 4, v, true) : dv.setFloat64(i * 8, v, true)));
  return new Uint8Array(dv.buffer);
}

/** Pixel value of the hand-made test image: uint16, 2 samples, chunky. */
export const value = (x: number, y: number, s: number) => (x * 700 + y * 1300 + s * 31000 + ((x * y) % 17)) & 0xffff;

/**
 * A valid uint16 2-sample tiled (16x16) DEFLATE file with predictor 2, plus a georeference; 40x24 pixels unless
 * `width`/`height` say otherwise; `gap` puts that many zero bytes between tiles.
 */
export function validTiff(opts: { compression?: number; predictor?: 1 | 2; extraIfd?: boolean; width?: number; height?: number; gap?: number } = {}) {
  const W = opts.width ?? 40, H = opts.height ?? 24, TW = 16, TH = 16, S = 2;
  const compression = opts.compression ?? 8;
  const predictor = opts.predictor ?? 2;
  const tiles: Uint8Array[] = [];
  for (let ty = 0; ty < Math.ceil(H / TH); ty++) {
    for (let tx = 0; tx < Math.ceil(W / TW); tx++) {
      const t = new Uint16Array(TW * TH * S);
      for (let r = 0; r < TH; r++) {
        for (let c = 0; c < TW; c++) {
          for (let s = 0; s < S; s++) {
            const x = tx * TW + c, y = ty * TH + r;
            const v = x < W && y < H ? value(x, y, s) : 0;
            const prev = c > 0 ? (tx * TW + c - 1 < W && y < H ? value(x - 1, y, s) : 0) : 0;
            t[(r * TW + c) * S + s] = predictor === 2 && c > 0 ? (v - prev) & 0xffff : v;
          }
        }
      }
      const raw = new Uint8Array(t.buffer);
      tiles.push(compression === 8 ? new Uint8Array(deflateSync(raw)) : raw);
    }
  }
  const entries: Entry[] = [
    [256, 3, [W]], [257, 3, [H]], [258, 3, [16, 16]], [259, 3, [compression]], [262, 3, [1]], [277, 3, [S]],
    [284, 3, [1]], [317, 3, [predictor]], [322, 3, [TW]], [323, 3, [TH]], [339, 3, [1, 1]],
    [33550, 12, [10, 10, 0]], [33922, 12, [0, 0, 0, 600000, 5000000, 0]],
    [34735, 3, [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32631]], [42113, 2, '0'],
  ];
  const ifds: IfdSpec[] = [{ entries, tiles, gap: opts.gap }];
  if (opts.extraIfd) ifds.push({ entries: entries.map((e) => (e[0] === 254 ? e : e)), tiles });
  return { ...buildTiff(ifds), W, H, S, entries, tiles };
}

/**
 * An 8 MB file whose 4096 x 2048 uint8 image has 1 x 1 tiles: 8M-entry tile tables (BYTE arrays of zeros, all
 * sparse, both tables sharing the same bytes). Legal TIFF, absurd layout: a reader holding the tables as JS arrays
 * needs ~140 MB of heap for it.
 */
export function tinyTilesTiff(): Uint8Array {
  const W = 4096, H = 2048, N = W * H;
  const entries: [number, number, number][] = [[256, 4, W], [257, 4, H], [258, 3, 8], [259, 3, 1], [277, 3, 1], [322, 3, 1], [323, 3, 1], [324, 1, N], [325, 1, N]];
  const dataAt = 8 + 2 + entries.length * 12 + 4;
  const b = new Uint8Array(dataAt + N);
  const dv = new DataView(b.buffer);
  b.set([0x49, 0x49, 42, 0]);
  dv.setUint32(4, 8, true);
  dv.setUint16(8, entries.length, true);
  entries.forEach(([tag, type, v], i) => {
    const p = 10 + i * 12;
    dv.setUint16(p, tag, true);
    dv.setUint16(p + 2, type, true);
    if (tag >= 324) {
      dv.setUint32(p + 4, v, true);
      dv.setUint32(p + 8, dataAt, true);
    } else {
      dv.setUint32(p + 4, 1, true);
      if (type === 3) dv.setUint16(p + 8, v, true);
      else dv.setUint32(p + 8, v, true);
    }
  });
  return b;
}
