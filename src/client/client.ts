/**
 * createTracedClient: an undici Agent whose every connection comes from the traced connector (dialer → TLS →
 * proxy), whose every dispatch gets an HTTP request record, and a recorder that returns it all as nettrace JSON.
 *
 * Config mapping onto undici (docs/client.md):
 * - preferHTTP2 → ALPN ['h2', 'http/1.1'] and allowH2; otherwise ALPN ['http/1.1']
 * - responseHeaderTimeout → headersTimeout; idleConnTimeout → keepAliveTimeout and keepAliveMaxTimeout
 * - disableKeepAlive → pipelining 0 (every request `connection: close`, a new connection each)
 * - maxConnsPerHost → connections (per origin)
 * - maxIdleConns, maxIdleConnsPerHost: undici keeps every idle connection until keepAliveTimeout and has no idle
 *   count limit; maxIdleConnsPerHost = -1 or disableKeepAlive is the only "no idle connections" (pipelining 0)
 * - expectContinueTimeout: undici sends `Expect: 100-continue` only over HTTP/2 (expectContinue request option);
 *   not applied
 * - disableCompression → fetch's default `accept-encoding` is not sent (a caller's own header is kept)
 * - reqTimeout → AbortSignal.timeout over the whole fetch/request, redirects and body included
 */
import { Agent, Dispatcher, fetch as undiciFetch, request as undiciRequest, type RequestInfo, type RequestInit, type Response } from 'undici';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { TraceRecorder, nowMs, type HttpTraceJson } from './trace.js';
import { ClientError, resolveOptions, type HTTPClientConfig, type ResolvedOptions, type TraceOption } from './options.js';
import { Resolver } from './resolver.js';
import { lookupConntrack, type ConntrackQuery } from './conntrack.js';
import { startPacketCapture, type CaptureSession, type PacketCapture } from './packet-capture.js';
import { RecordedStream, recordNetSocket } from './socket-trace.js';
import { dialHost, tupleText, type DialDeps, type Dialed } from './dialer.js';
import { openTlsTunnel, SessionCache } from './tls-tunnel.js';
import tls from 'node:tls';
import { connectTunnel, parseProxy, proxyAddress, proxyPort } from './proxy.js';
import { HttpTracer, countResponseBody, errorText, registerSocket, type CallContext, type ReqState, type SocketInfo } from './http-trace.js';

type ConnectOpts = { hostname: string; protocol: string; port: string; servername?: string | null };
type DispatchOpts = Dispatcher.DispatchOptions;
type Handler = Dispatcher.DispatchHandler;

export interface TracedClient {
  /** WHATWG fetch through the traced client */
  fetch(input: RequestInfo, init?: RequestInit): Promise<Response>;
  /** undici.request through the traced client */
  request(url: string | URL, opts?: Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & Partial<Pick<Dispatcher.RequestOptions, 'method'>>): Promise<Dispatcher.ResponseData<unknown>>;
  /** an undici Dispatcher for third-party code: `undici.fetch(url, { dispatcher: client.dispatcher })` */
  dispatcher: Dispatcher;
  /** the trace since creation or the last clearTrace(), and the packet captures (withPacketCapture) */
  getTrace(description: string): Promise<{ trace: HttpTraceJson; pcaps: PacketCapture[] }>;
  clearTrace(): void;
  close(): Promise<void>;
}

/** concurrent streams on one HTTP/2 connection (undici's default peer maximum) */
const H2_MAX_STREAMS = 100;

/** Everything the traced dispatch and connector share. */
class ClientCore {
  readonly rec = new TraceRecorder();
  readonly opts: ResolvedOptions;
  readonly resolver: Resolver;
  readonly tracer: HttpTracer;
  readonly deps: DialDeps;
  readonly capture?: CaptureSession;
  private captureReady = false;
  private readonly tlsContext: tls.SecureContext;
  private readonly proxyTlsContext: tls.SecureContext;
  private readonly sessions = new SessionCache();
  private readonly proxySessions = new SessionCache();
  private readonly agents = new Map<string, Agent>();
  closed = false;
  /** TCP sockets handed to undici and not yet closed (close() waits for them) */
  private readonly openSockets = new Set<Duplex>();

