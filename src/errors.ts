/**
 * Typed errors for s2change. Pure module: no Node, no CLI imports.
 *
 * Every error names the input it is about, what was expected, what was found and the fix, so that a message
 * reads like: "B11.tif: expected a TIFF file, found bytes 89 50 4e 47 (a PNG). Convert it with gdal_translate."
 * `code` is a stable tag (part of the public contract, like commander's); `exitCode` is what the CLI exits with:
 * 2 for usage errors, 1 for data and runtime errors.
 */

export type ErrorCode =
  | 'USAGE'
  | 'UNKNOWN_PRESET'
  | 'INPUT_NOT_FOUND'
  | 'NOT_A_TIFF'
  | 'CORRUPT_TIFF'
  | 'UNSUPPORTED_TIFF'
  | 'UNSUPPORTED_COMPRESSION'
  | 'LIMIT_EXCEEDED'
  | 'DECODE_TIMEOUT'
  | 'MISSING_BAND'
  | 'BAND_MAP_MISMATCH'
  | 'UNSUPPORTED_CRS'
  | 'NO_OVERLAP'
  | 'NOTHING_VALID'
  | 'OUTPUT_EXISTS'
  | 'OUTPUT_INTEGRITY'
  | 'INTERRUPTED'
  | 'NETWORK'
  | 'URL_REFUSED'
  | 'STAC'
  | 'RADIOMETRY'
  | 'LABEL_MISMATCH'
  | 'MODEL';

export interface ErrorDetails {
  /** The file, URL, option or band the error is about. */
  input?: string;
  /** What was expected there. */
  expected?: string;
  /** What was found instead. */
  found?: string;
  /** What the user can do about it (an option, a command). */
  fix?: string;
  cause?: unknown;
}

/** Root of every error s2change throws on purpose. */
export class S2ChangeError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: 1 | 2;
  readonly input?: string;
  readonly expected?: string;
  readonly found?: string;
  readonly fix?: string;

  constructor(code: ErrorCode, summary: string, details: ErrorDetails = {}, exitCode: 1 | 2 = 1) {
    super(formatMessage(summary, details), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.input = details.input;
    this.expected = details.expected;
    this.found = details.found;
    this.fix = details.fix;
  }
}

function formatMessage(summary: string, d: ErrorDetails): string {
  const parts: string[] = [];
  parts.push(d.input ? `${d.input}: ${summary}` : summary);
  if (d.expected !== undefined) parts.push(`expected ${d.expected}`);
  if (d.found !== undefined) parts.push(`found ${d.found}`);
  let msg = parts.join('; ');
  if (d.fix) msg += `. ${d.fix}`;
  return msg;
}

/** Bad command line: unknown preset, malformed --bbox, contradictory options. Exit code 2. */
export class UsageError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}, code: ErrorCode = 'USAGE') {
    super(code, summary, details, 2);
  }
}

/** An input file or folder does not exist or cannot be read. */
export class InputNotFoundError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('INPUT_NOT_FOUND', summary, details);
  }
}

/** The bytes are not a TIFF at all (wrong magic). */
export class NotATiffError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('NOT_A_TIFF', summary, details);
  }
}

/** The file is a TIFF but its structure is broken: loops, offsets past the end, truncated data. */
export class CorruptTiffError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('CORRUPT_TIFF', summary, details);
  }
}

/** A valid TIFF feature the reader does not support (e.g. JPEG compression, 1-bit samples). */
export class UnsupportedTiffError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}, code: 'UNSUPPORTED_TIFF' | 'UNSUPPORTED_COMPRESSION' = 'UNSUPPORTED_TIFF') {
    super(code, summary, details);
  }
}

export class UnsupportedCompressionError extends UnsupportedTiffError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super(summary, details, 'UNSUPPORTED_COMPRESSION');
  }
}

/** A safety limit (pixels, bytes, IFDs, fetched bytes) would be exceeded; `fix` names the option that raises it. */
export class LimitExceededError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('LIMIT_EXCEEDED', summary, details);
  }
}

/** Decoding untrusted data took longer than its time budget. */
export class DecodeTimeoutError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('DECODE_TIMEOUT', summary, details);
  }
}

/** A band the preset or method needs is not in the scene. */
export class MissingBandError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('MISSING_BAND', summary, details);
  }
}

/** --bands names a different number of bands than the file has. */
export class BandMapMismatchError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('BAND_MAP_MISMATCH', summary, details);
  }
}

export class UnsupportedCrsError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('UNSUPPORTED_CRS', summary, details);
  }
}

/** The two scenes (or a scene and the AOI) share no ground. */
export class NoOverlapError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('NO_OVERLAP', summary, details);
  }
}

/** After masking nodata, clouds and shadows nothing valid is left. */
export class NothingValidError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('NOTHING_VALID', summary, details);
  }
}

/** An output already exists and --overwrite was not given. */
export class OutputExistsError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('OUTPUT_EXISTS', summary, details);
  }
}

/** `verify` found an output whose checksum or size no longer matches summary.json. */
export class OutputIntegrityError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('OUTPUT_INTEGRITY', summary, details);
  }
}

export class InterruptedError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('INTERRUPTED', summary, details);
  }
}

/** Radiometry that cannot be right: e.g. most reflectances negative after applying the offset. */
export class RadiometryError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('RADIOMETRY', summary, details);
  }
}

export class NetworkError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('NETWORK', summary, details);
  }
}

export class UrlRefusedError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('URL_REFUSED', summary, details);
  }
}

export class StacError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('STAC', summary, details);
  }
}

/** Prediction and truth cannot be compared (no common grid, no valid label values). */
export class LabelMismatchError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('LABEL_MISMATCH', summary, details);
  }
}

/** A model file that cannot be used: malformed JSON, another format or version, or made for bands the input lacks. */
export class ModelError extends S2ChangeError {
  constructor(summary: string, details: ErrorDetails = {}) {
    super('MODEL', summary, details);
  }
}

/** Guard in the style of zarrita's `isZarritaError(err, ...tags)`. */
export function isS2ChangeError(err: unknown, ...codes: ErrorCode[]): err is S2ChangeError {
  return err instanceof S2ChangeError && (codes.length === 0 || codes.includes(err.code));
}
