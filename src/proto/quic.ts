/**
 * QUIC packets (RFC 9000 §17, RFC 8999 invariants, RFC 9369 for v2, draft-ietf-quic-transport-29): variable-length
 * integers, long and short headers, Version Negotiation, Retry, coalesced packets in one datagram, packet-number
 * decoding. Header protection and payload decryption are in quic-crypto.ts, frames in quic-frames.ts.
 *
 * Nothing here throws to the caller: splitDatagram returns the packets it could delimit plus, when it had to stop,
 * a QuicError (named code, byte offset in the datagram, message). Packets before the bad one are kept.
 */
import { WirelogError } from '../errors.js';

/** Versions whose Initial packets we can decrypt (each with its own salt and labels: quic-crypto.ts). */
export const QuicVersion = {
  V1: 0x00000001,
  V2: 0x6b3343cf,
  DRAFT29: 0xff00001d,
  /** draft-ietf-quic-v2-01..05 ("v2draft" in ngtcp2 0.12): v2's type bits, its own salt */
  V2_DRAFT: 0x709a50c4,
  /** Version Negotiation packets carry version 0 */
  NEGOTIATION: 0x00000000,
} as const;

export function isKnownVersion(v: number): boolean {
  return v === QuicVersion.V1 || v === QuicVersion.V2 || v === QuicVersion.DRAFT29 || v === QuicVersion.V2_DRAFT;
}

/** "v1", "v2", "v2-draft", "draft-29", "negotiation" (0), or the hex of an unknown version (with GREASE 0x?a?a?a?a named so) */
export function versionName(v: number): string {
  if (v === QuicVersion.V1) return 'v1';
  if (v === QuicVersion.V2) return 'v2';
  if (v === QuicVersion.DRAFT29) return 'draft-29';
  if (v === QuicVersion.V2_DRAFT) return 'v2-draft';
  if (v === QuicVersion.NEGOTIATION) return 'negotiation';
  const hex = v.toString(16).padStart(8, '0');
  return (v & 0x0f0f0f0f) === 0x0a0a0a0a ? `grease-${hex}` : hex;
}

/** Packet types as h2olog/qlog name them. */
export const PacketType = {
  INITIAL: 'initial',
  ZERO_RTT: '0rtt',
  HANDSHAKE: 'handshake',
  RETRY: 'retry',
  ONE_RTT: '1rtt',
  VERSION_NEGOTIATION: 'version_negotiation',
  /** a long header of a version we cannot read past the invariant fields */
  UNKNOWN_VERSION: 'unknown_version',
} as const;
export type PacketTypeName = (typeof PacketType)[keyof typeof PacketType];

/** Packet-number spaces (RFC 9000 §12.3); 0-RTT and 1-RTT share the application space. */
export const PnSpace = { INITIAL: 'initial', HANDSHAKE: 'handshake', APPLICATION: 'application' } as const;
export type PnSpaceName = (typeof PnSpace)[keyof typeof PnSpace];

export function pnSpaceOf(t: PacketTypeName): PnSpaceName | undefined {
  switch (t) {
    case PacketType.INITIAL: return PnSpace.INITIAL;
    case PacketType.HANDSHAKE: return PnSpace.HANDSHAKE;
    case PacketType.ZERO_RTT:
    case PacketType.ONE_RTT: return PnSpace.APPLICATION;
    default: return undefined;
  }
}

/** Long-header type bits (first byte & 0x30) >> 4 per version: v2 reassigned all four (RFC 9369 §3.2). */
const LONG_TYPES_V1: readonly PacketTypeName[] = [PacketType.INITIAL, PacketType.ZERO_RTT, PacketType.HANDSHAKE, PacketType.RETRY];
const LONG_TYPES_V2: readonly PacketTypeName[] = [PacketType.RETRY, PacketType.INITIAL, PacketType.ZERO_RTT, PacketType.HANDSHAKE];

export function longPacketType(version: number, typeBits: number): PacketTypeName {
  if (version === QuicVersion.V2 || version === QuicVersion.V2_DRAFT) return LONG_TYPES_V2[typeBits & 3]!;
  if (isKnownVersion(version)) return LONG_TYPES_V1[typeBits & 3]!;
  return PacketType.UNKNOWN_VERSION;
}

/** The type bits a long header of `version` carries for `type` (for building packets in tests). */
export function longTypeBits(version: number, type: PacketTypeName): number {
  const table = version === QuicVersion.V2 || version === QuicVersion.V2_DRAFT ? LONG_TYPES_V2 : LONG_TYPES_V1;
  const i = table.indexOf(type);
  if (i < 0) throw new Error(`no long-header type bits for ${type}`);
  return i;
}

