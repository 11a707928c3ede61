import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Frame } from '../../src/records.js';
import { decodeFrame, newDecodeStats, type DecodeStats } from '../../src/decode/frame.js';
import { cat, ether, ipv4, ipv6, nullHdr, sll, sll2, tcp, u8, u16be, u32be, udp } from '../helpers/decode-build.js';

const frame = (linkType: number, data: Buffer, origLen = data.length, extra: Partial<Frame> = {}): Frame =>
  ({ tsUs: 1_700_000_000_123_456, linkType, data, origLen, ifindex: 3, ...extra });

const HTTP = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
const TCP_OPTS = cat(u8(2, 4, 0x05, 0xb4), u8(1, 3, 3, 7), u8(4, 2, 8, 10), u32be(111), u32be(222), u8(1, 1, 1, 0));
const tcpSeg = (payload = HTTP): Buffer => tcp({ sport: 40000, dport: 8080, seq: 0xfffffff0, ack: 77, flags: 0x118, window: 1234, options: TCP_OPTS }, payload);
const v4 = (proto: number, l4: Buffer, extra: Partial<Parameters<typeof ipv4>[0]> = {}): Buffer => ipv4({ src: '192.168.1.10', dst: '10.1.2.3', proto, ...extra }, l4);
const v6 = (proto: number, l4: Buffer, ext?: Array<{ type: number; body: Buffer }>): Buffer => ipv6({ src: 'fe80::1:2', dst: '2001:db8::abcd', proto, ext }, l4);

/** Layers of a built frame, outermost first: where each header starts and how long it is. */
interface Case { name: string; linkType: number; data: Buffer; layers: Array<[layer: string, start: number, len: number]>; family: 4 | 6; proto: 6 | 17; payload: Buffer; direction?: 'in' | 'out'; ifindex?: number }

const hopByHop = { type: 0, body: Buffer.alloc(6) };               // 8 bytes, PadN
const routing = { type: 43, body: cat(u8(0, 0), Buffer.alloc(4), Buffer.alloc(16)) }; // type 0, 24 bytes
const destOpts = { type: 60, body: Buffer.alloc(14) };              // 16 bytes
const ah = { type: 51, body: Buffer.alloc(22) };                    // (22+2)/4 = 6 → 24 bytes
const fragFirst = { type: 44, body: cat(u16be(0x0001), u32be(0xabcdef)) }; // offset 0, M=1

