/**
 * DNS messages → nettrace's DnsQueryMsg / DnsReplyMsg: the seed's query (43 bytes, EDNS 1232), answers of every
 * type with a resolvedVal, rCode and type names from the seed's tables, and malformed input recorded as far as it
 * parses without ever throwing. Replies are built with dns-packet's encoder (an independent writer) and checked
 * against its decoder where both can read the message.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import {
  encodeQuery, parseDnsMessage, toQueryMsg, toReplyMsg, ipv6Text, dnsRCodeName, dnsTypeName,
} from '../../src/proto/dns.js';

function reply(p: Partial<dnsPacket.Packet> & { answers?: dnsPacket.Answer[] }): Buffer {
  return dnsPacket.encode({ type: 'response', id: 0x1234, questions: [{ type: 'A', name: 'x.test', class: 'IN' }], ...p });
}

test('query: the seed\'s www.google.com A query is 43 bytes with RD and EDNS payload size 1232', () => {
  const q = encodeQuery(34311, 'www.google.com.', 'A');
  assert.equal(q.length, 43);
  const m = toQueryMsg(q, 1000);
  assert.deepEqual(m, {
    sentAt: 1000, id: 34311, recursionDesired: true, truncated: false, size: 43,
    questions: [{ name: 'www.google.com.', type: 'A', class: 1 }], optUDPPayloadSize: 1232,
  });
  // dns-packet's own decoder reads the same message
  const d = dnsPacket.decode(q);
  assert.equal(d.id, 34311);
  assert.equal(d.questions![0].type, 'A');
  assert.equal((d.additionals![0] as { udpPayloadSize: number }).udpPayloadSize, 1232);
  assert.equal(toQueryMsg(encodeQuery(1, 'a.b.', 'AAAA'), 0).questions[0].type, 'AAAA');
});

test('reply: header flags, rCode and answers of each type with ttl and resolvedVal', () => {
  const buf = reply({
    flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED,
    answers: [
      { type: 'CNAME', name: 'x.test', ttl: 30, data: 'real.x.test' },
      { type: 'A', name: 'real.x.test', ttl: 227, data: '142.251.36.132' },
      { type: 'AAAA', name: 'real.x.test', ttl: 133, data: '2a00:1450:4014:80e::2004' },
      { type: 'NS', name: 'x.test', ttl: 1, data: 'ns1.x.test' },
      { type: 'PTR', name: '4.3.2.1.in-addr.arpa', ttl: 2, data: 'host.x.test' },
      { type: 'MX', name: 'x.test', ttl: 3, data: { preference: 10, exchange: 'mail.x.test' } },
      { type: 'TXT', name: 'x.test', ttl: 4, data: 'hello' },
      { type: 'SRV', name: '_s._tcp.x.test', ttl: 5, data: { priority: 1, weight: 2, port: 443, target: 't.x.test' } },
      { type: 'CAA', name: 'x.test', ttl: 6, data: { flags: 0, tag: 'issue', value: 'ca.test' } },
    ],
  });
  const p = parseDnsMessage(buf);
  assert.equal(p.parseErr, undefined);
  const r = toReplyMsg(p, buf.length, 5);
  assert.equal(r.id, 0x1234);
  assert.equal(r.authoritative, true);
  assert.equal(r.recursionAvailable, true);
  assert.equal(r.truncated, false);
  assert.equal(r.size, buf.length);
  assert.equal(r.rCode, 'no-error');
  assert.deepEqual(r.answers, [
    { name: 'x.test.', type: 'CNAME', class: 1, ttl: 30, resolvedVal: 'real.x.test.' },
    { name: 'real.x.test.', type: 'A', class: 1, ttl: 227, resolvedVal: '142.251.36.132' },
    { name: 'real.x.test.', type: 'AAAA', class: 1, ttl: 133, resolvedVal: '2a00:1450:4014:80e::2004' },
    { name: 'x.test.', type: 'NS', class: 1, ttl: 1, resolvedVal: 'ns1.x.test.' },
    { name: '4.3.2.1.in-addr.arpa.', type: 'PTR', class: 1, ttl: 2, resolvedVal: 'host.x.test.' },
    { name: 'x.test.', type: 'MX', class: 1, ttl: 3, resolvedVal: 'mail.x.test.' },
    { name: 'x.test.', type: 'TXT', class: 1, ttl: 4 },
    { name: '_s._tcp.x.test.', type: 'SRV', class: 1, ttl: 5 },
    { name: 'x.test.', type: 'unrecognized-type', class: 1, ttl: 6 },
  ]);
  // the same answers as dns-packet's decoder reads them (names, ttls, addresses)
  const d = dnsPacket.decode(buf);
  assert.deepEqual(r.answers.map((a) => [a.name, a.ttl]), d.answers!.map((a) => [`${a.name}.`, (a as { ttl: number }).ttl]));
});

test('reply: rCode names as the seed\'s DNSRCodeToString, TC flag, type names as DNSResTypeToString', () => {
  const names = ['no-error', 'format-error', 'server-fail', 'non-existent-domain', 'not-implemented', 'query-refused'];
  for (let rc = 0; rc < 16; rc++) {
    const buf = reply({ flags: rc | dnsPacket.TRUNCATED_RESPONSE });
    const r = toReplyMsg(parseDnsMessage(buf), buf.length, 0);
    assert.equal(r.rCode, names[rc] ?? 'unrecognized-rcode');
    assert.equal(r.truncated, true);
    assert.equal(dnsRCodeName(rc), r.rCode);
  }
  assert.deepEqual([1, 2, 5, 6, 11, 12, 13, 14, 15, 16, 28, 33, 41, 252, 255, 0, 99, 257].map(dnsTypeName), [
    'A', 'NS', 'CNAME', 'SOA', 'WKS', 'PTR', 'HINFO', 'MINFO', 'MX', 'TXT', 'AAAA', 'SRV', 'OPT', 'AXFR', 'ALL',
    'unrecognized-type', 'unrecognized-type', 'unrecognized-type',
  ]);
});

test('reply: the OPT record gives optUDPPayloadSize and is not an answer', () => {
  const buf = reply({
    answers: [{ type: 'A', name: 'x.test', ttl: 1, data: '10.0.0.1' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
  const p = parseDnsMessage(buf);
  assert.equal(p.optUDPPayloadSize, 4096);
  assert.equal(p.answers.length, 1);
});

test('malformed: shorter than a header → nothing but the size, with the reason', () => {
  for (const b of [Buffer.alloc(0), Buffer.from('garbage'), Buffer.alloc(11, 0xff)]) {
    const p = parseDnsMessage(b);
    assert.equal(p.header, undefined);
    assert.match(p.parseErr!, /shorter than a DNS header/);
    const r = toReplyMsg(p, b.length, 7);
    assert.equal(r.size, b.length);
    assert.equal(r.rCode, 'unrecognized-rcode');
    assert.deepEqual(r.answers, []);
    assert.equal(r.parseErr, p.parseErr);
  }
});

test('malformed: a reply cut inside its answers keeps the header, the question and the whole answers before the cut', () => {
  const answers: dnsPacket.Answer[] = [1, 2, 3].map((i) => ({ type: 'A', name: 'x.test', ttl: i, data: `10.0.0.${i}` }));
  const full = reply({ answers });
  const cut = full.subarray(0, full.length - 2);
  const p = parseDnsMessage(cut);
  assert.equal(p.header!.id, 0x1234);
  assert.deepEqual(p.questions, [{ name: 'x.test.', type: 'A', class: 1 }]);
  assert.deepEqual(p.answers.map((a) => a.resolvedVal), ['10.0.0.1', '10.0.0.2']);
  assert.match(p.parseErr!, /^answer section: record data cut short/);
  // dns-packet's decoder either gives up on the same bytes or reads past the end into a third address that was
  // never sent: this is what the section walk is for
  let third: unknown;
  try { third = (dnsPacket.decode(cut).answers![2] as { data: unknown }).data; } catch { third = 'threw'; }
  assert.notEqual(third, '10.0.0.3');
});

test('malformed: a forward compression pointer, a bad label, an A record of the wrong length', () => {
  const good = reply({ answers: [{ type: 'A', name: 'x.test', ttl: 1, data: '10.0.0.1' }] });
  // answer name is a pointer (c0 0c) right after the 12-byte header + question (x.test = 8 bytes + 4)
  const fwd = Buffer.from(good);
  fwd.writeUInt16BE(0xc000 | 40, 24);
  assert.match(parseDnsMessage(fwd).parseErr!, /answer section: .*bad pointer/);
  const badLabel = Buffer.from(good);
  badLabel[12] = 0x80;
  assert.match(parseDnsMessage(badLabel).parseErr!, /question section: .*bad label/);
  const wrongLen = Buffer.concat([good.subarray(0, good.length - 4 - 2), Buffer.from([0, 3, 10, 0, 0])]);
  assert.match(parseDnsMessage(wrongLen).parseErr!, /answer section: A record data of 3 bytes/);
  // the header still tells what the message claimed
  assert.equal(toReplyMsg(parseDnsMessage(wrongLen), wrongLen.length, 0).id, 0x1234);
});

test('malformed (property): random bytes and every truncation of a valid reply never throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
    const p = parseDnsMessage(Buffer.from(bytes));
    toReplyMsg(p, bytes.length, 0);
    toQueryMsg(Buffer.from(bytes), 0);
  }), { numRuns: 2000 });
  const full = reply({
    answers: [
      { type: 'CNAME', name: 'x.test', ttl: 1, data: 'y.x.test' },
      { type: 'AAAA', name: 'y.x.test', ttl: 2, data: 'fd00::1' },
      { type: 'MX', name: 'x.test', ttl: 3, data: { preference: 1, exchange: 'm.x.test' } },
    ],
  });
  const whole = parseDnsMessage(full).answers;
  for (let n = 0; n < full.length; n++) {
    const p = parseDnsMessage(full.subarray(0, n));
    assert.ok(p.parseErr, `cut at ${n} must be reported`);
    // what parsed is a prefix of the whole answers, never something invented
    assert.deepEqual(p.answers, whole.slice(0, p.answers.length));
  }
});

test('ipv6Text: RFC 5952 form, as the WHATWG URL parser prints addresses', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 8 }), (b, at, zeros) => {
    for (let i = at * 2; i < Math.min(16, (at + zeros) * 2); i++) b[i] = 0;
    const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
    fc.pre(!mapped);
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
    const viaUrl = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
    assert.equal(ipv6Text(b), viaUrl);
  }), { numRuns: 3000 });
  assert.equal(ipv6Text(Buffer.from('00000000000000000000ffff0a000001', 'hex')), '::ffff:10.0.0.1');
  assert.equal(ipv6Text(Buffer.alloc(16)), '::');
});