export const QuicErrorCode = {
  /** the datagram ends inside a header field or before the length the header announces */
  TRUNCATED: 'WL_ERR_QUIC_TRUNCATED',
  /** a length field that cannot be right (connection ID over 20 bytes, Length below the packet number + sample) */
  BAD_LENGTH: 'WL_ERR_QUIC_BAD_LENGTH',
  /** a short-header packet whose connection ID matches no connection seen: its DCID length is unknown */
  UNKNOWN_CONNECTION: 'WL_ERR_QUIC_UNKNOWN_CONNECTION',
  /** the AEAD tag did not verify (wrong keys, corrupted packet) */
  AEAD_FAILED: 'WL_ERR_QUIC_AEAD_FAILED',
  /** a Retry whose integrity tag does not verify */
  RETRY_INTEGRITY: 'WL_ERR_QUIC_RETRY_INTEGRITY',
  /** a frame that runs past the packet, or has an impossible field */
  FRAME: 'WL_ERR_QUIC_FRAME',
  /** a frame type this decoder does not know: the rest of the packet cannot be delimited */
  UNKNOWN_FRAME: 'WL_ERR_QUIC_UNKNOWN_FRAME',
  /** the CRYPTO stream of a packet-number space grew beyond the bound kept */
  CRYPTO_LIMIT: 'WL_ERR_QUIC_CRYPTO_LIMIT',
  /** the TLS ClientHello in the CRYPTO stream does not parse */
  TLS: 'WL_ERR_QUIC_TLS',
  /** a decoder threw: a bug, caught so the run goes on */
  INTERNAL: 'WL_ERR_QUIC_INTERNAL',
} as const;
export type QuicErrorCodeName = (typeof QuicErrorCode)[keyof typeof QuicErrorCode];

export interface QuicError {
  code: QuicErrorCodeName;
  /** byte offset in the datagram (or in the packet payload for frame errors) */
  offset: number;
  message: string;
}

/** Thrown inside the parsers only; turned into a QuicError at the module's boundary. */
export class QuicFail extends WirelogError {
  constructor(override readonly code: QuicErrorCodeName, readonly offset: number, message: string) {
    super(code, message);
  }
  toError(): QuicError {
    return { code: this.code, offset: this.offset, message: this.message };
  }
}

export function asQuicError(e: unknown, offset = 0): QuicError {
  if (e instanceof QuicFail) return e.toError();
  return { code: QuicErrorCode.INTERNAL, offset, message: `internal QUIC decoder error: ${(e as Error)?.message ?? String(e)}` };
}

// ---- variable-length integers (RFC 9000 §16) ----

/** Largest value a varint holds (2^62 - 1); values above 2^53 lose precision as numbers. */
export const VARINT_MAX = 2 ** 62 - 1;

/** Bytes of the varint starting with `first`. */
export function varintLength(first: number): 1 | 2 | 4 | 8 {
  return (1 << (first >> 6)) as 1 | 2 | 4 | 8;
}

/** A cursor reading from buf[pos..end); every read checks the end and throws QuicFail(TRUNCATED) past it. */
export class Reader {
  constructor(readonly buf: Buffer, public pos: number, readonly end: number, readonly what = 'packet') {}

  get left(): number { return this.end - this.pos; }

  need(n: number, field: string): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new QuicFail(QuicErrorCode.TRUNCATED, this.pos, `${this.what} ends inside ${field} (needs ${n} bytes, ${Math.max(0, this.end - this.pos)} left)`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  varint(field: string): number {
    this.need(1, field);
    const len = varintLength(this.buf[this.pos]!);
    this.need(len, field);
    let v = this.buf[this.pos]! & 0x3f;
    for (let i = 1; i < len; i++) v = v * 256 + this.buf[this.pos + i]!;
    this.pos += len;
    return v;
  }
}

/** Decode one varint at buf[off]: value and byte length, or undefined when the buffer ends first. */
export function readVarint(buf: Buffer, off: number): { value: number; length: number } | undefined {
  if (off >= buf.length) return undefined;
  const length = varintLength(buf[off]!);
  if (off + length > buf.length) return undefined;
  let value = buf[off]! & 0x3f;
  for (let i = 1; i < length; i++) value = value * 256 + buf[off + i]!;
  return { value, length };
}

/** Encode a varint in the shortest form (for tests and for building pseudo-packets). */
export function encodeVarint(v: number): Buffer {
  if (v < 0 || v > VARINT_MAX || !Number.isInteger(v)) throw new RangeError(`varint out of range: ${v}`);
  if (v < 64) return Buffer.from([v]);
  if (v < 16384) return Buffer.from([0x40 | (v >> 8), v & 0xff]);
  if (v < 2 ** 30) { const b = Buffer.alloc(4); b.writeUInt32BE(v); b[0] |= 0x80; return b; }
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.floor(v / 2 ** 32));
  b.writeUInt32BE(v % 2 ** 32, 4);
  b[0] |= 0xc0;
  return b;
}