function cases(): Case[] {
  const t = tcpSeg();
  const th = t.length - HTTP.length;
  const ip4 = v4(6, t), ip6 = v6(6, t);
  const ipOpts = v4(6, t, { options: cat(u8(7, 7, 4), Buffer.alloc(4), u8(1)) }); // record route + NOP: 28-byte header
  const ext = [hopByHop, routing, destOpts, ah];
  const ip6ext = v6(6, t, ext);
  const extLen = 8 + 24 + 16 + 24;
  const u = udp({ sport: 5353, dport: 53 }, Buffer.from('dns?'));
  const out: Case[] = [
    { name: 'ethernet ipv4 tcp', linkType: 1, data: ether(0x0800, ip4), layers: [['ethernet', 0, 14], ['ipv4', 14, 20], ['tcp', 34, th]], family: 4, proto: 6, payload: HTTP },
    { name: 'ethernet ipv4+options tcp', linkType: 1, data: ether(0x0800, ipOpts), layers: [['ethernet', 0, 14], ['ipv4', 14, 28], ['tcp', 42, th]], family: 4, proto: 6, payload: HTTP },
    { name: 'ethernet ipv6 tcp', linkType: 1, data: ether(0x86dd, ip6), layers: [['ethernet', 0, 14], ['ipv6', 14, 40], ['tcp', 54, th]], family: 6, proto: 6, payload: HTTP },
    { name: 'ethernet ipv6 hbh+routing+dstopts+ah tcp', linkType: 1, data: ether(0x86dd, ip6ext),
      layers: [['ethernet', 0, 14], ['ipv6', 14, 40], ['ipv6', 54, 8], ['ipv6', 62, 24], ['ipv6', 86, 16], ['ipv6', 102, 24], ['tcp', 54 + extLen, th]], family: 6, proto: 6, payload: HTTP },
    { name: 'ethernet ipv6 first fragment (atomic) udp', linkType: 1, data: ether(0x86dd, v6(17, u, [{ type: 44, body: cat(u16be(0), u32be(9)) }])),
      layers: [['ethernet', 0, 14], ['ipv6', 14, 40], ['ipv6', 54, 8], ['udp', 62, 8]], family: 6, proto: 17, payload: Buffer.from('dns?') },
    { name: '802.1Q ipv4 udp', linkType: 1, data: ether(0x0800, v4(17, u), [{ tpid: 0x8100, vid: 42 }]), layers: [['ethernet', 0, 14], ['vlan', 14, 4], ['ipv4', 18, 20], ['udp', 38, 8]], family: 4, proto: 17, payload: Buffer.from('dns?') },
    { name: 'QinQ 802.1ad+802.1Q ipv6 tcp', linkType: 1, data: ether(0x86dd, ip6, [{ tpid: 0x88a8, vid: 100 }, { tpid: 0x8100, vid: 200 }]),
      layers: [['ethernet', 0, 14], ['vlan', 14, 4], ['vlan', 18, 4], ['ipv6', 22, 40], ['tcp', 62, th]], family: 6, proto: 6, payload: HTTP },
    { name: 'SLL outgoing ipv4 tcp', linkType: 113, data: sll(0x0800, ip4, 4), layers: [['sll', 0, 16], ['ipv4', 16, 20], ['tcp', 36, th]], family: 4, proto: 6, payload: HTTP, direction: 'out' },
    { name: 'SLL2 host ipv6 tcp', linkType: 276, data: sll2(0x86dd, ip6, 0, 9), layers: [['sll2', 0, 20], ['ipv6', 20, 40], ['tcp', 60, th]], family: 6, proto: 6, payload: HTTP, direction: 'in', ifindex: 9 },
    { name: 'SLL2 with a VLAN tag', linkType: 276, data: sll2(0x8100, cat(u16be(7), u16be(0x0800), ip4), 4), layers: [['sll2', 0, 20], ['vlan', 20, 4], ['ipv4', 24, 20], ['tcp', 44, th]], family: 4, proto: 6, payload: HTTP, direction: 'out', ifindex: 7 },
    { name: 'BSD null (LE) ipv4', linkType: 0, data: nullHdr(2, ip4, 'le'), layers: [['null', 0, 4], ['ipv4', 4, 20], ['tcp', 24, th]], family: 4, proto: 6, payload: HTTP },
    { name: 'BSD null (BE host) ipv6 (AF 30)', linkType: 0, data: nullHdr(30, ip6, 'be'), layers: [['null', 0, 4], ['ipv6', 4, 40], ['tcp', 44, th]], family: 6, proto: 6, payload: HTTP },
    { name: 'LOOP (network order) ipv6 (AF 24)', linkType: 108, data: nullHdr(24, ip6, 'be'), layers: [['loop', 0, 4], ['ipv6', 4, 40], ['tcp', 44, th]], family: 6, proto: 6, payload: HTTP },
  ];
  for (const lt of [101, 12, 14]) {
    out.push({ name: `raw ${lt} ipv4`, linkType: lt, data: ip4, layers: [['raw', 0, 0], ['ipv4', 0, 20], ['tcp', 20, th]], family: 4, proto: 6, payload: HTTP });
    out.push({ name: `raw ${lt} ipv6`, linkType: lt, data: ip6, layers: [['raw', 0, 0], ['ipv6', 0, 40], ['tcp', 40, th]], family: 6, proto: 6, payload: HTTP });
  }
  out.push({ name: 'LINKTYPE_IPV4 (228)', linkType: 228, data: ip4, layers: [['ipv4', 0, 20], ['tcp', 20, th]], family: 4, proto: 6, payload: HTTP });
  out.push({ name: 'LINKTYPE_IPV6 (229)', linkType: 229, data: ip6, layers: [['ipv6', 0, 40], ['tcp', 40, th]], family: 6, proto: 6, payload: HTTP });
  return out;
}

function check(c: Case, s: ReturnType<typeof decodeFrame>, payloadCap: number): void {
  assert.ok(s, c.name);
  assert.equal(s.family, c.family);
  assert.equal(s.proto, c.proto);
  assert.equal(s.src, c.family === 4 ? (c.proto === 17 ? '192.168.1.10' : '192.168.1.10') : 'fe80::1:2');
  assert.equal(s.dst, c.family === 4 ? '10.1.2.3' : '2001:db8::abcd');
  if (c.proto === 6) {
    assert.deepEqual([s.sport, s.dport, s.seq, s.ack, s.flags, s.window], [40000, 8080, 0xfffffff0, 77, 0x118, 1234]);
  } else {
    assert.deepEqual([s.sport, s.dport, s.seq, s.ack, s.flags, s.window], [5353, 53, 0, 0, 0, 0]);
  }
  assert.equal(s.payloadLen, c.payload.length);
  assert.deepEqual(s.payload, c.payload.subarray(0, payloadCap));
  assert.equal(s.tsUs, 1_700_000_000_123_456);
  assert.equal(s.direction, c.direction);
  assert.equal(s.ifindex, c.ifindex ?? 3);
  assert.equal(s.fragment, false);
}

