import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { ipv4FromU32, ipv4ToString, ipv6Format, ipv6ToString } from '../../src/decode/addr.js';
import { DecodeError } from '../../src/decode/errors.js';
import { EthernetView, NullView, Sll2View, SllView, VlanView } from '../../src/decode/link.js';
import { ipv4Options, Ipv4View } from '../../src/decode/ipv4.js';
import { ipv6ExtensionHeaders, Ipv6View } from '../../src/decode/ipv6.js';
import { TcpView, tcpOptions } from '../../src/decode/tcp.js';
import { UdpView } from '../../src/decode/udp.js';
import { PcapWriter } from '../../src/sinks/pcap-writer.js';
import { cat, ether, ipv4, ipv6, ipv6Bytes, sll, sll2, tcp, tsharkFields, u8, u16be, u32be, udp } from '../helpers/decode-build.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'wirelog-layers-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('IPv6 text follows RFC 5952 (examples from the RFC and edge cases)', () => {
  const cases: Array<[string, string]> = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:0db8:0000:0001:0001:0001:0001:0001', '2001:db8:0:1:1:1:1:1'], // a single 0 group is not compressed
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],   // first of equal runs
    ['2001:0db8:0000:0000:0000:0001:0000:0000', '2001:db8::1:0:0'],     // longest run wins
    ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['fe80:0000:0000:0000:0000:0000:0000:0000', 'fe80::'],
    ['0000:0000:0000:0000:0000:ffff:7f00:0001', '::ffff:127.0.0.1'],
    ['0000:0000:0000:0000:0000:ffff:c000:0280', '::ffff:192.0.2.128'],
    ['ABCD:EF01:2345:6789:ABCD:EF01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789'],
  ];
  for (const [full, want] of cases) {
    const b = Buffer.from(full.replace(/:/g, ''), 'hex');
    assert.equal(ipv6ToString(b, 0), want, full);
    assert.equal(ipv6ToString(cat(u8(9, 9, 9), b), 3), want, `${full} at an offset`);
  }
});

test('property: IPv6 text equals the WHATWG URL serialisation (except IPv4-mapped) and is cached correctly', () => {
  // Mostly-zero groups so that runs of zeros are common.
  const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
  fc.assert(fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (g) => {
    const b = Buffer.alloc(16);
    g.forEach((v, i) => b.writeUInt16BE(v, i * 2));
    const mapped = g.slice(0, 5).every((v) => v === 0) && g[5] === 0xffff;
    const url = new URL(`http://[${g.map((v) => v.toString(16)).join(':')}]/`).hostname.slice(1, -1);
    const ours = ipv6ToString(b, 0);
    if (!mapped) assert.equal(ours, url);
    assert.equal(ours, ipv6Format(b, 0));
    assert.deepEqual(ipv6Bytes(ours), b);
  }), { numRuns: 3000 });
});

test('property: IPv4 dotted quad, cached or not', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
    const b = u32be(v);
    const want = [...b].join('.');
    assert.equal(ipv4ToString(b, 0), want);
    assert.equal(ipv4ToString(b, 0), want);
    assert.equal(ipv4FromU32(v), want);
  }), { numRuns: 2000 });
});

test('link views read their fields', () => {
  const e = ether(0x0800, Buffer.alloc(4), [{ tpid: 0x88a8, vid: 0xabc, pcp: 5 }, { tpid: 0x8100, vid: 7 }]);
  const ev = new EthernetView();
  assert.equal(ev.reset(e, 0), undefined);
  assert.deepEqual([ev.dst, ev.src, ev.etherType], ['02:00:00:00:00:01', '02:00:00:00:00:02', 0x88a8]);
  const vv = new VlanView();
  assert.equal(vv.reset(e, 14), undefined);
  assert.deepEqual([vv.pcp, vv.dei, vv.vid, vv.etherType], [5, false, 0xabc, 0x8100]);
  assert.equal(vv.reset(e, 18), undefined);
  assert.deepEqual([vv.vid, vv.etherType], [7, 0x0800]);
  const s1 = new SllView();
  assert.equal(s1.reset(sll(0x86dd, Buffer.alloc(0), 4), 0), undefined);
  assert.deepEqual([s1.packetType, s1.arphrd, s1.addrLen, s1.addr, s1.protocol], [4, 1, 6, '02:00:00:00:00:01', 0x86dd]);
  const s2 = new Sll2View();
  assert.equal(s2.reset(sll2(0x0800, Buffer.alloc(0), 4, 1234567), 0), undefined);
  assert.deepEqual([s2.protocol, s2.ifindex, s2.arphrd, s2.packetType, s2.addrLen, s2.addr], [0x0800, 1234567, 1, 4, 6, '02:00:00:00:00:01']);
  const nv = new NullView();
  assert.equal(nv.reset(Buffer.from([2, 0, 0, 0]), 0), undefined);
  assert.equal(nv.family, 2);
  assert.equal(nv.reset(Buffer.from([0, 0, 0, 30]), 0), undefined);
  assert.equal(nv.family, 30);
  assert.equal(nv.reset(Buffer.from([0, 0, 0, 24]), 0, 4, true), undefined);
  assert.equal(nv.family, 24);
  for (const [v, len] of [[ev, 14], [vv, 4], [s1, 16], [s2, 20], [nv, 4]] as const) {
    const err = v.reset(Buffer.alloc(len - 1), 0);
    assert.ok(err instanceof DecodeError);
    assert.deepEqual([err.code, err.offset, err.required, err.actual], ['WL_ERR_TRUNCATED', 0, len, len - 1]);
  }
});

