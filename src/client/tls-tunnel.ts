/**
 * TLS tunnels of the traced client, to servers and to https:// proxies (and the one inside it: TLS in TLS).
 *
 * The handshake runs over a stream the client records (a RecordedStream over the TCP socket, or the proxy's TLS
 * socket), so the ClientHello and every record are in socketOps and the totals. Certificate verification is done
 * here, after the handshake, instead of inside OpenSSL: the peer's certificates are then in the trace also when
 * verification fails (a bad certificate is the case a trace is wanted for), and the connection is failed with
 * the verification error.
 */
import tls from 'node:tls';
import net from 'node:net';
import { X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { PeerCert, TcpConnTrace, TlsTunnelTrace, TraceRecorder } from './trace.js';
import { newTraceId, nowMs } from './trace.js';
import type { Logger } from './options.js';
import { ClientError } from './options.js';
import { errText } from './socket-trace.js';

export interface TlsTunnelParams {
  rec: TraceRecorder;
  logger?: Logger;
  /** the stream TLS runs over (recorded) */
  transport: Duplex;
  conn: TcpConnTrace;
  /** the name the client asked for: SNI (when not an IP address) and the identity to verify */
  host: string;
  alpn: string[];
  options?: tls.ConnectionOptions;
  timeoutMs?: number;
  /** made once per client from `options` (making one per connection costs milliseconds) */
  secureContext?: tls.SecureContext;
  /** sessions to resume, by server name and ALPN list (didResume on later connections) */
  sessions?: SessionCache;
}

/** TLS sessions by key, the oldest dropped beyond `max` (undici's connector keeps 100 too). */
export class SessionCache {
  private readonly map = new Map<string, Buffer>();
  constructor(private readonly max = 100) {}
  get(key: string): Buffer | undefined {
    return this.map.get(key);
  }
  set(key: string, session: Buffer): void {
    this.map.delete(key);
    this.map.set(key, session);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

export interface TlsTunnel {
  socket: tls.TLSSocket;
  trace: TlsTunnelTrace;
}

/** Runs the handshake; on failure the trace has handshakeErr (and the certificates if the server sent them). */
export function openTlsTunnel(p: TlsTunnelParams): Promise<TlsTunnel> {
  const serverName = net.isIP(p.host) ? '' : p.host;
  const trace: TlsTunnelTrace = {
    traceID: newTraceId(), tcpConn: p.conn.traceID, handshakeBeginAt: nowMs(), didResume: false, peerCerts: [],
    cipherSuite: 0, serverName,
  };
  p.rec.tlsTunnels.push(trace);
  const o = p.options ?? {};
  const verify = o.rejectUnauthorized !== false;
  const sessionKey = `${p.host}|${p.alpn.join(',')}`;
  const session = p.sessions?.get(sessionKey);
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let identityErr: Error | undefined;
    const socket = tls.connect({
      ...o,
      secureContext: p.secureContext ?? o.secureContext,
      session,
      socket: p.transport,
      host: p.host,
      servername: serverName || undefined,
      ALPNProtocols: p.alpn,
      rejectUnauthorized: false,
      // keep the hostname check's own message (Node only reports its code through authorizationError)
      checkServerIdentity: (host, cert) => {
        const err = (o.checkServerIdentity ?? tls.checkServerIdentity)(host, cert);
        if (err) identityErr = err;
        return err;
      },
    });
    const finish = (err?: Error): void => {
      if (timer) clearTimeout(timer);
      socket.off('secureConnect', onSecure);
      socket.off('error', onError);
      socket.off('close', onClose);
      trace.handshakeEndAt = nowMs();
      if (err) {
        trace.handshakeErr = errText(err);
        p.logger?.debug(`tls tunnel ${trace.traceID} over ${p.conn.traceID} failed: ${trace.handshakeErr}`);
        socket.destroy();
        reject(err);
        return;
      }
      verified = true;
      if (pendingSession) p.sessions?.set(sessionKey, pendingSession);
      p.logger?.debug(`tls tunnel ${trace.traceID} over ${p.conn.traceID}: ${socket.getProtocol()} ${trace.negotiatedProto || '-'}` +
        `${trace.didResume ? ' resumed' : ''} established`);
      resolve({ socket, trace });
    };
    const onSecure = (): void => {
      trace.peerCerts = peerCerts(socket);
      trace.didResume = socket.isSessionReused();
      const c = socket.getCipher() as tls.CipherNameAndProtocol & { standardName?: string };
      trace.cipherSuite = cipherSuiteId(c.standardName ?? c.name);
      trace.negotiatedProto = socket.alpnProtocol || undefined;
      if (verify && !socket.authorized) {
        const why = identityErr ? identityErr.message : String(socket.authorizationError);
        finish(new ClientError('WL_ERR_TLS_VERIFY', `TLS handshake with ${p.host}: certificate verification failed: ${why}`, { cause: identityErr }));
        return;
      }
      finish();
    };
    const onError = (err: Error): void => finish(new ClientError('WL_ERR_TLS_HANDSHAKE', `TLS handshake with ${p.host} failed: ${errText(err)}`, { cause: err }));
    const onClose = (): void => finish(new ClientError('WL_ERR_TLS_HANDSHAKE', `TLS handshake with ${p.host} failed: connection closed`));
    // only sessions of verified tunnels are kept for resumption (a resumed session skips verification)
    let verified = false;
    let pendingSession: Buffer | undefined;
    if (p.sessions) {
      const cache = p.sessions;
      socket.on('session', (s: Buffer) => {
        if (verified) cache.set(sessionKey, s);
        else pendingSession = s;
      });
    }
    socket.once('secureConnect', onSecure);
    socket.once('error', onError);
    socket.once('close', onClose);
    if (p.timeoutMs && p.timeoutMs > 0) {
      timer = setTimeout(() => finish(new ClientError('WL_ERR_TLS_HANDSHAKE_TIMEOUT',
        `TLS handshake with ${p.host} timed out after ${p.timeoutMs} ms`)), p.timeoutMs);
    }
  });
}

/** The peer's chain as the server sent it (leaf first), as nettrace's PeerCert. */
export function peerCerts(socket: tls.TLSSocket): PeerCert[] {
  const out: PeerCert[] = [];
  let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    const x = new X509Certificate(c.raw);
    out.push({
      subject: dnText(x.subject), issuer: dnText(x.issuer), notBefore: Date.parse(x.validFrom),
      notAfter: Date.parse(x.validTo), isCA: x.ca,
    });
    c = c.issuerCertificate;
  }
  return out;
}

