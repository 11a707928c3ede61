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
import type { LineSink } from './log-writer.js';
import type { TraceRequestEvent, TraceResponseEvent, TraceSink, TraceTransaction } from '../correlate/trace-tracker.js';
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

export class H2ologSink implements TraceSink {
  private readonly types: ReadonlySet<H2ologType> | undefined;
  private readonly mode: HeaderMode;

  constructor(private readonly out: LineSink, opts: H2ologOptions = {}) {
    this.types = opts.types !== undefined && opts.types.size > 0 ? opts.types : undefined;
    this.mode = opts.headers ?? 'redacted';
  }

  private on(t: H2ologType): boolean {
    return this.types === undefined || this.types.has(t);
  }

  private header(connId: number, reqId: number, type: H2ologType, name: string, value: string, ts: number, server: boolean): void {
    const v = shownValue(this.mode, name, value);
    if (v === undefined) return;
    const n = lowerName(name);
    this.out.write(h2ologLine(connId, reqId, type, v === '' && this.mode === 'names' ? n : `${n} ${v}`), ts, server ? 'CQ' : 'SQ');
  }

  request(ev: TraceRequestEvent): void {
    const { conn, reqId, req } = ev;
    const server = conn.role === 'server';
    const protoType: H2ologType = server ? 'RxProtocol' : 'TxProtocol';
    const hdrType: H2ologType = server ? 'RxHeader' : 'TxHeader';
    const id = conn.connId;
    const ts = req.tsUs;
    const kind = server ? 'CQ' : 'SQ';
    if (this.on(protoType)) this.out.write(h2ologLine(id, reqId, protoType, req.protocol), ts, kind);
    if (!this.on(hdrType)) return;
    // pseudo-headers are request fields: shown whatever --headers says; a missing one is not made up
    if (req.authority !== undefined) this.out.write(h2ologLine(id, reqId, hdrType, `:authority ${req.authority}`), ts, kind);
    if (req.method !== undefined) this.out.write(h2ologLine(id, reqId, hdrType, `:method ${req.method}`), ts, kind);
    if (req.path !== undefined) this.out.write(h2ologLine(id, reqId, hdrType, `:path ${req.path}`), ts, kind);
    if (req.scheme !== undefined) this.out.write(h2ologLine(id, reqId, hdrType, `:scheme ${req.scheme}`), ts, kind);
    const hs = req.headers;
    for (let i = 0; i < hs.length; i++) this.header(id, reqId, hdrType, hs[i][0], hs[i][1], ts, server);
  }

  response(ev: TraceResponseEvent): void {
    const { conn, reqId, res } = ev;
    const server = conn.role === 'server';
    const statusType: H2ologType = server ? 'TxStatus' : 'RxStatus';
    const hdrType: H2ologType = server ? 'TxHeader' : 'RxHeader';
    const id = conn.connId;
    const ts = res.tsUs;
    if (this.on(statusType)) {
      this.out.write(h2ologLine(id, reqId, statusType, res.status !== undefined ? String(res.status) : ':missing'), ts, server ? 'CQ' : 'SQ');
    }
    if (!this.on(hdrType)) return;
    const hs = res.headers;
    for (let i = 0; i < hs.length; i++) this.header(id, reqId, hdrType, hs[i][0], hs[i][1], ts, server);
  }

  transaction(_tx: TraceTransaction): void {
    /* h2olog prints heads as they complete */
  }
}
