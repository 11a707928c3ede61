/**
 * TLS ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2), read from the first bytes a client sends, which may be spread
 * over several TCP segments and several TLS records. Zero-copy: the parser reads the chunks it is given in place
 * (a `ByteChain` of views), takes the handshake bytes out of the records' fragments as views too, and copies only the
 * strings it returns (SNI, ALPN protocols).
 *
 * `parseClientHello(chunks)` never throws: it returns the hello, `incomplete` (more bytes are needed: call it
 * again with them added), or a structured error (`TlsError`: code, offset into the client's bytes, message).
 */
import type { DecodeErrorInfo } from '../records.js';

export const TLS_CONTENT_HANDSHAKE = 22;
export const TLS_HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
/** quic_transport_parameters (RFC 9001 §8.2); draft-29 used 0xffa5 */
export const EXT_QUIC_TRANSPORT_PARAMETERS = 0x39;
export const EXT_QUIC_TRANSPORT_PARAMETERS_DRAFT = 0xffa5;
/** largest TLSPlaintext fragment (2^14) plus the expansion TLSCiphertext allows: a record longer is not TLS */
const MAX_RECORD = (1 << 14) + 2048;
/** a ClientHello longer than this is not one we wait for (real ones are below 2 KiB; post-quantum key shares ~2 KiB) */
export const MAX_CLIENT_HELLO = 64 * 1024;

/** The bytes are not a TLS handshake record (first byte not 22, or a version byte that is not 3). */
export const WL_ERR_TLS_NOT_HANDSHAKE = 'WL_ERR_TLS_NOT_HANDSHAKE';
/** A record header that is not valid (zero or too long a length, a non-handshake record inside the hello). */
export const WL_ERR_TLS_RECORD = 'WL_ERR_TLS_RECORD';
/** The first handshake message is not a ClientHello. */
export const WL_ERR_TLS_NOT_CLIENT_HELLO = 'WL_ERR_TLS_NOT_CLIENT_HELLO';
/** A length inside the ClientHello runs past its container, or the hello is larger than MAX_CLIENT_HELLO. */
export const WL_ERR_TLS_LENGTH = 'WL_ERR_TLS_LENGTH';
/** An extension whose contents do not parse (server_name, ALPN, supported_versions). */
export const WL_ERR_TLS_EXTENSION = 'WL_ERR_TLS_EXTENSION';
export type TlsErrorCode =
  | typeof WL_ERR_TLS_NOT_HANDSHAKE
  | typeof WL_ERR_TLS_RECORD
  | typeof WL_ERR_TLS_NOT_CLIENT_HELLO
  | typeof WL_ERR_TLS_LENGTH
  | typeof WL_ERR_TLS_EXTENSION;

export interface TlsError extends DecodeErrorInfo {
  code: TlsErrorCode;
  layer: 'tls';
}

export interface ClientHello {
  /** legacy_version of the hello (0x0303 for TLS 1.2 and 1.3 clients) */
  legacyVersion: number;
  /** supported_versions as offered, in order, GREASE values left out; [] when the extension is absent */
  supportedVersions: number[];
  /** the highest version offered: the largest of supported_versions, else legacyVersion */
  maxVersion: number;
  /** server_name's host_name, undefined when absent */
  sni?: string;
  /** ALPN protocol names in order, [] when the extension is absent */
  alpn: string[];
  cipherSuites: number;
  /** extension types in order */
  extensions: number[];
  /** QUIC: the quic_transport_parameters extension's value (a copy), undefined when absent */
  quicTransportParameters?: Buffer;
  /** the 32-byte client random as latin1 (key logs index secrets by its hex) */
  random: string;
  /** bytes of the client stream up to the end of the record that completed the hello */
  consumed: number;
  /** TLS records the hello was spread over */
  records: number;
}

export type ClientHelloResult =
  | { status: 'ok'; hello: ClientHello }
  | { status: 'incomplete'; have: number }
  | { status: 'error'; error: TlsError };

/** GREASE values (RFC 8701): 0x?a?a with both bytes equal */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && (v >> 8) === (v & 0xff);
}

/** "TLS 1.3", "TLS 1.2", …, "SSL 3.0"; other values as `0x7f1c` */
export function tlsVersionName(v: number): string {
  switch (v) {
    case 0x0304: return 'TLS 1.3';
    case 0x0303: return 'TLS 1.2';
    case 0x0302: return 'TLS 1.1';
    case 0x0301: return 'TLS 1.0';
    case 0x0300: return 'SSL 3.0';
    default: return '0x' + v.toString(16).padStart(4, '0');
  }
}

