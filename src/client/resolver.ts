/**
 * The traced client's own name resolution (nettrace's resolverDials / udpConns / dnsQueries), done the way Go's
 * pure-Go resolver does it so that the trace reads like nettrace's:
 *
 * - an IP literal is returned as is; a name in the hosts file (config.hostsPath, default /etc/hosts) gives its
 *   addresses; `localhost` and `*.localhost` not in the hosts file give 127.0.0.1 and ::1 (RFC 6761). None of
 *   these records anything: no nameserver was asked.
 * - otherwise, for each name of the search list (resolv.conf `search`/`domain` and `ndots`, as Go orders them),
 *   A and AAAA are asked in parallel, each question on its own: for each attempt, for each nameserver in order
 *   (from an offset when `options rotate`), one connected UDP socket per query (EDNS0, payload size 1232).
 *   A truncated (TC) reply → the same query over TCP to the same nameserver. A nameserver that does not answer
 *   within resolv.conf's `timeout`, answers SERVFAIL/REFUSED, or cannot be reached → the next one. NXDOMAIN or an
 *   answer without records of the type asked is final for that question (Go: trying another server won't help).
 * - replies whose id or question does not match the query, and datagrams that are not DNS at all, are recorded as
 *   reply messages of that connection and otherwise ignored: the socket keeps waiting until the timeout (Go does
 *   the same, golang.org/issue/13281).
 *
 * Addresses come back A answers first, then AAAA, each in answer order: the order in which the dialer tries them.
 */
