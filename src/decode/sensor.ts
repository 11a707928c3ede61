/**
 * Reader for the sensor's record stream (bpf/wirelog_events.h): turns stdout chunks of build/wirelog-sensor into
 * TransportSegments and stats (packet mode), or TraceData / TraceConn / TraceProc / TraceStats (trace mode). Records may be split anywhere across chunks: whole records are decoded in place
 * from the chunk; only a record straddling two chunks is copied, into one reused buffer.
 *
 * The layout constants below mirror the C structs; test/unit/sensor-abi.test.ts compiles the header and checks
 * every field offset and struct size against them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { DecodeErrorInfo, SensorStats, TransportSegment } from '../records.js';
import { ipv4ToString, ipv6ToString } from './addr.js';

export const WL_ABI_VERSION = 2;
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
  netns_ino: 72,
} as const;
/** struct wl_stats */
export const WL_STATS = {
  size: 64,
  ts_ns: 0,
  packets_seen: 8,
  packets_matched: 16,
  packets_sent: 24,
  ringbuf_drops: 32,
  records_written: 40,
  dropped_request_heads: 48,
  dropped_response_heads: 56,
} as const;
/** enum wl_packet_counter: bpf/packet.bpf.c's per-CPU counters in index order (WL_PKT_CNT_PACKETS_SEEN = 0, ...),
 * each named after the struct wl_stats field the sensor fills from it; WL_PKT_CNT_MAX is the length. */
export const WL_PACKET_COUNTERS = [
  'packets_seen',
  'packets_matched',
  'packets_sent',
  'ringbuf_drops',
  'dropped_request_heads',
  'dropped_response_heads',
] as const satisfies ReadonlyArray<keyof typeof WL_STATS>;

// ---- trace mode (wirelog-sensor trace) ----
export const WL_REC_DATA = 4;
export const WL_REC_CONN = 5;
export const WL_REC_PROC = 6;
export const WL_REC_TRACE_STATS = 7;
export const WL_SRC_SYSCALL = 0;
export const WL_SRC_TLS = 1;
export const WL_DF_TLS = 1;
export const WL_DF_FD_GUESS = 2;
export const WL_SYS_READ = 1;
export const WL_SYS_WRITE = 2;
export const WL_SYS_READV = 3;
export const WL_SYS_WRITEV = 4;
export const WL_SYS_RECVFROM = 5;
export const WL_SYS_SENDTO = 6;
export const WL_SYS_RECVMSG = 7;
export const WL_SYS_SENDMSG = 8;
export const WL_SYS_SENDFILE = 9;
export const WL_SYS_SSL_READ = 16;
export const WL_SYS_SSL_WRITE = 17;
export const WL_SYS_SSL_READ_EX = 18;
export const WL_SYS_SSL_WRITE_EX = 19;
export const WL_TRACE_MAX_IOV = 16;
export const WL_CONN_CONNECT = 1;
export const WL_CONN_ACCEPT = 2;
export const WL_CONN_CLOSE = 3;
export const WL_CONN_STATE = 4;
export const WL_PROC_FORK = 1;
export const WL_PROC_EXIT = 2;

/** struct wl_data_event (payload follows at `size`) */
export const WL_DATA_EVENT = {
  size: 112,
  ts_enter_ns: 0,
  ts_exit_ns: 8,
  ssl_ptr: 16,
  pid: 24,
  tid: 28,
  fd: 32,
  len: 36,
  cap_len: 40,
  syscall: 44,
  source: 46,
  direction: 47,
  family: 48,
  flags: 49,
  _pad0: 50,
  lport: 52,
  rport: 54,
  laddr: 56,
  raddr: 72,
  comm: 88,
  sock_id: 104,
} as const;
/** struct wl_conn_event */
export const WL_CONN_EVENT = {
  size: 88,
  ts_ns: 0,
  sock_id: 8,
  pid: 16,
  tid: 20,
  fd: 24,
  ret: 28,
  kind: 32,
  family: 33,
  old_state: 34,
  new_state: 35,
  lport: 36,
  rport: 38,
  laddr: 40,
  raddr: 56,
  comm: 72,
} as const;
/** struct wl_proc_event */
export const WL_PROC_EVENT = { size: 40, ts_ns: 0, kind: 8, pid: 12, ppid: 16, exit_code: 20, comm: 24 } as const;
/** struct wl_trace_stats */
export const WL_TRACE_STATS = {
  size: 96,
  ts_ns: 0,
  events_sent: 8,
  ringbuf_drops: 16,
  records_written: 24,
  data_events: 32,
  tls_events: 40,
  conn_events: 48,
  proc_events: 56,
  nonsock_skipped: 64,
  mmsg_calls: 72,
  truncated: 80,
  copy_failed: 88,
} as const;
/** enum wl_trace_counter: bpf/trace.bpf.c's per-CPU counters in index order (WL_TRC_CNT_EVENTS_SENT = 0, ...), each
 * named after the struct wl_trace_stats field the sensor fills from it; WL_TRC_CNT_MAX is the length. */