// ---- packet numbers (RFC 9000 §17.1, Appendix A.3) ----

/** The full packet number from its truncated form, given the largest packet number processed in its space (-1: none). */
export function decodePacketNumber(largest: number, truncated: number, pnBits: number): number {
  const expected = largest + 1;
  const win = 2 ** pnBits;
  const hwin = win / 2;
  // (expected & ~(win - 1)) | truncated, in floating-point arithmetic (packet numbers exceed 2^32)
  const candidate = expected - (expected % win) + truncated;
  if (candidate <= expected - hwin && candidate < 2 ** 62 - win) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}

// ---- headers ----

/** Connection IDs are at most 20 bytes in every version we decode (RFC 9000 §17.2); VN may echo up to 255. */
export const MAX_CID_LENGTH = 20;
/** Header-protection sample length and the AEAD tag length (RFC 9001 §5.4.2, §5.3) */
export const HP_SAMPLE_LENGTH = 16;
export const AEAD_TAG_LENGTH = 16;

/** One packet delimited in a datagram; its header still protected (first byte's low bits and packet number). */
export interface QuicPacket {
  type: PacketTypeName;
  long: boolean;
  /** long headers: the Version field; short headers: the connection's version as the caller knew it (0 unknown) */
  version: number;
  dcid: Buffer;
  /** long headers only */
  scid?: Buffer;
  /** Initial: the token (may be empty); Retry: the retry token */
  token?: Buffer;
  /** Retry: its 16-byte integrity tag */
  retryTag?: Buffer;
  /** Version Negotiation: the versions the server supports */
  supportedVersions?: number[];
  /** the whole packet in the datagram, [start, end) */
  start: number;
  end: number;
  /** offset of the (protected) packet number; for packets with no packet number (Retry, VN, unknown version): -1 */
  pnOffset: number;
  /** the datagram (the packet's bytes are datagram[start, end)) */
  datagram: Buffer;
}

export interface SplitResult {
  packets: QuicPacket[];
  /** why splitting stopped before the end of the datagram */
  error?: QuicError;
}

/**
 * Could these bytes start a QUIC long-header packet of a version we know (or a Version Negotiation)? Content
 * detection for UDP datagrams on ports other than the configured ones.
 */
export function looksLikeLongHeader(b: Buffer): boolean {
  if (b.length < 7 || (b[0]! & 0x80) === 0) return false;
  const version = b.readUInt32BE(1);
  const dcidLen = b[5]!;
  if (version === QuicVersion.NEGOTIATION) return b.length >= 6 + dcidLen + 1;
  if (dcidLen > MAX_CID_LENGTH) return false;
  // a version we cannot read: a client's first datagram is padded to 1200 bytes (RFC 9000 §14.1), which tells it
  // from other UDP traffic well enough to follow the Version Negotiation that answers it
  if (!isKnownVersion(version)) return b.length >= MIN_CLIENT_INITIAL_DATAGRAM;
  return b.length >= 6 + dcidLen + 1;
}

/** A client's datagrams carrying Initial packets are at least this long (RFC 9000 §14.1). */
export const MIN_CLIENT_INITIAL_DATAGRAM = 1200;

/**
 * Delimit the packets of one UDP datagram (coalesced packets: RFC 9000 §12.2). `shortDcidLength(datagram, off)` gives
 * the DCID length of a short-header packet at `off`, from the connections seen so far, or undefined when none matches.
 */
export function splitDatagram(datagram: Buffer, shortDcidLength: (d: Buffer, off: number) => { length: number; version: number } | undefined): SplitResult {
  const packets: QuicPacket[] = [];
  let off = 0;
  try {
    while (off < datagram.length) {
      // padding after the last packet: zero bytes are not a valid first byte (fixed bit clear, short header, no DCID)
      if (packets.length > 0 && datagram[off] === 0 && isAllZero(datagram, off)) break;
      const p = (datagram[off]! & 0x80) !== 0 ? parseLong(datagram, off) : parseShort(datagram, off, shortDcidLength);
      packets.push(p);
      off = p.end;
    }
    return { packets };
  } catch (e) {
    return { packets, error: asQuicError(e, off) };
  }
}

