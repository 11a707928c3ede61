/**
 * What a fuzz target is. A target feeds one input to one decoder and throws only on a real bug: the decoders
 * report malformed input as their own error results (DecodeError codes, WL_ERR_H2_*, WL_ERR_TLS_*, QUIC error
 * codes, …); any exception, a WL_ERR_INTERNAL (a decoder threw and the hot path caught it), a broken invariant,
 * a hang or unbounded memory is a finding.
 */
export interface FuzzTarget {
  name: string;
  /** what it covers, one line */
  what: string;
  /** longest input the engine will generate */
  maxLen: number;
  /** starting inputs, built from the test captures (fuzz/seeds.ts) */
  seeds(): Buffer[];
  /** byte strings worth inserting (header names, magic numbers) */
  dictionary?: readonly (string | Buffer)[];
  /** run one input; throw only on a bug */
  fuzz(data: Buffer): void;
}

/** A broken invariant found by a target's own checks (as opposed to an exception out of a decoder). */
export class FuzzInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzInvariantError';
  }
}

export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new FuzzInvariantError(message);
}

/** Reads a fuzz input as a sequence of small choices (lengths, flags), then hands out the rest as bytes. */
export class InputReader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get left(): number { return this.buf.length - this.pos; }
  u8(): number { return this.pos < this.buf.length ? this.buf[this.pos++]! : 0; }
  u16(): number { return (this.u8() << 8) | this.u8(); }
  u32(): number { return ((this.u16() << 16) >>> 0) + this.u16(); }
  bytes(n: number): Buffer {
    const end = Math.min(this.buf.length, this.pos + n);
    const b = this.buf.subarray(this.pos, end);
    this.pos = end;
    return b;
  }
  rest(): Buffer { return this.bytes(this.left); }
}
