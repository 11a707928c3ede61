/**
 * QPACK (src/proto/qpack.ts) on RFC 9204 Appendix B's examples: the encoder-stream instructions and field sections
 * are the RFC's bytes, the expected fields and table states its text. Then HTTP/3 (src/proto/http3.ts) over streams
 * built frame by frame: requests and responses, out-of-order data, a header block blocked until its inserts arrive,
 * one whose inserts never arrive, and the key log parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QPACK_STATIC_TABLE, QpackDynamicTable, decodeFieldSection } from '../../src/proto/qpack.js';
import { Http3Connection, type Http3Message } from '../../src/proto/http3.js';
import { TlsKeylog } from '../../src/proto/tls-keylog.js';
import { encodeVarint } from '../../src/proto/quic.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('static table: 99 entries; a few by index as RFC 9204 Appendix A lists them', () => {
  assert.equal(QPACK_STATIC_TABLE.length, 99);
  assert.deepEqual(QPACK_STATIC_TABLE[0], [':authority', '']);
  assert.deepEqual(QPACK_STATIC_TABLE[17], [':method', 'GET']);
  assert.deepEqual(QPACK_STATIC_TABLE[25], [':status', '200']);
  assert.deepEqual(QPACK_STATIC_TABLE[31], ['accept-encoding', 'gzip, deflate, br']);
  assert.deepEqual(QPACK_STATIC_TABLE[63], [':status', '100']);
  assert.deepEqual(QPACK_STATIC_TABLE[84], ['authorization', '']);
  assert.deepEqual(QPACK_STATIC_TABLE[98], ['x-frame-options', 'sameorigin']);
});

test('B.1: literal field line with a static name reference, no dynamic table', () => {
  const t = new QpackDynamicTable();
  t.maxCapacity = 0;
  const r = decodeFieldSection(hex('0000 510b 2f69 6e64 6578 2e68 746d 6c'), t);
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.status === 'ok' && r.fields, [[':path', '/index.html']]);
});

test('B.2-B.5: dynamic table inserts, post-base and relative indexes, Duplicate, eviction', () => {
  const t = new QpackDynamicTable();
  t.maxCapacity = 220; // the decoder's SETTINGS_QPACK_MAX_TABLE_CAPACITY in Appendix B
  // B.2: stream 4's section arrives before the inserts: blocked, not guessed
  const s4 = hex('0381 10 11');
  assert.deepEqual(decodeFieldSection(s4, t), { status: 'blocked', requiredInsertCount: 2, insertCount: 0 });
  const enc1 = hex('3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c1 0c 2f73 616d 706c 652f 7061 7468');
  // an instruction cut short is left for the next bytes
  assert.equal(t.encoderInstructions(enc1.subarray(0, 10)), 3);
  assert.equal(t.insertCount, 0);
  assert.equal(t.encoderInstructions(enc1.subarray(3)), enc1.length - 3);
  assert.equal(t.capacity, 220);
  assert.equal(t.insertCount, 2);
  const r4 = decodeFieldSection(s4, t);
  assert.deepEqual(r4.status === 'ok' && r4.fields, [[':authority', 'www.example.com'], [':path', '/sample/path']]);
  // B.3: Insert With Literal Name
  t.encoderInstructions(hex('4a63 7573 746f 6d2d 6b65 790c 6375 7374 6f6d 2d76 616c 7565'));
  assert.equal(t.insertCount, 3);
  assert.deepEqual(t.get(2), ['custom-key', 'custom-value']);
  // B.4: Duplicate (relative index 2 = entry 0), then a section with relative dynamic and static references
  t.encoderInstructions(hex('02'));
  assert.deepEqual(t.get(3), [':authority', 'www.example.com']);
  const r8 = decodeFieldSection(hex('0500 80 c1 81'), t);
  assert.deepEqual(r8.status === 'ok' && r8.fields, [[':authority', 'www.example.com'], [':path', '/'], ['custom-key', 'custom-value']]);
  // B.5: Insert With Name Reference to a dynamic entry (relative 1 = entry 2); 217 + 55 bytes > 220: entry 0 evicted
  t.encoderInstructions(hex('810d 6375 7374 6f6d 2d76 616c 7565 32'));
  assert.equal(t.insertCount, 5);
  assert.deepEqual(t.get(4), ['custom-key', 'custom-value2']);
  assert.throws(() => t.get(0), /not there/);
  assert.deepEqual(t.get(1), [':path', '/sample/path']);
});

test('field sections that cannot be right are errors, not guesses', () => {
  const t = new QpackDynamicTable();
  t.maxCapacity = 220;
  assert.equal(decodeFieldSection(hex('0000 ff 7f'), t).status, 'error'); // static index 63 + 127: out of the table
  assert.equal(decodeFieldSection(hex('0000 510b 2f69'), t).status, 'error'); // value cut short
  assert.equal(decodeFieldSection(hex('1f00'), t).status, 'error'); // encoded insert count above 2 * MaxEntries
  assert.throws(() => t.encoderInstructions(hex('3fbe01')), /above the maximum/); // capacity 221 > 220
});

// ---- HTTP/3 over built streams ----

function frame(type: number, payload: Buffer): Buffer {
  return Buffer.concat([encodeVarint(type), encodeVarint(payload.length), payload]);
}
const lit = (s: string): Buffer => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
/** a field section with static references only: :method GET (17), :scheme https (23), :path literal, :authority literal, authorization literal */
function requestSection(path: string): Buffer {
  return Buffer.concat([hex('0000 d1 d7'), Buffer.from([0x51]), lit(path), Buffer.from([0x50]), lit('example.com'), Buffer.from([0x5f, 0x45]), lit('Bearer x')]);
}

