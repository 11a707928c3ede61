/**
 * L4 packet logs (docs/schema.md "L4 records"): one entry per connection per device (netns + ifindex + the
 * direction-independent 5-tuple), fed every TCP and UDP segment (pure ACKs included), emitting the connection's
 * packet headers in chunks of at most `maxPackets` packets or `maxChunkUs` of capture time, and a last chunk when
 * the connection ends: RST, both FINs seen and the second one acknowledged, idle timeout (tick()), eviction, or
 * finish().
 */
import { randomBytes } from 'node:crypto';
import {
  TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN,
  type L4Chunk, type L4ConnSide, type L4Counters, type L4Packet, type L4Sink, type TransportSegment,
} from '../records.js';
import { ConnTable, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, type ConnEntry } from '../track/conntable.js';
import { deviceFlowKey, sideOf, type Endpoint } from '../track/flow.js';
import { clientSideByPorts, clientSideBySyn } from './direction.js';

export const L4_CHUNK_PACKETS = 256;
export const L4_CHUNK_US = 30_000_000;

export interface L4TrackerOptions {
  servicePorts: Set<number> | 'any';
  /** this host's addresses: the local end of a connection when the capture gives no direction */
  localAddrs: Set<string>;
  /** default 120000, checked by tick() */
  idleTimeoutMs?: number;
  maxConnections?: number;
  /** chunk bounds; defaults 256 packets, 30 s */
  maxPackets?: number;
  maxChunkUs?: number;
}

export interface L4TrackerStats {
  segments: number;
  connections: number;
  records: number;
  evicted: number;
}

/** Sequence space seen in one direction, as merged [start, end) offsets from the first sequence number seen. */
class SeenRanges {
  private base = -1;
  /** sorted, disjoint, not adjacent: [s0, e0, s1, e1, …] */
  private r: number[] = [];
  private static readonly MAX = 64;

  /** Record [seq, seq+len); true when the whole range had been seen before (a retransmission). */
  add(seq: number, len: number): boolean {
    if (this.base < 0) this.base = seq;
    const s = (seq - this.base) >>> 0;
    if (s >= 0x80000000) return false; // before the first byte seen: not a range we know
    const e = s + len;
    const r = this.r;
    let i = 0;
    while (i < r.length && r[i + 1]! < s) i += 2;
    if (i < r.length && r[i]! <= s && e <= r[i + 1]!) return true;
    // merge [s, e) with every range it touches
    let ns = s, ne = e, j = i;
    while (j < r.length && r[j]! <= ne) {
      ns = Math.min(ns, r[j]!);
      ne = Math.max(ne, r[j + 1]!);
      j += 2;
    }
    r.splice(i, j - i, ns, ne);
    if (r.length > SeenRanges.MAX) r.splice(1, 2); // too many holes: close the first one
    return false;
  }
}

interface Side {
  ranges: SeenRanges;
  /** sequence number just after this side's FIN, or -1 */
  finEnd: number;
}

interface Entry extends ConnEntry {
  key: string;
  proto: 'tcp' | 'udp';
  /** first sender seen */
  a: Endpoint;
  b: Endpoint;
  /** 0/1: which of a/b is the client; -1 unknown */
  client: -1 | 0 | 1;
  /** which of a/b is the local end */
  local: 0 | 1;
  ifname?: string;
  ifindex: number;
  netns?: number;
  innerTraceId: string;
  sides: [Side, Side];
  chunkId: number;
  chunk: Chunk;
  // handshake and close, connection-wide
  firstSynUs: number;
  lastSynUs: number;
  synSide: -1 | 0 | 1;
  synSeq: number;
  synAckSeq: number;
  rttUs: number | null;
  handshakeUs: number | null;
  firstFinUs: number;
  /** side of the second FIN, -1 until both sides sent one */
  secondFinSide: -1 | 0 | 1;
  closeUs: number | null;
  ended: boolean;
}

