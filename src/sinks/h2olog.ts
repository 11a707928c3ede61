/**
 * h2olog's line format for `wirelog trace`: `CONNID REQID NAME VALUE`, NAME padded to 10 characters:
 *
 *   888 1 RxProtocol HTTP/2.0
 *   888 1 RxHeader   :authority torumk.com
 *   888 1 TxStatus   200
 *
 * A traced server receives the request (RxProtocol, RxHeader) and sends the response (TxStatus, TxHeader); a traced
 * client the mirror (TxProtocol, TxHeader, RxStatus, RxHeader). The request's pseudo-headers come first in h2olog's
 * order (:authority, :method, :path, :scheme; for HTTP/1 made from Host, the request line and TLS), then the other
 * headers in order received, names lower-cased. Lines go through a LineSink (the log writer coalesces them).
 */
import { isByteLineSink, type ByteLineSink, type LineSink } from './log-writer.js';
import type { LineKind, TraceRequestEvent, TraceResponseEvent, TraceSink, TraceTrailersEvent, TraceTransaction } from '../records.js';
import { shownValue, type HeaderMode } from './redact.js';

export const H2OLOG_TYPES = ['RxProtocol', 'RxHeader', 'TxStatus', 'TxHeader', 'TxProtocol', 'RxStatus'] as const;
export type H2ologType = (typeof H2OLOG_TYPES)[number];

/** Parse `-t` (comma list, case-insensitive); undefined for an unknown name, which is returned in `bad`. */
export function parseH2ologTypes(list: string): { types: Set<H2ologType>; bad?: string } {
  const types = new Set<H2ologType>();
  for (const raw of list.split(',')) {
    const t = raw.trim();
    if (t === '') continue;
    const hit = H2OLOG_TYPES.find((x) => x.toLowerCase() === t.toLowerCase());
    if (hit === undefined) return { types, bad: t };
    types.add(hit);
  }
  return { types };
}

// NAME column, padded to 10 as h2olog prints it
const COL: Record<H2ologType, string> = {
  RxProtocol: 'RxProtocol', RxHeader: 'RxHeader  ', TxStatus: 'TxStatus  ', TxHeader: 'TxHeader  ',
  TxProtocol: 'TxProtocol', RxStatus: 'RxStatus  ',
};

/** One h2olog line (no newline). An empty value (`--headers names`) prints the name alone. */
export function h2ologLine(connId: number, reqId: number, type: H2ologType, value: string): string {
  return `${connId} ${reqId} ${COL[type]} ${value}`;
}

/** ASCII lower-case, without a new string when there is nothing to change (HTTP/2 names already are). */
function lowerName(n: string): string {
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c >= 65 && c <= 90) return n.toLowerCase();
  }
  return n;
}

export interface H2ologOptions {
  /** -t: only these line types (default all) */
  types?: ReadonlySet<H2ologType>;
  headers?: HeaderMode;
}

/** Buffer#utf8Write: encodes straight into the writer's buffer (not in @types/node). */
interface Utf8Writer {
  utf8Write(s: string, offset: number): number;
}

const COL_BYTES = Object.fromEntries(H2OLOG_TYPES.map((t) => [t, Buffer.from(COL[t], 'latin1')])) as Record<H2ologType, Buffer>;

/** bytes a number can take as `${n}` */
const NUM_MAX = 24;

/** `${n}` at p; returns the end. Integers in 0..2^31-1 by hand (ids), anything else through String. */
function putUint(buf: Buffer, p: number, n: number): number {
  if (n >= 0 && n <= 0x7fffffff && Math.floor(n) === n) {
    if (n < 10) {
      buf[p] = 48 + n;
      return p + 1;
    }
    let d = 10;
    while (d * 10 <= n) d *= 10;
    for (; d >= 1; d = Math.floor(d / 10)) buf[p++] = 48 + (Math.floor(n / d) % 10);
    return p;
  }
  return putStr(buf, p, String(n));
}

/** s as UTF-8 at p (as Buffer.from(s) encodes it); returns the end. Short ASCII strings, the usual case, are
 *  copied here: a native encoder call costs more than the copy. */
function putStr(buf: Buffer, p: number, s: string): number {
  const n = s.length;
  if (n <= 64) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[p + i] = c;
    }
    if (i === n) return p + n;
  }
  return p + (buf as unknown as Utf8Writer).utf8Write(s, p);
}

export class H2ologSink implements TraceSink {
  private readonly types: ReadonlySet<H2ologType> | undefined;
  private readonly mode: HeaderMode;
  /** the writer's byte path: lines encoded in place, no line string built (hundreds of thousands a second) */
  private readonly bytes: ByteLineSink | undefined;

  constructor(private readonly out: LineSink, opts: H2ologOptions = {}) {
    this.types = opts.types !== undefined && opts.types.size > 0 ? opts.types : undefined;
    this.mode = opts.headers ?? 'redacted';
    this.bytes = isByteLineSink(out) ? out : undefined;
  }