for (const c of cases()) {
  test(`decodeFrame: ${c.name}`, () => {
    const stats = newDecodeStats();
    const s = decodeFrame(frame(c.linkType, c.data), stats);
    check(c, s, c.payload.length);
    assert.deepEqual([stats.frames, stats.segments, stats.errors], [1, 1, 0]);
    // the payload is a view into the frame, not a copy
    assert.equal(s!.payload.buffer, c.data.buffer);
  });

  test(`decodeFrame: ${c.name}: cut at every byte gives the right layer and offset`, () => {
    const payStart = c.data.length - c.payload.length;
    for (let k = 0; k < c.data.length; k++) {
      const stats = newDecodeStats();
      const s = decodeFrame(frame(c.linkType, c.data.subarray(0, k), c.data.length), stats);
      if (k >= payStart) { check(c, s, k - payStart); continue; } // snaplen cut the payload only: still a segment
      assert.equal(s, undefined, `cut ${k}`);
      assert.equal(stats.errors, 1, `cut ${k}`);
      const e = stats.lastError as unknown as { code: string; layer: string; offset: number; required?: number; actual?: number };
      // the innermost layer starting at or before k; the outermost owns k = 0 (raw IP's zero-length 'raw' layer too)
      const owner = k === 0 ? c.layers[0]! : [...c.layers].reverse().find(([, start, len]) => start <= k && len > 0)!;
      assert.equal(e.code, 'WL_ERR_TRUNCATED', `cut ${k}: ${JSON.stringify(e)}`);
      assert.equal(e.layer, owner[0], `cut ${k}: ${JSON.stringify(e)}`);
      assert.equal(e.offset, owner[1], `cut ${k}`);
      assert.equal(e.actual, k - owner[1], `cut ${k}`);
      assert.ok(e.required! > e.actual!, `cut ${k}`);
      assert.equal(stats.errorsByLayer[owner[0]], 1);
    }
  });
}

test('Ethernet padding past the IP total length is not payload', () => {
  const ip = v4(6, tcp({}, Buffer.alloc(0)));
  const data = cat(ether(0x0800, ip), Buffer.alloc(6, 0xee)); // 60-byte minimum frame
  const s = decodeFrame(frame(1, data), newDecodeStats())!;
  assert.equal(s.payloadLen, 0);
  assert.equal(s.payload.length, 0);
  const u = decodeFrame(frame(1, cat(ether(0x0800, v4(17, udp({}, u8(1, 2)))), Buffer.alloc(10, 0xee))), newDecodeStats())!;
  assert.deepEqual([u.payloadLen, [...u.payload]], [2, [1, 2]]);
});

test('snaplen: payloadLen comes from the IP length, payload from what was captured', () => {
  const body = Buffer.alloc(1400, 0x61);
  const data = ether(0x0800, v4(6, tcp({}, body)));
  const s = decodeFrame(frame(1, data.subarray(0, 96), data.length), newDecodeStats())!;
  assert.equal(s.payloadLen, 1400);
  assert.equal(s.payload.length, 96 - 54);
  // IPv4 total length 0 (Linux TSO/GSO capture): the frame's wire length stands in
  const tso = ether(0x0800, v4(6, tcp({}, body), { totalLength: 0 }));
  assert.equal(decodeFrame(frame(1, tso), newDecodeStats())!.payloadLen, 1400);
  // total length larger than the frame: bounded by the frame
  const big = ether(0x0800, v4(6, tcp({}, body), { totalLength: 3000 }));
  assert.equal(decodeFrame(frame(1, big), newDecodeStats())!.payloadLen, 1400);
});