interface Chunk extends L4Counters {
  packets: L4Packet[];
  syn: boolean;
  fin: boolean;
  /** per direction (0 tx, 1 rx): the first seq of the chunk and min/max as signed offsets from it */
  seqRef: [number, number];
  seqMin: [number, number];
  seqMax: [number, number];
  seqSeen: [boolean, boolean];
}

function newChunk(): Chunk {
  return {
    packets: [], syn: false, fin: false, txPackets: 0, rxPackets: 0, txBytes: 0, rxBytes: 0, txRetrans: 0, rxRetrans: 0,
    seqRef: [0, 0], seqMin: [0, 0], seqMax: [0, 0], seqSeen: [false, false],
  };
}

/** 128-bit ids from a pooled random buffer (one randomBytes call per 256 connections). */
let idPool = Buffer.alloc(0);
let idOff = 0;
function newInnerTraceId(): string {
  if (idOff + 16 > idPool.length) {
    idPool = randomBytes(16 * 256);
    idOff = 0;
  }
  const id = idPool.toString('hex', idOff, idOff + 16);
  idOff += 16;
  return id;
}

/** `a - b >= 0` in 32-bit sequence space */
const seqGe = (a: number, b: number): boolean => ((a - b) | 0) >= 0;

export class L4Tracker {
  readonly stats: L4TrackerStats = { segments: 0, connections: 0, records: 0, evicted: 0 };
  private readonly table: ConnTable<Entry>;
  private readonly idleUs: number;
  private readonly maxPackets: number;
  private readonly maxChunkUs: number;
  private nextScanUs = -Infinity;