  constructor(readonly config: HTTPClientConfig, options: TraceOption[]) {
    this.opts = resolveOptions(options);
    this.resolver = new Resolver({ rec: this.rec, opts: this.opts, config });
    this.deps = { rec: this.rec, opts: this.opts, config, resolver: this.resolver, logger: this.opts.logger };
    this.tracer = new HttpTracer(this.rec, this.opts, this.opts.logger);
    this.tlsContext = config.tls?.secureContext ?? tls.createSecureContext(config.tls);
    this.proxyTlsContext = config.proxyTls ? config.proxyTls.secureContext ?? tls.createSecureContext(config.proxyTls) : this.tlsContext;
    const pc = this.opts.packetCapture;
    if (pc) {
      this.capture = startPacketCapture({
        interfaces: pc.interfaces, snaplen: pc.snaplen, totalSizeLimit: pc.totalSizeLimit, includeICMP: pc.includeICMP,
        includeARP: pc.includeARP, tcpWithoutPayload: pc.tcpWithoutPayload, sensorPath: pc.sensorPath,
      }, () => [
        ...this.rec.tcpConns.filter((c) => c.addrTuple.srcPort !== 0).map((c) => ({ proto: 'tcp' as const, tuple: c.addrTuple })),
        ...this.rec.udpConns.map((c) => ({ proto: 'udp' as const, tuple: c.addrTuple })),
      ]);
      this.capture.ready.then(() => { this.captureReady = true; }, () => undefined);
    } else {
      this.captureReady = true;
    }
  }

  /** The Agent for a proxy ('' = direct): one per proxy, each with its own connector. */
  agent(proxy?: URL): Agent {
    const key = proxy ? proxy.href : '';
    let a = this.agents.get(key);
    if (a === undefined) {
      const c = this.config;
      const idle = c.idleConnTimeout && c.idleConnTimeout > 0 ? c.idleConnTimeout : undefined;
      let h2Connected = false;
      a = new Agent({
        connect: (o, cb) => {
          this.connect(o as ConnectOpts, proxy).then((s) => {
            h2Connected = (s as TLSSocket).alpnProtocol === 'h2';
            cb(null, s as TLSSocket);
            h2Connected = false;
          }, (err: Error) => cb(err, null));
        },
        allowH2: !!c.preferHTTP2,
        headersTimeout: c.responseHeaderTimeout && c.responseHeaderTimeout > 0 ? c.responseHeaderTimeout : 0,
        bodyTimeout: 0,
        keepAliveTimeout: idle,
        keepAliveMaxTimeout: idle,
        pipelining: c.disableKeepAlive || c.maxIdleConnsPerHost === -1 ? 0 : 1,
        connections: c.maxConnsPerHost && c.maxConnsPerHost > 0 ? c.maxConnsPerHost : null,
      });
      // undici sends one request at a time per connection (pipelining 1) unless told otherwise, HTTP/2 too: an
      // h2 connection (the client emits 'connect' synchronously inside the connector's callback) gets the
      // streams to multiplex, as Go's transport does
      (a as unknown as NodeJS.EventEmitter).on('connect', (_origin: URL, targets: Dispatcher[]) => {
        const client = targets[targets.length - 1] as Dispatcher & { pipelining: number };
        if (h2Connected && client) client.pipelining = H2_MAX_STREAMS;
      });
      this.agents.set(key, a);
    }
    return a;
  }

