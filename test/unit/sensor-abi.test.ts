/**
 * The sensor's wire ABI, checked against the C compiler: a small C program built from bpf/wirelog_events.h prints
 * offsetof/sizeof of every field and the value of every counter enumerator (field and enumerator lists parsed from
 * the header, not from the TypeScript), and synthetic records laid out with those C offsets are fed to
 * SensorRecordReader split at every byte boundary.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { repoRoot } from '../helpers/paths.js';
import * as abi from '../../src/decode/sensor.js';
import { IfnameResolver, SensorRecordReader } from '../../src/decode/sensor.js';
import { readNetdevStream } from '../../src/decode/sensor-netdev.js';
import type { DecodeErrorInfo, SensorStats, TransportSegment } from '../../src/records.js';
import { ipv6Format, ipv6ToString } from '../../src/decode/addr.js';

const header = path.join(repoRoot, 'bpf', 'wirelog_events.h');

interface CField { offset: number; size: number }
type CLayout = Map<string, { size: number; fields: Map<string, CField> }>;

let layout: CLayout;
let defines: Map<string, number>;
/** enum name → enumerator → value, as the C compiler numbers them */
let enums: Map<string, Map<string, number>>;
let dir: string;

/** struct name → field names, from the header text */
function parseStructs(src: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const noComments = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  for (const m of noComments.matchAll(/struct\s+(wl_\w+)\s*\{([^}]*)\}\s*;/g)) {
    const fields: string[] = [];
    for (const f of m[2].matchAll(/__(?:u|s)(?:8|16|32|64)\s+(\w+)\s*(?:\[\s*\d+\s*\])?\s*;/g)) fields.push(f[1]);
    out.set(m[1], fields);
  }
  return out;
}

/** enum name → enumerator names, from the header text (the per-CPU counter indexes) */
function parseEnums(src: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const noComments = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  for (const m of noComments.matchAll(/enum\s+(wl_\w+)\s*\{([^}]*)\}\s*;/g)) {
    out.set(m[1], [...m[2].matchAll(/\b(WL_\w+)\b\s*(?:=[^,]*)?(?:,|$)/g)].map((e) => e[1]));
  }
  return out;
}

