/**
 * Reader for the sensor's record stream (bpf/wirelog_events.h): turns stdout chunks of build/wirelog-sensor into
 * TransportSegments and stats. Records may be split anywhere across chunks: whole records are decoded in place
 * from the chunk; only a record straddling two chunks is copied, into one reused buffer.
 *
 * The layout constants below mirror the C structs; test/unit/sensor-abi.test.ts compiles the header and checks
 * every field offset and struct size against them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { DecodeErrorInfo, SensorStats, TransportSegment } from '../records.js';
import { ipv4ToString, ipv6ToString } from './addr.js';

export const WL_ABI_VERSION = 1;
export const WL_REC_HELLO = 1;
export const WL_REC_PACKET = 2;
export const WL_REC_STATS = 3;
export const WL_DIR_IN = 0;
export const WL_DIR_OUT = 1;
export const WL_MAX_SNAPLEN = 4096;

/** struct wl_rec_hdr */
export const WL_REC_HDR = { size: 8, type: 0, len: 4 } as const;
/** struct wl_hello */
export const WL_HELLO = { size: 24, abi_version: 0, snaplen: 4, ifindex: 8, ring_bytes: 12, netns_ino: 16 } as const;
/** struct wl_packet_event (payload follows at `size`) */
export const WL_PACKET_EVENT = {
  size: 80,
  ts_ns: 0,
  ifindex: 8,
  direction: 12,
  family: 13,
  l4proto: 14,
  tcp_flags: 15,
  saddr: 16,
  daddr: 32,
  sport: 48,
  dport: 50,
  seq: 52,
  ack: 56,
  window: 60,
  ip_flags: 62,
  payload_len: 64,
  cap_len: 68,
  _pad: 72,
} as const;
/** struct wl_stats */
export const WL_STATS = {
  size: 48,
  ts_ns: 0,
  packets_seen: 8,
  packets_matched: 16,
  packets_sent: 24,
  ringbuf_drops: 32,
  records_written: 40,
} as const;

/** Largest record the reader accepts; a bigger length means the stream is corrupt (or from an unknown future). */
export const WL_MAX_RECORD = 1 << 20;

export const WL_ERR_SENSOR_BAD_LENGTH = 'WL_ERR_SENSOR_BAD_LENGTH';
export const WL_ERR_SENSOR_ABI = 'WL_ERR_SENSOR_ABI';
export const WL_ERR_SENSOR_SHORT_RECORD = 'WL_ERR_SENSOR_SHORT_RECORD';
export const WL_ERR_SENSOR_UNKNOWN_RECORD = 'WL_ERR_SENSOR_UNKNOWN_RECORD';
export const WL_ERR_SENSOR_TRUNCATED = 'WL_ERR_SENSOR_TRUNCATED';

export interface SensorHello {
  abiVersion: number;
  snaplen: number;
  /** interface the sensor is bound to, 0 = all */
  ifindex: number;
  ringBytes: number;
  /** network namespace inode, 0 when unknown */
  netns: number;
}

export interface SensorRecordHandlers {
  packet(seg: TransportSegment): void;
  stats(s: SensorStats): void;
  hello?(h: SensorHello): void;
  error?(e: DecodeErrorInfo): void;
}

/** u64 little-endian at off as a Number (exact below 2^53: counters, inodes). */
function u64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 4294967296;
}

/** u64 nanoseconds at off → integer microseconds, exact: hi·2^32 = hi·4294967·1000 + hi·296. */
export function nsToUs(buf: Buffer, off: number): number {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  return hi * 4294967 + Math.floor((hi * 296 + lo) / 1000);
}

// Addresses are formatted by ./addr.js, shared with the capture-file decoders.

// ---- interface names ----

/**
 * ifindex → name from /sys/class/net/NAME/ifindex, read once and re-read when an unknown index shows up (at most
 * once a second, so a stream of packets from a vanished interface does not turn into a stream of directory reads).
 */
