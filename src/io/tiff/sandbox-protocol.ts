/**
 * What the decode sandbox (sandbox.ts) and its worker (sandbox-worker.ts) send each other, and how typed errors
 * cross the worker boundary: serialized as plain data, rebuilt as the same S2ChangeError subclass.
 */
import type { Window } from '../../raster/grid.js';
import {
  CorruptTiffError, DecodeTimeoutError, InputNotFoundError, InvalidInputError, LimitExceededError, NotATiffError, S2ChangeError,
  UnsupportedCompressionError, UnsupportedTiffError, UsageError, type ErrorCode, type ErrorDetails,
} from '../../errors.js';
import type { ReaderLimits } from './types.js';

/**
 * What to decode: a window of image 0 (all bands); every image (full resolution and overviews) in full; or
 * image 0 in full (all bands, in row chunks of bounded size) when it has at most `maxFullPixels` pixels, else
 * the `probe` window.
 */
export type SandboxProbe = Window | 'all' | FullOrProbe;

/** Image 0 in full up to `maxFullPixels` (width × height), else `probe`. */
export interface FullOrProbe {
  maxFullPixels: number;
  probe: Window;
}

/** Input of the worker (its `workerData`): `path`, or every file of `paths` in order (then `path` is the first). */
export interface SandboxRequest {
  path: string;
  paths?: string[];
  limits: Partial<ReaderLimits>;
  probe: SandboxProbe;
}

/** Sent by a list worker before it opens each file, so a time-out can name the file being decoded. */
export interface SandboxProgress {
  progress: string;
}

/** One file of a list inspection. */
export interface FileInspection {
  path: string;
  description: Record<string, unknown>;
  probed: ProbedArea[];
}

/** One decoded area: image index, window and bands. */
export interface ProbedArea {
  image: number;
  window: Window;
  bands: number;
}

/** Plain-data form of an error. */
export interface SerializedError {
  name: string;
  message: string;
  code?: ErrorCode;
  exitCode?: 1 | 2;
  details?: Omit<ErrorDetails, 'cause'>;
  stack?: string;
}

/** The worker's one message back. */
export type SandboxReply =
  | { ok: true; description: Record<string, unknown>; probed: ProbedArea[]; files?: FileInspection[] }
  | { ok: false; error: SerializedError };

/** Turn any thrown value into plain data that survives postMessage. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof S2ChangeError) {
    const { input, expected, found, fix } = err;
    return { name: err.name, message: err.message, code: err.code, exitCode: err.exitCode, details: { input, expected, found, fix } };
  }
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'Error', message: String(err) };
}

type Rebuild = (summary: string, details: ErrorDetails, code: ErrorCode) => S2ChangeError;

/** The error classes the reader throws, by class name. */
const CLASSES: Record<string, Rebuild> = {
  InputNotFoundError: (s, d) => new InputNotFoundError(s, d),
  NotATiffError: (s, d) => new NotATiffError(s, d),
  CorruptTiffError: (s, d) => new CorruptTiffError(s, d),
  UnsupportedTiffError: (s, d, c) => new UnsupportedTiffError(s, d, c as 'UNSUPPORTED_TIFF'),
  UnsupportedCompressionError: (s, d) => new UnsupportedCompressionError(s, d),
  LimitExceededError: (s, d) => new LimitExceededError(s, d),
  DecodeTimeoutError: (s, d) => new DecodeTimeoutError(s, d),
  UsageError: (s, d, c) => new UsageError(s, d, c),
  InvalidInputError: (s, d) => new InvalidInputError(s, d),
};

/**
 * Rebuild a serialized error: an S2ChangeError comes back as the same subclass with the same code, fields and
 * message (the summary is recovered by undoing errors.ts's message format); anything else as a plain Error.
 */
export function reviveError(e: SerializedError): Error {
  if (e.code !== undefined) {
    const d = e.details ?? {};
    let summary = e.message;
    const prefix = d.input ? `${d.input}: ` : '';
    const suffix = (d.expected !== undefined ? `; expected ${d.expected}` : '')
      + (d.found !== undefined ? `; found ${d.found}` : '') + (d.fix ? `. ${d.fix}` : '');
    if (summary.startsWith(prefix) && summary.endsWith(suffix)) summary = summary.slice(prefix.length, summary.length - suffix.length);
    const build = CLASSES[e.name];
    const rebuilt = build?.(summary, d, e.code);
    if (rebuilt && rebuilt.message === e.message) return rebuilt;
    return new S2ChangeError(e.code, e.message, {}, e.exitCode ?? 1);
  }
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}
