/**
 * Device paths (docs/netlog.md). With every device of every namespace watched, one TCP connection is seen on each
 * device it crosses: the client's veth, its host-side peer, a bridge, the host's routing, another bridge, the
 * server's veth. A **device flow** is one connection on one device (netns + ifindex + 5-tuple); a **path** is every
 * device flow of one connection, joined by the client's initial sequence number, which NAT leaves alone while it
 * rewrites addresses and ports. A device flow first seen without its handshake joins by its 5-tuple instead (no NAT
 * join is possible then).
 *
 * Two uses, two stages:
 * - `DevicePaths.observe(seg)` files every TCP segment under its device flow and says whether the segment is of its
 *   path's **primary** flow: the first device flow seen, the one whose payload the HTTP tracker parses, so that each
 *   request is logged once however many devices carry it. For each data packet it keeps where its sequence range
 *   starts and when it passed.
 * - `HopSink` sits between the HTTP tracker and the sinks: it holds each transaction for `holdUs` of capture time
 *   (the response goes on travelling towards the client after the primary device saw it), then looks up, on every
 *   device flow of the path, the packets that carried the request's first byte (`req_seq`) and the response's
 *   (`resp_seq`): the transaction's hops, in path order.
 */
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type HttpEventSink, type HttpHop, type HttpTransaction, type TransportSegment } from '../records.js';
import { ForwardingHttpSink } from '../sinks/forward.js';
import { deviceFlowKey, flowKey } from '../track/flow.js';

/** Which end sent a data packet, as far as its device flow knows. */
const enum Sender {
  Unknown = 0,
  Client = 1,
  Server = 2,
}

export interface DevicePathsOptions {
  /** device flows idle longer than this are forgotten (default 120 s of capture time) */
  idleUs?: number;
  /** data-packet marks older than this are dropped (default 60 s): a response slower than that has no hop times */
  markRetentionUs?: number;
  /** most device flows kept; the least recently seen goes first (default 100 000) */
  maxFlows?: number;
  /**
   * Track nothing while every segment comes from one device (capture files): each connection is then a path of one
   * hop that its transaction describes. The second device seen turns tracking on from that segment on; a
   * connection in flight at that moment is parsed on whichever device its next segment comes from. Default off.
   */
  soleDeviceFastPath?: boolean;
}

export interface DevicePathsStats {
  /** TCP segments observed */
  segments: number;
  deviceFlows: number;
  paths: number;
  /** device flows that joined a path another device had started */
  joined: number;
  /** device flows forgotten because the table was full */
  evicted: number;
  /** data-packet marks dropped before their time because a device flow held too many */
  marksDropped: number;
}

const DEFAULT_IDLE_US = 120_000_000;
const DEFAULT_MARK_RETENTION_US = 60_000_000;
const DEFAULT_MAX_FLOWS = 100_000;
/** marks one sender of a device flow holds at most (the oldest go first) */
const MAX_MARKS = 65_536;
/**
 * A device flow joins a path with its ISN only while the path is live: an ISN seen again later, or again on a device
 * the path already crossed, is another connection (a stack or tool that reuses ISNs, a synthesized capture).
 */
const PATH_JOIN_WINDOW_US = 5_000_000;
/** marks read on each side of a binary-search hit: retransmissions and reordering within this distance are found */
const REORDER_SLACK = 8;

/**
 * Data packets one sender sent on one device flow: where each one's sequence range starts, its length and when it
 * passed, in arrival order, which for one sender is sequence order but for retransmissions and reordering. Lookups
 * binary-search the offsets from the first sequence number seen, then read the few marks around the hit. Marks of
 * an unknown sender (a device flow seen without its handshake: both directions in one list) are read backwards
 * instead, newest first, as far back as the caller allows.
 */
class Marks {
  /** [rel, len, ts] triples from index `start`; rel = seq minus the first sequence number seen, mod 2^32. One plain
   *  array: most device flows hold a handful of marks, and small typed arrays cost more to create than to use. */
  private m: number[] = [];
  private start = 0;
  dropped = 0;
  private base = -1;

  constructor(private readonly ordered: boolean) {}

  get n(): number {
    return (this.m.length - this.start) / 3;
  }