export class IfnameResolver {
  private names = new Map<number, string>();
  private lastRefresh = -Infinity;
  constructor(private readonly sysClassNet = '/sys/class/net') {
    this.refresh();
  }
  refresh(): void {
    this.lastRefresh = Date.now();
    const names = new Map<number, string>();
    try {
      for (const name of readdirSync(this.sysClassNet)) {
        try {
          const idx = Number.parseInt(readFileSync(`${this.sysClassNet}/${name}/ifindex`, 'latin1'), 10);
          if (Number.isInteger(idx)) names.set(idx, name);
        } catch {
          // interface vanished between readdir and read
        }
      }
    } catch {
      // no sysfs (container without /sys): names stay unknown
    }
    this.names = names;
  }
  name(ifindex: number): string | undefined {
    const n = this.names.get(ifindex);
    if (n !== undefined || ifindex === 0) return n;
    if (Date.now() - this.lastRefresh < 1000) return undefined;
    this.refresh();
    return this.names.get(ifindex);
  }
}

// ---- the reader ----

export class SensorRecordReader {
  /** bytes of a record split across chunks (reused) */
  private partial: Buffer = Buffer.allocUnsafe(8192);
  private partialLen = 0;
  /** stream offset of the next byte pushed, for error reports */
  private streamOff = 0;
  private netns: number | undefined;
  private dead = false;
  private readonly ifnames: IfnameResolver;

  constructor(private readonly handlers: SensorRecordHandlers, opts: { ifnames?: IfnameResolver } = {}) {
    this.ifnames = opts.ifnames ?? new IfnameResolver();
  }

  push(chunk: Buffer): void {
    if (this.dead) return;
    let off = 0;
    const n = chunk.length;
    if (this.partialLen > 0) {
      off = this.fillPartial(chunk);
      if (off < 0) return; // still incomplete, or the stream died
    }
    while (n - off >= WL_REC_HDR.size) {
      const len = chunk.readUInt32LE(off + WL_REC_HDR.len);
      if (!this.lengthOk(len, this.streamOff + off)) return;
      if (off + len > n) break;
      this.record(chunk, off, len, this.streamOff + off);
      if (this.dead) return;
      off += len;
    }
    if (off < n) {
      this.ensurePartial(n - off);
      chunk.copy(this.partial, 0, off, n);
      this.partialLen = n - off;
    }
    this.streamOff += n;
  }

  /** End of stream: a record cut short is an error. */
  end(): void {
    if (this.partialLen > 0 && !this.dead) {
      const actual = this.partialLen;
      const required = actual >= WL_REC_HDR.size ? this.partial.readUInt32LE(WL_REC_HDR.len) : WL_REC_HDR.size;
      this.fail(WL_ERR_SENSOR_TRUNCATED, 'stream ended inside a record', this.streamOff - actual, required, actual);
    }
    this.partialLen = 0;
  }

  /** Completes the split record from the head of chunk. Returns the chunk offset after it, or -1 when the chunk
   *  was consumed without completing it (or the stream died). */
  private fillPartial(chunk: Buffer): number {
    let off = 0;
    const recStart = this.streamOff - this.partialLen;
    if (this.partialLen < WL_REC_HDR.size) {
      const take = Math.min(WL_REC_HDR.size - this.partialLen, chunk.length);
      chunk.copy(this.partial, this.partialLen, 0, take);
      this.partialLen += take;
      off = take;
      if (this.partialLen < WL_REC_HDR.size) {
        this.streamOff += chunk.length;
        return -1;
      }
    }
    const len = this.partial.readUInt32LE(WL_REC_HDR.len);
    if (!this.lengthOk(len, recStart)) return -1;
    this.ensurePartial(len);
    const take = Math.min(len - this.partialLen, chunk.length - off);
    chunk.copy(this.partial, this.partialLen, off, off + take);
    this.partialLen += take;
    off += take;
    if (this.partialLen < len) {
      this.streamOff += chunk.length;
      return -1;
    }
    this.partialLen = 0;
    this.record(this.partial, 0, len, recStart);
    if (this.dead) return -1;
    return off;
  }

  private ensurePartial(size: number): void {
    if (this.partial.length >= size) return;
    const bigger = Buffer.allocUnsafe(Math.max(size, this.partial.length * 2));
    this.partial.copy(bigger, 0, 0, this.partialLen);
    this.partial = bigger;
  }

  private lengthOk(len: number, at: number): boolean {
    if (len >= WL_REC_HDR.size && len % 8 === 0 && len <= WL_MAX_RECORD) return true;
    // the framing is lost: nothing after this point can be trusted
    this.fail(WL_ERR_SENSOR_BAD_LENGTH, `bad record length ${len}`, at + WL_REC_HDR.len, WL_REC_HDR.size, len);
    return false;
  }

