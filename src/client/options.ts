/**
 * createTracedClient's configuration (nettrace's HTTPClientCfg) and trace options (nettrace's TraceOpt structs).
 * Durations are milliseconds; 0 or undefined means "no limit" unless a field says otherwise.
 */
import type { ConnectionOptions } from 'node:tls';
import { WirelogError, type WlErrorCode } from '../errors.js';

/** nettrace's NameserverSelector: return skip=true (and a reason) to leave a configured nameserver out. */
export type NameserverSelector = (ip: string, port: number) => { skip: boolean; reason?: string } | boolean;

/** What a request is, for the proxy callback. */
export interface ProxyRequestInfo {
  url: URL;
  method: string;
}

export interface HTTPClientConfig {
  /** offer h2 before http/1.1 in ALPN (default: http/1.1 only, as nettrace's PreferHTTP2=false) */
  preferHTTP2?: boolean;
  /** bind every socket (TCP and the resolver's UDP/TCP) to this local address */
  sourceIP?: string;
  skipNameserver?: NameserverSelector;
  /** proxy for a request: `http://host:port` or `https://host:port`; undefined/null → direct */
  proxy?: (req: ProxyRequestInfo) => URL | string | null | undefined | Promise<URL | string | null | undefined>;
  /** TLS options for tunnels to servers (ca, cert, key, rejectUnauthorized, servername, minVersion...) */
  tls?: ConnectionOptions;
  /** TLS options for the tunnel to an https:// proxy (default: `tls`) */
  proxyTls?: ConnectionOptions;
  /** whole request, redirects and body included */
  reqTimeout?: number;
  tcpHandshakeTimeout?: number;
  /** keep-alive probe interval; default 15000, negative disables */
  tcpKeepAliveInterval?: number;
  tlsHandshakeTimeout?: number;
  disableKeepAlive?: boolean;
  /** do not add `accept-encoding: gzip, deflate, br` (fetch adds it by default) */
  disableCompression?: boolean;
  maxIdleConns?: number;
  maxIdleConnsPerHost?: number;
  maxConnsPerHost?: number;
  idleConnTimeout?: number;
  responseHeaderTimeout?: number;
  expectContinueTimeout?: number;
  /**
   * wirelog's additions (not in nettrace), mainly for tests and containers: where the resolver reads its
   * configuration (default /etc/resolv.conf and /etc/hosts).
   */
  resolvConfPath?: string;
  hostsPath?: string;
}

export type HeaderFieldsMode = 'disabled' | 'namesOnly' | 'valueLenOnly' | 'withValues';

export interface Logger {
  trace(msg: string): void;
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export type TraceOption =
  | { kind: 'logging'; logger?: Logger }
  | { kind: 'conntrack' }
  | { kind: 'sockTrace' }
  | { kind: 'dnsQueryTrace' }
  | { kind: 'httpReqTrace'; headerFields: HeaderFieldsMode; excludeHeaderField?: (name: string) => boolean; showSecrets: boolean }
  | { kind: 'packetCapture'; interfaces: string[]; snaplen: number; totalSizeLimit: number; includeICMP: boolean; includeARP: boolean; tcpWithoutPayload: boolean; sensorPath?: string };

export function withLogging(o: { customLogger?: Logger } = {}): TraceOption {
  return { kind: 'logging', logger: o.customLogger };
}
export function withConntrack(): TraceOption {
  return { kind: 'conntrack' };
}
export function withSockTrace(): TraceOption {
  return { kind: 'sockTrace' };
}
export function withDNSQueryTrace(): TraceOption {
  return { kind: 'dnsQueryTrace' };
}
/**
 * HTTP request tracing. headerFields defaults to 'disabled' (nettrace's default). With 'withValues',
 * Authorization, Cookie, Set-Cookie and Proxy-Authorization values are still redacted unless showSecrets is true.
 */
export function withHTTPReqTrace(o: { headerFields?: HeaderFieldsMode; excludeHeaderField?: (name: string) => boolean; showSecrets?: boolean } = {}): TraceOption {
  return { kind: 'httpReqTrace', headerFields: o.headerFields ?? 'disabled', excludeHeaderField: o.excludeHeaderField, showSecrets: o.showSecrets ?? false };
}
export function withPacketCapture(o: {
  interfaces: string[]; packetSnaplen?: number; totalSizeLimit?: number; includeICMP?: boolean; includeARP?: boolean;
  tcpWithoutPayload?: boolean; sensorPath?: string;
}): TraceOption {
  return {
    kind: 'packetCapture', interfaces: [...o.interfaces], snaplen: o.packetSnaplen || 1518,
    totalSizeLimit: o.totalSizeLimit || 1 << 20, includeICMP: !!o.includeICMP, includeARP: !!o.includeARP,
    tcpWithoutPayload: !!o.tcpWithoutPayload, sensorPath: o.sensorPath,
  };
}

/** The options a client was created with, resolved. */
export interface ResolvedOptions {
  logger?: Logger;
  conntrack: boolean;
  sockTrace: boolean;
  dnsQueryTrace: boolean;
  httpReqTrace?: Extract<TraceOption, { kind: 'httpReqTrace' }>;
  packetCapture?: Extract<TraceOption, { kind: 'packetCapture' }>;
}

export function resolveOptions(opts: TraceOption[]): ResolvedOptions {
  const r: ResolvedOptions = { conntrack: false, sockTrace: false, dnsQueryTrace: false };
  for (const o of opts) {
    switch (o.kind) {
      case 'logging': r.logger = o.logger ?? consoleLogger; break;
      case 'conntrack': r.conntrack = true; break;
      case 'sockTrace': r.sockTrace = true; break;
      case 'dnsQueryTrace': r.dnsQueryTrace = true; break;
      case 'httpReqTrace': r.httpReqTrace = o; break;
      case 'packetCapture': r.packetCapture = o; break;
    }
  }
  return r;
}

const consoleLogger: Logger = {
  trace: (m) => console.debug(`wirelog/client: ${m}`),
  debug: (m) => console.debug(`wirelog/client: ${m}`),
  info: (m) => console.info(`wirelog/client: ${m}`),
  warn: (m) => console.warn(`wirelog/client: ${m}`),
  error: (m) => console.error(`wirelog/client: ${m}`),
};

/** Errors the client throws itself carry a stable code. */
export class ClientError extends WirelogError {
  constructor(code: WlErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'WirelogClientError';
  }
}