test('HTTP/3: a request and its response from out-of-order stream data; SETTINGS; body length', () => {
  const out: Http3Message[] = [];
  const h = new Http3Connection((m) => out.push(m));
  // control streams (client 2, server 3) with SETTINGS
  h.streamData('client', 2, 0, Buffer.concat([encodeVarint(0), frame(0x04, hex('0100 0640 64'))]), false, 1);
  h.streamData('server', 3, 0, Buffer.concat([encodeVarint(0), frame(0x04, hex('0100'))]), false, 1);
  assert.equal(h.settings.client?.get(6), 100);
  const req = frame(0x01, requestSection('/a'));
  h.streamData('client', 0, 0, req, true, 2);
  const body = Buffer.alloc(3000, 0x61);
  const resp = Buffer.concat([frame(0x01, hex('0000 d9')), frame(0x00, body), frame(0x21, Buffer.alloc(5)) /* reserved type */]);
  // second half first, then the first half: delivered in order once the gap is filled
  h.streamData('server', 0, 1500, resp.subarray(1500), true, 3);
  assert.equal(out.length, 1);
  h.streamData('server', 0, 0, resp.subarray(0, 1500), false, 4);
  assert.equal(out.length, 2);
  assert.deepEqual(out[0], { kind: 'request', streamId: 0, time: 2, bodyLength: 0, complete: true,
    fields: [[':method', 'GET'], [':scheme', 'https'], [':path', '/a'], [':authority', 'example.com'], ['authorization', 'Bearer x']] });
  assert.deepEqual(out[1], { kind: 'response', streamId: 0, time: 4, bodyLength: 3000, complete: true, fields: [[':status', '200']] });
});

test('HTTP/3: a header block waiting for QPACK inserts is decoded when they arrive; one whose inserts never come is undecodable', () => {
  const out: Http3Message[] = [];
  const h = new Http3Connection((m) => out.push(m));
  // the server allows a 220-byte table for the client's header blocks
  h.streamData('server', 3, 0, Buffer.concat([encodeVarint(0), frame(0x04, hex('01 40dc'))]), false, 1);
  // the request (RFC 9204 B.2's section) arrives before the client's encoder stream
  h.streamData('client', 0, 0, frame(0x01, hex('0381 10 11')), true, 2);
  assert.equal(out.length, 0, 'blocked: nothing invented');
  h.streamData('client', 6, 0, Buffer.concat([encodeVarint(2), hex('3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c1 0c 2f73 616d 706c 652f 7061 7468')]), false, 3);
  assert.equal(out.length, 1);
  assert.deepEqual(out[0]!.fields, [[':authority', 'www.example.com'], [':path', '/sample/path']]);
  // stream 4 needs insert 3, which never comes
  h.streamData('client', 4, 0, frame(0x01, hex('0400 80')), true, 5);
  assert.equal(out.length, 1);
  h.finish(9);
  assert.equal(out.length, 2);
  assert.equal(out[1]!.fields, undefined);
  assert.match(out[1]!.fieldsError!, /blocked/);
});

test('HTTP/3: a reset stream and a stream cut by the end of input are messages marked incomplete', () => {
  const out: Http3Message[] = [];
  const h = new Http3Connection((m) => out.push(m));
  h.streamData('client', 0, 0, frame(0x01, requestSection('/r')), false, 1);
  h.streamReset('client', 0, 2);
  h.streamData('client', 4, 0, frame(0x01, requestSection('/cut')), false, 3);
  h.finish(4);
  assert.deepEqual(out.map((m) => [m.streamId, m.complete, m.error]), [[0, false, 'stream reset'], [4, false, undefined]]);
  assert.equal(out[1]!.fields![2]![1], '/cut');
});

