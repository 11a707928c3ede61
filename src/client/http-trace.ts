/**
 * HTTP request records (nettrace's HTTPReqTrace), one per dispatch: every hop of a redirect chain that fetch
 * follows is its own dispatch, so its own record.
 *
 * Two sources, joined by identity:
 * - the handler of each dispatch, wrapped (legacy and new undici handler APIs): response head, body bytes, end,
 *   errors; its onConnect/onRequestStart runs synchronously just before undici writes the request head, and
 * - undici's diagnostics channel `undici:client:sendHeaders`, published right after, with the request head as sent
 *   and the socket it went on. Sockets are mapped to their connection records (a WeakMap filled by the connector),
 *   so only our own sockets count; the undici request object is then mapped to its record for
 *   `undici:request:bodyChunkSent` (request body bytes).
 */
import diagnostics from 'node:diagnostics_channel';
import { Response } from 'undici';
import type { DialTrace, HttpHeaderKV, HttpReqTrace, TcpConnTrace, TlsTunnelTrace, TraceRecorder } from './trace.js';
import { newTraceId, nowMs } from './trace.js';
import type { Logger, ResolvedOptions } from './options.js';
import { errText } from './socket-trace.js';

/** What the connector knows about a socket it handed to undici. */
export interface SocketInfo {
  tracer: HttpTracer;
  conn: TcpConnTrace;
  dial: DialTrace;
  tls?: TlsTunnelTrace;
  proxyTls?: TlsTunnelTrace;
  networkProxy?: string;
  /** 2 when ALPN chose h2 */
  protoMajor: 1 | 2;
  /** the first request on the connection: its end is the dial's ctxCloseAt */
  cause?: ReqState;
}

const sockets = new WeakMap<object, SocketInfo>();

export function registerSocket(socket: object, info: SocketInfo): void {
  sockets.set(socket, info);
}

/** The requests of one fetch()/request() call, in dispatch order (redirect hops). */
export interface CallContext {
  states: ReqState[];
  /** true when the caller counts the body it reads itself (fetch wraps the Response body) */
  callerCountsBody: boolean;
}

/** One dispatch being traced. */
export class ReqState {
  finished = false;
  info?: SocketInfo;

  constructor(readonly tracer: HttpTracer, readonly record: HttpReqTrace, readonly countBody: boolean) {}

  sent(info: SocketInfo, head: string): void {
    const r = this.record;
    this.info = info;
    r.tcpConn = info.conn.traceID;
    r.tlsTunnel = info.tls?.traceID;
    r.proxyTLSTunnel = info.proxyTls?.traceID;
    r.networkProxy = info.networkProxy;
    r.protoMajor = info.protoMajor;
    r.protoMinor = info.protoMajor === 2 ? 0 : 1;
    this.tracer.rec.touch(info.conn);
    if (!info.cause && info.dial.ctxCloseAt === undefined) info.cause = this;
    const mode = this.tracer.headerMode;
    if (mode !== 'disabled') r.reqHeader = this.tracer.headerKVs(parseHead(head));
    this.tracer.logger?.debug(`http ${r.traceID}: ${r.reqMethod} ${r.reqURL} sent on ${info.conn.traceID} (HTTP/${r.protoMajor}.${r.protoMinor})`);
  }

  /** `raw`: undici's response headers (a flat array, or an object with the new handler API) */
  response(status: number, raw: unknown): void {
    const r = this.record;
    r.respRecvAt = nowMs();
    r.respStatusCode = status;
    if (this.tracer.headerMode !== 'disabled') r.respHeader = this.tracer.headerKVs(rawPairs(raw));
    this.tracer.logger?.debug(`http ${r.traceID}: response ${status}`);
  }

  data(len: number): void {
    if (this.countBody) this.record.RespContentLen += len;
  }

  end(err?: unknown): void {
    if (this.finished) return;
    this.finished = true;
    if (err !== undefined) {
      this.record.reqError = errorText(err);
      this.tracer.logger?.debug(`http ${this.record.traceID}: failed: ${this.record.reqError}`);
    }
    const info = this.info;
    if (info && info.cause === this) info.dial.ctxCloseAt ??= nowMs();
  }
}