/**
 * Could these be a client's first bytes of TLS (a handshake record whose first message is a ClientHello)? Decides
 * from as many of the first 6 bytes as there are: 1 yes so far, 0 no.
 */
export function looksLikeClientHello(b: Buffer, s = 0, e: number = b.length): 0 | 1 {
  const n = e - s;
  if (n < 1 || b[s] !== TLS_CONTENT_HANDSHAKE) return 0;
  if (n >= 2 && b[s + 1] !== 3) return 0;
  if (n >= 3 && b[s + 2] > 4) return 0;
  if (n >= 6 && b[s + 5] !== TLS_HANDSHAKE_CLIENT_HELLO) return 0;
  return 1;
}

/** Views over several buffers read as one byte sequence, without joining them. */
export class ByteChain {
  private readonly parts: Buffer[] = [];
  /** start offset of each part */
  private readonly starts: number[] = [];
  length = 0;
  private last = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.starts.push(this.length);
    this.length += b.length;
  }

  /** the byte at i (0 <= i < length) */
  at(i: number): number {
    let k = this.last;
    const st = this.starts;
    if (i < st[k]! || i >= st[k]! + this.parts[k]!.length) {
      // binary search the part
      let lo = 0, hi = this.parts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (st[mid]! <= i) lo = mid;
        else hi = mid - 1;
      }
      k = lo;
      this.last = k;
    }
    return this.parts[k]![i - st[k]!]!;
  }

  /** views of bytes [s, e) appended to `out` (no copy) */
  views(s: number, e: number, out: ByteChain): void {
    for (let k = 0; k < this.parts.length && s < e; k++) {
      const p = this.parts[k]!;
      const ps = this.starts[k]!;
      const pe = ps + p.length;
      if (pe <= s) continue;
      const a = Math.max(s, ps), z = Math.min(e, pe);
      out.push(p.subarray(a - ps, z - ps));
      s = z;
    }
  }

  /** latin1 string of bytes [s, e) (the one copy the parser makes) */
  latin1(s: number, e: number): string {
    let r = '';
    for (let k = 0; k < this.parts.length && s < e; k++) {
      const p = this.parts[k]!;
      const ps = this.starts[k]!;
      const pe = ps + p.length;
      if (pe <= s) continue;
      const z = Math.min(e, pe);
      r += p.toString('latin1', s - ps, z - ps);
      s = z;
    }
    return r;
  }
}

class Fail {
  constructor(readonly code: TlsErrorCode, readonly offset: number, readonly message: string) {}
}

/**
 * Parse the ClientHello at the start of a client's bytes, given as chunks in stream order (a single Buffer is a
 * one-chunk list). Offsets in errors are offsets into those bytes (for errors inside the hello: into the
 * handshake message, the record headers left out).
 */
export function parseClientHello(chunks: Buffer | readonly Buffer[]): ClientHelloResult {
  const raw = new ByteChain();
  if (Buffer.isBuffer(chunks)) raw.push(chunks);
  else for (const c of chunks) raw.push(c);
  try {
    return parse(raw);
  } catch (e) {
    if (e instanceof Fail) return { status: 'error', error: { code: e.code, layer: 'tls', offset: e.offset, message: e.message } };
    // a bug must not end the capture: reported as a structured error too
    return { status: 'error', error: { code: WL_ERR_TLS_LENGTH, layer: 'tls', offset: 0, message: `ClientHello parser: ${(e as Error).message}` } };
  }
}

