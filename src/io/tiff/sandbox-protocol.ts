/**
 * What the decode sandbox (sandbox.ts) and its worker (sandbox-worker.ts) send each other, and how typed errors
 * cross the worker boundary: serialized as plain data, rebuilt as the same S2ChangeError subclass.
 */
import type { Window } from '../../raster/grid.js';
import {
  CorruptTiffError, DecodeTimeoutError, InputNotFoundError, LimitExceededError, NotATiffError, S2ChangeError,
  UnsupportedCompressionError, UnsupportedTiffError, UsageError, type ErrorCode, type ErrorDetails,
} from '../../errors.js';
import type { ReaderLimits } from './types.js';

/** What to decode: a window of image 0 (all bands), or every image (full resolution and overviews) in full. */
export type SandboxProbe = Window | 'all';

/** Input of the worker (its `workerData`). */
export interface SandboxRequest {
  path: string;
  limits: Partial<ReaderLimits>;
  probe: SandboxProbe;
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
  | { ok: true; description: Record<string, unknown>; probed: ProbedArea[] }
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
