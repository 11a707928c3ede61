/**
 * Packet capture of the traced connections (nettrace's WithPacketCapture): one `wirelog-sensor packet --frames`
 * per interface copies the first `snaplen` bytes of every TCP/UDP frame (plus ICMP/ICMPv6 and ARP when asked);
 * each frame is decoded here (src/decode) and kept only when its 5-tuple is one of the traced connections' (either
 * direction), or it is ICMP/ARP and those were asked for.
 *
 * A connection's first packets pass before the client knows its tuple (the SYN leaves before connect() returns and
 * the dialer records it), so frames that match nothing yet are held for a while (the last PENDING_MS, at most
 * PENDING_BYTES) and matched again whenever the traced set grows and at snapshot().
 */
import { readFileSync } from 'node:fs';
import { PcapWriter } from '../sinks/pcap-writer.js';
import { decodeFrame, newDecodeStats } from '../decode/frame.js';
import { decodeLink, newLinkResult, ETHERTYPE_ARP, LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../decode/link.js';
import { WL_MAX_SNAPLEN } from '../decode/sensor.js';
import { startSensorProcess, type SensorProcess } from '../source/sensor-process.js';
import { TCP_FIN, TCP_RST, TCP_SYN, type TransportSegment } from '../records.js';
import { defaultClientSensorPath, plainAddress } from './conntrack.js';
import { ClientError } from './options.js';
import type { AddrTuple } from './trace.js';

export interface CapturedPacket {
  /** epoch microseconds */
  tsUs: number;
  origLen: number;
  data: Buffer;
}

export interface PacketCapture {
  interfaceName: string;
  snapLen: number;
  packets: CapturedPacket[];
  truncated: boolean;
  withTCPPayload: boolean;
  /** packets the kernel dropped before the capture saw them (counted, wirelog's addition) */
  dropped: number;
  writeToFile(path: string): Promise<void>;
  writeTo(out: NodeJS.WritableStream): Promise<void>;
}

export interface CaptureOptions {
  interfaces: string[];
  snaplen: number;
  totalSizeLimit: number;
  includeICMP: boolean;
  includeARP: boolean;
  tcpWithoutPayload: boolean;
  sensorPath?: string;
}

/** The traced connections, asked when packets are matched. */
export type TupleSet = () => { proto: 'tcp' | 'udp'; tuple: AddrTuple }[];

export interface CaptureSession {
  /** resolves once every interface's sensor is attached (or rejects with one clear error) */
  ready: Promise<void>;
  /** the packets so far of the traced connections, one capture per interface */
  snapshot(): PacketCapture[];
  /** forget packets captured so far (clearTrace) */
  clear(): void;
  stop(): Promise<void>;
}

/** Unmatched frames are held this long (behind the newest one) for a connection the client has not recorded yet. */
const PENDING_MS = 2000;
const PENDING_BYTES = 4 << 20;
/** the traced set is asked again on a miss at most this often */
const REFRESH_MS = 20;

/** ARPHRD_* types whose frames start at the IP header (the sensor's l3_link_types): LINKTYPE_RAW */
const L3_ARPHRD = new Set([512, 519, 768, 769, 776, 65534]);

function linkTypeOf(ifname: string): number {
  try {
    const t = Number.parseInt(readFileSync(`/sys/class/net/${ifname}/type`, 'latin1'), 10);
    return L3_ARPHRD.has(t) ? LINKTYPE_RAW : LINKTYPE_ETHERNET;
  } catch {
    return LINKTYPE_ETHERNET; // no such interface: the sensor says so
  }
}

/** Direction-independent key of a TCP/UDP 5-tuple. */
function flowKey(proto: 'tcp' | 'udp', a: string, ap: number, b: string, bp: number): string {
  const x = `${plainAddress(a)}|${ap}`;
  const y = `${plainAddress(b)}|${bp}`;
  return x < y ? `${proto}|${x}|${y}` : `${proto}|${y}|${x}`;
}

interface Pending {
  pkt: CapturedPacket;
  key: string;
}

function pcapHeader(linkType: number, snaplen: number): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(snaplen, 16);
  h.writeUInt32LE(linkType, 20);
  return h;
}

/** The whole pcap file in memory (same format as PcapWriter's, µs timestamps). */
function pcapBytes(linkType: number, snaplen: number, packets: CapturedPacket[]): Buffer {
  const parts: Buffer[] = [pcapHeader(linkType, snaplen)];
  for (const p of packets) {
    const r = Buffer.alloc(16);
    const sec = Math.floor(p.tsUs / 1e6);
    r.writeUInt32LE(sec >>> 0, 0);
    r.writeUInt32LE(p.tsUs - sec * 1e6, 4);
    r.writeUInt32LE(p.data.length, 8);
    r.writeUInt32LE(Math.max(p.origLen, p.data.length), 12);
    parts.push(r, p.data);
  }
  return Buffer.concat(parts);
}