test('IPv4 view: fields, options, fragments, checksum', () => {
  const rr = cat(u8(7, 11, 4), Buffer.alloc(8)); // record route, 11 bytes
  const b = ipv4({ src: '1.2.3.4', dst: '5.6.7.8', proto: 17, options: cat(u8(1), rr), id: 0xbeef, mf: true, fragOffset8: 3, ttl: 9 }, Buffer.alloc(5));
  const v = new Ipv4View();
  assert.equal(v.reset(b, 0), undefined);
  assert.deepEqual([v.version, v.headerLen, v.totalLength, v.id, v.moreFragments, v.dontFragment, v.fragmentOffset, v.isFragment, v.ttl, v.protocol, v.src, v.dst],
    [4, 32, 37, 0xbeef, true, false, 24, true, 9, 17, '1.2.3.4', '5.6.7.8']);
  assert.equal(v.computeChecksum(), 0);
  assert.deepEqual(ipv4Options(v), [{ type: 1, offset: 20, length: 1 }, { type: 7, offset: 21, length: 11 }]);
  const bad = Buffer.from(b); bad[22] = 40; // option length past the header
  assert.equal(v.reset(bad, 0), undefined);
  assert.ok(ipv4Options(v) instanceof DecodeError);
});

test('IPv6 view: fields and every extension header type', () => {
  const ext = [{ type: 0, body: Buffer.alloc(6) }, { type: 43, body: Buffer.alloc(22) }, { type: 44, body: cat(u16be(0x0001), u32be(5)) },
    { type: 51, body: Buffer.alloc(14) }, { type: 60, body: Buffer.alloc(6) }];
  const b = ipv6({ src: '::1', dst: 'ff02::fb', proto: 6, ext }, Buffer.alloc(20));
  const v = new Ipv6View();
  assert.equal(v.reset(b, 0), undefined);
  assert.deepEqual([v.version, v.nextHeader, v.hopLimit, v.payloadLength, v.src, v.dst], [6, 0, 64, b.length - 40, '::1', 'ff02::fb']);
  assert.deepEqual(ipv6ExtensionHeaders(v), [
    { type: 0, offset: 40, length: 8 }, { type: 43, offset: 48, length: 24 }, { type: 44, offset: 72, length: 8 },
    { type: 51, offset: 80, length: 16 }, { type: 60, offset: 96, length: 8 }]);
  const cut = ipv6ExtensionHeaders(v, 90) as DecodeError;
  assert.deepEqual([cut.code, cut.layer, cut.offset, cut.required, cut.actual], ['WL_ERR_TRUNCATED', 'ipv6', 80, 16, 10]);
});

test('TCP options parsed on demand; malformed lengths are errors', () => {
  const opts = cat(u8(2, 4, 0x05, 0xb4), u8(1, 3, 3, 7), u8(4, 2), u8(5, 18), u32be(100), u32be(200), u32be(300), u32be(400), u8(8, 10), u32be(0xdeadbeef), u32be(42), u8(0, 0));
  const t = tcp({ options: opts, flags: 0x1c2 }, Buffer.from('x'));
  const v = new TcpView();
  assert.equal(v.reset(t, 0), undefined);
  assert.deepEqual([v.srcPort, v.dstPort, v.seq, v.ack, v.headerLen, v.flags, v.syn, v.ackFlag, v.fin], [40000, 80, 1000, 2000, 20 + opts.length, 0x1c2, true, false, false]);
  const o = tcpOptions(v);
  assert.ok(!(o instanceof DecodeError));
  assert.deepEqual(o, { mss: 1460, windowScale: 7, sackPermitted: true, sack: [[100, 200], [300, 400]], timestamp: { value: 0xdeadbeef, echo: 42 } });
  const v2 = new TcpView();
  assert.equal(v2.reset(tcp({ options: cat(u8(30, 4, 1, 2)) }, Buffer.alloc(0)), 0), undefined);
  assert.deepEqual(tcpOptions(v2), { other: [{ kind: 30, data: u8(1, 2) }] });
  for (const [at, val] of [[1, 5], [1, 1], [6, 40]] as const) {
    const bad = Buffer.from(t); bad[20 + at] = val;
    assert.equal(v.reset(bad, 0), undefined);
    assert.ok(tcpOptions(v) instanceof DecodeError, `byte ${at} = ${val}`);
  }
  const u = new UdpView();
  const ub = udp({ sport: 1, dport: 2 }, Buffer.alloc(3));
  assert.equal(u.reset(ub, 0), undefined);
  assert.deepEqual([u.srcPort, u.dstPort, u.length], [1, 2, 11]);
});

