/**
 * The traced client's dialer: one DialTrace per new connection, the client's own name resolution, then TCP
 * handshakes to the resolved addresses **one after another, in the resolver's order** (no parallel Happy Eyeballs:
 * every attempt is a TcpConnTrace, a refused or timed-out address is recorded with connected: false and the next
 * one is tried). The connected socket is handed back raw; the caller decides how its bytes are recorded (plain TCP
 * in place with recordNetSocket, TLS over a RecordedStream).
 */
import net from 'node:net';
import type { DialTrace, TcpConnTrace, TraceRecorder } from './trace.js';
import { newTraceId, nowMs } from './trace.js';
import type { HTTPClientConfig, Logger, ResolvedOptions } from './options.js';
import { ClientError } from './options.js';
import type { Resolver } from './resolver.js';
import { OpRecorder, errText } from './socket-trace.js';

export interface DialDeps {
  rec: TraceRecorder;
  opts: ResolvedOptions;
  config: HTTPClientConfig;
  resolver: Resolver;
  logger?: Logger;
}

/** A TCP connection the dialer established. */
export interface Dialed {
  socket: net.Socket;
  dial: DialTrace;
  conn: TcpConnTrace;
  /** records this socket's operations and totals (not yet attached to the socket) */
  ops: OpRecorder;
}

const DEFAULT_KEEPALIVE_MS = 15_000;

/** Starts a DialTrace for `host:port` (IPv6 literals without brackets). */
export function beginDial(deps: DialDeps, host: string, port: number): DialTrace {
  const dial: DialTrace = {
    traceID: newTraceId(), dialBeginAt: nowMs(), dstAddress: joinHostPort(host, port), resolverDials: [],
    skippedNameservers: [], sourceIP: deps.config.sourceIP,
  };
  deps.rec.dials.push(dial);
  deps.logger?.debug(`dial ${dial.traceID} to ${dial.dstAddress} started`);
  return dial;
}

/** Resolves `host` with the client's resolver and connects to the first address that accepts. */
export async function dialHost(deps: DialDeps, host: string, port: number, signal?: AbortSignal): Promise<Dialed> {
  const dial = beginDial(deps, host, port);
  let addrs: string[];
  try {
    addrs = await deps.resolver.lookup(host, dial, signal);
  } catch (err) {
    failDial(deps, dial, err as Error);
    throw err;
  }
  return dialAddresses(deps, dial, addrs, port, signal);
}

/**
 * Connects to `addrs` in order (exported so the ordered attempts can be tested with a given address list).
 * Throws ClientError WL_ERR_DIAL naming every address tried and why it failed.
 */
export async function dialAddresses(deps: DialDeps, dial: DialTrace, addrs: string[], port: number, signal?: AbortSignal): Promise<Dialed> {
  const failures: string[] = [];
  let lastErr: Error | undefined;
  for (const addr of addrs) {
    if (signal?.aborted) {
      lastErr = signal.reason instanceof Error ? signal.reason : new Error('dial aborted');
      break;
    }
    const conn: TcpConnTrace = {
      traceID: newTraceId(), fromDial: dial.traceID, handshakeBeginAt: nowMs(), connected: false, reused: false,
      addrTuple: { srcIP: deps.config.sourceIP ?? '', srcPort: 0, dstIP: addr, dstPort: port },
      totalSentBytes: 0, totalRecvBytes: 0,
    };
    deps.rec.tcpConns.push(conn);
    try {
      const socket = await tcpHandshake(addr, port, deps.config, signal);
      conn.handshakeEndAt = nowMs();
      conn.connected = true;
      conn.addrTuple.srcIP = socket.localAddress ?? conn.addrTuple.srcIP;
      conn.addrTuple.srcPort = socket.localPort ?? 0;
      const ka = deps.config.tcpKeepAliveInterval ?? DEFAULT_KEEPALIVE_MS;
      if (ka >= 0) socket.setKeepAlive(true, ka || DEFAULT_KEEPALIVE_MS);
      socket.setNoDelay(true);
      const ops = new OpRecorder(conn, deps.rec, deps.opts.sockTrace, conn.handshakeEndAt);
      socket.once('close', () => ops.closed());
      dial.dialEndAt = conn.handshakeEndAt;
      dial.establishedConn = conn.traceID;
      deps.logger?.debug(`dial ${dial.traceID}: tcp conn ${conn.traceID} ${tupleText(conn)} established`);
      return { socket, dial, conn, ops };
    } catch (err) {
      conn.handshakeEndAt = nowMs();
      lastErr = err as Error;
      failures.push(`${joinHostPort(addr, port)}: ${errText(lastErr)}`);
      deps.logger?.debug(`dial ${dial.traceID}: tcp conn ${conn.traceID} to ${joinHostPort(addr, port)} failed: ${errText(lastErr)}`);
    }
  }
  const what = addrs.length === 0
    ? `no addresses for ${dial.dstAddress}`
    : failures.length === 1 ? failures[0]! : `all ${failures.length} addresses failed (${failures.join('; ')})`;
  const err = new ClientError('WL_ERR_DIAL', `dial tcp ${dial.dstAddress}: ${failures.length ? what : errText(lastErr ?? new Error(what))}`, { cause: lastErr });
  failDial(deps, dial, err);
  throw err;
}

function failDial(deps: DialDeps, dial: DialTrace, err: Error): void {
  dial.dialEndAt = nowMs();
  dial.dialErr = errText(err);
  // the request that caused the dial fails with it: its context ends here
  dial.ctxCloseAt ??= dial.dialEndAt;
  deps.logger?.debug(`dial ${dial.traceID} to ${dial.dstAddress} failed: ${dial.dialErr}`);
}

/** One TCP handshake with tcpHandshakeTimeout; resolves with the connected socket. */
function tcpHandshake(addr: string, port: number, config: HTTPClientConfig, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: addr, port, localAddress: config.sourceIP, family: net.isIP(addr) || undefined });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (err?: Error): void => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const onConnect = (): void => done();
    const onError = (err: Error): void => done(err);
    const onAbort = (): void => done(signal!.reason instanceof Error ? signal!.reason : new Error('dial aborted'));
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (config.tcpHandshakeTimeout && config.tcpHandshakeTimeout > 0) {
      timer = setTimeout(() => done(new ClientError('WL_ERR_TCP_HANDSHAKE_TIMEOUT',
        `TCP handshake with ${joinHostPort(addr, port)} timed out after ${config.tcpHandshakeTimeout} ms`)), config.tcpHandshakeTimeout);
    }
  });
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function tupleText(c: TcpConnTrace): string {
  const a = c.addrTuple;
  return `${joinHostPort(a.srcIP, a.srcPort)} -> ${joinHostPort(a.dstIP, a.dstPort)}`;
}