export const WL_TRACE_COUNTERS = [
  'events_sent',
  'ringbuf_drops',
  'data_events',
  'tls_events',
  'conn_events',
  'proc_events',
  'nonsock_skipped',
  'mmsg_calls',
  'truncated',
  'copy_failed',
] as const satisfies ReadonlyArray<keyof typeof WL_TRACE_STATS>;

// ---- netdev mode (wirelog-sensor netdev): packets at every device of chosen network namespaces ----
export const WL_REC_NETDEV_PACKET = 8;
export const WL_REC_NETDEV_STATS = 9;
export const WL_REC_NETDEV_DROPS = 10;
export const WL_NDV_FRAGMENT = 1;
export const WL_NDV_PAGED = 2;
/** struct wl_netdev_event (payload follows at `size`) */
export const WL_NETDEV_EVENT = {
  size: 104,
  ts_ns: 0,
  netns_ino: 8,
  ifindex: 16,
  direction: 20,
  family: 21,
  l4proto: 22,
  tcp_flags: 23,
  ifname: 24,
  saddr: 40,
  daddr: 56,
  sport: 72,
  dport: 74,
  seq: 76,
  ack: 80,
  window: 84,
  ip_flags: 86,
  ip_len: 88,
  payload_len: 92,
  cap_len: 96,
  skb_len: 100,
} as const;
/** struct wl_netdev_stats */
export const WL_NETDEV_STATS = {
  size: 72,
  ts_ns: 0,
  packets_seen: 8,
  packets_matched: 16,
  packets_sent: 24,
  ringbuf_drops: 32,
  no_network_header: 40,
  nonlinear_headers: 48,
  paged_payload: 56,
  records_written: 64,
} as const;
/** struct wl_netdev_drops (count struct wl_netdev_dev_drops follow at `size`) */
export const WL_NETDEV_DROPS = { size: 16, ts_ns: 0, count: 8, _pad: 12 } as const;
/** struct wl_netdev_dev_drops */
export const WL_NETDEV_DEV_DROPS = { size: 40, netns_ino: 0, drops: 8, ifindex: 16, _pad: 20, ifname: 24 } as const;
/** enum wl_netdev_counter: bpf/netdev.bpf.c's per-CPU counters in index order, each named after the struct
 * wl_netdev_stats field the sensor fills from it; WL_NDV_CNT_MAX is the length. */
export const WL_NETDEV_COUNTERS = [
  'packets_seen',
  'packets_matched',
  'packets_sent',
  'ringbuf_drops',
  'no_network_header',
  'nonlinear_headers',
  'paged_payload',
] as const satisfies ReadonlyArray<keyof typeof WL_NETDEV_STATS>;

// ---- packet mode over several network namespaces (wirelog-sensor packet --netns) ----
export const WL_REC_NETNS = 11;
export const WL_REC_DEVICE = 12;
export const WL_NS_WATCHED = 1;
export const WL_NS_GONE = 2;
export const WL_NS_FAILED = 3;
export const WL_DEV_PRESENT = 1;
export const WL_DEV_GONE = 2;
/** struct wl_netns_event */
export const WL_NETNS_EVENT = { size: 136, ts_ns: 0, netns_ino: 8, state: 16, err: 20, path: 24 } as const;
/** struct wl_device_event */
export const WL_DEVICE_EVENT = { size: 40, ts_ns: 0, netns_ino: 8, ifindex: 16, state: 20, ifname: 24 } as const;

