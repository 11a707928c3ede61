import type { DecodeErrorInfo } from '../records.js';
import { WirelogError } from '../errors.js';

/** Stable error codes (undici style): match on these, never on messages. */
export const WL_ERR_TRUNCATED = 'WL_ERR_TRUNCATED';
/** A field holds an impossible value (bad version, header length below minimum, inconsistent lengths). */
export const WL_ERR_MALFORMED = 'WL_ERR_MALFORMED';
/** Well-formed but not something we decode (unknown magic, unknown link type, ESP). */
export const WL_ERR_UNSUPPORTED = 'WL_ERR_UNSUPPORTED';
/** A safety bound was hit (too many IPv6 extension headers, absurd record length). */
export const WL_ERR_LIMIT = 'WL_ERR_LIMIT';
/** Reading the file itself failed (open/read error). */
export const WL_ERR_IO = 'WL_ERR_IO';
/** A decoder threw: a bug, caught so that the hot path never throws. */
export const WL_ERR_INTERNAL = 'WL_ERR_INTERNAL';

export type DecodeErrorCode =
  | typeof WL_ERR_TRUNCATED
  | typeof WL_ERR_MALFORMED
  | typeof WL_ERR_UNSUPPORTED
  | typeof WL_ERR_LIMIT
  | typeof WL_ERR_IO
  | typeof WL_ERR_INTERNAL;

/**
 * A structured decode error. It is an Error subclass only so that callers who want to throw it at an API boundary
 * get a stack; decoders themselves return it (or count it) and never throw it through the per-packet path.
 * `offset` is where the failing layer starts, relative to the buffer handed to the decoder (the frame, or the file
 * for capture-file errors); `required`/`actual` are byte counts from that offset when the problem is a length.
 */
export class DecodeError extends WirelogError implements DecodeErrorInfo {
  declare readonly code: DecodeErrorCode;
  readonly layer: string;
  readonly offset: number;
  readonly required?: number;
  readonly actual?: number;

  constructor(code: DecodeErrorCode, layer: string, offset: number, message: string, required?: number, actual?: number) {
    super(code, message);
    this.name = 'DecodeError';
    this.layer = layer;
    this.offset = offset;
    if (required !== undefined) this.required = required;
    if (actual !== undefined) this.actual = actual;
  }

  /** Plain object form (for JSON and for records.ts consumers). */
  toJSON(): DecodeErrorInfo & { code: DecodeErrorCode } {
    const o: DecodeErrorInfo & { code: DecodeErrorCode } = { code: this.code, layer: this.layer, offset: this.offset, message: this.message };
    if (this.required !== undefined) o.required = this.required;
    if (this.actual !== undefined) o.actual = this.actual;
    return o;
  }
}

// Stack capture is the expensive part of making an Error; decode errors are data, not bugs, so skip it.
// (Errors are still rare relative to packets; this just keeps a corrupt capture from being 10x slower.)
const savedLimit = Error.stackTraceLimit;

function make(code: DecodeErrorCode, layer: string, offset: number, message: string, required?: number, actual?: number): DecodeError {
  Error.stackTraceLimit = 0;
  try {
    return new DecodeError(code, layer, offset, message, required, actual);
  } finally {
    Error.stackTraceLimit = savedLimit;
  }
}

/** `layer` header at `offset` needs `required` bytes, only `actual` are there. */
export function truncated(layer: string, offset: number, required: number, actual: number, what = 'header'): DecodeError {
  return make(WL_ERR_TRUNCATED, layer, offset, `truncated ${layer} ${what} at byte ${offset} (needs ${required} bytes, ${actual < 0 ? 0 : actual} left)`, required, actual < 0 ? 0 : actual);
}

export function malformed(layer: string, offset: number, message: string, required?: number, actual?: number): DecodeError {
  return make(WL_ERR_MALFORMED, layer, offset, `malformed ${layer} at byte ${offset}: ${message}`, required, actual);
}

export function unsupported(layer: string, offset: number, message: string): DecodeError {
  return make(WL_ERR_UNSUPPORTED, layer, offset, `unsupported ${layer} at byte ${offset}: ${message}`);
}

export function limit(layer: string, offset: number, message: string): DecodeError {
  return make(WL_ERR_LIMIT, layer, offset, `${layer} at byte ${offset}: ${message}`);
}

export function internal(layer: string, offset: number, cause: unknown): DecodeError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return make(WL_ERR_INTERNAL, layer, offset, `internal decoder error in ${layer} at byte ${offset}: ${why}`);
}