test('key log: TLS 1.3 secrets by client random; comments, other labels and bad lines', () => {
  const k = new TlsKeylog();
  const r = 'ab'.repeat(32);
  k.addText([
    '# comment', '',
    `CLIENT_HANDSHAKE_TRAFFIC_SECRET ${r} ${'01'.repeat(32)}`,
    `SERVER_TRAFFIC_SECRET_0 ${r.toUpperCase()} ${'02'.repeat(48)}`,
    `EXPORTER_SECRET ${r} ${'03'.repeat(32)}`,
    `CLIENT_RANDOM ${'cd'.repeat(32)} ${'04'.repeat(48)}`,
    'garbage', `CLIENT_TRAFFIC_SECRET_0 ${'ab'.repeat(31)} 00`, `NOT_A_LABEL ${r} 00`, `CLIENT_TRAFFIC_SECRET_0 ${r} 0g`,
  ].join('\n'));
  assert.equal(k.badLines, 4);
  assert.equal(k.secrets, 2);
  const s = k.lookup(r)!;
  assert.equal(s.CLIENT_HANDSHAKE_TRAFFIC_SECRET!.toString('hex'), '01'.repeat(32));
  assert.equal(s.SERVER_TRAFFIC_SECRET_0!.length, 48);
  assert.equal(k.lookup('cd'.repeat(32)), undefined);
});

test('http-request lines: pseudo-headers as fields, credentials redacted as wirelog trace does, undecodable headers said so', async () => {
  const { http3Event } = await import('../../src/pipelines/quic.js');
  const e = http3Event(3, { kind: 'request', streamId: 8, time: 5, bodyLength: 0, complete: true,
    fields: [[':method', 'GET'], [':scheme', 'https'], [':authority', 'a.example'], [':path', '/x'], ['authorization', 'Bearer s3cret'],
      ['Cookie', 'id=1'], ['proxy-authorization', 'Basic eA=='], ['accept', '*/*']] });
  assert.deepEqual(e, { time: 5, type: 'http-request', conn: 3, stream_id: 8, method: 'GET', scheme: 'https', authority: 'a.example', path: '/x',
    headers: [['authorization', '[redacted]'], ['Cookie', '[redacted]'], ['proxy-authorization', '[redacted]'], ['accept', '*/*']], body_length: 0, complete: true });
  const r = http3Event(3, { kind: 'response', streamId: 8, time: 6, bodyLength: 10, complete: false, fields: [[':status', '200'], ['set-cookie', 'a=b']] });
  assert.equal(r.status, 200);
  assert.deepEqual(r.headers, [['set-cookie', '[redacted]']]);
  const b = http3Event(3, { kind: 'request', streamId: 12, time: 7, bodyLength: 0, complete: true, fieldsError: 'QPACK: blocked' });
  assert.equal(b.method, null);
  assert.equal(b.headers_undecodable, 'QPACK: blocked');
});

test('key log file followed as it grows: appended lines, a line still being written, a rewritten file', async () => {
  const { mkdtempSync, writeFileSync, appendFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'wirelog-keylog-'));
  try {
    const f = join(dir, 'keys.txt');
    const line = (r: string, label = 'CLIENT_TRAFFIC_SECRET_0'): string => `${label} ${r.repeat(32)} ${'11'.repeat(32)}\n`;
    writeFileSync(f, line('aa') + line('bb').slice(0, 50));
    const k = TlsKeylog.fromFile(f);
    assert.ok(k.lookup('aa'.repeat(32)));
    assert.equal(k.lookup('bb'.repeat(32)), undefined, 'half a line is not read as a bad line nor a secret');
    assert.equal(k.badLines, 0);
    const g = k.generation;
    appendFileSync(f, line('bb').slice(50) + line('cc'));
    assert.equal(k.readMore(), true);
    assert.ok(k.generation > g);
    assert.ok(k.lookup('bb'.repeat(32)) && k.lookup('cc'.repeat(32)));
    assert.equal(k.readMore(), false, 'nothing new');
    writeFileSync(f, line('dd'));
    assert.equal(k.readMore(), true, 'a shorter file was rewritten: read from its start');
    assert.ok(k.lookup('dd'.repeat(32)));
    assert.throws(() => TlsKeylog.fromFile(join(dir, 'missing.txt')), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