class InterfaceCapture {
  readonly linkType: number;
  packets: CapturedPacket[] = [];
  keptBytes = 0;
  truncated = false;
  dropped = 0;
  private sorted = true;
  private pending: Pending[] = [];
  private pendingHead = 0;
  private pendingBytes = 0;
  private readonly stats = newDecodeStats();
  private readonly link = newLinkResult();

  /** missed(): a frame matched no traced flow (the session may look at the traced set again) */
  constructor(readonly ifname: string, readonly snapLen: number, private readonly opts: CaptureOptions,
    private readonly matcher: Matcher, private readonly missed: () => void) {
    this.linkType = linkTypeOf(ifname);
  }

  /** One sensor record: `seg.payload` is the frame (--frames), `seg.payloadLen` its length on the wire. */
  frame(seg: TransportSegment): void {
    const data = Buffer.from(seg.payload); // the view is only valid during the callback
    const pkt: CapturedPacket = { tsUs: seg.tsUs, origLen: Math.max(seg.payloadLen, data.length), data };
    const d = decodeFrame({ tsUs: pkt.tsUs, linkType: this.linkType, data, origLen: pkt.origLen, ifindex: 0 }, this.stats);
    if (d === undefined) {
      if (this.isArp(data)) {
        if (this.opts.includeARP) this.keep(pkt);
        return;
      }
      // not decodable as TCP/UDP: ICMP (the sensor sends it only with --icmp), or headers cut by a tiny snaplen,
      // for which the sensor's own fields still give the tuple
      if (seg.sport === 0 && seg.dport === 0) {
        if (this.opts.includeICMP) this.keep(pkt);
        return;
      }
      const syn = (seg.flags & (TCP_SYN | TCP_FIN | TCP_RST)) !== 0;
      this.offer(pkt, flowKey(seg.proto === 17 ? 'udp' : 'tcp', seg.src, seg.sport, seg.dst, seg.dport), seg.proto === 6 && !syn);
      return;
    }
    const proto = d.proto === 17 ? 'udp' : 'tcp';
    this.offer(pkt, flowKey(proto, d.src, d.sport, d.dst, d.dport), d.proto === 6 && d.payloadLen > 0);
  }

  private isArp(data: Buffer): boolean {
    return this.linkType === LINKTYPE_ETHERNET && decodeLink(this.linkType, data, data.length, this.link) === undefined
      && this.link.etherType === ETHERTYPE_ARP;
  }

  /** A TCP/UDP frame: kept when its flow is traced, else held for later. */
  private offer(pkt: CapturedPacket, key: string, tcpWithPayload: boolean): void {
    if (tcpWithPayload && this.opts.tcpWithoutPayload) return;
    if (this.matcher.has(key)) {
      this.keep(pkt);
      return;
    }
    this.hold(pkt, key);
    this.missed();
  }

  keep(pkt: CapturedPacket): void {
    if (this.keptBytes + pkt.data.length > this.opts.totalSizeLimit) {
      this.truncated = true;
      return;
    }
    const n = this.packets.length;
    if (n > 0 && this.packets[n - 1]!.tsUs > pkt.tsUs) this.sorted = false;
    this.packets.push(pkt);
    this.keptBytes += pkt.data.length;
  }