const SYSCALL_NAMES: Record<number, TraceSyscall> = {
  [WL_SYS_READ]: 'read', [WL_SYS_WRITE]: 'write', [WL_SYS_READV]: 'readv', [WL_SYS_WRITEV]: 'writev',
  [WL_SYS_RECVFROM]: 'recvfrom', [WL_SYS_SENDTO]: 'sendto', [WL_SYS_RECVMSG]: 'recvmsg', [WL_SYS_SENDMSG]: 'sendmsg',
  [WL_SYS_SENDFILE]: 'sendfile', [WL_SYS_SSL_READ]: 'SSL_read', [WL_SYS_SSL_WRITE]: 'SSL_write',
  [WL_SYS_SSL_READ_EX]: 'SSL_read_ex', [WL_SYS_SSL_WRITE_EX]: 'SSL_write_ex',
};
const CONN_KINDS: Record<number, TraceConnKind> = {
  [WL_CONN_CONNECT]: 'connect', [WL_CONN_ACCEPT]: 'accept', [WL_CONN_CLOSE]: 'close', [WL_CONN_STATE]: 'state',
};
/** Linux TCP_* state numbers (include/net/tcp_states.h) */
export const TCP_STATE_NAMES: readonly string[] = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2',
  'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV'];

export type TraceSyscall = 'read' | 'write' | 'readv' | 'writev' | 'recvfrom' | 'sendto' | 'recvmsg' | 'sendmsg'
  | 'sendfile' | 'SSL_read' | 'SSL_write' | 'SSL_read_ex' | 'SSL_write_ex' | 'unknown';
export type TraceConnKind = 'connect' | 'accept' | 'close' | 'state' | 'unknown';

/** Bytes a traced process moved on a TCP socket (source 'syscall') or through SSL_read/SSL_write ('tls'). */
export interface TraceData {
  /** when the call returned (wall clock, µs) */
  tsUs: number;
  /** when the call was entered */
  enterUs: number;
  pid: number;
  tid: number;
  comm: string;
  /** -1: a TLS call whose socket is unknown */
  fd: number;
  source: 'syscall' | 'tls';
  syscall: TraceSyscall;
  /** 'in': read family (ingress), 'out': write family (egress) */
  direction: 'in' | 'out';
  /** 0 when the socket is unknown (TLS); IPv4-mapped IPv6 sockets come as 4 */
  family: 0 | 4 | 6;
  localAddr: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
  /** bytes the call moved (its return value) */
  len: number;
  /** the first bytes (≤ snaplen): a view valid only during the callback, copy it to keep it */
  payload: Buffer;
  /** payload.length < len */
  truncated: boolean;
  /** syscall bytes of a connection known to carry TLS (their plaintext comes as source 'tls') */
  tlsBytes: boolean;
  /** TLS: the SSL object's fd was inferred from the thread's last socket syscall (memory-BIO TLS, e.g. node) */
  fdGuessed: boolean;
  /** identifies the kernel socket while it lives; 0n when unknown */
  sockId: bigint;
  /** TLS: the SSL* in the process (0n for syscalls) */
  ssl: bigint;
}

export interface TraceConn {
  tsUs: number;
  kind: TraceConnKind;
  pid: number;
  /** 0 for a state change outside the process (softirq) */
  tid: number;
  comm: string;
  /** -1 for state changes */
  fd: number;
  /** the syscall's return value (connect: 0 or -115 EINPROGRESS; accept: the new fd) */
  ret: number;
  family: 0 | 4 | 6;
  localAddr: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
  /** state changes: TCP_STATE_NAMES entries */
  oldState?: string;
  newState?: string;
  sockId: bigint;
}

export interface TraceProc {
  tsUs: number;
  kind: 'fork' | 'exit';
  pid: number;
  /** fork: the parent; exit: the parent at exit */
  ppid: number;
  comm: string;
  /** exit: the wait status (code << 8 | signal) */
  exitStatus?: number;
  exitCode?: number;
  signal?: number;
}