test('built frames agree with tshark: VLAN ids, IPv4 options, TCP options, IPv6 fragments', () => {
  const file = path.join(tmp, 'built.pcap');
  const w = new PcapWriter(file);
  const topts = cat(u8(2, 4, 0x05, 0xb4), u8(1, 3, 3, 7), u8(4, 2), u8(8, 10), u32be(123456), u32be(654321));
  w.write(1e15, ether(0x0800, ipv4({ src: '10.9.8.7', dst: '10.0.0.1', proto: 6, options: cat(u8(0x94, 4, 0, 0)) },
    tcp({ sport: 1234, dport: 80, seq: 5, flags: 2, options: topts }, Buffer.alloc(0))), [{ tpid: 0x88a8, vid: 300 }, { tpid: 0x8100, vid: 12 }]));
  w.write(1e15 + 1, ether(0x86dd, ipv6({ src: '2001:db8::5', dst: '2001:db8::6', proto: 17, ext: [{ type: 0, body: Buffer.alloc(6) }, { type: 44, body: cat(u16be(1), u32be(77)) }] },
    udp({ sport: 9, dport: 10, length: 1000 }, Buffer.alloc(16)))));
  w.close();
  const rows = tsharkFields(file, ['vlan.id', 'ip.hdr_len', 'tcp.options.mss_val', 'tcp.options.wscale.shift', 'tcp.options.timestamp.tsval', 'tcp.options.timestamp.tsecr', 'ipv6.fraghdr.ident', 'ipv6.fraghdr.more', 'ieee8021ad.id']);
  const tv = new TcpView();
  // frame 1: walk with the views
  const f1 = ether(0x0800, ipv4({ src: '10.9.8.7', dst: '10.0.0.1', proto: 6, options: cat(u8(0x94, 4, 0, 0)) },
    tcp({ sport: 1234, dport: 80, seq: 5, flags: 2, options: topts }, Buffer.alloc(0))), [{ tpid: 0x88a8, vid: 300 }, { tpid: 0x8100, vid: 12 }]);
  const vv = new VlanView(); vv.reset(f1, 14);
  const ip = new Ipv4View(); assert.equal(ip.reset(f1, 22), undefined);
  assert.equal(tv.reset(f1, 22 + ip.headerLen), undefined);
  const o = tcpOptions(tv) as Exclude<ReturnType<typeof tcpOptions>, DecodeError>;
  assert.equal(String(vv.vid), rows[0]![8]); // outer 802.1ad tag
  vv.reset(f1, 18);
  assert.equal(String(vv.vid), rows[0]![0]); // inner 802.1Q tag
  assert.equal(String(ip.headerLen), rows[0]![1]);
  assert.deepEqual([String(o.mss), String(o.windowScale), String(o.timestamp?.value), String(o.timestamp?.echo)], rows[0]!.slice(2, 6));
  const f2 = new Ipv6View();
  const b2 = ipv6({ src: '2001:db8::5', dst: '2001:db8::6', proto: 17, ext: [{ type: 0, body: Buffer.alloc(6) }, { type: 44, body: cat(u16be(1), u32be(77)) }] }, udp({ sport: 9, dport: 10, length: 1000 }, Buffer.alloc(16)));
  assert.equal(f2.reset(b2, 0), undefined);
  const hdrs = ipv6ExtensionHeaders(f2) as Array<{ type: number; offset: number }>;
  const frag = hdrs.find((h) => h.type === 44)!;
  assert.equal(b2.readUInt32BE(frag.offset + 4), Number(rows[1]![6])); // tshark prints the id in hex
  assert.equal((b2.readUInt16BE(frag.offset + 2) & 1) === 1, rows[1]![7] === '1' || rows[1]![7] === 'True');
});
