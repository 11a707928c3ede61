import * as A from '../../src/decode/sensor.js';
import { IfnameResolver, SensorRecordReader } from '../../src/decode/sensor.js';
import { segments } from '../seeds.js';
import { chunked } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

/** One record: header (type, length padded to 8) then the body. */
function rec(type: number, body: Buffer): Buffer {
  const len = (8 + body.length + 7) & ~7;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0); b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  return b;
}

/** A packet event around a captured segment (as the sensor fills it in bpf/packet.bpf.c). */
function packetEvent(family: 4 | 6, proto: number, payload: Buffer): Buffer {
  const E = A.WL_PACKET_EVENT;
  const b = Buffer.alloc(E.size + payload.length);
  b.writeUInt32LE(1000, E.ts_ns + 4); b.writeUInt32LE(1, E.ifindex); b[E.family] = family; b[E.l4proto] = proto; b[E.tcp_flags] = 0x18;
  b[E.saddr] = 127; b[E.saddr + 3] = 1; b[E.daddr] = 127; b[E.daddr + 3] = 1;
  b.writeUInt16LE(40000, E.sport); b.writeUInt16LE(8080, E.dport);
  b.writeUInt32LE(payload.length, E.payload_len); b.writeUInt32LE(payload.length, E.cap_len);
  payload.copy(b, E.size);
  return b;
}

function dataEvent(payload: Buffer): Buffer {
  const E = A.WL_DATA_EVENT;
  const b = Buffer.alloc(E.size + payload.length);
  b.writeUInt32LE(1000, E.ts_enter_ns + 4); b.writeUInt32LE(1000, E.ts_exit_ns + 4); b.writeUInt32LE(42, E.pid); b.writeUInt32LE(5, E.fd);
  b.writeUInt32LE(payload.length, E.len); b.writeUInt32LE(payload.length, E.cap_len); b.writeUInt16LE(A.WL_SYS_WRITE, E.syscall);
  b[E.family] = 2; b.write('nginx', E.comm, 'latin1');
  payload.copy(b, E.size);
  return b;
}

const hello = (): Buffer => { const b = Buffer.alloc(A.WL_HELLO.size); b.writeUInt32LE(A.WL_ABI_VERSION, 0); b.writeUInt32LE(4096, 4); return b; };

/**
 * The sensor's record stream (SensorRecordReader: every record type, records split across chunks at fuzzed
 * points), as the agent reads it from the sensor's stdout. Byte 0: chunk sizes. Every handler is present.
 * A record it cannot frame kills the stream with one error; nothing may throw.
 */
export const target: FuzzTarget = {
  name: 'sensor',
  what: 'sensor record stream (SensorRecordReader): hello, packet, stats, trace data/conn/proc, netdev, netns, device',
  maxLen: 4096,
  seeds: () => {
    const pay = segments().filter((s) => s.payload.length > 0).slice(0, 3).map((s) => s.payload.subarray(0, 512));
    const base = [rec(A.WL_REC_HELLO, hello())];
    const one = (type: number, size: number): Buffer => rec(type, Buffer.alloc(size));
    const all = [
      ...pay.map((p) => rec(A.WL_REC_PACKET, packetEvent(4, 6, p))), rec(A.WL_REC_PACKET, packetEvent(6, 17, Buffer.from('hi'))),
      one(A.WL_REC_STATS, A.WL_STATS.size), ...pay.map((p) => rec(A.WL_REC_DATA, dataEvent(p))), one(A.WL_REC_CONN, A.WL_CONN_EVENT.size),
      one(A.WL_REC_PROC, A.WL_PROC_EVENT.size), one(A.WL_REC_TRACE_STATS, A.WL_TRACE_STATS.size), one(A.WL_REC_NETDEV_PACKET, A.WL_NETDEV_EVENT.size + 20),
      one(A.WL_REC_NETDEV_STATS, A.WL_NETDEV_STATS.size), rec(A.WL_REC_NETDEV_DROPS, Buffer.concat([Buffer.from('000000000000000002000000', 'hex'), Buffer.alloc(4 + 2 * A.WL_NETDEV_DEV_DROPS.size)])),
      one(A.WL_REC_NETNS, A.WL_NETNS_EVENT.size), one(A.WL_REC_DEVICE, A.WL_DEVICE_EVENT.size),
    ];
    return [Buffer.concat([Buffer.from([0xff]), ...base, ...all]), ...all.map((r) => Buffer.concat([Buffer.from([0xe4]), ...base, r]))];
  },
  fuzz(data) {
    if (data.length === 0) return;
    let errors = 0;
    const r = new SensorRecordReader({
      packet(seg) { check(seg.payload.length <= A.WL_MAX_SNAPLEN + 65536, `packet payload ${seg.payload.length}`); check(seg.sport < 65536 && seg.dport < 65536, 'port'); },
      stats(s) { check(typeof s === 'object', 'stats'); },
      netns() {}, device() {}, deviceDrops(_ts, d) { check(Array.isArray(d), 'drops'); }, hello() {},
      error(e) { errors++; check(typeof e.message === 'string', 'error without message'); },
      data(d) { check(d.payload.length <= d.len || d.payload.length === 0, `data payload ${d.payload.length} > len ${d.len}`); }, conn() {}, proc() {}, traceStats() {},
    }, { ifnames: resolver });
    chunked(data.subarray(1), data[0]!, (c) => r.push(c));
    r.end();
    void errors;
  },
};

/** No /sys lookups per input: a resolver over an empty directory name that does not exist. */
const resolver = new IfnameResolver('/nonexistent-wirelog-fuzz');