  /** undici's connector: a traced connection to `o` (through `proxy` when given). */
  async connect(o: ConnectOpts, proxy?: URL): Promise<Duplex> {
    const c = this.config;
    const https = o.protocol === 'https:';
    const port = Number(o.port) || (https ? 443 : 80);
    const alpn = https && c.preferHTTP2 ? ['h2', 'http/1.1'] : ['http/1.1'];
    const serverHost = o.servername || o.hostname;
    if (proxy === undefined) {
      const d = await dialHost(this.deps, o.hostname, port);
      try {
        if (!https) {
          recordNetSocket(d.socket, d.ops);
          return this.register(d.socket, d, 1);
        }
        const t = await openTlsTunnel({
          rec: this.rec, logger: this.opts.logger, transport: new RecordedStream(d.socket, d.ops), conn: d.conn,
          host: serverHost, alpn, options: c.tls, timeoutMs: c.tlsHandshakeTimeout,
          secureContext: this.tlsContext, sessions: this.sessions,
        });
        return this.register(t.socket, d, t.socket.alpnProtocol === 'h2' ? 2 : 1, t.trace);
      } catch (err) {
        this.failConnection(d);
        throw err;
      }
    }
    const proxyHost = proxy.hostname.replace(/^\[(.*)\]$/, '$1');
    const d = await dialHost(this.deps, proxyHost, proxyPort(proxy));
    try {
      let stream: Duplex;
      let proxyTls;
      if (proxy.protocol === 'https:') {
        const pt = await openTlsTunnel({
          rec: this.rec, logger: this.opts.logger, transport: new RecordedStream(d.socket, d.ops), conn: d.conn,
          host: proxyHost, alpn: ['http/1.1'], options: c.proxyTls ?? c.tls, timeoutMs: c.tlsHandshakeTimeout,
          secureContext: this.proxyTlsContext, sessions: this.proxySessions,
        });
        stream = pt.socket;
        proxyTls = pt.trace;
      } else if (https) {
        stream = new RecordedStream(d.socket, d.ops);
      } else {
        recordNetSocket(d.socket, d.ops);
        stream = d.socket;
      }
      await connectTunnel(stream, proxy, o.hostname, port, c.tcpHandshakeTimeout);
      if (!https) return this.register(stream, d, 1, undefined, proxyTls, proxy);
      const t = await openTlsTunnel({
        rec: this.rec, logger: this.opts.logger, transport: stream, conn: d.conn, host: serverHost, alpn,
        options: c.tls, timeoutMs: c.tlsHandshakeTimeout, secureContext: this.tlsContext, sessions: this.sessions,
      });
      return this.register(t.socket, d, t.socket.alpnProtocol === 'h2' ? 2 : 1, t.trace, proxyTls, proxy);
    } catch (err) {
      this.failConnection(d);
      throw err;
    }
  }

  /** A connection given up after the dial (TLS, CONNECT): closed now, and the dial's request fails with it. */
  private failConnection(d: Dialed): void {
    d.ops.closed();
    d.dial.ctxCloseAt ??= nowMs();
    d.socket.destroy();
  }

  private register(socket: Duplex, d: Dialed, protoMajor: 1 | 2, tls?: SocketInfo['tls'], proxyTls?: SocketInfo['proxyTls'], proxy?: URL): Duplex {
    registerSocket(socket, {
      tracer: this.tracer, conn: d.conn, dial: d.dial, tls, proxyTls, protoMajor,
      networkProxy: proxy ? proxyAddress(proxy) : undefined,
    });
    this.openSockets.add(d.socket);
    d.socket.once('close', () => {
      this.openSockets.delete(d.socket);
      const at = nowMs();
      d.dial.ctxCloseAt ??= at;
      this.opts.logger?.debug(`tcp conn ${d.conn.traceID} ${tupleText(d.conn)} closed`);
    });
    return socket;
  }