function parse(raw: ByteChain): ClientHelloResult {
  // record layer: the handshake message's bytes, gathered from the fragments of consecutive handshake records
  const hs = new ByteChain();
  let pos = 0;
  let records = 0;
  let need = -1; // handshake message length (header included), once known
  while (need < 0 || hs.length < need) {
    if (raw.length - pos < 5) {
      if (raw.length > pos) checkRecordStart(raw, pos, records);
      return { status: 'incomplete', have: raw.length };
    }
    checkRecordStart(raw, pos, records);
    const len = (raw.at(pos + 3) << 8) | raw.at(pos + 4);
    if (len === 0 || len > MAX_RECORD) throw new Fail(WL_ERR_TLS_RECORD, pos + 3, `TLS record length ${len}`);
    const end = Math.min(raw.length, pos + 5 + len);
    raw.views(pos + 5, end, hs);
    if (need < 0 && hs.length >= 1 && hs.at(0) !== TLS_HANDSHAKE_CLIENT_HELLO) {
      throw new Fail(WL_ERR_TLS_NOT_CLIENT_HELLO, pos + 5, `first handshake message has type ${hs.at(0)}, not ClientHello (1)`);
    }
    if (need < 0 && hs.length >= 4) {
      need = 4 + ((hs.at(1) << 16) | (hs.at(2) << 8) | hs.at(3));
      if (need > MAX_CLIENT_HELLO) throw new Fail(WL_ERR_TLS_LENGTH, pos + 6, `ClientHello of ${need - 4} bytes (limit ${MAX_CLIENT_HELLO})`);
    }
    if (end < pos + 5 + len) {
      // this record is not whole yet: enough if it already holds the hello
      if (need >= 0 && hs.length >= need) break;
      return { status: 'incomplete', have: raw.length };
    }
    pos = end;
    records++;
  }
  const hello = helloBody(hs, need);
  hello.consumed = pos;
  hello.records = Math.max(records, 1);
  return { status: 'ok', hello };
}

/**
 * QUIC carries TLS handshake messages in CRYPTO frames without the record layer (RFC 9001 §4): parse the
 * ClientHello at the start of such a byte stream. `consumed` is the handshake message's length, `records` 0.
 */
export function parseClientHelloMessage(hsBytes: Buffer): ClientHelloResult {
  const hs = new ByteChain();
  hs.push(hsBytes);
  try {
    if (hs.length < 1) return { status: 'incomplete', have: 0 };
    if (hs.at(0) !== TLS_HANDSHAKE_CLIENT_HELLO) {
      throw new Fail(WL_ERR_TLS_NOT_CLIENT_HELLO, 0, `first handshake message has type ${hs.at(0)}, not ClientHello (1)`);
    }
    if (hs.length < 4) return { status: 'incomplete', have: hs.length };
    const need = 4 + ((hs.at(1) << 16) | (hs.at(2) << 8) | hs.at(3));
    if (need > MAX_CLIENT_HELLO) throw new Fail(WL_ERR_TLS_LENGTH, 1, `ClientHello of ${need - 4} bytes (limit ${MAX_CLIENT_HELLO})`);
    if (hs.length < need) return { status: 'incomplete', have: hs.length };
    const hello = helloBody(hs, need);
    hello.consumed = need;
    return { status: 'ok', hello };
  } catch (e) {
    if (e instanceof Fail) return { status: 'error', error: { code: e.code, layer: 'tls', offset: e.offset, message: e.message } };
    return { status: 'error', error: { code: WL_ERR_TLS_LENGTH, layer: 'tls', offset: 0, message: `ClientHello parser: ${(e as Error).message}` } };
  }
}

function checkRecordStart(raw: ByteChain, pos: number, records: number): void {
  const n = raw.length - pos;
  if (raw.at(pos) !== TLS_CONTENT_HANDSHAKE) {
    throw new Fail(records === 0 ? WL_ERR_TLS_NOT_HANDSHAKE : WL_ERR_TLS_RECORD, pos, `record type ${raw.at(pos)}, not handshake (22)`);
  }
  if (n >= 2 && raw.at(pos + 1) !== 3) {
    throw new Fail(records === 0 ? WL_ERR_TLS_NOT_HANDSHAKE : WL_ERR_TLS_RECORD, pos + 1, `record version major ${raw.at(pos + 1)}, not 3`);
  }
}