import dgram from 'node:dgram';
import net, { isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import {
  newTraceId, nowMs, type DialTrace, type DnsQueryTrace, type ResolverDialTrace, type TcpConnTrace, type TraceRecorder,
  type UdpConnTrace,
} from './trace.js';
import type { HTTPClientConfig, ResolvedOptions } from './options.js';
import { ClientError } from './options.js';
import { OpRecorder, errText, recordDgram, recordNetSocket } from './socket-trace.js';
import {
  CachedFile, DEFAULT_HOSTS_PATH, DEFAULT_RESOLV_CONF_PATH, hostsKey, loadHosts, loadResolvConf, nameserverAddr,
  type HostsTable, type Nameserver, type ResolvConf,
} from './resolv-conf.js';
import {
  encodeQuery, parseDnsMessage, toQueryMsg, toReplyMsg, dnsRCodeName, CLASS_INET, RCODE_NOERROR, RCODE_NXDOMAIN,
  RCODE_REFUSED, RCODE_SERVFAIL, type ParsedDnsMessage,
} from '../proto/dns.js';

export interface ResolverDeps {
  rec: TraceRecorder;
  opts: ResolvedOptions;
  config: HTTPClientConfig;
}

type QType = 'A' | 'AAAA';

/** Why a question got no addresses; `rank` orders the kinds when A and AAAA fail differently (higher wins). */
const FAILURES = {
  aborted: { code: 'WL_ERR_DNS_ABORTED', rank: 10 },
  timeout: { code: 'WL_ERR_DNS_TIMEOUT', rank: 9 },
  network: { code: 'WL_ERR_DNS_NETWORK', rank: 8 },
  servfail: { code: 'WL_ERR_DNS_SERVFAIL', rank: 7 },
  refused: { code: 'WL_ERR_DNS_REFUSED', rank: 6 },
  misbehaving: { code: 'WL_ERR_DNS_SERVER_MISBEHAVING', rank: 5 },
  'bad-reply': { code: 'WL_ERR_DNS_BAD_REPLY', rank: 4 },
  'no-nameservers': { code: 'WL_ERR_DNS_NO_NAMESERVERS', rank: 3 },
  nxdomain: { code: 'WL_ERR_DNS_NXDOMAIN', rank: 2 },
  nodata: { code: 'WL_ERR_DNS_NO_ANSWER', rank: 1 },
} as const;
type FailureKind = keyof typeof FAILURES;

interface Failure {
  kind: FailureKind;
  reason: string;
  /** the nameservers this failure is about (`ip:port`) */
  servers: string[];
}

type Outcome = { ok: true; reply: ParsedDnsMessage } | { ok: false; failure: Failure };

/** One lookup's shared state: the dial it records on, and how to stop its sockets on abort. */
interface LookupCtx {
  dial: DialTrace;
  conf: ResolvConf;
  aborted: boolean;
  /** each pending exchange's "stop now" */
  stoppers: Set<() => void>;
  /** nameservers already put into dial.skippedNameservers */
  skipped: Set<string>;
}

export class Resolver {
  private readonly resolvConf: CachedFile<ResolvConf>;
  private readonly hosts: CachedFile<HostsTable>;
  /** Go's serverOffset: advances per question when resolv.conf says `options rotate` */
  private rotation = 0;

  constructor(readonly deps: ResolverDeps) {
    this.resolvConf = new CachedFile(deps.config.resolvConfPath ?? DEFAULT_RESOLV_CONF_PATH, loadResolvConf);
    this.hosts = new CachedFile(deps.config.hostsPath ?? DEFAULT_HOSTS_PATH, loadHosts);
  }

  /**
   * Addresses for `host`, in the order the dialer should try them. Records on `dial` (resolverDials,
   * skippedNameservers), and in the recorder (udpConns / tcpConns with fromResolver, dnsQueries).
   * Throws ClientError (WL_ERR_DNS_*) naming the failure when nothing resolves.
   */
  async lookup(host: string, dial: DialTrace, signal?: AbortSignal): Promise<string[]> {
    const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    if (isIP(literal.replace(/%.*$/, '')) !== 0) return [literal];
    if (signal?.aborted) throw abortError(host, signal);

    const fromHosts = (await this.hosts.get()).get(hostsKey(host));
    if (fromHosts && fromHosts.length > 0) return ipv4First(fromHosts);
    if (/^(?:.+\.)?localhost\.?$/i.test(host)) return ['127.0.0.1', '::1'];
    const badName = checkName(host);
    if (badName) throw new ClientError('WL_ERR_DNS_BAD_NAME', `lookup ${host}: ${badName}`);

    const conf = await this.resolvConf.get();
    const ctx: LookupCtx = { dial, conf, aborted: false, stoppers: new Set(), skipped: new Set() };
    const onAbort = (): void => {
      ctx.aborted = true;
      for (const stop of [...ctx.stoppers]) stop();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const failures: Array<{ fqdn: string; failure: Failure }> = [];
      for (const fqdn of nameList(host, conf)) {
        const [a, aaaa] = await Promise.all([this.tryOneName(ctx, fqdn, 'A'), this.tryOneName(ctx, fqdn, 'AAAA')]);
        if (ctx.aborted) throw abortError(host, signal!);
        const addrs = [...(a.addrs ?? []), ...(aaaa.addrs ?? [])];
        if (addrs.length > 0) return addrs;
        failures.push({ fqdn, failure: worse(a.failure!, aaaa.failure!) });
      }
      throw lookupError(host, failures, conf);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Go's tryOneName: one question, every attempt, every nameserver in turn, until a final answer. */
  private async tryOneName(ctx: LookupCtx, fqdn: string, qtype: QType): Promise<{ addrs?: string[]; failure?: Failure }> {
    const servers = ctx.conf.nameservers;
    const offset = ctx.conf.rotate && servers.length > 0 ? this.rotation++ % servers.length : 0;
    let last: Failure | undefined;
    const asked: string[] = [];
    for (let attempt = 0; attempt < ctx.conf.attempts; attempt++) {
      for (let j = 0; j < servers.length; j++) {
        if (ctx.aborted) return { failure: { kind: 'aborted', reason: 'aborted', servers: asked } };
        const ns = servers[(offset + j) % servers.length];
        if (this.skip(ctx, ns)) continue;
        const addr = nameserverAddr(ns);
        if (!asked.includes(addr)) asked.push(addr);
        const out = await this.exchange(ctx, ns, fqdn, qtype);
        if (!out.ok) {
          last = out.failure;
          if (last.kind === 'timeout' || last.kind === 'network') last.servers = [...asked];
          continue;
        }
        const h = out.reply.header!;
        const at = [addr];
        if (h.rcode === RCODE_NXDOMAIN) return { failure: { kind: 'nxdomain', reason: dnsRCodeName(h.rcode), servers: at } };
        if (h.rcode === RCODE_SERVFAIL) { last = { kind: 'servfail', reason: dnsRCodeName(h.rcode), servers: at }; continue; }
        if (h.rcode === RCODE_REFUSED) { last = { kind: 'refused', reason: dnsRCodeName(h.rcode), servers: at }; continue; }
        if (h.rcode !== RCODE_NOERROR) { last = { kind: 'misbehaving', reason: dnsRCodeName(h.rcode), servers: at }; continue; }
        if (out.reply.parseErr !== undefined) {
          last = { kind: 'bad-reply', reason: `malformed reply (${out.reply.parseErr})`, servers: at };
          continue;
        }
        const addrs = out.reply.answers.filter((x) => x.type === qtype && x.resolvedVal !== undefined).map((x) => x.resolvedVal!);
        if (addrs.length > 0) return { addrs };
        if (!h.authoritative && !h.recursionAvailable && out.reply.answers.length === 0) {
          // Go's errLameReferral: a server that neither knows nor recurses; another may
          last = { kind: 'misbehaving', reason: 'lame referral', servers: at };
          continue;
        }
        return { failure: { kind: 'nodata', reason: 'no A or AAAA records', servers: at } };
      }
    }
    if (last) return { failure: last };
    return { failure: { kind: 'no-nameservers', reason: noNameserversReason(ctx), servers: [] } };
  }

  /** The skipNameserver callback, asked just before each use; a skipped nameserver is listed on the dial once. */
  private skip(ctx: LookupCtx, ns: Nameserver): boolean {
    const cb = this.deps.config.skipNameserver;
    if (!cb) return false;
    const r = cb(ns.ip, ns.port);
    const skip = typeof r === 'boolean' ? r : r.skip;
    if (!skip) return false;
    const addr = nameserverAddr(ns);
    if (!ctx.skipped.has(addr)) {
      ctx.skipped.add(addr);
      ctx.dial.skippedNameservers.push(addr);
      const reason = typeof r === 'object' && r.reason ? `: ${r.reason}` : '';
      this.deps.opts.logger?.debug(`resolver: skipping nameserver ${addr}${reason}`);
    }
    return true;
  }

  /** Go's exchange: UDP, then TCP when the UDP reply is truncated (TCP only with `options use-vc`). */
  private async exchange(ctx: LookupCtx, ns: Nameserver, fqdn: string, qtype: QType): Promise<Outcome> {
    const id = randomInt(0, 0x10000);
    const query = encodeQuery(id, fqdn, qtype);
    const match = (p: ParsedDnsMessage): boolean => matchesQuery(p, id, fqdn, qtype);
    if (!ctx.conf.useTCP) {
      const udp = await this.udpRoundTrip(ctx, ns, query, match);
      if (!udp.ok || !udp.reply.header!.truncated) return udp;
      this.deps.opts.logger?.debug(`resolver: ${qtype} ${fqdn} truncated over UDP from ${nameserverAddr(ns)}: retrying over TCP`);
    }
    return this.tcpRoundTrip(ctx, ns, query, match);
  }

  private newResolverDial(ctx: LookupCtx, ns: Nameserver): ResolverDialTrace {
    const rd: ResolverDialTrace = { dialBeginAt: nowMs(), nameserver: nameserverAddr(ns) };
    ctx.dial.resolverDials.push(rd);
    return rd;
  }

  private newQueryTrace(ctx: LookupCtx, connection: string): DnsQueryTrace | undefined {
    if (!this.deps.opts.dnsQueryTrace) return undefined;
    const q: DnsQueryTrace = { traceID: newTraceId(), fromDial: ctx.dial.traceID, connection, dnsQueryMsgs: [], dnsReplyMsgs: [] };
    this.deps.rec.dnsQueries.push(q);
    return q;
  }

  /** One query over its own connected UDP socket; replies that do not match are recorded and waited past. */
  private udpRoundTrip(ctx: LookupCtx, ns: Nameserver, query: Buffer, match: (p: ParsedDnsMessage) => boolean): Promise<Outcome> {
    const { rec, opts, config } = this.deps;
    const addr = nameserverAddr(ns);
    return new Promise<Outcome>((resolve) => {
      const rd = this.newResolverDial(ctx, ns);
      const sock = dgram.createSocket(isIP(ns.ip.replace(/%.*$/, '')) === 6 ? 'udp6' : 'udp4');
      const conn: UdpConnTrace = {
        traceID: newTraceId(), fromDial: ctx.dial.traceID, fromResolver: true, socketCreateAt: nowMs(),
        addrTuple: { srcIP: '', srcPort: 0, dstIP: ns.ip, dstPort: ns.port }, totalSentBytes: 0, totalRecvBytes: 0,
      };
      const ops = new OpRecorder(conn, rec, opts.sockTrace, conn.socketCreateAt);
      recordDgram(sock, ops);
      let connected = false;
      let qtrace: DnsQueryTrace | undefined;
      let done = false;
      const finish = (o: Outcome): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        ctx.stoppers.delete(stop);
        // closed now, as Go's c.Close() (the 'close' event comes a tick later)
        try { sock.close(); } catch { /* already closed */ }
        if (connected) ops.closed();
        resolve(o);
      };
      const dialFailed = (why: string): void => {
        rd.dialEndAt = nowMs();
        rd.dialErr = why;
      };
      const tuple = (): string => `${conn.addrTuple.srcIP}:${conn.addrTuple.srcPort}->${addr}`;
      const timer = setTimeout(() => {
        if (connected) ops.read(0, `read udp ${tuple()}: i/o timeout`);
        else dialFailed(`dial udp ${addr}: i/o timeout`);
        finish(failure('timeout', 'i/o timeout', addr));
      }, ctx.conf.timeoutMs);
      const stop = (): void => {
        if (!connected) dialFailed(`dial udp ${addr}: operation was canceled`);
        finish(failure('aborted', 'aborted', addr));
      };
      ctx.stoppers.add(stop);

      sock.on('error', (err) => {
        // after connect, recordDgram has recorded it as a failed read (e.g. ECONNREFUSED from an ICMP unreachable)
        if (!connected) dialFailed(`dial udp ${addr}: ${errText(err)}`);
        finish(failure('network', errText(err), addr));
      });
      sock.on('message', (msg: Buffer) => {
        const p = parseDnsMessage(msg);
        qtrace?.dnsReplyMsgs.push(toReplyMsg(p, msg.length, nowMs()));
        if (match(p)) finish({ ok: true, reply: p });
        else opts.logger?.debug(`resolver: ignored a ${msg.length}-byte datagram from ${addr} that does not answer the query`);
      });
      const connect = (): void => {
        sock.connect(ns.port, ns.ip, (err?: Error) => {
          if (done) return;
          if (err) {
            dialFailed(`dial udp ${addr}: ${errText(err)}`);
            finish(failure('network', errText(err), addr));
            return;
          }
          connected = true;
          rd.dialEndAt = nowMs();
          rd.establishedConn = conn.traceID;
          const local = sock.address();
          conn.addrTuple.srcIP = local.address;
          conn.addrTuple.srcPort = local.port;
          rec.udpConns.push(conn);
          qtrace = this.newQueryTrace(ctx, conn.traceID);
          sock.send(query, (sendErr) => {
            if (sendErr) { finish(failure('network', errText(sendErr), addr)); return; }
            const at = nowMs();
            qtrace?.dnsQueryMsgs.push(toQueryMsg(query, at));
            ops.readyToRead(at);
          });
        });
      };
      if (config.sourceIP) sock.bind({ port: 0, address: config.sourceIP }, connect);
      else connect();
    });
  }

  /** One query over TCP (2-byte length framing, RFC 1035 4.2.2), after a truncated UDP reply. */
  private tcpRoundTrip(ctx: LookupCtx, ns: Nameserver, query: Buffer, match: (p: ParsedDnsMessage) => boolean): Promise<Outcome> {
    const { rec, opts, config } = this.deps;
    const addr = nameserverAddr(ns);
    return new Promise<Outcome>((resolve) => {
      const rd = this.newResolverDial(ctx, ns);
      const sock = new net.Socket();
      const conn: TcpConnTrace = {
        traceID: newTraceId(), fromDial: ctx.dial.traceID, fromResolver: true, handshakeBeginAt: nowMs(),
        connected: false, reused: false, addrTuple: { srcIP: config.sourceIP ?? '', srcPort: 0, dstIP: ns.ip, dstPort: ns.port },
        totalSentBytes: 0, totalRecvBytes: 0,
      };
      rec.tcpConns.push(conn);
      const ops = new OpRecorder(conn, rec, opts.sockTrace, conn.handshakeBeginAt);
      recordNetSocket(sock, ops);
      let qtrace: DnsQueryTrace | undefined;
      let pending: Buffer = Buffer.alloc(0);
      let done = false;
      const finish = (o: Outcome): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        ctx.stoppers.delete(stop);
        sock.destroy();
        if (conn.connected) ops.closed();
        resolve(o);
      };
      const dialFailed = (why: string): void => {
        conn.handshakeEndAt = nowMs();
        rd.dialEndAt = conn.handshakeEndAt;
        rd.dialErr = why;
      };
      const tuple = (): string => `${conn.addrTuple.srcIP}:${conn.addrTuple.srcPort}->${addr}`;
      const timer = setTimeout(() => {
        if (conn.connected) ops.read(0, `read tcp ${tuple()}: i/o timeout`);
        else dialFailed(`dial tcp ${addr}: i/o timeout`);
        finish(failure('timeout', 'i/o timeout', addr));
      }, ctx.conf.timeoutMs);
      const stop = (): void => {
        if (!conn.connected) dialFailed(`dial tcp ${addr}: operation was canceled`);
        finish(failure('aborted', 'aborted', addr));
      };
      ctx.stoppers.add(stop);

      sock.on('error', (err) => {
        if (!conn.connected) dialFailed(`dial tcp ${addr}: ${errText(err)}`);
        finish(failure('network', errText(err), addr));
      });
      sock.on('connect', () => {
        conn.handshakeEndAt = nowMs();
        conn.connected = true;
        conn.addrTuple = {
          srcIP: sock.localAddress ?? '', srcPort: sock.localPort ?? 0, dstIP: sock.remoteAddress ?? ns.ip, dstPort: sock.remotePort ?? ns.port,
        };
        rd.dialEndAt = conn.handshakeEndAt;
        rd.establishedConn = conn.traceID;
        qtrace = this.newQueryTrace(ctx, conn.traceID);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        sock.write(Buffer.concat([len, query]), (err) => {
          if (err) return; // 'error' follows
          const at = nowMs();
          qtrace?.dnsQueryMsgs.push(toQueryMsg(query, at));
          ops.readyToRead(at);
        });
      });
      sock.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (!done && pending.length >= 2) {
          const n = pending.readUInt16BE(0);
          if (pending.length < 2 + n) break;
          const msg = pending.subarray(2, 2 + n);
          pending = pending.subarray(2 + n);
          const p = parseDnsMessage(msg);
          qtrace?.dnsReplyMsgs.push(toReplyMsg(p, msg.length, nowMs()));
          // over TCP a reply that does not match is an error, as in Go's dnsStreamRoundTrip
          if (match(p)) finish({ ok: true, reply: p });
          else finish(failure('bad-reply', 'reply over TCP does not answer the query', addr));
        }
      });
      sock.on('end', () => finish(failure('network', 'connection closed before a complete reply', addr)));
      sock.connect({ host: ns.ip, port: ns.port, localAddress: config.sourceIP });
    });
  }
}