  /** Every dispatch of the client: a request record, then the direct or proxy agent. */
  dispatch(opts: DispatchOpts, handler: Handler, call?: CallContext, stripAcceptEncoding = false): boolean {
    let state: ReqState | undefined;
    if (this.tracer.enabled) {
      const origin = String(opts.origin ?? '').replace(/\/$/, '');
      state = this.tracer.begin(opts.method, origin + opts.path, call);
      handler = this.tracer.wrap(handler, state) as Handler;
    }
    if (stripAcceptEncoding) opts = { ...opts, headers: withoutHeader(opts.headers, 'accept-encoding') };
    if (this.config.proxy === undefined && this.captureReady) return this.agent().dispatch(opts, handler);
    this.route(opts).then((agent) => agent.dispatch(opts, handler), (err: Error) => failHandler(handler, err));
    return true;
  }

  private async route(opts: DispatchOpts): Promise<Agent> {
    if (!this.captureReady && this.capture) {
      try {
        await this.capture.ready;
      } catch (err) {
        throw new ClientError('WL_ERR_PCAP', `packet capture did not start: ${errorText(err)}`, { cause: err });
      }
    }
    if (this.config.proxy === undefined) return this.agent();
    const url = new URL(opts.path, opts.origin);
    const p = await this.config.proxy({ url, method: opts.method });
    return this.agent(p === null || p === undefined || p === '' ? undefined : parseProxy(p));
  }

  async getTrace(description: string): Promise<{ trace: HttpTraceJson; pcaps: PacketCapture[] }> {
    if (this.opts.conntrack) await this.addConntrack();
    // the end is taken after the conntrack lookup: events recorded while it ran (a socket closing) are in the
    // snapshot, so they must not come after traceEndAt
    const trace = this.rec.snapshot(description, nowMs());
    const pcaps = this.capture ? this.capture.snapshot() : [];
    return { trace, pcaps };
  }

  /** Conntrack entries looked up now, as late as possible, for every connection with a 4-tuple. */
  private async addConntrack(): Promise<void> {
    const conns = [
      ...this.rec.tcpConns.filter((c) => c.connected).map((c) => ({ c, proto: 'tcp' as const })),
      ...this.rec.udpConns.filter((c) => c.addrTuple.srcPort !== 0).map((c) => ({ c, proto: 'udp' as const })),
    ];
    if (conns.length === 0) return;
    const queries: ConntrackQuery[] = conns.map(({ c, proto }) => ({ proto, tuple: c.addrTuple }));
    const results = await lookupConntrack(queries, this.opts.packetCapture?.sensorPath);
    conns.forEach(({ c }, i) => {
      const r = results[i];
      if (r && 'entry' in r) {
        c.conntrack = r.entry;
        delete c.conntrackErr;
      } else {
        delete c.conntrack;
        c.conntrackErr = r ? r.error : 'no conntrack answer';
      }
    });
  }

  clearTrace(): void {
    this.rec.clear();
    this.capture?.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tracer.close();
    await Promise.all([...this.agents.values()].map((a) => a.destroy().catch(() => undefined)));
    this.agents.clear();
    // undici's destroy resolves before a TCP socket under a TLS stream has emitted 'close': wait for those (at
    // most 1 s) so that a trace taken after close() has every connection's connCloseAt
    const closing = [...this.openSockets].map((sock) => new Promise((r) => sock.once('close', r)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closing), new Promise((r) => { timer = setTimeout(r, 1000); })]);
    clearTimeout(timer);
    await this.capture?.stop();
  }
}

/** A routing failure (proxy callback, packet capture) goes to the handler as the request's error. */
function failHandler(handler: Handler, err: Error): void {
  const h = handler as unknown as Record<string, ((...a: unknown[]) => unknown) | undefined>;
  if (h.onError) {
    h.onError(err);
  } else if (h.onResponseError) {
    const controller = { abort() {}, pause() {}, resume() {}, aborted: true, paused: false, reason: err };
    h.onResponseError(controller, err);
  }
}

function withoutHeader(headers: DispatchOpts['headers'], name: string): DispatchOpts['headers'] {
  if (!headers) return headers;
  if (Array.isArray(headers)) {
    const out: unknown[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() !== name) out.push(headers[i], headers[i + 1]);
    }
    return out as DispatchOpts['headers'];
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    return [...(headers as Iterable<[string, string]>)].filter(([k]) => k.toLowerCase() !== name) as unknown as DispatchOpts['headers'];
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== name) out[k] = v;
  return out as DispatchOpts['headers'];
}