before(() => {
  const src = readFileSync(header, 'utf8');
  const structs = parseStructs(src);
  assert.ok(structs.size >= 4, `expected the four ABI structs in ${header}, found ${[...structs.keys()]}`);
  defines = new Map();
  for (const m of src.matchAll(/^#define\s+(WL_\w+)\s+(\d+)/gm)) defines.set(m[1], Number(m[2]));

  let c = '#include <stdio.h>\n#include <stddef.h>\n#include "wirelog_events.h"\nint main(void) {\n';
  for (const [s, fields] of structs) {
    c += `  printf("S ${s} %zu\\n", sizeof(struct ${s}));\n`;
    for (const f of fields) {
      c += `  printf("F ${s} ${f} %zu %zu\\n", offsetof(struct ${s}, ${f}), sizeof(((struct ${s} *)0)->${f}));\n`;
    }
  }
  const enumNames = parseEnums(src);
  assert.ok(enumNames.size >= 3, `expected the three counter enums in ${header}, found ${[...enumNames.keys()]}`);
  for (const [e, names] of enumNames) {
    for (const n of names) c += `  printf("E ${e} ${n} %d\\n", (int)${n});\n`;
  }
  c += '  return 0;\n}\n';
  dir = mkdtempSync(path.join(tmpdir(), 'wl-abi-'));
  writeFileSync(path.join(dir, 'abi.c'), c);
  execFileSync('cc', ['-Wno-comment', '-I', path.dirname(header), '-o', path.join(dir, 'abi'), path.join(dir, 'abi.c')]);
  const out = execFileSync(path.join(dir, 'abi'), { encoding: 'utf8' });
  layout = new Map();
  enums = new Map();
  for (const line of out.trim().split('\n')) {
    const p = line.split(' ');
    if (p[0] === 'E') {
      if (!enums.has(p[1])) enums.set(p[1], new Map());
      enums.get(p[1])!.set(p[2], Number(p[3]));
    } else if (p[0] === 'S') layout.set(p[1], { size: Number(p[2]), fields: new Map() });
    else layout.get(p[1])!.fields.set(p[2], { offset: Number(p[3]), size: Number(p[4]) });
  }
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tsLayouts: Record<string, Record<string, number>> = {
  wl_rec_hdr: abi.WL_REC_HDR,
  wl_hello: abi.WL_HELLO,
  wl_packet_event: abi.WL_PACKET_EVENT,
  wl_stats: abi.WL_STATS,
  wl_data_event: abi.WL_DATA_EVENT,
  wl_conn_event: abi.WL_CONN_EVENT,
  wl_proc_event: abi.WL_PROC_EVENT,
  wl_trace_stats: abi.WL_TRACE_STATS,
  wl_netdev_event: abi.WL_NETDEV_EVENT,
  wl_netdev_stats: abi.WL_NETDEV_STATS,
  wl_netdev_drops: abi.WL_NETDEV_DROPS,
  wl_netdev_dev_drops: abi.WL_NETDEV_DEV_DROPS,
  wl_netns_event: abi.WL_NETNS_EVENT,
  wl_device_event: abi.WL_DEVICE_EVENT,
};

test('every C struct and field has the same offset and size in src/decode/sensor.ts', () => {
  assert.deepEqual([...layout.keys()].sort(), Object.keys(tsLayouts).sort());
  for (const [name, c] of layout) {
    const ts = tsLayouts[name];
    assert.equal(ts.size, c.size, `sizeof(struct ${name})`);
    const tsFields = Object.keys(ts).filter((k) => k !== 'size').sort();
    assert.deepEqual(tsFields, [...c.fields.keys()].sort(), `fields of struct ${name}`);
    for (const [f, { offset }] of c.fields) assert.equal(ts[f], offset, `offsetof(struct ${name}, ${f})`);
  }
});

test('#define constants match', () => {
  for (const name of ['WL_ABI_VERSION', 'WL_REC_HELLO', 'WL_REC_PACKET', 'WL_REC_STATS', 'WL_DIR_IN', 'WL_DIR_OUT', 'WL_MAX_SNAPLEN']) {
    assert.ok(defines.has(name), `${name} defined in the header`);
  }
  // every numeric WL_ define of the header (trace-mode ones included) is exported with the same value
  assert.ok(defines.size >= 35, `expected the trace-mode defines too, found ${defines.size}`);
  for (const [name, value] of defines) {
    assert.equal((abi as unknown as Record<string, number>)[name], value, name);
  }
});

// ---- per-CPU counter indexes: one enum per program, each enumerator named after the stats field it fills ----

const counterEnums = [
  { name: 'wl_packet_counter', prefix: 'WL_PKT_CNT_', struct: 'wl_stats', ts: abi.WL_PACKET_COUNTERS,
    bpf: 'bpf/packet.bpf.c', sensor: 'sensor/packet.c' },
  { name: 'wl_trace_counter', prefix: 'WL_TRC_CNT_', struct: 'wl_trace_stats', ts: abi.WL_TRACE_COUNTERS,
    bpf: 'bpf/trace.bpf.c', sensor: 'sensor/trace.c' },
  { name: 'wl_netdev_counter', prefix: 'WL_NDV_CNT_', struct: 'wl_netdev_stats', ts: abi.WL_NETDEV_COUNTERS,
    bpf: 'bpf/netdev.bpf.c', sensor: 'sensor/netdev.c' },
];

test('counter enums: dense from 0, each named after a u64 stats field, in the order of src/decode/sensor.ts', () => {
  assert.deepEqual([...enums.keys()].sort(), counterEnums.map((e) => e.name).sort());
  for (const { name, prefix, struct, ts } of counterEnums) {
    const values = enums.get(name)!;
    const max = `${prefix}MAX`;
    assert.ok(values.has(max), `${max} in enum ${name}`);
    const counters = [...values].filter(([n]) => n !== max).sort((a, b) => a[1] - b[1]);
    assert.deepEqual(counters.map(([, v]) => v), counters.map((_, i) => i), `enum ${name} numbers its counters 0, 1, 2, ...`);
    assert.equal(values.get(max), counters.length, `${max} counts the counters of enum ${name}`);
    const fields = counters.map(([n]) => {
      assert.ok(n.startsWith(prefix), `${n} has the prefix ${prefix}`);
      const f = n.slice(prefix.length).toLowerCase();
      assert.equal(layout.get(struct)!.fields.get(f)?.size, 8, `${n} names a __u64 field of struct ${struct}`);
      return f;
    });
    // index i of the TypeScript list is the enumerator whose value is i: a reordered counter fails here
    assert.deepEqual([...ts], fields, `enum ${name} against src/decode/sensor.ts`);
  }
});

test('counter enums: the BPF programs size their counters map with them and count by name; the sensor fills each stats field from its own counter', () => {
  for (const { name, prefix, struct, ts, bpf, sensor } of counterEnums) {
    const prog = readFileSync(path.join(repoRoot, bpf), 'utf8');
    assert.match(prog, new RegExp(`max_entries,\\s*${prefix}MAX\\b`), `${bpf}: counters map sized by ${prefix}MAX`);
    assert.match(prog, new RegExp(`count\\(enum ${name} `), `${bpf}: count() takes an enum ${name}`);
    assert.doesNotMatch(prog, /\bcount\(\s*\d/, `${bpf}: no counter by number`);
    const src = readFileSync(path.join(repoRoot, sensor), 'utf8');
    const fills = [...src.matchAll(/\.(\w+)\s*=\s*\w+\[\s*(WL_\w+_CNT_\w+)\s*\]/g)].map((m) => [m[1], m[2]]);
    assert.deepEqual(
      fills.map(([f]) => f).sort(), [...ts].sort(), `${sensor}: every struct ${struct} counter field filled once`);
    for (const [f, e] of fills) assert.equal(e, `${prefix}${f.toUpperCase()}`, `${sensor}: .${f} read from its own counter`);
  }
});

// ---- synthetic records, laid out with the C compiler's offsets ----

function put(buf: Buffer, struct: string, field: string, value: number | bigint | Buffer, base: number): void {
  const f = layout.get(struct)!.fields.get(field)!;
  const o = base + f.offset;
  if (Buffer.isBuffer(value)) {
    assert.ok(value.length <= f.size);
    value.copy(buf, o);
  } else if (f.size === 8) buf.writeBigUInt64LE(BigInt(value), o);
  else if (f.size === 4) (Number(value) < 0 ? buf.writeInt32LE(Number(value), o) : buf.writeUInt32LE(Number(value), o)); // __s32 fields
  else if (f.size === 2) buf.writeUInt16LE(Number(value), o);
  else if (f.size === 1) buf.writeUInt8(Number(value), o);
  else throw new Error(`cannot put ${struct}.${field}`);
}

function record(type: number, struct: string, fields: Record<string, number | bigint | Buffer>, extra: Buffer = Buffer.alloc(0)): Buffer {
  const hdrSize = layout.get('wl_rec_hdr')!.size;
  const bodySize = layout.get(struct)!.size + extra.length;
  const len = Math.ceil((hdrSize + bodySize) / 8) * 8;
  const buf = Buffer.alloc(len);
  put(buf, 'wl_rec_hdr', 'type', type, 0);
  put(buf, 'wl_rec_hdr', 'len', len, 0);
  for (const [k, v] of Object.entries(fields)) put(buf, struct, k, v, hdrSize);
  extra.copy(buf, hdrSize + layout.get(struct)!.size);
  return buf;
}

/** the test's own IPv6 text → bytes parser (expands one '::', accepts a dotted IPv4 tail) */
function ip6Bytes(s: string): Buffer {
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const [, pre, a, b, c, d] = dotted.map(String);
    s = `${pre}${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
  return b;
}

interface Expected { seg: Omit<TransportSegment, 'payload' | 'ifname'> & { payload: string } }

function packet(p: {
  ts: bigint; ifindex: number; dir: number; family: 4 | 6; proto: 6 | 17; flags: number; src: string; dst: string;
  sport: number; dport: number; seq: number; ack: number; window: number; frag: boolean; payload: Buffer; payloadLen: number;
}): { rec: Buffer; exp: Expected } {
  const addr = (s: string) => (p.family === 4 ? Buffer.from(s.split('.').map(Number)) : ip6Bytes(s));
  const rec = record(abi.WL_REC_PACKET, 'wl_packet_event', {
    ts_ns: p.ts, ifindex: p.ifindex, direction: p.dir, family: p.family, l4proto: p.proto, tcp_flags: p.flags,
    saddr: addr(p.src), daddr: addr(p.dst), sport: p.sport, dport: p.dport, seq: p.seq, ack: p.ack,
    window: p.window, ip_flags: p.frag ? 1 : 0, payload_len: p.payloadLen, cap_len: p.payload.length,
  }, p.payload);
  const seg: Expected['seg'] = {
    tsUs: Number(p.ts / 1000n), nsRem: Number(p.ts % 1000n), ifindex: p.ifindex, direction: p.dir === 1 ? 'out' : 'in', netns: 4026531840,
    family: p.family, src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, proto: p.proto, seq: p.seq,
    ack: p.ack, flags: p.flags, window: p.window, payload: p.payload.toString('hex'), payloadLen: p.payloadLen,
  };
  if (p.frag) seg.fragment = true;
  return { rec, exp: { seg } };
}

function buildStream() {
  const hello = record(abi.WL_REC_HELLO, 'wl_hello', { abi_version: abi.WL_ABI_VERSION, snaplen: 4096, ifindex: 0, ring_bytes: 8 << 20, netns_ino: 4026531840 });
  const pkts = [
    packet({ ts: 1763880000123456789n, ifindex: 1, dir: 0, family: 4, proto: 6, flags: 0x18, src: '127.0.0.1', dst: '10.20.255.3',
      sport: 51234, dport: 80, seq: 0xfffffff0, ack: 7, window: 512, frag: false, payload: Buffer.from('GET /x HTTP/1.1\r\nHost: a\r\n\r\n'), payloadLen: 28 }),
    packet({ ts: 1999999999999999999n, ifindex: 4, dir: 1, family: 6, proto: 6, flags: 0x12, src: '2001:db8::1:0:0:1', dst: '::1',
      sport: 80, dport: 40000, seq: 1, ack: 0x80000000, window: 65535, frag: false, payload: Buffer.alloc(0), payloadLen: 0 }),
    packet({ ts: 1n, ifindex: 70000, dir: 0, family: 6, proto: 17, flags: 0, src: 'fe80::fc:ff:fe00:1', dst: '::ffff:192.0.2.7',
      sport: 53, dport: 5353, seq: 0, ack: 0, window: 0, frag: true, payload: Buffer.from([0, 1, 2, 3, 4, 5, 6]), payloadLen: 1400 }),
    packet({ ts: 1763880000999999999n, ifindex: 2, dir: 1, family: 6, proto: 6, flags: 0x11, src: '2001:db8:0:1:1:1:1:1', dst: '2001:0:0:1::1',
      sport: 8080, dport: 1, seq: 42, ack: 43, window: 1, frag: false, payload: Buffer.alloc(300, 0x41), payloadLen: 9000 }),
  ];
  const stats = record(abi.WL_REC_STATS, 'wl_stats', { ts_ns: 1763880001000000999n, packets_seen: 2n ** 40n + 5n, packets_matched: 4,
    packets_sent: 4, ringbuf_drops: 3, records_written: 6, dropped_request_heads: 2, dropped_response_heads: 1 });
  const expStats: SensorStats = { tsUs: 1763880001000000, packetsSeen: 2 ** 40 + 5, packetsMatched: 4, packetsSent: 4, ringbufDrops: 3, recordsWritten: 6,
    droppedRequestHeads: 2, droppedResponseHeads: 1 };
  const stream = Buffer.concat([hello, ...pkts.map((p) => p.rec), stats]);
  return { stream, segs: pkts.map((p) => p.exp.seg), stats: expStats };
}

function collect(chunks: Buffer[]) {
  const segs: Array<Record<string, unknown>> = [];
  const stats: SensorStats[] = [];
  const errors: DecodeErrorInfo[] = [];
  let hellos = 0;
  const r = new abi.SensorRecordReader(
    {
      packet(seg) {
        // the payload view is only valid now: copy it out, as a consumer that keeps bytes must
        const { ifname: _ifname, ...rest } = seg;
        segs.push({ ...rest, payload: seg.payload.toString('hex') });
      },
      stats: (s) => stats.push(s),
      hello: () => hellos++,
      error: (e) => errors.push(e),
    },
    { ifnames: new abi.IfnameResolver('/nonexistent') },
  );
  for (const c of chunks) r.push(c);
  r.end();
  return { segs, stats, errors, hellos };
}

test('reader decodes synthetic records whole', () => {
  const { stream, segs, stats } = buildStream();
  const got = collect([stream]);
  assert.deepEqual(got.errors, []);
  assert.equal(got.hellos, 1);
  assert.deepEqual(got.segs, segs);
  assert.deepEqual(got.stats, [stats]);
});

test('reader gives the same result for the stream split at every byte boundary, and byte by byte', () => {
  const { stream, segs, stats } = buildStream();
  for (let i = 0; i <= stream.length; i++) {
    // copies, so a reader that kept a view into an old chunk would see it overwritten
    const a = Buffer.from(stream.subarray(0, i));
    const b = Buffer.from(stream.subarray(i));
    const got = collect([a, b]);
    assert.deepEqual(got.errors, [], `split at ${i}`);
    assert.deepEqual(got.segs, segs, `split at ${i}`);
    assert.deepEqual(got.stats, [stats], `split at ${i}`);
  }
  const bytes: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) bytes.push(Buffer.from([stream[i]]));
  const got = collect(bytes);
  assert.deepEqual(got.segs, segs);
  assert.deepEqual(got.stats, [stats]);
});

test('reader reports a truncated stream and a corrupt length with WL_ERR_ codes', () => {
  const { stream } = buildStream();
  const cut = collect([stream.subarray(0, stream.length - 3)]);
  assert.equal(cut.errors.length, 1);
  assert.equal(cut.errors[0].code, 'WL_ERR_SENSOR_TRUNCATED');
  assert.equal(cut.errors[0].offset + cut.errors[0].actual!, stream.length - 3);
  assert.equal(cut.stats.length, 0);

  const bad = Buffer.from(stream);
  const helloLen = bad.readUInt32LE(4);
  bad.writeUInt32LE(13, helloLen + 4); // first packet record: length not a multiple of 8
  const got = collect([bad]);
  assert.equal(got.hellos, 1);
  assert.equal(got.segs.length, 0);
  assert.equal(got.errors.length, 1);
  assert.equal(got.errors[0].code, 'WL_ERR_SENSOR_BAD_LENGTH');
  assert.equal(got.errors[0].offset, helloLen + 4);
});

test('reader skips an unknown record type and carries on', () => {
  const { stream, segs } = buildStream();
  const unknown = Buffer.alloc(24);
  unknown.writeUInt32LE(99, 0);
  unknown.writeUInt32LE(24, 4);
  const helloLen = stream.readUInt32LE(4);
  const got = collect([Buffer.concat([stream.subarray(0, helloLen), unknown, stream.subarray(helloLen)])]);
  assert.equal(got.errors.length, 1);
  assert.equal(got.errors[0].code, 'WL_ERR_SENSOR_UNKNOWN_RECORD');
  assert.deepEqual(got.segs, segs);
});

test('nsToUs is exact for any u64 nanosecond value', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (ns) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(ns);
      const us = abi.nsToUs(b, 0);
      const exact = ns / 1000n;
      // exact whenever the result fits a double's integers (every date before year 287396)
      if (exact <= BigInt(Number.MAX_SAFE_INTEGER)) assert.equal(BigInt(us), exact);
    }),
    { numRuns: 2000 },
  );
});

test('sensor packet addresses: IPv6 formatting matches the WHATWG URL serializer (RFC 5952 compression) on random addresses', () => {
  const addr = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
  fc.assert(
    fc.property(addr, (groups) => {
      const b = Buffer.alloc(16);
      groups.forEach((g, i) => b.writeUInt16BE(g, 2 * i));
      const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
      const s = ipv6Format(b, 0);
      if (mapped) {
        assert.equal(s, `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`);
      } else {
        const ref = new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname.slice(1, -1);
        assert.equal(s, ref);
      }
      assert.equal(ipv6ToString(b, 0), s); // cached path agrees
    }),
    { numRuns: 3000 },
  );
});

// ---- trace-mode records ----

function cbytes(s: string, n = 16): Buffer {
  const b = Buffer.alloc(n);
  b.write(s, 'latin1');
  return b;
}

function buildTraceStream() {
  const hello = record(abi.WL_REC_HELLO, 'wl_hello', { abi_version: abi.WL_ABI_VERSION, snaplen: 4096, ifindex: 0, ring_bytes: 8 << 20, netns_ino: 7 });
  const req = Buffer.from('GET /t HTTP/1.1\r\nHost: x\r\n\r\n');
  const d1 = record(abi.WL_REC_DATA, 'wl_data_event', {
    ts_enter_ns: 1763880000123456000n, ts_exit_ns: 1763880000123999999n, ssl_ptr: 0, pid: 4242, tid: 4243, fd: 17,
    len: 9000, cap_len: req.length, syscall: abi.WL_SYS_READ, source: abi.WL_SRC_SYSCALL, direction: abi.WL_DIR_IN,
    family: 4, flags: abi.WL_DF_TLS, lport: 8080, rport: 51000, laddr: Buffer.from([127, 0, 0, 1]),
    raddr: Buffer.from([10, 1, 2, 3]), comm: cbytes('node'), sock_id: 0xfedcba9876543210n,
  }, req);
  const d2 = record(abi.WL_REC_DATA, 'wl_data_event', {
    ts_enter_ns: 5n, ts_exit_ns: 6000n, ssl_ptr: 0x7f00deadbeefn, pid: 1, tid: 2, fd: -1, len: 3, cap_len: 3,
    syscall: abi.WL_SYS_SSL_WRITE_EX, source: abi.WL_SRC_TLS, direction: abi.WL_DIR_OUT, family: 0,
    flags: abi.WL_DF_FD_GUESS, lport: 0, rport: 0, comm: cbytes('a-full-15-chars'), sock_id: 0,
  }, Buffer.from('abc'));
  const d3 = record(abi.WL_REC_DATA, 'wl_data_event', {
    ts_enter_ns: 1n, ts_exit_ns: 2000n, pid: 9, tid: 9, fd: 3, len: 100, cap_len: 0, syscall: abi.WL_SYS_SENDFILE,
    source: abi.WL_SRC_SYSCALL, direction: abi.WL_DIR_OUT, family: 6, lport: 443, rport: 40000,
    laddr: ip6Bytes('2001:db8::1'), raddr: ip6Bytes('::1'), comm: cbytes('nginx'), sock_id: 1,
  });
  const c1 = record(abi.WL_REC_CONN, 'wl_conn_event', {
    ts_ns: 1763880000000001000n, sock_id: 0xfedcba9876543210n, pid: 4242, tid: 0, fd: -1, ret: 0, kind: abi.WL_CONN_STATE,
    family: 4, old_state: 1, new_state: 8, lport: 8080, rport: 51000, laddr: Buffer.from([127, 0, 0, 1]),
    raddr: Buffer.from([10, 1, 2, 3]), comm: cbytes(''),
  });
  const c2 = record(abi.WL_REC_CONN, 'wl_conn_event', {
    ts_ns: 3000n, sock_id: 2, pid: 5, tid: 6, fd: 4, ret: -115, kind: abi.WL_CONN_CONNECT, family: 6,
    lport: 1234, rport: 443, laddr: ip6Bytes('fe80::1'), raddr: ip6Bytes('2001:db8::2'), comm: cbytes('curl'),
  });
  const p1 = record(abi.WL_REC_PROC, 'wl_proc_event', { ts_ns: 7000n, kind: abi.WL_PROC_EXIT, pid: 4242, ppid: 1, exit_code: (3 << 8) | 0, comm: cbytes('node') });
  const p2 = record(abi.WL_REC_PROC, 'wl_proc_event', { ts_ns: 8000n, kind: abi.WL_PROC_FORK, pid: 77, ppid: 76, exit_code: 0, comm: cbytes('bash') });
  const st = record(abi.WL_REC_TRACE_STATS, 'wl_trace_stats', {
    ts_ns: 9000n, events_sent: 7, ringbuf_drops: 2n ** 33n, records_written: 9, data_events: 3, tls_events: 1,
    conn_events: 2, proc_events: 2, nonsock_skipped: 11, mmsg_calls: 12, truncated: 13, copy_failed: 14,
  });
  const expected = {
    data: [
      { tsUs: 1763880000123999, enterUs: 1763880000123456, pid: 4242, tid: 4243, comm: 'node', fd: 17, source: 'syscall',
        syscall: 'read', direction: 'in', family: 4, localAddr: '127.0.0.1', localPort: 8080, remoteAddr: '10.1.2.3',
        remotePort: 51000, len: 9000, payload: req.toString('hex'), truncated: true, tlsBytes: true, fdGuessed: false,
        sockId: 0xfedcba9876543210n, ssl: 0n },
      { tsUs: 6, enterUs: 0, pid: 1, tid: 2, comm: 'a-full-15-chars', fd: -1, source: 'tls', syscall: 'SSL_write_ex',
        direction: 'out', family: 0, localAddr: '', localPort: 0, remoteAddr: '', remotePort: 0, len: 3,
        payload: Buffer.from('abc').toString('hex'), truncated: false, tlsBytes: false, fdGuessed: true, sockId: 0n,
        ssl: 0x7f00deadbeefn },
      { tsUs: 2, enterUs: 0, pid: 9, tid: 9, comm: 'nginx', fd: 3, source: 'syscall', syscall: 'sendfile', direction: 'out',
        family: 6, localAddr: '2001:db8::1', localPort: 443, remoteAddr: '::1', remotePort: 40000, len: 100, payload: '',
        truncated: true, tlsBytes: false, fdGuessed: false, sockId: 1n, ssl: 0n },
    ],
    conn: [
      { tsUs: 1763880000000001, kind: 'state', pid: 4242, tid: 0, comm: '', fd: -1, ret: 0, family: 4, localAddr: '127.0.0.1',
        localPort: 8080, remoteAddr: '10.1.2.3', remotePort: 51000, oldState: 'ESTABLISHED', newState: 'CLOSE_WAIT',
        sockId: 0xfedcba9876543210n },
      { tsUs: 3, kind: 'connect', pid: 5, tid: 6, comm: 'curl', fd: 4, ret: -115, family: 6, localAddr: 'fe80::1',
        localPort: 1234, remoteAddr: '2001:db8::2', remotePort: 443, sockId: 2n },
    ],
    proc: [
      { tsUs: 7, kind: 'exit', pid: 4242, ppid: 1, comm: 'node', exitStatus: 768, exitCode: 3, signal: 0 },
      { tsUs: 8, kind: 'fork', pid: 77, ppid: 76, comm: 'bash' },
    ],
    stats: [{ tsUs: 9, eventsSent: 7, ringbufDrops: 2 ** 33, recordsWritten: 9, dataEvents: 3, tlsEvents: 1, connEvents: 2,
      procEvents: 2, nonsockSkipped: 11, mmsgCalls: 12, truncated: 13, copyFailed: 14 }],
  };
  return { stream: Buffer.concat([hello, d1, c1, d2, p1, c2, d3, p2, st]), expected };
}

function collectTrace(chunks: Buffer[]) {
  const got = { data: [] as unknown[], conn: [] as unknown[], proc: [] as unknown[], stats: [] as unknown[] };
  const errors: DecodeErrorInfo[] = [];
  const r = new abi.SensorRecordReader(
    {
      packet: () => assert.fail('no packet records in a trace stream'),
      stats: () => assert.fail('no packet stats in a trace stream'),
      error: (e) => errors.push(e),
      data: (d) => got.data.push({ ...d, payload: d.payload.toString('hex') }),
      conn: (c) => got.conn.push(c),
      proc: (p) => got.proc.push(p),
      traceStats: (s) => got.stats.push(s),
    },
    { ifnames: new abi.IfnameResolver('/nonexistent') },
  );
  for (const c of chunks) r.push(c);
  r.end();
  return { got, errors };
}

test('trace records (data, conn, proc, trace stats) decode with the C offsets, whole and split anywhere', () => {
  const { stream, expected } = buildTraceStream();
  const whole = collectTrace([stream]);
  assert.deepEqual(whole.errors, []);
  assert.deepEqual(whole.got, expected);
  for (let i = 0; i <= stream.length; i++) {
    const got = collectTrace([Buffer.from(stream.subarray(0, i)), Buffer.from(stream.subarray(i))]);
    assert.deepEqual(got.errors, [], `split at ${i}`);
    assert.deepEqual(got.got, expected, `split at ${i}`);
  }
});

test('trace records are skipped silently by a packet-only consumer, and a short data record is reported', () => {
  const { stream } = buildTraceStream();
  const errors: DecodeErrorInfo[] = [];
  let n = 0;
  const r = new abi.SensorRecordReader({ packet: () => n++, stats: () => n++, error: (e) => errors.push(e) },
    { ifnames: new abi.IfnameResolver('/nonexistent') });
  r.push(stream);
  r.end();
  assert.equal(n, 0);
  assert.deepEqual(errors, []);

  // a data record whose cap_len runs past its length
  const bad = record(abi.WL_REC_DATA, 'wl_data_event', { cap_len: 64, len: 64 });
  const got = collectTrace([bad]);
  assert.equal(got.got.data.length, 0);
  assert.equal(got.errors.length, 1);
  assert.equal(got.errors[0].code, 'WL_ERR_SENSOR_SHORT_RECORD');
});

test('trace reader: repeated and colliding comm / sock_id / ssl values decode exactly (reader caches)', () => {
  // the reader reuses the last comm and a direct-mapped BigInt cache: values that share a prefix, a length or a
  // cache slot must still come out as written
  const comms = ['node', 'nodejs', 'nod', 'node', 'nodf', '', 'a-full-15-chars', 'a-full-15-charz', 'node'];
  const ids = [1n, 1n + (1n << 32n), 1n + (2n << 32n), (1n << 32n), 0xffffffffffffffffn, 1n, 0n, 64n, 1n + (1n << 32n)];
  const recs: Buffer[] = [];
  for (let i = 0; i < comms.length; i++) {
    recs.push(record(abi.WL_REC_DATA, 'wl_data_event', {
      ts_enter_ns: 1n, ts_exit_ns: 2000n, ssl_ptr: ids[(i + 3) % ids.length], pid: 9, tid: 9, fd: 3, len: 0, cap_len: 0,
      syscall: abi.WL_SYS_READ, source: abi.WL_SRC_SYSCALL, direction: abi.WL_DIR_IN, family: 4, lport: 1, rport: 2,
      laddr: Buffer.from([127, 0, 0, 1]), raddr: Buffer.from([127, 0, 0, 2]), comm: cbytes(comms[i]), sock_id: ids[i],
    }));
  }
  const got: Array<{ comm: string; sockId: bigint; ssl: bigint }> = [];
  const r = new abi.SensorRecordReader({
    packet: () => assert.fail('no packets'), stats: () => assert.fail('no stats'),
    data: (d) => got.push({ comm: d.comm, sockId: d.sockId, ssl: d.ssl }),
  });
  r.push(Buffer.concat(recs));
  assert.deepEqual(got, comms.map((c, i) => ({ comm: c, sockId: ids[i], ssl: ids[(i + 3) % ids.length] })));
});

test('netdev records (packet, drops, stats) decode with the C offsets; other record types are skipped', () => {
  const pkt = record(abi.WL_REC_NETDEV_PACKET, 'wl_netdev_event', {
    ts_ns: 1763880000123456789n, netns_ino: 4026532001, ifindex: 7, direction: abi.WL_DIR_OUT, family: 6, l4proto: 6,
    tcp_flags: 0x18, ifname: Buffer.from('veth-a'), saddr: ip6Bytes('fd00:200::1'), daddr: ip6Bytes('fd00:200::2'),
    sport: 40000, dport: 80, seq: 0xfffffff0, ack: 7, window: 502, ip_flags: abi.WL_NDV_PAGED, ip_len: 140,
    payload_len: 100, cap_len: 3, skb_len: 154,
  }, Buffer.from('GET'));
  const dev = Buffer.alloc(layout.get('wl_netdev_dev_drops')!.size);
  put(dev, 'wl_netdev_dev_drops', 'netns_ino', 4026532001, 0);
  put(dev, 'wl_netdev_dev_drops', 'ifindex', 7, 0);
  put(dev, 'wl_netdev_dev_drops', 'drops', 2n ** 33n, 0);
  put(dev, 'wl_netdev_dev_drops', 'ifname', Buffer.from('0123456789abcdef'), 0); // 16 bytes, no NUL
  const drops = record(abi.WL_REC_NETDEV_DROPS, 'wl_netdev_drops', { ts_ns: 5n, count: 1 }, dev);
  const statFields: Record<string, bigint> = {};
  abi.WL_NETDEV_COUNTERS.forEach((k, i) => (statFields[k] = BigInt(i + 1)));
  const stats = record(abi.WL_REC_NETDEV_STATS, 'wl_netdev_stats', { ...statFields, ts_ns: 9n, records_written: 4n });
  const other = record(abi.WL_REC_STATS, 'wl_stats', { ts_ns: 1n });
  const s = readNetdevStream(Buffer.concat([pkt, other, drops, stats, pkt.subarray(0, 20)]));
  assert.equal(s.rest, 20);
  assert.equal(s.packets.length, 1);
  const p = s.packets[0];
  assert.deepEqual({ ...p, payload: p.payload.toString() }, {
    tsNs: 1763880000123456789n, netns: 4026532001, ifindex: 7, ifname: 'veth-a', direction: 'tx', family: 6, proto: 6,
    src: 'fd00:200::1', dst: 'fd00:200::2', sport: 40000, dport: 80, seq: 0xfffffff0, ack: 7, flags: 0x18, window: 502,
    fragment: false, paged: true, ipLen: 140, payloadLen: 100, skbLen: 154, payload: 'GET',
  });
  assert.deepEqual(s.drops, [[{ netns: 4026532001, ifindex: 7, ifname: '0123456789abcdef', drops: 2 ** 33 }]]);
  assert.equal(s.stats.length, 1);
  assert.equal(s.stats[0].tsNs, 9n);
  assert.equal(s.stats[0].records_written, 4);
  abi.WL_NETDEV_COUNTERS.forEach((k, i) => assert.equal(s.stats[0][k], i + 1, k));
});

test('packet mode over namespaces: netns and device records name the devices of each packet; drops per device', () => {
  const hello = record(abi.WL_REC_HELLO, 'wl_hello', { abi_version: abi.WL_ABI_VERSION, snaplen: 4096, ifindex: 0, ring_bytes: 8 << 20, netns_ino: 4026531840 });
  const ns = record(abi.WL_REC_NETNS, 'wl_netns_event', { ts_ns: 1000n, netns_ino: 4026532001, state: abi.WL_NS_WATCHED, err: 0,
    path: Buffer.from('/run/netns/wl-c') });
  const failed = record(abi.WL_REC_NETNS, 'wl_netns_event', { ts_ns: 1000n, netns_ino: 4026532009, state: abi.WL_NS_FAILED, err: -1,
    path: Buffer.from('/proc/77/ns/net') });
  const dev = record(abi.WL_REC_DEVICE, 'wl_device_event', { ts_ns: 2000n, netns_ino: 4026532001, ifindex: 2, state: abi.WL_DEV_PRESENT,
    ifname: Buffer.from('eth0') });
  const pkt = (netns: number, ifindex: number) => record(abi.WL_REC_PACKET, 'wl_packet_event', {
    ts_ns: 3000n, ifindex, direction: 1, family: 4, l4proto: 6, tcp_flags: 0x02, saddr: Buffer.from([10, 0, 0, 1]),
    daddr: Buffer.from([10, 0, 0, 2]), sport: 40000, dport: 80, seq: 5, ack: 0, window: 100, payload_len: 0, cap_len: 0,
    netns_ino: netns,
  });
  const gone = record(abi.WL_REC_DEVICE, 'wl_device_event', { ts_ns: 4000n, netns_ino: 4026532001, ifindex: 2, state: abi.WL_DEV_GONE,
    ifname: Buffer.from('eth0') });
  const d = Buffer.alloc(layout.get('wl_netdev_dev_drops')!.size);
  put(d, 'wl_netdev_dev_drops', 'netns_ino', 4026532001, 0);
  put(d, 'wl_netdev_dev_drops', 'ifindex', 2, 0);
  put(d, 'wl_netdev_dev_drops', 'drops', 3, 0);
  put(d, 'wl_netdev_dev_drops', 'ifname', Buffer.from('eth0'), 0);
  const drops = record(abi.WL_REC_NETDEV_DROPS, 'wl_netdev_drops', { ts_ns: 5000n, count: 1 }, d);
  const events: unknown[] = [];
  const r = new SensorRecordReader({
    packet: (seg) => events.push(['packet', seg.netns, seg.ifindex, seg.ifname]),
    stats: () => {},
    netns: (n) => events.push(['netns', n]),
    device: (x) => events.push(['device', x]),
    deviceDrops: (ts, list) => events.push(['drops', ts, list]),
    error: (e) => events.push(['error', e.message]),
  }, { ifnames: new IfnameResolver('/nonexistent') });
  // packet 3: an old sensor's zero netns_ino means the hello's namespace
  r.push(Buffer.concat([hello, ns, failed, dev, pkt(4026532001, 2), pkt(4026532001, 9), pkt(0, 1), gone, pkt(4026532001, 2), drops]));
  assert.deepEqual(events, [
    ['netns', { tsUs: 1, netns: 4026532001, state: 'watched', err: 0, path: '/run/netns/wl-c' }],
    ['netns', { tsUs: 1, netns: 4026532009, state: 'failed', err: -1, path: '/proc/77/ns/net' }],
    ['device', { tsUs: 2, netns: 4026532001, ifindex: 2, state: 'present', ifname: 'eth0' }],
    ['packet', 4026532001, 2, 'eth0'],
    ['packet', 4026532001, 9, undefined],
    ['packet', 4026531840, 1, undefined],
    ['device', { tsUs: 4, netns: 4026532001, ifindex: 2, state: 'gone', ifname: 'eth0' }],
    ['packet', 4026532001, 2, 'eth0'],
    ['drops', 5, [{ netns: 4026532001, ifindex: 2, ifname: 'eth0', drops: 3 }]],
  ]);
});