function failure(kind: FailureKind, reason: string, server: string): Outcome {
  return { ok: false, failure: { kind, reason, servers: [server] } };
}

/** Go's checkResponse: a response, same id, and the question asked (names compared case-insensitively). */
function matchesQuery(p: ParsedDnsMessage, id: number, fqdn: string, qtype: QType): boolean {
  if (!p.header || !p.header.response || p.header.id !== id) return false;
  const q = p.questions[0];
  return q !== undefined && q.type === qtype && q.class === CLASS_INET && q.name.toLowerCase() === absolute(fqdn).toLowerCase();
}

function absolute(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

/** Go's dnsConfig.nameList: the fully qualified names to try, in order. */
export function nameList(host: string, conf: Pick<ResolvConf, 'ndots' | 'search'>): string[] {
  if (host.endsWith('.')) return avoidDNS(host) ? [] : [host];
  const dots = host.split('.').length - 1;
  const hasNdots = dots >= conf.ndots;
  const name = `${host}.`;
  const names: string[] = [];
  if (hasNdots && !avoidDNS(name)) names.push(name);
  for (const suffix of conf.search) {
    const fqdn = `${name}${suffix}.`;
    if (!avoidDNS(fqdn) && fqdn.length <= 254) names.push(fqdn);
  }
  if (!hasNdots && !avoidDNS(name)) names.push(name);
  return names;
}

/** RFC 7686: .onion names are never sent to DNS. */
function avoidDNS(name: string): boolean {
  return /\.onion\.?$/i.test(name);
}

/** Why `host` cannot be a DNS name (Go's isDomainName, loosely: lengths and empty labels), or undefined. */
function checkName(host: string): string | undefined {
  const n = host.endsWith('.') ? host.slice(0, -1) : host;
  if (n.length === 0 || n.length > 253) return 'invalid domain name (length)';
  for (const label of n.split('.')) {
    if (label.length === 0) return 'invalid domain name (empty label)';
    if (label.length > 63) return 'invalid domain name (label longer than 63 bytes)';
  }
  if (Buffer.byteLength(n) !== n.length) return 'invalid domain name (not ASCII; use its IDNA form)';
  return undefined;
}

function ipv4First(addrs: string[]): string[] {
  return [...addrs.filter((a) => isIP(a) === 4), ...addrs.filter((a) => isIP(a) !== 4)];
}

function worse(a: Failure, b: Failure): Failure {
  return FAILURES[b.kind].rank > FAILURES[a.kind].rank ? b : a;
}

function noNameserversReason(ctx: LookupCtx): string {
  if (ctx.conf.nameservers.length === 0) return 'no nameservers configured';
  return `every nameserver skipped (${ctx.conf.nameservers.map(nameserverAddr).join(', ')})`;
}

function abortError(host: string, signal: AbortSignal): ClientError {
  return new ClientError('WL_ERR_DNS_ABORTED', `lookup ${host}: aborted`, { cause: signal.reason });
}

/** One error for the whole lookup: the failure for the name as given if it was tried (Go's rule), else the first. */
function lookupError(host: string, failures: Array<{ fqdn: string; failure: Failure }>, conf: ResolvConf): ClientError {
  if (failures.length === 0) {
    return new ClientError('WL_ERR_DNS_NO_NAMES', `lookup ${host}: no name to query (.onion names are not resolved)`);
  }
  const chosen = failures.find((f) => f.fqdn === absolute(host)) ?? failures[0];
  const f = chosen.failure;
  const as = chosen.fqdn === absolute(host) ? '' : ` (as ${chosen.fqdn})`;
  const servers = f.servers.length > 0 ? f.servers : conf.nameservers.map(nameserverAddr);
  const where = f.kind === 'no-nameservers' ? '' : ` (nameserver${servers.length > 1 ? 's' : ''} ${servers.join(', ')})`;
  return new ClientError(FAILURES[f.kind].code, `lookup ${host}${as}: ${f.reason}${where}`);
}