/** The Dispatcher handed out: every dispatch goes through the client's tracing. */
class TracedDispatcher extends Dispatcher {
  constructor(private readonly core: ClientCore, private readonly call?: CallContext, private readonly stripAE = false) {
    super();
  }
  override dispatch(opts: DispatchOpts, handler: Handler): boolean {
    return this.core.dispatch(opts, handler, this.call, this.stripAE);
  }
  override close(): Promise<void>;
  override close(cb: () => void): void;
  override close(cb?: () => void): Promise<void> | void {
    const p = this.call ? Promise.resolve() : this.core.close();
    if (cb) { void p.then(cb); return; }
    return p;
  }
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(cb: () => void): void;
  override destroy(err: Error | null, cb: () => void): void;
  override destroy(a?: unknown, b?: unknown): Promise<void> | void {
    const cb = (typeof a === 'function' ? a : b) as (() => void) | undefined;
    const p = this.call ? Promise.resolve() : this.core.close();
    if (cb) { void p.then(cb); return; }
    return p;
  }
}

function timeoutSignal(user: AbortSignal | null | undefined, ms: number | undefined): AbortSignal | undefined {
  if (!ms || ms <= 0) return user ?? undefined;
  const t = AbortSignal.timeout(ms);
  return user ? AbortSignal.any([user, t]) : t;
}

/**
 * A traced HTTP client (nettrace's NewHTTPClient): `config` is nettrace's HTTPClientCfg, `options` its TraceOpts
 * (withSockTrace(), withHTTPReqTrace({...}) ...).
 */
export function createTracedClient(config: HTTPClientConfig = {}, ...options: TraceOption[]): TracedClient {
  const core = new ClientCore(config, options);
  const dispatcher = new TracedDispatcher(core);
  return {
    dispatcher,
    async fetch(input, init = {}) {
      if (core.closed) throw new ClientError('WL_ERR_CLOSED', 'the traced client is closed');
      const call: CallContext = { states: [], callerCountsBody: true };
      let strip = false;
      if (config.disableCompression) {
        const given = new Headers((init.headers ?? (typeof input === 'object' && 'headers' in input ? input.headers : undefined)) as HeadersInit | undefined);
        strip = !given.has('accept-encoding');
      }
      // a Request's own signal counts too: init.signal replaces it in fetch, so combine them here
      const given = init.signal ?? (typeof input === 'object' && 'signal' in input ? input.signal as AbortSignal : undefined);
      const signal = timeoutSignal(given, config.reqTimeout);
      let resp: Response;
      try {
        resp = await undiciFetch(input, { ...init, signal, dispatcher: new TracedDispatcher(core, call, strip) });
      } catch (err) {
        const last = call.states[call.states.length - 1];
        if (last && last.record.reqError === undefined) last.record.reqError = errorText(err);
        throw err;
      }
      const last = call.states[call.states.length - 1];
      return last ? countResponseBody(resp, last) : resp;
    },
    async request(url, opts = {}) {
      if (core.closed) throw new ClientError('WL_ERR_CLOSED', 'the traced client is closed');
      const call: CallContext = { states: [], callerCountsBody: false };
      const signal = timeoutSignal(opts.signal as AbortSignal | undefined, config.reqTimeout);
      try {
        return await undiciRequest(url, { ...opts, signal, dispatcher: new TracedDispatcher(core, call) } as Parameters<typeof undiciRequest>[1]);
      } catch (err) {
        const last = call.states[call.states.length - 1];
        if (last && last.record.reqError === undefined) last.record.reqError = errorText(err);
        throw err;
      }
    },
    getTrace: (description) => core.getTrace(description),
    clearTrace: () => core.clearTrace(),
    close: () => core.close(),
  };
}