/** Text of an error and its causes (fetch's "fetch failed" says nothing alone). */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; i < 4 && e !== undefined && e !== null; i++) {
    const msg = e instanceof Error ? errText(e) : String(e);
    if (!parts.includes(msg)) parts.push(msg);
    e = e instanceof Error ? (e as Error & { cause?: unknown }).cause : undefined;
  }
  return parts.join(': ');
}

/** Header lines of a request head as undici sent it (HTTP/1.1: request line first; HTTP/2: `name: value` lines). */
function parseHead(head: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of head.split('\r\n')) {
    const i = line.indexOf(':', line.startsWith(':') ? 1 : 0);
    if (i <= 0 || / HTTP\/1\.[01]$/.test(line)) continue;
    out.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  return out;
}

const SECRETS = new Set(['authorization', 'cookie', 'set-cookie', 'proxy-authorization']);
export const REDACTED = '[redacted]';

let connecting: ReqState | undefined;
const requests = new WeakMap<object, ReqState>();
let subscribers = 0;

function onSendHeaders(msg: unknown): void {
  const s = connecting;
  if (s === undefined) return;
  const { request, headers, socket } = msg as { request: object; headers: string; socket: object };
  const info = sockets.get(socket);
  if (info === undefined || info.tracer !== s.tracer) return;
  connecting = undefined;
  requests.set(request, s);
  s.sent(info, headers);
}

function onBodyChunkSent(msg: unknown): void {
  const { request, chunk } = msg as { request: object; chunk: { byteLength?: number } | string };
  const s = requests.get(request);
  if (s) s.record.reqContentLen += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength ?? 0;
}

/** Per client: creates request records and wraps dispatch handlers. */
export class HttpTracer {
  readonly headerMode: NonNullable<ResolvedOptions['httpReqTrace']>['headerFields'];
  private subscribed = false;

  constructor(readonly rec: TraceRecorder, private readonly opts: ResolvedOptions, readonly logger?: Logger) {
    this.headerMode = opts.httpReqTrace?.headerFields ?? 'disabled';
    if (opts.httpReqTrace) {
      this.subscribed = true;
      if (subscribers++ === 0) {
        diagnostics.subscribe('undici:client:sendHeaders', onSendHeaders);
        diagnostics.subscribe('undici:request:bodyChunkSent', onBodyChunkSent);
      }
    }
  }

  get enabled(): boolean {
    return this.subscribed;
  }

  close(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    if (--subscribers === 0) {
      diagnostics.unsubscribe('undici:client:sendHeaders', onSendHeaders);
      diagnostics.unsubscribe('undici:request:bodyChunkSent', onBodyChunkSent);
    }
  }

  /** A new request record (in the trace at once: reqSentAt is when the client was asked to send it). */
  begin(method: string, url: string, call?: CallContext): ReqState {
    const record: HttpReqTrace = {
      traceID: newTraceId(), protoMajor: 1, protoMinor: 1, reqSentAt: nowMs(), reqMethod: method, reqURL: url,
      reqContentLen: 0, respStatusCode: 0, RespContentLen: 0,
    };
    this.rec.httpRequests.push(record);
    const s = new ReqState(this, record, !call?.callerCountsBody);
    call?.states.push(s);
    return s;
  }

  headerKVs(pairs: [string, string][]): HttpHeaderKV[] {
    const o = this.opts.httpReqTrace!;
    const out: HttpHeaderKV[] = [];
    for (const [name, val] of pairs) {
      if (o.excludeHeaderField?.(name)) continue;
      switch (o.headerFields) {
        case 'namesOnly': out.push({ fieldName: name }); break;
        case 'valueLenOnly': out.push({ fieldName: name, fieldValLen: val.length }); break;
        case 'withValues':
          out.push({ fieldName: name, fieldVal: !o.showSecrets && SECRETS.has(name.toLowerCase()) ? REDACTED : val, fieldValLen: val.length });
          break;
        default: break;
      }
    }
    return out;
  }

  /** Wraps a dispatch handler (either undici handler API) so that `state` sees the request's events. */
  wrap(handler: object, state: ReqState): object {
    const h = handler as Record<string, (...a: unknown[]) => unknown>;
    return typeof h.onRequestStart === 'function' || typeof h.onResponseStart === 'function'
      ? new TracedHandler(h, state) : new TracedLegacyHandler(h, state);
  }
}