  private on(t: H2ologType): boolean {
    return this.types === undefined || this.types.has(t);
  }

  /** One line `CONNID REQID NAME a` or `... a b` (b undefined: a alone), the same bytes as h2ologLine + write. */
  private line(connId: number, reqId: number, type: H2ologType, a: string, b: string | undefined, ts: number, kind: LineKind): void {
    const w = this.bytes;
    const max = 2 * NUM_MAX + 14 + (a.length + (b === undefined ? 0 : b.length)) * 3;
    const buf = w?.reserveLine(max, ts, kind);
    if (buf === undefined) {
      this.out.write(h2ologLine(connId, reqId, type, b === undefined ? a : `${a} ${b}`), ts, kind);
      return;
    }
    let p = putUint(buf, w!.lineStart, connId);
    buf[p++] = 0x20;
    p = putUint(buf, p, reqId);
    buf[p++] = 0x20;
    const col = COL_BYTES[type];
    for (let i = 0; i < 10; i++) buf[p++] = col[i];
    buf[p++] = 0x20;
    p = putStr(buf, p, a);
    if (b !== undefined) {
      buf[p++] = 0x20;
      p = putStr(buf, p, b);
    }
    buf[p++] = 0x0a;
    w!.commitLine(p);
  }

  private header(connId: number, reqId: number, type: H2ologType, name: string, value: string, ts: number, kind: LineKind): void {
    const v = shownValue(this.mode, name, value);
    if (v === undefined) return;
    const n = lowerName(name);
    this.line(connId, reqId, type, n, v === '' && this.mode === 'names' ? undefined : v, ts, kind);
  }

  request(ev: TraceRequestEvent): void {
    const { conn, reqId, req } = ev;
    const server = conn.role === 'server';
    const protoType: H2ologType = server ? 'RxProtocol' : 'TxProtocol';
    const hdrType: H2ologType = server ? 'RxHeader' : 'TxHeader';
    const id = conn.connId;
    const ts = req.tsUs;
    const kind = server ? 'CQ' : 'SQ';
    if (this.on(protoType)) this.line(id, reqId, protoType, req.protocol, undefined, ts, kind);
    if (!this.on(hdrType)) return;
    // pseudo-headers are request fields: shown whatever --headers says; a missing one is not made up
    if (req.authority !== undefined) this.line(id, reqId, hdrType, ':authority', req.authority, ts, kind);
    if (req.method !== undefined) this.line(id, reqId, hdrType, ':method', req.method, ts, kind);
    if (req.path !== undefined) this.line(id, reqId, hdrType, ':path', req.path, ts, kind);
    if (req.scheme !== undefined) this.line(id, reqId, hdrType, ':scheme', req.scheme, ts, kind);
    const hs = req.headers;
    for (let i = 0; i < hs.length; i++) this.header(id, reqId, hdrType, hs[i][0], hs[i][1], ts, kind);
  }

  response(ev: TraceResponseEvent): void {
    const { conn, reqId, res } = ev;
    const server = conn.role === 'server';
    const statusType: H2ologType = server ? 'TxStatus' : 'RxStatus';
    const hdrType: H2ologType = server ? 'TxHeader' : 'RxHeader';
    const id = conn.connId;
    const ts = res.tsUs;
    const kind = server ? 'CQ' : 'SQ';
    if (this.on(statusType)) {
      this.line(id, reqId, statusType, res.status !== undefined ? statusText(res.status) : ':missing', undefined, ts, kind);
    }
    if (!this.on(hdrType)) return;
    const hs = res.headers;
    for (let i = 0; i < hs.length; i++) this.header(id, reqId, hdrType, hs[i][0], hs[i][1], ts, kind);
  }

  /** Trailers: more header lines of the message they end (h2olog has no trailer line type), after its body. */
  trailers(ev: TraceTrailersEvent): void {
    const server = ev.conn.role === 'server';
    // a server receives the request: its trailers are Rx; a client sends it: Tx
    const hdrType: H2ologType = ev.request === server ? 'RxHeader' : 'TxHeader';
    if (!this.on(hdrType)) return;
    const id = ev.conn.connId;
    const ts = (ev.request ? ev.req?.tsUs : ev.res?.tsUs) ?? 0;
    const kind = server ? 'CQ' : 'SQ';
    const hs = ev.trailers;
    for (let i = 0; i < hs.length; i++) this.header(id, ev.reqId, hdrType, hs[i][0], hs[i][1], ts, kind);
  }

  transaction(_tx: TraceTransaction): void {
    /* h2olog prints heads as they complete */
  }
}

/** Status codes as text, the common ones without a new string each time. */
const STATUS_TEXT: string[] = [];
for (let i = 100; i < 600; i++) STATUS_TEXT[i] = String(i);
function statusText(s: number): string {
  return STATUS_TEXT[s] ?? String(s);
}