/** The ClientHello body: hs[0..need) is the whole handshake message (type, 3-byte length, body). */
function helloBody(hs: ByteChain, need: number): ClientHello {
  let p = 4;
  const end = need;
  const u8 = (): number => {
    if (p + 1 > end) throw new Fail(WL_ERR_TLS_LENGTH, p, 'ClientHello ends inside a field');
    return hs.at(p++);
  };
  const u16 = (): number => (u8() << 8) | u8();
  const skipTo = (q: number, what: string): void => {
    if (q > end) throw new Fail(WL_ERR_TLS_LENGTH, p, `${what} runs past the ClientHello (${q - end} bytes)`);
    p = q;
  };
  const legacyVersion = u16();
  const randomAt = p;
  skipTo(p + 32, 'random');
  const sid = u8();
  if (sid > 32) throw new Fail(WL_ERR_TLS_LENGTH, p - 1, `session id of ${sid} bytes`);
  skipTo(p + sid, 'session id');
  const csLen = u16();
  if (csLen % 2 !== 0 || csLen === 0) throw new Fail(WL_ERR_TLS_LENGTH, p - 2, `cipher suites length ${csLen}`);
  skipTo(p + csLen, 'cipher suites');
  const cmLen = u8();
  skipTo(p + cmLen, 'compression methods');
  const hello: ClientHello = {
    legacyVersion, supportedVersions: [], maxVersion: legacyVersion, alpn: [], cipherSuites: csLen / 2, extensions: [],
    consumed: 0, records: 0, random: hs.latin1(randomAt, randomAt + 32),
  };
  if (p === end) return hello; // no extensions (an SSL 3.0 / TLS 1.0 client may send none)
  const extLen = u16();
  const extEnd = p + extLen;
  if (extEnd > end) throw new Fail(WL_ERR_TLS_LENGTH, p - 2, `extensions length ${extLen} runs past the ClientHello`);
  while (p < extEnd) {
    const type = u16();
    const len = u16();
    const s = p, e = p + len;
    if (e > extEnd) throw new Fail(WL_ERR_TLS_LENGTH, p - 4, `extension ${type} of ${len} bytes runs past the extensions`);
    hello.extensions.push(type);
    if (type === EXT_SERVER_NAME) serverName(hs, s, e, hello);
    else if (type === EXT_ALPN) alpn(hs, s, e, hello);
    else if (type === EXT_SUPPORTED_VERSIONS) supportedVersions(hs, s, e, hello);
    else if ((type === EXT_QUIC_TRANSPORT_PARAMETERS || type === EXT_QUIC_TRANSPORT_PARAMETERS_DRAFT) && hello.quicTransportParameters === undefined) {
      hello.quicTransportParameters = Buffer.from(hs.latin1(s, e), 'latin1');
    }
    p = e;
  }
  return hello;
}

function extFail(type: string, at: number, why: string): Fail {
  return new Fail(WL_ERR_TLS_EXTENSION, at, `${type}: ${why}`);
}

function serverName(hs: ByteChain, s: number, e: number, h: ClientHello): void {
  if (e === s) return; // a server's empty echo; a client's empty one carries nothing
  if (e - s < 2) throw extFail('server_name', s, 'no list length');
  const listEnd = s + 2 + ((hs.at(s) << 8) | hs.at(s + 1));
  if (listEnd !== e) throw extFail('server_name', s, 'list length does not match the extension');
  let p = s + 2;
  while (p < listEnd) {
    if (p + 3 > listEnd) throw extFail('server_name', p, 'entry header past the list');
    const nameType = hs.at(p);
    const len = (hs.at(p + 1) << 8) | hs.at(p + 2);
    if (p + 3 + len > listEnd) throw extFail('server_name', p, `name of ${len} bytes past the list`);
    if (nameType === 0 && h.sni === undefined) h.sni = hs.latin1(p + 3, p + 3 + len);
    p += 3 + len;
  }
}

function alpn(hs: ByteChain, s: number, e: number, h: ClientHello): void {
  if (e - s < 2) throw extFail('ALPN', s, 'no list length');
  const listEnd = s + 2 + ((hs.at(s) << 8) | hs.at(s + 1));
  if (listEnd !== e) throw extFail('ALPN', s, 'list length does not match the extension');
  let p = s + 2;
  while (p < listEnd) {
    const len = hs.at(p);
    if (len === 0 || p + 1 + len > listEnd) throw extFail('ALPN', p, `protocol name of ${len} bytes`);
    h.alpn.push(hs.latin1(p + 1, p + 1 + len));
    p += 1 + len;
  }
}

function supportedVersions(hs: ByteChain, s: number, e: number, h: ClientHello): void {
  if (e - s < 1) throw extFail('supported_versions', s, 'no list length');
  const len = hs.at(s);
  if (s + 1 + len !== e || len % 2 !== 0) throw extFail('supported_versions', s, `list length ${len}`);
  for (let p = s + 1; p < e; p += 2) {
    const v = (hs.at(p) << 8) | hs.at(p + 1);
    if (isGrease(v)) continue;
    h.supportedVersions.push(v);
  }
  let max = -1;
  for (const v of h.supportedVersions) if (v > max) max = v;
  if (max >= 0) h.maxVersion = max;
}