export interface TraceStats {
  tsUs: number;
  eventsSent: number;
  ringbufDrops: number;
  recordsWritten: number;
  dataEvents: number;
  tlsEvents: number;
  connEvents: number;
  procEvents: number;
  nonsockSkipped: number;
  mmsgCalls: number;
  truncated: number;
  copyFailed: number;
}

const EMPTY_PAYLOAD = Buffer.alloc(0);

/** Largest record the reader accepts; a bigger length means the stream is corrupt (or from an unknown future). */
export const WL_MAX_RECORD = 1 << 20;

export const WL_ERR_SENSOR_BAD_LENGTH = 'WL_ERR_SENSOR_BAD_LENGTH';
export const WL_ERR_SENSOR_ABI = 'WL_ERR_SENSOR_ABI';
export const WL_ERR_SENSOR_SHORT_RECORD = 'WL_ERR_SENSOR_SHORT_RECORD';
export const WL_ERR_SENSOR_UNKNOWN_RECORD = 'WL_ERR_SENSOR_UNKNOWN_RECORD';
export const WL_ERR_SENSOR_TRUNCATED = 'WL_ERR_SENSOR_TRUNCATED';
export type SensorErrorCode = typeof WL_ERR_SENSOR_BAD_LENGTH | typeof WL_ERR_SENSOR_ABI | typeof WL_ERR_SENSOR_SHORT_RECORD
  | typeof WL_ERR_SENSOR_UNKNOWN_RECORD | typeof WL_ERR_SENSOR_TRUNCATED;

export interface SensorHello {
  abiVersion: number;
  snaplen: number;
  /** interface the sensor is bound to, 0 = all */
  ifindex: number;
  ringBytes: number;
  /** network namespace inode, 0 when unknown */
  netns: number;
}

/** A network namespace the sensor started or stopped watching (packet mode with --netns). */
export interface SensorNetns {
  tsUs: number;
  netns: number;
  state: 'watched' | 'gone' | 'failed';
  /** errno when failed */
  err: number;
  /** how the sensor reached it: /run/netns/NAME, /proc/PID/ns/net or the path given */
  path: string;
}

/** A device of a watched namespace, announced before its first packet (packet mode with --netns). */
export interface SensorDevice {
  tsUs: number;
  netns: number;
  ifindex: number;
  state: 'present' | 'gone';
  ifname: string;
}

/** Ring-buffer losses of one device since the sensor started (WL_REC_NETDEV_DROPS entries). */
export interface SensorDeviceDrops {
  netns: number;
  ifindex: number;
  ifname: string;
  drops: number;
}

/** The entries of a WL_REC_NETDEV_DROPS body at b (its count checked against the record's length by the caller). */
export function readDeviceDrops(buf: Buffer, b: number): SensorDeviceDrops[] {
  const D = WL_NETDEV_DEV_DROPS;
  const count = buf.readUInt32LE(b + WL_NETDEV_DROPS.count);
  const drops: SensorDeviceDrops[] = [];
  for (let i = 0; i < count; i++) {
    const d = b + WL_NETDEV_DROPS.size + i * D.size;
    drops.push({
      netns: u64(buf, d + D.netns_ino),
      ifindex: buf.readUInt32LE(d + D.ifindex),
      ifname: cstr(buf, d + D.ifname, 16),
      drops: u64(buf, d + D.drops),
    });
  }
  return drops;
}

