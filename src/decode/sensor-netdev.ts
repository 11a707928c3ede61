/**
 * A minimal reader for the netdev mode's records (`wirelog-sensor netdev`, bpf/wirelog_events.h): decodes whole
 * records from one buffer (the sensor's stdout, collected). No streaming and no pipeline yet: the capture command
 * does not use the netdev mode so far; the integration test and debugging tools do.
 */
import {
  readDeviceDrops, WL_DIR_OUT, WL_HELLO, WL_NETDEV_COUNTERS, WL_NETDEV_EVENT, WL_NETDEV_STATS,
  WL_NDV_FRAGMENT, WL_NDV_PAGED, WL_REC_HDR, WL_REC_HELLO, WL_REC_NETDEV_DROPS, WL_REC_NETDEV_PACKET,
  WL_REC_NETDEV_STATS,
  type SensorDeviceDrops,
} from './sensor.js';
import { ipv4ToString, ipv6ToString } from './addr.js';

export interface NetdevPacket {
  tsNs: bigint;
  netns: number;
  ifindex: number;
  ifname: string;
  /** tx: leaving the device (net_dev_start_xmit, or net_dev_queue with --tx queue), rx: arriving at it (netif_receive_skb) */
  direction: 'tx' | 'rx';
  family: 4 | 6;
  proto: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  fragment: boolean;
  /** part of the payload was in page fragments and not copied */
  paged: boolean;
  ipLen: number;
  payloadLen: number;
  skbLen: number;
  payload: Buffer;
}

export type NetdevStats = Record<(typeof WL_NETDEV_COUNTERS)[number] | 'records_written', number> & { tsNs: bigint };

export type NetdevDevDrops = SensorDeviceDrops;

export interface NetdevStream {
  helloNetns?: number;
  packets: NetdevPacket[];
  stats: NetdevStats[];
  /** one list per WL_REC_NETDEV_DROPS record */
  drops: NetdevDevDrops[][];
  /** bytes left over after the last whole record */
  rest: number;
}

const cstr = (buf: Buffer, off: number, n: number): string => {
  const end = buf.indexOf(0, off);
  return buf.toString('latin1', off, end < 0 || end > off + n ? off + n : end);
};
const u64 = (buf: Buffer, off: number): number => Number(buf.readBigUInt64LE(off));

export function readNetdevPacket(buf: Buffer, b: number): NetdevPacket {
  const E = WL_NETDEV_EVENT;
  const family = buf[b + E.family] === 6 ? 6 : 4;
  const addr = (o: number): string => (family === 4 ? ipv4ToString(buf, b + o) : ipv6ToString(buf, b + o));
  const ipFlags = buf.readUInt16LE(b + E.ip_flags);
  const cap = buf.readUInt32LE(b + E.cap_len);
  return {
    tsNs: buf.readBigUInt64LE(b + E.ts_ns),
    netns: u64(buf, b + E.netns_ino),
    ifindex: buf.readUInt32LE(b + E.ifindex),
    ifname: cstr(buf, b + E.ifname, 16),
    direction: buf[b + E.direction] === WL_DIR_OUT ? 'tx' : 'rx',
    family,
    proto: buf[b + E.l4proto]!,
    src: addr(E.saddr),
    dst: addr(E.daddr),
    sport: buf.readUInt16LE(b + E.sport),
    dport: buf.readUInt16LE(b + E.dport),
    seq: buf.readUInt32LE(b + E.seq),
    ack: buf.readUInt32LE(b + E.ack),
    flags: buf[b + E.tcp_flags]!,
    window: buf.readUInt16LE(b + E.window),
    fragment: (ipFlags & WL_NDV_FRAGMENT) !== 0,
    paged: (ipFlags & WL_NDV_PAGED) !== 0,
    ipLen: buf.readUInt32LE(b + E.ip_len),
    payloadLen: buf.readUInt32LE(b + E.payload_len),
    skbLen: buf.readUInt32LE(b + E.skb_len),
    payload: Buffer.from(buf.subarray(b + E.size, b + E.size + cap)),
  };
}

/** Every whole record of buf; records of other types are skipped. */
export function readNetdevStream(buf: Buffer): NetdevStream {
  const out: NetdevStream = { packets: [], stats: [], drops: [], rest: 0 };
  let off = 0;
  while (buf.length - off >= WL_REC_HDR.size) {
    const type = buf.readUInt32LE(off + WL_REC_HDR.type);
    const len = buf.readUInt32LE(off + WL_REC_HDR.len);
    if (len < WL_REC_HDR.size || len % 8 !== 0) throw new Error(`bad record length ${len} at ${off}`);
    if (buf.length - off < len) break;
    const b = off + WL_REC_HDR.size;
    if (type === WL_REC_HELLO) out.helloNetns = u64(buf, b + WL_HELLO.netns_ino);
    else if (type === WL_REC_NETDEV_PACKET) out.packets.push(readNetdevPacket(buf, b));
    else if (type === WL_REC_NETDEV_STATS) {
      const st = { tsNs: buf.readBigUInt64LE(b + WL_NETDEV_STATS.ts_ns) } as NetdevStats;
      for (const k of [...WL_NETDEV_COUNTERS, 'records_written'] as const) st[k] = u64(buf, b + WL_NETDEV_STATS[k]);
      out.stats.push(st);
    } else if (type === WL_REC_NETDEV_DROPS) out.drops.push(readDeviceDrops(buf, b));
    off += len;
  }
  out.rest = buf.length - off;
  return out;
}