type AnyFn = (...a: unknown[]) => unknown;
type HandlerObj = Record<string, AnyFn | undefined>;

function rawPairs(raw: unknown): [string, string][] {
  const out: [string, string][] = [];
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) out.push([String(raw[i]), String(raw[i + 1])]);
  } else if (raw && typeof raw === 'object') {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (Array.isArray(v)) for (const x of v) out.push([k, String(x)]);
      else if (v !== undefined) out.push([k, String(v)]);
    }
  }
  return out;
}

function chunkLen(chunk: unknown): number {
  return (chunk as { byteLength?: number } | null)?.byteLength ?? 0;
}

/** undici's legacy handler API (fetch and request use it). */
class TracedLegacyHandler {
  constructor(private readonly h: HandlerObj, private readonly s: ReqState) {}
  onConnect(abort: unknown, ctx: unknown): unknown {
    connecting = this.s;
    return this.h.onConnect?.(abort, ctx);
  }
  onResponseStarted(): unknown { return this.h.onResponseStarted?.(); }
  onHeaders(status: number, raw: unknown, resume: unknown, text: unknown): unknown {
    this.s.response(status, raw);
    return this.h.onHeaders?.(status, raw, resume, text);
  }
  onData(chunk: unknown): unknown {
    this.s.data(chunkLen(chunk));
    return this.h.onData?.(chunk);
  }
  onComplete(trailers: unknown): unknown {
    this.s.end();
    return this.h.onComplete?.(trailers);
  }
  onError(err: unknown): unknown {
    this.s.end(err);
    return this.h.onError?.(err);
  }
  onUpgrade(status: number, raw: unknown, socket: unknown): unknown {
    this.s.response(status, raw);
    this.s.end();
    return this.h.onUpgrade?.(status, raw, socket);
  }
  onBodySent(chunk: unknown): unknown { return this.h.onBodySent?.(chunk); }
  onRequestSent(): unknown { return this.h.onRequestSent?.(); }
}

/** undici 7's handler API (onRequestStart...). */
class TracedHandler {
  constructor(private readonly h: HandlerObj, private readonly s: ReqState) {}
  onRequestStart(controller: unknown, ctx: unknown): unknown {
    connecting = this.s;
    return this.h.onRequestStart?.(controller, ctx);
  }
  onRequestUpgrade(controller: unknown, status: number, headers: unknown, socket: unknown): unknown {
    this.s.response(status, headers);
    this.s.end();
    return this.h.onRequestUpgrade?.(controller, status, headers, socket);
  }
  onResponseStart(controller: unknown, status: number, headers: unknown, text: unknown): unknown {
    this.s.response(status, headers);
    return this.h.onResponseStart?.(controller, status, headers, text);
  }
  onResponseData(controller: unknown, chunk: unknown): unknown {
    this.s.data(chunkLen(chunk));
    return this.h.onResponseData?.(controller, chunk);
  }
  onResponseEnd(controller: unknown, trailers: unknown): unknown {
    this.s.end();
    return this.h.onResponseEnd?.(controller, trailers);
  }
  onResponseError(controller: unknown, err: unknown): unknown {
    this.s.end(err);
    return this.h.onResponseError?.(controller, err);
  }
}

/**
 * The Response fetch resolved with, its body counted as the caller reads it (decoded: RespContentLen is what the
 * caller got). A body-less response is returned as it is.
 */
export function countResponseBody(resp: Response, state: ReqState): Response {
  if (resp.body === null) return resp;
  // a pull-through stream: cheaper than pipeThrough(TransformStream), and counts only what is read
  const reader = (resp.body as unknown as ReadableStream<Uint8Array>).getReader();
  const record = state.record;
  const body = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const { done, value } = await reader.read();
      if (done) {
        ctl.close();
        return;
      }
      record.RespContentLen += value.byteLength;
      ctl.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  const out = new Response(body as unknown as ConstructorParameters<typeof Response>[0], {
    status: resp.status, statusText: resp.statusText, headers: resp.headers,
  });
  for (const k of ['url', 'redirected', 'type'] as const) Object.defineProperty(out, k, { value: resp[k] });
  return out;
}