test('IPv4 fragments: first is returned flagged, later ones counted and dropped', () => {
  const stats = newDecodeStats();
  const first = decodeFrame(frame(1, ether(0x0800, v4(17, udp({ length: 3000 }, Buffer.alloc(100)), { mf: true }))), stats)!;
  assert.equal(first.fragment, true);
  assert.equal(first.payloadLen, 100);
  assert.equal(decodeFrame(frame(1, ether(0x0800, v4(17, Buffer.alloc(100), { fragOffset8: 14 }))), stats), undefined);
  assert.equal(decodeFrame(frame(1, ether(0x0800, v4(6, Buffer.alloc(100), { fragOffset8: 1, mf: true }))), stats), undefined);
  assert.deepEqual([stats.fragments, stats.segments, stats.errors], [3, 1, 0]);
  // DF alone is not a fragment
  const df = decodeFrame(frame(1, ether(0x0800, v4(6, tcpSeg(), { df: true }))), stats)!;
  assert.equal(df.fragment, false);
});

test('IPv6 fragment header: first fragment flagged, later ones dropped', () => {
  const stats = newDecodeStats();
  const s = decodeFrame(frame(1, ether(0x86dd, v6(6, tcpSeg(), [hopByHop, fragFirst]))), stats)!;
  assert.equal(s.fragment, true);
  assert.equal(s.sport, 40000);
  const later = { type: 44, body: cat(u16be((185 << 3) | 1), u32be(0xabcdef)) };
  assert.equal(decodeFrame(frame(1, ether(0x86dd, v6(6, Buffer.alloc(64), [later]))), stats), undefined);
  assert.equal(stats.fragments, 2);
});

test('non-IP, non-transport, ESP and no-next-header are counted, not errors', () => {
  const stats = newDecodeStats();
  assert.equal(decodeFrame(frame(1, ether(0x0806, Buffer.alloc(28))), stats), undefined); // ARP
  assert.equal(decodeFrame(frame(1, ether(0x0800, v4(1, Buffer.alloc(8)))), stats), undefined); // ICMP
  assert.equal(decodeFrame(frame(1, ether(0x86dd, v6(50, Buffer.alloc(16)))), stats), undefined); // ESP
  assert.equal(decodeFrame(frame(1, ether(0x86dd, v6(59, Buffer.alloc(0)))), stats), undefined); // no next header
  assert.equal(decodeFrame(frame(0, nullHdr(7, Buffer.alloc(20), 'le')), stats), undefined); // unknown AF
  assert.deepEqual([stats.frames, stats.nonIp, stats.nonTransport, stats.errors], [5, 2, 3, 0]);
});

test('malformed headers give WL_ERR_MALFORMED with the layer', () => {
  const cases: Array<[string, Frame, string]> = [
    ['ipv4 version 5 under 228', frame(228, (() => { const b = v4(6, tcpSeg()); b[0] = 0x55; return b; })()), 'ipv4'],
    ['ipv4 ihl 4', frame(228, (() => { const b = v4(6, tcpSeg()); b[0] = 0x44; return b; })()), 'ipv4'],
    ['ipv4 total < header', frame(228, v4(6, tcpSeg(), { totalLength: 19 })), 'ipv4'],
    ['ipv6 version 4 under 229', frame(229, cat(u8(0x40), Buffer.alloc(60))), 'ipv6'],
    ['tcp data offset 4', frame(228, v4(6, (() => { const t = tcpSeg(); t[12] = 0x40; return t; })())), 'tcp'],
    ['tcp header beyond ip length', frame(228, v4(6, tcpSeg(), { totalLength: 30 })), 'tcp'],
  ];
  for (const [name, f, layer] of cases) {
    const stats = newDecodeStats();
    assert.equal(decodeFrame(f, stats), undefined, name);
    assert.equal(stats.lastError?.layer, layer, name);
    assert.equal((stats.lastError as { code?: string }).code, 'WL_ERR_MALFORMED', name);
  }
  const st = newDecodeStats();
  decodeFrame(frame(147, Buffer.alloc(40)), st);
  assert.equal((st.lastError as { code?: string }).code, 'WL_ERR_UNSUPPORTED');
  assert.equal(st.errorsByLayer['link'], 1);
});

test('IPv6 extension-header chain is bounded', () => {
  const stats = newDecodeStats();
  const many = Array.from({ length: 20 }, () => ({ type: 60, body: Buffer.alloc(6) }));
  assert.equal(decodeFrame(frame(229, v6(6, tcpSeg(), many)), stats), undefined);
  assert.equal((stats.lastError as { code?: string }).code, 'WL_ERR_LIMIT');
});

test('pcapng direction wins over the SLL packet type; ifname is passed through', () => {
  const s = decodeFrame(frame(113, sll(0x0800, v4(6, tcpSeg()), 4), undefined, { direction: 'in', ifname: 'eth0' }), newDecodeStats())!;
  assert.equal(s.direction, 'in');
  assert.equal(s.ifname, 'eth0');
});