  add(seq: number, len: number, tsUs: number): void {
    if (this.base < 0) this.base = seq >>> 0;
    this.m.push((seq - this.base) >>> 0, len, tsUs);
    if (this.n > MAX_MARKS) {
      this.start += 3;
      this.dropped++;
      this.compact();
    }
  }

  /** When a packet whose [seq, seq+len) holds `seq` first passed, or -1. */
  find(seq: number, notBeforeUs: number): number {
    if (this.n === 0) return -1;
    const target = (seq - this.base) >>> 0;
    return this.ordered ? this.findOrdered(target) : this.findBackwards(target, notBeforeUs);
  }

  private findOrdered(target: number): number {
    const m = this.m, s = this.start, n = this.n;
    // the last mark starting at or before target
    let lo = 0, hi = n - 1, k = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (m[s + 3 * mid]! <= target) {
        k = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // retransmissions and reordering break the order locally: read around the hit
    let found = -1;
    for (let j = Math.max(0, k - REORDER_SLACK), to = Math.min(n - 1, k + REORDER_SLACK); j <= to; j++) {
      const i = s + 3 * j;
      const d = target - m[i]!;
      if (d >= 0 && d < m[i + 1]! && (found < 0 || m[i + 2]! < found)) found = m[i + 2]!;
    }
    return found;
  }

  private findBackwards(target: number, notBeforeUs: number): number {
    const m = this.m;
    let found = -1;
    for (let i = m.length - 3; i >= this.start; i -= 3) {
      if (m[i + 2]! < notBeforeUs) break;
      const d = target - m[i]!;
      if (d >= 0 && d < m[i + 1]! && (found < 0 || m[i + 2]! < found)) found = m[i + 2]!;
    }
    return found;
  }

  /** Drop marks older than `beforeUs`. */
  trim(beforeUs: number): void {
    const m = this.m;
    while (this.start < m.length && m[this.start + 2]! < beforeUs) this.start += 3;
    this.compact();
  }

  private compact(): void {
    if (this.start === this.m.length) {
      this.m = [];
      this.start = 0;
    } else if (this.start > 3 * 1024 && this.start * 2 > this.m.length) {
      this.m = this.m.slice(this.start);
      this.start = 0;
    }
  }
}

/** One connection on one device. */
export interface DeviceFlow {
  /** deviceFlowKey() */
  key: string;
  /** flowKey(): the connection's key in its namespace, as the HTTP tracker knows it */
  connKey: string;
  ifindex: number;
  ifname?: string;
  netns?: number;
  path: Path;
  /** the client's initial sequence number, when this device saw the SYN or the SYN-ACK */
  clientIsn?: number;
  /** the client end as this device saw it (from the SYN or SYN-ACK); port 0 until then */
  clientIp: string;
  clientPort: number;
  /** data packets by sender (Sender.Unknown until the handshake tells who the client is) */
  marks: [unknown: Marks, client: Marks, server: Marks];
  lastUs: number;
  /** a FIN or RST was seen: a SYN now starts the next connection */
  closing: boolean;
  /** forgotten by the lookups (kept in its path for held transactions) */
  gone: boolean;
}

/** Every device flow of one connection, in the order they were first seen. */
export interface Path {
  key: string;
  flows: DeviceFlow[];
  /** `netns ifindex` of its flows' devices */
  devices: Set<string>;
  /** last segment of any of its flows */
  lastUs: number;
  /** one of its flows saw a FIN or RST: a SYN with its ISN is the next connection */
  closing: boolean;
  /** the device flow whose payload the HTTP tracker parses */
  primary: DeviceFlow;
}

/** flowKey() with the namespace left out: the 5-tuple a connection has on every device when no NAT is on the path */
function tupleKey(seg: TransportSegment): string {
  const { src, dst, sport, dport } = seg;
  return src < dst || (src === dst && sport <= dport) ? `${src} ${sport} ${dst} ${dport}` : `${dst} ${dport} ${src} ${sport}`;
}

export class DevicePaths {
  readonly stats: DevicePathsStats = { segments: 0, deviceFlows: 0, paths: 0, joined: 0, evicted: 0, marksDropped: 0 };
  private readonly flows = new Map<string, DeviceFlow>();
  private readonly paths = new Map<string, Path>();
  /** the primary flow of a connection as the HTTP tracker knows it (netns + 5-tuple, flowKey()) */
  private readonly primaries = new Map<string, DeviceFlow>();
  private readonly idleUs: number;
  private readonly retentionUs: number;
  private readonly maxFlows: number;
  private nextScanUs = -Infinity;
  /** the one device seen so far (soleDeviceFastPath), and whether a second one has come */
  private sole: { ifindex: number; netns: number | undefined } | undefined;
  private several: boolean;