/**
 * Go's pkix.Name.String(), roughly RFC 2253: the most specific attribute first (`CN=..,O=..,C=..`), special
 * characters escaped. Node prints a DN one attribute a line, most general first.
 */
export function dnText(nodeDn: string): string {
  return nodeDn.split('\n').filter(Boolean).reverse().map((line) => {
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    const val = line.slice(eq + 1).replace(/([,+"\\<>;])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
    return `${key}=${val}`;
  }).join(',');
}

/** IANA numbers of the TLS 1.2 and 1.3 suites OpenSSL negotiates (by IANA/standard name); 0 when unknown. */
const CIPHER_SUITES: Record<string, number> = {
  TLS_AES_128_GCM_SHA256: 0x1301,
  TLS_AES_256_GCM_SHA384: 0x1302,
  TLS_CHACHA20_POLY1305_SHA256: 0x1303,
  TLS_AES_128_CCM_SHA256: 0x1304,
  TLS_AES_128_CCM_8_SHA256: 0x1305,
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 0xc02b,
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 0xc02c,
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 0xc02f,
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 0xc030,
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 0xcca9,
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 0xcca8,
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 0xc023,
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384: 0xc024,
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 0xc027,
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384: 0xc028,
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 0xc009,
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 0xc00a,
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 0xc013,
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 0xc014,
  TLS_DHE_RSA_WITH_AES_128_GCM_SHA256: 0x009e,
  TLS_DHE_RSA_WITH_AES_256_GCM_SHA384: 0x009f,
  TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 0xccaa,
  TLS_RSA_WITH_AES_128_GCM_SHA256: 0x009c,
  TLS_RSA_WITH_AES_256_GCM_SHA384: 0x009d,
  TLS_RSA_WITH_AES_128_CBC_SHA: 0x002f,
  TLS_RSA_WITH_AES_256_CBC_SHA: 0x0035,
  TLS_RSA_WITH_AES_128_CBC_SHA256: 0x003c,
  TLS_RSA_WITH_AES_256_CBC_SHA256: 0x003d,
};

export function cipherSuiteId(standardName: string): number {
  return CIPHER_SUITES[standardName] ?? 0;
}