function isAllZero(b: Buffer, off: number): boolean {
  for (let i = off; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Read the long-header packet at `start` as if its version were `layoutVersion` (a known one): for a long header of an
 * unknown version that its sender laid out and protected like that version (ngtcp2 does so with v1 for versions it
 * does not speak). Only an AEAD tag that verifies afterwards makes the guess true. Undefined when it does not parse.
 */
export function parseLongAs(d: Buffer, start: number, layoutVersion: number): QuicPacket | undefined {
  try {
    return parseLong(d, start, layoutVersion);
  } catch {
    return undefined;
  }
}

function parseLong(d: Buffer, start: number, layoutVersion?: number): QuicPacket {
  const r = new Reader(d, start, d.length, 'long header');
  const first = r.u8('first byte');
  const wireVersion = r.u32('version');
  const version = layoutVersion ?? wireVersion;
  const dcidLen = r.u8('DCID length');
  if (dcidLen > MAX_CID_LENGTH && version !== QuicVersion.NEGOTIATION && isKnownVersion(version)) {
    throw new QuicFail(QuicErrorCode.BAD_LENGTH, r.pos - 1, `DCID length ${dcidLen} over ${MAX_CID_LENGTH}`);
  }
  const dcid = r.bytes(dcidLen, 'DCID');
  const scidLen = r.u8('SCID length');
  if (scidLen > MAX_CID_LENGTH && version !== QuicVersion.NEGOTIATION && isKnownVersion(version)) {
    throw new QuicFail(QuicErrorCode.BAD_LENGTH, r.pos - 1, `SCID length ${scidLen} over ${MAX_CID_LENGTH}`);
  }
  const scid = r.bytes(scidLen, 'SCID');
  const base = { long: true, version: wireVersion, dcid, scid, start, datagram: d };

  if (version === QuicVersion.NEGOTIATION) {
    if ((r.left & 3) !== 0 || r.left === 0) {
      throw new QuicFail(QuicErrorCode.BAD_LENGTH, r.pos, `Version Negotiation with ${r.left} bytes of versions (not a positive multiple of 4)`);
    }
    const supportedVersions: number[] = [];
    while (r.left > 0) supportedVersions.push(r.u32('supported version'));
    return { ...base, type: PacketType.VERSION_NEGOTIATION, supportedVersions, end: d.length, pnOffset: -1 };
  }
  if (!isKnownVersion(version)) {
    // only the invariants (RFC 8999) are known: the packet runs to the end of the datagram
    return { ...base, type: PacketType.UNKNOWN_VERSION, end: d.length, pnOffset: -1 };
  }
  const type = longPacketType(version, (first >> 4) & 3);
  if (type === PacketType.RETRY) {
    if (r.left < AEAD_TAG_LENGTH) throw new QuicFail(QuicErrorCode.TRUNCATED, r.pos, `Retry of ${r.left} bytes after its header, shorter than its integrity tag`);
    const token = d.subarray(r.pos, d.length - AEAD_TAG_LENGTH);
    const retryTag = d.subarray(d.length - AEAD_TAG_LENGTH);
    return { ...base, type, token, retryTag, end: d.length, pnOffset: -1 };
  }
  let token: Buffer | undefined;
  if (type === PacketType.INITIAL) {
    const tokenLen = r.varint('token length');
    token = r.bytes(tokenLen, 'token');
  }
  const lengthAt = r.pos;
  const length = r.varint('Length');
  const pnOffset = r.pos;
  // header protection samples 16 bytes starting 4 bytes after the packet-number offset (RFC 9001 §5.4.2)
  if (length < 4 + HP_SAMPLE_LENGTH) {
    throw new QuicFail(QuicErrorCode.BAD_LENGTH, lengthAt, `Length ${length} too short for a packet number and AEAD tag`);
  }
  if (pnOffset + length > d.length) {
    throw new QuicFail(QuicErrorCode.TRUNCATED, lengthAt, `${type} packet Length ${length} runs ${pnOffset + length - d.length} bytes past the datagram`);
  }
  const p: QuicPacket = { ...base, type, end: pnOffset + length, pnOffset };
  if (token !== undefined) p.token = token;
  return p;
}

function parseShort(d: Buffer, start: number, shortDcidLength: (d: Buffer, off: number) => { length: number; version: number } | undefined): QuicPacket {
  const known = shortDcidLength(d, start + 1);
  if (known === undefined) {
    throw new QuicFail(QuicErrorCode.UNKNOWN_CONNECTION, start, 'short-header packet of no connection seen (its DCID length is unknown)');
  }
  const pnOffset = start + 1 + known.length;
  if (pnOffset + 4 + HP_SAMPLE_LENGTH > d.length) {
    throw new QuicFail(QuicErrorCode.TRUNCATED, start, `short-header packet of ${d.length - start} bytes, too short for a header-protection sample`);
  }
  return {
    type: PacketType.ONE_RTT, long: false, version: known.version, dcid: d.subarray(start + 1, pnOffset),
    start, end: d.length, pnOffset, datagram: d,
  };
}