  constructor(
    private readonly opts: L4TrackerOptions,
    private readonly sink: L4Sink,
  ) {
    this.table = new ConnTable<Entry>(opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
    this.idleUs = (opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS) * 1000;
    this.maxPackets = opts.maxPackets ?? L4_CHUNK_PACKETS;
    this.maxChunkUs = opts.maxChunkUs ?? L4_CHUNK_US;
  }

  /** `key`: deviceFlowKey(seg), when the caller has it already */
  onSegment(seg: TransportSegment, key: string = deviceFlowKey(seg)): void {
    this.stats.segments++;
    let e = this.table.get(key);
    const flags = seg.proto === 6 ? seg.flags : 0;
    // a new SYN on a 4-tuple whose connection was closing: that connection is over, this is the next one
    if (e !== undefined && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && (e.sides[0].finEnd >= 0 || e.sides[1].finEnd >= 0)) {
      this.end(e);
      e = undefined;
    }
    if (e === undefined) {
      e = this.create(key, seg);
      this.table.add(key, e, (victim) => {
        this.stats.evicted++;
        this.emit(victim);
      });
      this.stats.connections++;
    }
    this.table.touch(e, seg.tsUs);
    const c = e.chunk;
    if (c.packets.length > 0 && seg.tsUs - c.packets[0]!.tsUs >= this.maxChunkUs) this.emit(e);
    if (seg.proto === 6) this.tcp(e, seg);
    else this.packet(e, seg, sideOf(seg, e.a), -1, 0, 0, 0);
    if (e.ended) {
      this.table.delete(key);
      this.emit(e);
    } else if (e.chunk.packets.length >= this.maxPackets) {
      this.emit(e);
    }
  }

  /** Flush chunks older than the chunk time limit; expire connections idle longer than the idle timeout. */
  tick(nowUs: number): void {
    if (nowUs < this.nextScanUs) return; // full scans, at most once a second of capture time
    this.nextScanUs = nowUs + 1_000_000;
    this.table.expire(nowUs, this.idleUs, (e) => this.emit(e));
    this.table.forEach((e) => {
      const first = e.chunk.packets[0];
      if (first !== undefined && nowUs - first.tsUs >= this.maxChunkUs) this.emit(e);
    });
  }

  /** End of input: the last chunk of every connection. */
  finish(): void {
    this.table.drain((e) => this.emit(e));
  }

  private create(key: string, seg: TransportSegment): Entry {
    const a: Endpoint = { ip: seg.src, port: seg.sport };
    const b: Endpoint = { ip: seg.dst, port: seg.dport };
    let client: -1 | 0 | 1 = -1;
    if (seg.proto === 6 && (seg.flags & TCP_SYN) !== 0) client = clientSideBySyn(0, (seg.flags & TCP_ACK) !== 0);
    else client = clientSideByPorts(a.port, b.port, this.opts.servicePorts);
    let local: 0 | 1;
    if (seg.direction !== undefined) local = seg.direction === 'out' ? 0 : 1;
    else {
      const la = this.opts.localAddrs.has(a.ip), lb = this.opts.localAddrs.has(b.ip);
      local = lb && !la ? 1 : 0; // neither or both (loopback): the first sender
    }
    const e: Entry = {
      key, proto: seg.proto === 6 ? 'tcp' : 'udp', a, b, client, local, ifindex: seg.ifindex,
      innerTraceId: newInnerTraceId(),
      sides: [{ ranges: new SeenRanges(), finEnd: -1 }, { ranges: new SeenRanges(), finEnd: -1 }],
      chunkId: 0, chunk: newChunk(),
      firstSynUs: -1, lastSynUs: -1, synSide: -1, synSeq: 0, synAckSeq: -1, rttUs: null, handshakeUs: null,
      firstFinUs: -1, secondFinSide: -1, closeUs: null, ended: false,
      lastSeenUs: seg.tsUs, referenced: false,
    };
    if (seg.ifname !== undefined) e.ifname = seg.ifname;
    if (seg.netns !== undefined) e.netns = seg.netns;
    return e;
  }

  private tcp(e: Entry, seg: TransportSegment): void {
    const side = sideOf(seg, e.a);
    const flags = seg.flags;
    const seq = seg.seq >>> 0, ack = seg.ack >>> 0;
    const ts = seg.tsUs;
    const syn = (flags & TCP_SYN) !== 0, fin = (flags & TCP_FIN) !== 0, hasAck = (flags & TCP_ACK) !== 0;
    if (syn && !hasAck) {
      if (e.firstSynUs < 0) {
        e.firstSynUs = ts;
        e.synSide = side;
        e.synSeq = seq;
      }
      if (e.synAckSeq < 0) e.lastSynUs = ts;
    } else if (syn && hasAck) {
      if (e.synAckSeq < 0 && e.synSide === 1 - side) {
        e.synAckSeq = seq;
        e.rttUs = ts - e.lastSynUs;
      } else if (e.synAckSeq < 0 && e.synSide === -1) {
        // the SYN-ACK without its SYN on this device (a NAT'd reply path, or a SYN before the capture): its ACK
        // names the client's ISN, so the connection's id is still known; no RTT without the SYN's time
        e.synSide = side === 0 ? 1 : 0;
        e.synSeq = (ack - 1) >>> 0;
        e.synAckSeq = seq;
      }
    } else if (hasAck && e.handshakeUs === null && e.synAckSeq >= 0 && side === e.synSide && ack === ((e.synAckSeq + 1) >>> 0)) {
      e.handshakeUs = ts - e.firstSynUs;
    } else if (hasAck && e.synAckSeq < 0 && e.synSide === side) {
      // the SYN without its SYN-ACK on this device (the reply took other addresses, or another way): the client's
      // first ACK names the server's ISN
      e.synAckSeq = (ack - 1) >>> 0;
    }
    // the ACK of the second FIN ends the connection
    const second = e.secondFinSide;
    if (second !== -1 && side !== second && hasAck && seqGe(ack, e.sides[second].finEnd)) {
      if (e.closeUs === null) e.closeUs = ts - e.firstFinUs;
      e.ended = true;
    }
    const span = seg.payloadLen + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (fin) {
      const me = e.sides[side];
      if (me.finEnd < 0) {
        me.finEnd = (seq + span) >>> 0;
        if (e.firstFinUs < 0) e.firstFinUs = ts;
        else if (e.sides[1 - side]!.finEnd >= 0) e.secondFinSide = side;
      }
    }
    const retrans = span > 0 && e.sides[side].ranges.add(seq, span);
    this.packet(e, seg, side, flags, seq, ack, retrans ? 1 : 0);
    if ((flags & TCP_RST) !== 0) e.ended = true;
  }

  private packet(e: Entry, seg: TransportSegment, side: 0 | 1, flags: number, seq: number, ack: number, retrans: 0 | 1): void {
    const tx = seg.direction !== undefined ? seg.direction === 'out' : side === e.local;
    const c = e.chunk;
    c.packets.push({ tsUs: seg.tsUs, nsRem: seg.nsRem ?? 0, tx, flags, seq, ack, len: seg.payloadLen, win: flags < 0 ? -1 : seg.window });
    if (tx) {
      c.txPackets++;
      c.txBytes += seg.payloadLen;
      c.txRetrans += retrans;
    } else {
      c.rxPackets++;
      c.rxBytes += seg.payloadLen;
      c.rxRetrans += retrans;
    }
    if (flags >= 0) {
      if ((flags & TCP_SYN) !== 0) c.syn = true;
      if ((flags & (TCP_FIN | TCP_RST)) !== 0) c.fin = true;
      const d = tx ? 0 : 1;
      if (!c.seqSeen[d]) {
        c.seqSeen[d] = true;
        c.seqRef[d] = seq;
      } else {
        const off = (seq - c.seqRef[d]!) | 0;
        if (off < c.seqMin[d]!) c.seqMin[d] = off;
        if (off > c.seqMax[d]!) c.seqMax[d] = off;
      }
    }
  }

  /** Send the entry's current chunk (if it has packets) and start the next. */
  private emit(e: Entry): void {
    const c = e.chunk;
    if (c.packets.length === 0) return;
    e.chunk = newChunk();
    e.chunkId++;
    const ends: [Endpoint, Endpoint] = [e.a, e.b];
    const cs: 0 | 1 = e.client === 1 ? 1 : 0; // unknown: the first sender
    const client = ends[cs], server = ends[1 - cs]!;
    const src = ends[e.local], dst = ends[1 - e.local];
    const connSide: L4ConnSide = e.client < 0 ? 'unknown' : e.client === e.local ? 'client' : 'server';
    const seqOf = (d: 0 | 1, off: number): number | null => (c.seqSeen[d] ? (c.seqRef[d]! + off) >>> 0 : null);
    const rec: L4Chunk = {
      proto: e.proto,
      clientIp: client.ip, clientPort: client.port, serverIp: server.ip, serverPort: server.port,
      srcIp: src.ip, srcPort: src.port, dstIp: dst.ip, dstPort: dst.port, connSide,
      ifindex: e.ifindex,
      chunkId: e.chunkId, chunkSyn: c.syn, chunkFin: c.fin, packets: c.packets,
      txPackets: c.txPackets, rxPackets: c.rxPackets, txBytes: c.txBytes, rxBytes: c.rxBytes,
      txRetrans: c.txRetrans, rxRetrans: c.rxRetrans,
      txSeqMin: seqOf(0, c.seqMin[0]), txSeqMax: seqOf(0, c.seqMax[0]),
      rxSeqMin: seqOf(1, c.seqMin[1]), rxSeqMax: seqOf(1, c.seqMax[1]),
      rttUs: e.rttUs, handshakeUs: e.handshakeUs, closeUs: e.closeUs,
      connTraceId: e.synAckSeq >= 0 ? `${e.synSeq}_${e.synAckSeq}` : null,
      innerTraceId: e.innerTraceId,
    };
    if (e.ifname !== undefined) rec.ifname = e.ifname;
    if (e.netns !== undefined) rec.netns = e.netns;
    this.stats.records++;
    this.sink.l4(rec);
  }

  private end(e: Entry): void {
    this.table.delete(e.key);
    this.emit(e);
  }
}