  private hold(pkt: CapturedPacket, key: string): void {
    this.pending.push({ pkt, key });
    this.pendingBytes += pkt.data.length;
    const oldest = pkt.tsUs - PENDING_MS * 1000;
    while (this.pendingHead < this.pending.length) {
      const p = this.pending[this.pendingHead]!;
      if (p.pkt.tsUs >= oldest && this.pendingBytes <= PENDING_BYTES) break;
      this.pendingBytes -= p.pkt.data.length;
      this.pendingHead++;
    }
    // compact the array now and then rather than shift() per packet
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  /** Moves held frames of flows now traced to the kept ones. */
  rematch(): void {
    const rest: Pending[] = [];
    let moved = false;
    for (let i = this.pendingHead; i < this.pending.length; i++) {
      const p = this.pending[i]!;
      if (this.matcher.has(p.key)) {
        this.keep(p.pkt);
        this.pendingBytes -= p.pkt.data.length;
        moved = true;
      } else {
        rest.push(p);
      }
    }
    if (moved || this.pendingHead > 0) {
      this.pending = rest;
      this.pendingHead = 0;
    }
  }

  clear(): void {
    this.packets = [];
    this.keptBytes = 0;
    this.truncated = false;
    this.sorted = true;
  }

  snapshot(): PacketCapture {
    if (!this.sorted) {
      this.packets.sort((a, b) => a.tsUs - b.tsUs); // stable: equal stamps keep their arrival order
      this.sorted = true;
    }
    const packets = this.packets.slice();
    const { ifname, snapLen, linkType } = this;
    return {
      interfaceName: ifname,
      snapLen,
      packets,
      truncated: this.truncated,
      withTCPPayload: !this.opts.tcpWithoutPayload,
      dropped: this.dropped,
      async writeToFile(path: string): Promise<void> {
        const w = new PcapWriter(path, { linkType, snaplen: snapLen });
        try {
          for (const p of packets) w.write(p.tsUs, p.data, p.origLen);
        } finally {
          w.close();
        }
      },
      writeTo(out: NodeJS.WritableStream): Promise<void> {
        const bytes = pcapBytes(linkType, snapLen, packets);
        return new Promise((resolve, reject) => {
          out.write(bytes, (err?: Error | null) => (err ? reject(err) : resolve()));
        });
      },
    };
  }
}

/** The traced flows' keys, re-read from traced() on demand. */
class Matcher {
  private keys = new Set<string>();
  private last = -Infinity;
  constructor(private readonly traced: TupleSet) {}
  has(key: string): boolean {
    return this.keys.has(key);
  }
  /** Re-reads the traced set (at most every REFRESH_MS unless forced); true when it gained a flow. */
  refresh(force = false): boolean {
    const now = Date.now();
    if (!force && now - this.last < REFRESH_MS) return false;
    this.last = now;
    const next = new Set<string>();
    for (const c of this.traced()) next.add(flowKey(c.proto, c.tuple.srcIP, c.tuple.srcPort, c.tuple.dstIP, c.tuple.dstPort));
    let grew = false;
    for (const k of next) if (!this.keys.has(k)) { grew = true; break; }
    // flows are never forgotten while the capture runs: a connection dropped from the trace still had its packets
    for (const k of next) this.keys.add(k);
    return grew;
  }
}

export function startPacketCapture(opts: CaptureOptions, traced: TupleSet): CaptureSession {
  const sensorPath = opts.sensorPath ?? defaultClientSensorPath();
  // the sensor's frame copy holds at most WL_MAX_SNAPLEN bytes: a larger snaplen is served as that
  const snapLen = Math.max(1, Math.min(opts.snaplen, WL_MAX_SNAPLEN));
  const matcher = new Matcher(traced);
  // a miss may be a connection recorded since the last look: look again (rate-limited) and rescan what is held
  const lookAgain = (force: boolean): void => {
    if (matcher.refresh(force)) for (const c of captures) c.rematch();
  };
  const captures: InterfaceCapture[] = opts.interfaces.map((ifname) =>
    new InterfaceCapture(ifname, snapLen, opts, matcher, () => lookAgain(false)));
  const sensors: Array<SensorProcess | undefined> = [];
  const exits: Promise<void>[] = [];
  const readies: Promise<void>[] = [];

  for (const cap of captures) {
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    let attached = false;
    let lastMessage = '';
    readies.push(new Promise<void>((resolve, reject) => { onReady = resolve; onFail = reject; }));
    const fail = (why: string): void => {
      if (!attached) onFail(new ClientError('WL_ERR_PACKET_CAPTURE', `packet capture on ${cap.ifname}: ${why}`));
    };
    let onExit!: () => void;
    exits.push(new Promise<void>((resolve) => { onExit = resolve; }));
    const args = ['packet', '--binary', '--frames', '-i', cap.ifname, '-p', 'any', '-s', String(snapLen), '--stats-ms', '1000'];
    if (opts.includeICMP) args.push('--icmp');
    if (opts.includeARP) args.push('--arp');
    sensors.push(startSensorProcess(sensorPath, args, {
      records: {
        packet: (seg) => cap.frame(seg),
        stats: (s) => { cap.dropped = s.ringbufDrops; },
      },
      attached: () => { attached = true; onReady(); },
      message: (msg) => { lastMessage = msg; },
      handlers: {
        error: (msg) => { lastMessage = msg; },
        exit: (code, signal) => {
          fail(lastMessage || `the sensor exited (${signal ?? `code ${code}`}) before it was ready`);
          onExit();
        },
      },
    }));
  }
  const ready = Promise.all(readies).then(() => undefined);
  ready.catch(() => undefined); // the owner awaits it; an unobserved rejection must not crash the process

  return {
    ready,
    snapshot() {
      lookAgain(true);
      return captures.map((c) => c.snapshot());
    },
    clear() {
      for (const c of captures) c.clear();
    },
    async stop() {
      for (const s of sensors) s?.stop();
      await Promise.all(exits);
    },
  };
}