  constructor(opts: DevicePathsOptions = {}) {
    this.idleUs = opts.idleUs ?? DEFAULT_IDLE_US;
    this.retentionUs = opts.markRetentionUs ?? DEFAULT_MARK_RETENTION_US;
    this.maxFlows = opts.maxFlows ?? DEFAULT_MAX_FLOWS;
    this.several = opts.soleDeviceFastPath !== true;
  }

  /** The one device seen, while only one has been; undefined once there are several (or before any). */
  get soleDevice(): { ifindex: number; netns: number | undefined } | undefined {
    return this.several ? undefined : this.sole;
  }

  /** Files a segment; true when it is of its path's primary device flow (UDP: always). `key`: deviceFlowKey(seg). */
  observe(seg: TransportSegment, key?: string): boolean {
    if (seg.proto !== 6) return true;
    if (!this.several) {
      if (this.sole === undefined) this.sole = { ifindex: seg.ifindex, netns: seg.netns };
      else if (seg.ifindex !== this.sole.ifindex || seg.netns !== this.sole.netns) this.several = true;
      if (!this.several) return true;
    }
    key ??= deviceFlowKey(seg);
    this.stats.segments++;
    const flags = seg.flags;
    const synOnly = (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    let f = this.flows.get(key);
    // a SYN with another ISN, or after a FIN or RST, on a known 4-tuple: the port was reused, this is the next
    // connection (the same ISN on a live flow is the SYN retransmitted)
    if (f !== undefined && synOnly && ((f.clientIsn !== undefined && f.clientIsn !== seg.seq >>> 0) || f.closing)) {
      this.forget(f);
      f = undefined;
    }
    if (f === undefined) f = this.create(key, seg);
    if (f.clientPort === 0 && (flags & TCP_SYN) !== 0) {
      if (synOnly) {
        f.clientIp = seg.src;
        f.clientPort = seg.sport;
        f.clientIsn = seg.seq >>> 0;
      } else {
        f.clientIp = seg.dst;
        f.clientPort = seg.dport;
        f.clientIsn = (seg.ack - 1) >>> 0;
      }
    }
    if (seg.payloadLen > 0) {
      // compared without building a string: this runs for every data packet on every device
      const from = f.clientPort === 0 ? Sender.Unknown
        : seg.sport === f.clientPort && seg.src === f.clientIp ? Sender.Client : Sender.Server;
      const m = f.marks[from];
      const before = m.dropped;
      m.add(seg.seq, seg.payloadLen, seg.tsUs);
      this.stats.marksDropped += m.dropped - before;
    }
    if (flags & (TCP_FIN | TCP_RST)) f.closing = f.path.closing = true;
    if (seg.tsUs > f.lastUs) f.lastUs = seg.tsUs;
    if (seg.tsUs > f.path.lastUs) f.path.lastUs = seg.tsUs;
    return f === f.path.primary;
  }

  /**
   * The path of a connection the HTTP tracker reports (its netns and endpoints are the primary device flow's).
   */
  pathOf(netns: number | undefined, clientIp: string, clientPort: number, serverIp: string, serverPort: number): Path | undefined {
    const key = flowKey({ netns, src: clientIp, sport: clientPort, dst: serverIp, dport: serverPort } as TransportSegment);
    return this.primaries.get(key)?.path;
  }

  /** Forget idle device flows and old marks (at most once a second of capture time). */
  tick(nowUs: number): void {
    if (nowUs < this.nextScanUs) return;
    this.nextScanUs = nowUs + 1_000_000;
    for (const f of this.flows.values()) {
      if (nowUs - f.lastUs > this.idleUs) this.forget(f);
      else for (const m of f.marks) m.trim(nowUs - this.retentionUs);
    }
  }

  get size(): number {
    return this.flows.size;
  }

  private create(key: string, seg: TransportSegment): DeviceFlow {
    if (this.flows.size >= this.maxFlows) {
      // Map order is first-seen order: the oldest device flow goes
      const oldest = this.flows.values().next().value as DeviceFlow;
      this.forget(oldest);
      this.stats.evicted++;
    }
    const flags = seg.flags;
    let pathKey: string;
    if ((flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) pathKey = `isn ${seg.seq >>> 0}`;
    else if ((flags & TCP_SYN) !== 0) pathKey = `isn ${(seg.ack - 1) >>> 0}`;
    else pathKey = `tuple ${tupleKey(seg)}`;
    const device = `${seg.netns ?? ''} ${seg.ifindex}`;
    let path = this.paths.get(pathKey);
    // A SYN on a device the path already crossed is the next connection reusing the ISN. Other packets may join:
    // with br_netfilter a bridge sees the request after the DNAT and the reply before it undoes it, so one device
    // holds two flows of one connection.
    const synOnly = (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    if (path !== undefined && ((synOnly && (path.devices.has(device) || path.closing)) || seg.tsUs - path.lastUs > PATH_JOIN_WINDOW_US)) path = undefined;
    const f: DeviceFlow = { key, connKey: flowKey(seg), ifindex: seg.ifindex, path: undefined as unknown as Path, clientIp: '', clientPort: 0,
      marks: [new Marks(false), new Marks(true), new Marks(true)], lastUs: seg.tsUs, closing: false, gone: false };
    if (seg.ifname !== undefined) f.ifname = seg.ifname;
    if (seg.netns !== undefined) f.netns = seg.netns;
    if (path === undefined) {
      path = { key: pathKey, flows: [f], devices: new Set([device]), lastUs: seg.tsUs, closing: false, primary: f };
      this.paths.set(pathKey, path); // replaces an older connection's path with the same key
      this.primaries.set(f.connKey, f);
      this.stats.paths++;
    } else {
      path.flows.push(f);
      path.devices.add(device);
      this.stats.joined++;
    }
    f.path = path;
    this.flows.set(key, f);
    this.stats.deviceFlows++;
    return f;
  }

  /**
   * A device flow ends (idle, evicted, or its 4-tuple reused). It stays in its path's flows, with its marks, for the
   * transactions still held with that path; only the lookups forget it.
   */
  private forget(f: DeviceFlow): void {
    this.flows.delete(f.key);
    f.gone = true;
    const path = f.path;
    if (path.primary === f) {
      if (this.primaries.get(f.connKey) === f) this.primaries.delete(f.connKey);
      // the next live device flow takes over, so the connection is still parsed once
      const next = path.flows.find((x) => !x.gone);
      if (next !== undefined) {
        path.primary = next;
        this.primaries.set(next.connKey, next);
      }
    }
    if (path.flows.every((x) => x.gone) && this.paths.get(path.key) === path) this.paths.delete(path.key);
  }
}

/**
 * How far before the parsing device's time of a message another device may have seen it: clocks are one clock
 * (one host), so this only bounds the search (a lost packet would otherwise make it read every mark).
 */
const HOP_SEARCH_US = 2_000_000;

/** The first time `seq` passed the device in packets of `sender` (or of a sender not known then). */
function findIn(f: DeviceFlow, sender: Sender.Client | Sender.Server, seq: number, notBeforeUs: number): number {
  const a = f.marks[sender].find(seq, notBeforeUs);
  const b = f.marks[Sender.Unknown].find(seq, notBeforeUs);
  return a < 0 ? b : b < 0 ? a : Math.min(a, b);
}

/** The hops of one exchange on a path, in path order: by when the request's first byte passed each device. */
export function hopsOf(
  path: Path,
  reqSeq: number | undefined,
  respSeq: number | undefined,
  reqTsUs = -Infinity,
  respTsUs = -Infinity,
): HttpHop[] {
  // one hop per device: a device may hold two flows of the connection (addresses rewritten between rx and tx)
  const hops: HttpHop[] = [];
  for (const f of path.flows) {
    const req = reqSeq === undefined ? -1 : findIn(f, Sender.Client, reqSeq, reqTsUs - HOP_SEARCH_US);
    const resp = respSeq === undefined ? -1 : findIn(f, Sender.Server, respSeq, respTsUs - HOP_SEARCH_US);
    if (req < 0 && resp < 0) continue; // the device carried the connection, not this exchange
    // a handful of hops: a linear search beats a keyed map here
    const hop = hops.find((h) => h.ifindex === f.ifindex && h.netns === f.netns);
    if (hop === undefined) {
      const h: HttpHop = { ifindex: f.ifindex, reqTsUs: req < 0 ? null : req, respTsUs: resp < 0 ? null : resp };
      if (f.ifname !== undefined) h.ifname = f.ifname;
      if (f.netns !== undefined) h.netns = f.netns;
      hops.push(h);
    } else {
      if (req >= 0 && (hop.reqTsUs === null || req < hop.reqTsUs)) hop.reqTsUs = req;
      if (resp >= 0 && (hop.respTsUs === null || resp < hop.respTsUs)) hop.respTsUs = resp;
    }
  }
  // request order; a device that saw only the response goes after, nearest the server first (it saw it first)
  hops.sort((a, b) => {
    if (a.reqTsUs !== null && b.reqTsUs !== null) return a.reqTsUs - b.reqTsUs;
    if (a.reqTsUs !== null) return -1;
    if (b.reqTsUs !== null) return 1;
    return (a.respTsUs ?? 0) - (b.respTsUs ?? 0);
  });
  return hops;
}

export interface HopSinkStats {
  /** transactions given hops */
  transactions: number;
  /** of them, transactions whose connection had no path (never observed, or forgotten) */
  withoutPath: number;
}

/**
 * Holds transactions until the exchange has passed every device (holdUs of capture time after the HTTP tracker
 * finished it), then hands them on with their hops. Request and response events pass straight through.
 */
export class HopSink extends ForwardingHttpSink {
  readonly stats: HopSinkStats = { transactions: 0, withoutPath: 0 };
  /** a FIFO: entries before `first` are released (compacted now and then, not spliced per release) */
  private held: Array<{ tx: HttpTransaction; path: Path | undefined; dueUs: number }> = [];
  private first = 0;
  private nowUs = -Infinity;

  constructor(
    private readonly paths: DevicePaths,
    next: HttpEventSink,
    private readonly holdUs: number,
  ) {
    super(next);
  }

  override transaction(tx: HttpTransaction): void {
    const c = tx.conn;
    // the path is looked up now: by release time the 4-tuple may belong to the next connection
    const path = this.paths.pathOf(c.netns, c.clientIp, c.clientPort, c.serverIp, c.serverPort);
    if ((path === undefined || path.flows.length === 1) && this.first === this.held.length) {
      // One device (a capture file, one interface): every device of a path joins it at the handshake, so nothing
      // will come to wait for. Written at once, keeping the order when nothing is held.
      this.emit(tx, path);
      return;
    }
    this.held.push({ tx, path, dueUs: this.nowUs + this.holdUs });
  }

  private emit(tx: HttpTransaction, path: Path | undefined): void {
    this.stats.transactions++;
    if (path !== undefined) tx.hops = hopsOf(path, tx.req?.seq, tx.res?.seq, tx.req?.tsUs, tx.res?.tsUs);
    else {
      const sole = this.paths.soleDevice;
      if (sole === undefined) {
        this.stats.withoutPath++;
        tx.hops = [];
      } else {
        // one device: the hop is the transaction's own device, its times the messages' first bytes
        const hop: HttpHop = { ifindex: sole.ifindex, reqTsUs: tx.req?.tsUs ?? null, respTsUs: tx.res?.tsUs ?? null };
        if (tx.conn.ifname !== undefined) hop.ifname = tx.conn.ifname;
        if (sole.netns !== undefined) hop.netns = sole.netns;
        tx.hops = [hop];
      }
    }
    this.next.transaction(tx);
  }

  /** Capture time advanced (a segment's, or the clock's in live capture): release what is due. */
  advance(nowUs: number): void {
    if (nowUs > this.nowUs) this.nowUs = nowUs;
    const held = this.held;
    if (this.first < held.length && held[this.first]!.dueUs <= this.nowUs) this.release(this.nowUs);
  }

  /** End of input: release everything. */
  finish(): void {
    this.release(Infinity);
  }

  private release(untilUs: number): void {
    const held = this.held;
    while (this.first < held.length && held[this.first]!.dueUs <= untilUs) {
      const { tx, path } = held[this.first]!;
      held[this.first++] = undefined as never; // let the transaction go
      this.emit(tx, path);
    }
    if (this.first === held.length) {
      this.held = [];
      this.first = 0;
    } else if (this.first > 1024 && this.first * 2 > held.length) {
      this.held = held.slice(this.first);
      this.first = 0;
    }
  }
}