function assertSane(stats: DecodeStats, s: ReturnType<typeof decodeFrame>, data: Buffer): void {
  assert.equal(stats.errorsByLayer['internal'], undefined, stats.lastError?.message);
  assert.equal(stats.frames, 1);
  // exactly one outcome; `fragments` is an extra count, an outcome of its own only for a dropped later fragment
  const outcomes = stats.segments + stats.nonIp + stats.nonTransport + stats.errors;
  assert.ok(outcomes === 1 || (outcomes === 0 && stats.fragments === 1 && s === undefined), JSON.stringify(stats));
  assert.equal(stats.segments, s ? 1 : 0);
  if (s) {
    assert.ok(s.payload.length <= s.payloadLen && s.payload.length <= data.length);
    // a non-empty payload is a view inside the frame (an empty one is a shared empty Buffer)
    if (s.payload.length > 0) assert.ok(s.payload.buffer === data.buffer && s.payload.byteOffset >= data.byteOffset && s.payload.byteOffset + s.payload.length <= data.byteOffset + data.length);
  }
  if (stats.lastError) assert.ok(stats.lastError.offset >= 0 && stats.lastError.offset <= data.length, JSON.stringify(stats.lastError));
}

test('property: random bytes under every link type never throw', () => {
  fc.assert(fc.property(fc.constantFrom(0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9999), fc.uint8Array({ maxLength: 200 }), fc.nat(), (lt, bytes, extra) => {
    const data = Buffer.from(bytes);
    const stats = newDecodeStats();
    const s = decodeFrame(frame(lt, data, data.length + (extra % 3000)), stats);
    assertSane(stats, s, data);
  }), { numRuns: 5000 });
});

test('property: mutated good frames never throw', () => {
  const all = cases();
  fc.assert(fc.property(fc.integer({ min: 0, max: all.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(),
    (i, muts, cut) => {
      const c = all[i]!;
      const data = Buffer.from(c.data);
      for (const [p, v] of muts) data[p % data.length] = v;
      const view = data.subarray(0, data.length - (cut % (data.length + 1)));
      const stats = newDecodeStats();
      const s = decodeFrame(frame(c.linkType, view, data.length), stats);
      assertSane(stats, s, view);
    }), { numRuns: 5000 });
});

test('decode options: pure ACKs skipped and counted, SYN/FIN/RST and data kept; a port table filters like a capture filter', () => {
  const seg = (flags: number, payload: Buffer, sport = 40000, dport = 80): Frame =>
    frame(1, ether(0x0800, ipv4({ proto: 6 }, tcp({ sport, dport, flags }, payload))));
  const none = Buffer.alloc(0);
  const opts = { skipPureAcks: true };
  const st = newDecodeStats();
  assert.equal(decodeFrame(seg(0x10, none), st, opts), undefined);             // ACK
  assert.equal(decodeFrame(seg(0x18, none), st, opts), undefined);             // PSH|ACK, no data
  assert.equal(decodeFrame(seg(0x12, none), st, opts)?.flags, 0x12);           // SYN|ACK
  assert.equal(decodeFrame(seg(0x11, none), st, opts)?.flags, 0x11);           // FIN|ACK
  assert.equal(decodeFrame(seg(0x14, none), st, opts)?.flags, 0x14);           // RST|ACK
  assert.equal(decodeFrame(seg(0x18, Buffer.from('GET')), st, opts)?.payload.toString(), 'GET');
  assert.deepEqual([st.frames, st.segments, st.pureAcksSkipped, st.errors], [6, 4, 2, 0]);
  // without the option a pure ACK is a segment like any other
  assert.equal(decodeFrame(seg(0x10, none), newDecodeStats())?.flags, 0x10);

  const ports = new Uint8Array(65536);
  ports[8080] = 1;
  const pst = newDecodeStats();
  assert.equal(decodeFrame(seg(0x18, Buffer.from('x'), 40000, 80), pst, { ports }), undefined);
  assert.equal(decodeFrame(seg(0x18, Buffer.from('x'), 40000, 8080), pst, { ports })?.dport, 8080);
  assert.equal(decodeFrame(seg(0x18, Buffer.from('x'), 8080, 40000), pst, { ports })?.sport, 8080);
  assert.deepEqual([pst.frames, pst.segments, pst.portFiltered], [3, 2, 1]);
});