export interface SensorRecordHandlers {
  packet(seg: TransportSegment): void;
  stats(s: SensorStats): void;
  netns?(n: SensorNetns): void;
  device?(d: SensorDevice): void;
  /** per-device losses, at each stats time when some device lost events */
  deviceDrops?(tsUs: number, drops: SensorDeviceDrops[]): void;
  hello?(h: SensorHello): void;
  error?(e: DecodeErrorInfo): void;
  /** trace mode records; a record without its handler is skipped silently */
  data?(d: TraceData): void;
  conn?(c: TraceConn): void;
  proc?(p: TraceProc): void;
  traceStats?(s: TraceStats): void;
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

/** NUL-terminated latin1 string of at most n bytes at off */
function cstr(buf: Buffer, off: number, n: number): string {
  let end = off;
  const max = off + n;
  while (end < max && buf[end] !== 0) end++;
  return buf.toString('latin1', off, end);
}

// Per-event values that repeat (a thread's comm, a socket's id, an SSL object) are cached so a data event does not
// allocate a new string or BigInt for each: the trace agent decodes hundreds of thousands of events a second.

const commKey = new Uint8Array(16);
let commKeyLen = -1;
let commText = '';

/** cstr(buf, off, 16), reusing the last result when the bytes are the same */
function commAt(buf: Buffer, off: number): string {
  let end = off;
  const max = off + 16;
  while (end < max && buf[end] !== 0) end++;
  const n = end - off;
  if (n === commKeyLen) {
    let i = 0;
    while (i < n && buf[off + i] === commKey[i]) i++;
    if (i === n) return commText;
  }
  for (let i = 0; i < n; i++) commKey[i] = buf[off + i];
  commKeyLen = n;
  commText = buf.toString('latin1', off, end);
  return commText;
}

const U64_SLOTS = 256;
const u64Lo = new Uint32Array(U64_SLOTS);
const u64Hi = new Uint32Array(U64_SLOTS);
const u64Val: bigint[] = new Array<bigint>(U64_SLOTS).fill(0n);

/** buf.readBigUInt64LE(off) through a direct-mapped cache (slot from the low bits; both halves compared) */
function bigU64(buf: Buffer, off: number): bigint {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  if ((lo | hi) === 0) return 0n;
  const slot = ((lo >>> 6) ^ lo ^ (lo >>> 14) ^ hi) & (U64_SLOTS - 1);
  if (u64Lo[slot] === lo && u64Hi[slot] === hi) return u64Val[slot];
  const v = buf.readBigUInt64LE(off);
  u64Lo[slot] = lo;
  u64Hi[slot] = hi;
  u64Val[slot] = v;
  return v;
}

function addrAt(buf: Buffer, off: number, family: number): string {
  return family === 4 ? ipv4ToString(buf, off) : family === 6 ? ipv6ToString(buf, off) : '';
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
  /** device names the sensor announced (WL_REC_DEVICE), by namespace then ifindex; used before `ifnames` */
  private readonly deviceNames = new Map<number, Map<number, string>>();

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

  private fail(code: SensorErrorCode, message: string, offset: number, required?: number, actual?: number, fatal = true): void {
    if (fatal) this.dead = true;
    this.handlers.error?.({ code, layer: 'sensor', offset, required, actual, message });
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
          droppedRequestHeads: u64(buf, b + WL_STATS.dropped_request_heads),
          droppedResponseHeads: u64(buf, b + WL_STATS.dropped_response_heads),
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
      case WL_REC_NETNS:
        this.netnsRecord(buf, b, bodyLen, at);
        return;
      case WL_REC_DEVICE:
        this.deviceRecord(buf, b, bodyLen, at);
        return;
      case WL_REC_NETDEV_DROPS:
        this.deviceDropsRecord(buf, b, bodyLen, at);
        return;
      case WL_REC_DATA:
        if (this.handlers.data) this.data(buf, b, bodyLen, at);
        return;
      case WL_REC_CONN:
        if (this.handlers.conn) this.conn(buf, b, bodyLen, at);
        return;
      case WL_REC_PROC:
        if (this.handlers.proc) this.proc(buf, b, bodyLen, at);
        return;
      case WL_REC_TRACE_STATS:
        if (this.handlers.traceStats) this.traceStats(buf, b, bodyLen, at);
        return;
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
    // sensors before netns_ino left the field zero: the hello's namespace is the packet's
    const netns = buf.readUInt32LE(b + E.netns_ino) || this.netns;
    const announced = netns !== undefined ? this.deviceNames.get(netns) : undefined;
    const p = b + E.size;
    const seg: TransportSegment = {
      tsUs: nsToUs(buf, b + E.ts_ns),
      // ns mod 1000 of hi·2^32 + lo, exactly: 2^32 mod 1000 = 296
      nsRem: (buf.readUInt32LE(b + E.ts_ns + 4) * 296 + buf.readUInt32LE(b + E.ts_ns)) % 1000,
      ifindex,
      ifname: announced?.get(ifindex) ?? (netns === this.netns ? this.ifnames.name(ifindex) : undefined),
      direction: buf[b + E.direction] === WL_DIR_OUT ? 'out' : 'in',
      netns,
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
      // half the packets are pure ACKs: one shared empty view instead of a Buffer object each
      payload: cap === 0 ? EMPTY_PAYLOAD : buf.subarray(p, p + cap),
      payloadLen: buf.readUInt32LE(b + E.payload_len),
    };
    if (buf.readUInt16LE(b + E.ip_flags) & 1) seg.fragment = true;
    this.handlers.packet(seg);
  }

  private netnsRecord(buf: Buffer, b: number, bodyLen: number, at: number): void {
    const E = WL_NETNS_EVENT;
    if (bodyLen < E.size) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'short netns record', at, E.size, bodyLen, false);
      return;
    }
    const netns = u64(buf, b + E.netns_ino);
    const state = buf.readUInt32LE(b + E.state);
    if (state === WL_NS_GONE) this.deviceNames.delete(netns);
    this.handlers.netns?.({
      tsUs: nsToUs(buf, b + E.ts_ns),
      netns,
      state: state === WL_NS_WATCHED ? 'watched' : state === WL_NS_GONE ? 'gone' : 'failed',
      err: buf.readInt32LE(b + E.err),
      path: cstr(buf, b + E.path, 112),
    });
  }

  private deviceRecord(buf: Buffer, b: number, bodyLen: number, at: number): void {
    const E = WL_DEVICE_EVENT;
    if (bodyLen < E.size) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'short device record', at, E.size, bodyLen, false);
      return;
    }
    const netns = u64(buf, b + E.netns_ino);
    const ifindex = buf.readUInt32LE(b + E.ifindex);
    const present = buf.readUInt32LE(b + E.state) === WL_DEV_PRESENT;
    const ifname = cstr(buf, b + E.ifname, 16);
    let names = this.deviceNames.get(netns);
    if (!names) this.deviceNames.set(netns, (names = new Map()));
    // a gone device keeps its name for packets still in flight; a new device with its index replaces it
    names.set(ifindex, ifname);
    this.handlers.device?.({ tsUs: nsToUs(buf, b + E.ts_ns), netns, ifindex, state: present ? 'present' : 'gone', ifname });
  }

  private deviceDropsRecord(buf: Buffer, b: number, bodyLen: number, at: number): void {
    const H = WL_NETDEV_DROPS;
    const D = WL_NETDEV_DEV_DROPS;
    if (bodyLen < H.size) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'short drops record', at, H.size, bodyLen, false);
      return;
    }
    const count = buf.readUInt32LE(b + H.count);
    if (H.size + count * D.size > bodyLen) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'drops record shorter than its count', at, H.size + count * D.size, bodyLen, false);
      return;
    }
    this.handlers.deviceDrops?.(nsToUs(buf, b + H.ts_ns), readDeviceDrops(buf, b));
  }

  private data(buf: Buffer, b: number, bodyLen: number, at: number): void {
    const E = WL_DATA_EVENT;
    if (bodyLen < E.size) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'short data record', at, E.size, bodyLen, false);
      return;
    }
    const cap = buf.readUInt32LE(b + E.cap_len);
    if (E.size + cap > bodyLen) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'data record shorter than its cap_len', at, E.size + cap, bodyLen, false);
      return;
    }
    const fam = buf[b + E.family];
    const family = fam === 4 || fam === 6 ? fam : 0;
    const flags = buf[b + E.flags];
    const len = buf.readUInt32LE(b + E.len);
    const p = b + E.size;
    this.handlers.data!({
      tsUs: nsToUs(buf, b + E.ts_exit_ns),
      enterUs: nsToUs(buf, b + E.ts_enter_ns),
      pid: buf.readUInt32LE(b + E.pid),
      tid: buf.readUInt32LE(b + E.tid),
      comm: commAt(buf, b + E.comm),
      fd: buf.readInt32LE(b + E.fd),
      source: buf[b + E.source] === WL_SRC_TLS ? 'tls' : 'syscall',
      syscall: SYSCALL_NAMES[buf.readUInt16LE(b + E.syscall)] ?? 'unknown',
      direction: buf[b + E.direction] === WL_DIR_OUT ? 'out' : 'in',
      family,
      localAddr: addrAt(buf, b + E.laddr, family),
      localPort: buf.readUInt16LE(b + E.lport),
      remoteAddr: addrAt(buf, b + E.raddr, family),
      remotePort: buf.readUInt16LE(b + E.rport),
      len,
      // a captured prefix longer than the call's byte count cannot be real: never hand on more than `len`
      payload: buf.subarray(p, p + (cap < len ? cap : len)),
      truncated: cap < len,
      tlsBytes: (flags & WL_DF_TLS) !== 0,
      fdGuessed: (flags & WL_DF_FD_GUESS) !== 0,
      sockId: bigU64(buf, b + E.sock_id),
      ssl: bigU64(buf, b + E.ssl_ptr),
    });
  }

  private conn(buf: Buffer, b: number, bodyLen: number, at: number): void {
    const E = WL_CONN_EVENT;
    if (bodyLen < E.size) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'short conn record', at, E.size, bodyLen, false);
      return;
    }
    const fam = buf[b + E.family];
    const family = fam === 4 || fam === 6 ? fam : 0;
    const kind = CONN_KINDS[buf[b + E.kind]] ?? 'unknown';
    const c: TraceConn = {
      tsUs: nsToUs(buf, b + E.ts_ns),
      kind,
      pid: buf.readUInt32LE(b + E.pid),
      tid: buf.readUInt32LE(b + E.tid),
      comm: commAt(buf, b + E.comm),
      fd: buf.readInt32LE(b + E.fd),
      ret: buf.readInt32LE(b + E.ret),
      family,
      localAddr: addrAt(buf, b + E.laddr, family),
      localPort: buf.readUInt16LE(b + E.lport),
      remoteAddr: addrAt(buf, b + E.raddr, family),
      remotePort: buf.readUInt16LE(b + E.rport),
      sockId: bigU64(buf, b + E.sock_id),
    };
    if (kind === 'state') {
      c.oldState = TCP_STATE_NAMES[buf[b + E.old_state]] || String(buf[b + E.old_state]);
      c.newState = TCP_STATE_NAMES[buf[b + E.new_state]] || String(buf[b + E.new_state]);
    }
    this.handlers.conn!(c);
  }

  private proc(buf: Buffer, b: number, bodyLen: number, at: number): void {
    const E = WL_PROC_EVENT;
    if (bodyLen < E.size) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'short proc record', at, E.size, bodyLen, false);
      return;
    }
    const exit = buf.readUInt32LE(b + E.kind) === WL_PROC_EXIT;
    const p: TraceProc = {
      tsUs: nsToUs(buf, b + E.ts_ns),
      kind: exit ? 'exit' : 'fork',
      pid: buf.readUInt32LE(b + E.pid),
      ppid: buf.readUInt32LE(b + E.ppid),
      comm: cstr(buf, b + E.comm, 16),
    };
    if (exit) {
      const st = buf.readUInt32LE(b + E.exit_code);
      p.exitStatus = st;
      p.exitCode = (st >> 8) & 0xff;
      p.signal = st & 0x7f;
    }
    this.handlers.proc!(p);
  }

  private traceStats(buf: Buffer, b: number, bodyLen: number, at: number): void {
    const E = WL_TRACE_STATS;
    if (bodyLen < E.size) {
      this.fail(WL_ERR_SENSOR_SHORT_RECORD, 'short trace stats record', at, E.size, bodyLen, false);
      return;
    }
    this.handlers.traceStats!({
      tsUs: nsToUs(buf, b + E.ts_ns),
      eventsSent: u64(buf, b + E.events_sent),
      ringbufDrops: u64(buf, b + E.ringbuf_drops),
      recordsWritten: u64(buf, b + E.records_written),
      dataEvents: u64(buf, b + E.data_events),
      tlsEvents: u64(buf, b + E.tls_events),
      connEvents: u64(buf, b + E.conn_events),
      procEvents: u64(buf, b + E.proc_events),
      nonsockSkipped: u64(buf, b + E.nonsock_skipped),
      mmsgCalls: u64(buf, b + E.mmsg_calls),
      truncated: u64(buf, b + E.truncated),
      copyFailed: u64(buf, b + E.copy_failed),
    });
  }
}