  private fail(code: string, message: string, offset: number, required?: number, actual?: number, fatal = true): void {
    if (fatal) this.dead = true;
    this.handlers.error?.({ layer: 'sensor', offset, required, actual, message: `${code}: ${message}` });
  }

  private record(buf: Buffer, off: number, len: number, at: number): void {
    const type = buf.readUInt32LE(off + WL_REC_HDR.type);
    const b = off + WL_REC_HDR.size;
    const bodyLen = len - WL_REC_HDR.size;
    switch (type) {
      case WL_REC_PACKET:
        this.packet(buf, b, bodyLen, at);
        return;
      case WL_REC_STATS:
        if (bodyLen < WL_STATS.size) {
          this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'short stats record', at, WL_STATS.size, bodyLen, false);
          return;
        }
        this.handlers.stats({
          tsUs: nsToUs(buf, b + WL_STATS.ts_ns),
          packetsSeen: u64(buf, b + WL_STATS.packets_seen),
          packetsMatched: u64(buf, b + WL_STATS.packets_matched),
          packetsSent: u64(buf, b + WL_STATS.packets_sent),
          ringbufDrops: u64(buf, b + WL_STATS.ringbuf_drops),
          recordsWritten: u64(buf, b + WL_STATS.records_written),
        });
        return;
      case WL_REC_HELLO: {
        if (bodyLen < WL_HELLO.size) {
          this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'short hello record', at, WL_HELLO.size, bodyLen);
          return;
        }
        const abi = buf.readUInt32LE(b + WL_HELLO.abi_version);
        if (abi !== WL_ABI_VERSION) {
          this.fail(WL_ERR_SENSOR_ABI, `sensor ABI ${abi}, reader ABI ${WL_ABI_VERSION}: rebuild the sensor`, at + WL_REC_HDR.size, WL_ABI_VERSION, abi);
          return;
        }
        const netns = u64(buf, b + WL_HELLO.netns_ino);
        this.netns = netns || undefined;
        this.handlers.hello?.({
          abiVersion: abi,
          snaplen: buf.readUInt32LE(b + WL_HELLO.snaplen),
          ifindex: buf.readUInt32LE(b + WL_HELLO.ifindex),
          ringBytes: buf.readUInt32LE(b + WL_HELLO.ring_bytes),
          netns,
        });
        return;
      }
      default:
        // a record type from a newer sensor: skip it, the framing still holds
        this.fail(WL_ERR_SENSOR_UNKNOWN_RECORD, `unknown record type ${type}`, at, undefined, type, false);
    }
  }

  private packet(buf: Buffer, b: number, bodyLen: number, at: number): void {
    const E = WL_PACKET_EVENT;
    if (bodyLen < E.size) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'short packet record', at, E.size, bodyLen, false);
      return;
    }
    const cap = buf.readUInt32LE(b + E.cap_len);
    if (E.size + cap > bodyLen) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'packet record shorter than its cap_len', at, E.size + cap, bodyLen, false);
      return;
    }
    const family = buf[b + E.family] === 6 ? 6 : 4;
    const ifindex = buf.readUInt32LE(b + E.ifindex);
    const p = b + E.size;
    const seg: TransportSegment = {
      tsUs: nsToUs(buf, b + E.ts_ns),
      ifindex,
      ifname: this.ifnames.name(ifindex),
      direction: buf[b + E.direction] === WL_DIR_OUT ? 'out' : 'in',
      netns: this.netns,
      family,
      src: family === 4 ? ipv4ToString(buf, b + E.saddr) : ipv6ToString(buf, b + E.saddr),
      dst: family === 4 ? ipv4ToString(buf, b + E.daddr) : ipv6ToString(buf, b + E.daddr),
      sport: buf.readUInt16LE(b + E.sport),
      dport: buf.readUInt16LE(b + E.dport),
      proto: buf[b + E.l4proto] === 17 ? 17 : 6,
      seq: buf.readUInt32LE(b + E.seq),
      ack: buf.readUInt32LE(b + E.ack),
      flags: buf[b + E.tcp_flags],
      window: buf.readUInt16LE(b + E.window),
      payload: buf.subarray(p, p + cap),
      payloadLen: buf.readUInt32LE(b + E.payload_len),
    };
    if (buf.readUInt16LE(b + E.ip_flags) & 1) seg.fragment = true;
    this.handlers.packet(seg);
  }
}
