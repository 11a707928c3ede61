/**
 * Http2Parser on hand-built frames: the cases real peers rarely produce (padding, PRIORITY, unknown frame types,
 * bad lengths, CONTINUATION out of sequence, capture gaps, a non-HTTP/2 client, h2c after an upgrade) and the
 * SETTINGS_HEADER_TABLE_SIZE wiring between directions. Header blocks use RFC 7541 C.3/C.5 published bytes.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  Http2Parser, pairHttp2Parsers, matchHttp2Preface, fieldsToHeaderList, HTTP2_PREFACE,
  FRAME_DATA, FRAME_HEADERS, FRAME_CONTINUATION, FRAME_SETTINGS, FRAME_RST_STREAM, FRAME_GOAWAY, FRAME_PRIORITY,
  FLAG_END_STREAM, FLAG_END_HEADERS, FLAG_PADDED, FLAG_PRIORITY,
  WL_ERR_H2_PREFACE, WL_ERR_H2_FRAME_SIZE, WL_ERR_H2_PROTOCOL, WL_ERR_H2_GAP,
  type Http2Handler, type Http2Headers, type Http2Error, type Http2StreamStats,
} from '../../src/proto/http2.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
function frame(type: number, flags: number, sid: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(sid, 5);
  return Buffer.concat([h, payload]);
}
const C31 = hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d');
const C32 = hex('8286 84be 5808 6e6f 2d63 6163 6865');
const C51 = hex('4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d');

interface Log { headers: Http2Headers[]; data: Array<[number, number, boolean]>; rst: Array<[number, number]>; goaway: Array<[number, number, string]>; errors: Http2Error[]; ends: Http2StreamStats[]; settings: Array<ReadonlyArray<readonly [number, number]>> }
function collector(): { h: Http2Handler; log: Log } {
  const log: Log = { headers: [], data: [], rst: [], goaway: [], errors: [], ends: [], settings: [] };
  return {
    log,
    h: {
      onHeaders: (x) => { log.headers.push(x); },
      onData: (sid, n, end) => { log.data.push([sid, n, end]); },
      onRst: (sid, code) => { log.rst.push([sid, code]); },
      onGoaway: (last, code, dbg) => { log.goaway.push([last, code, dbg]); },
      onError: (e) => { log.errors.push(e); },
      onStreamEnd: (s) => { log.ends.push(s); },
      onSettings: (e) => { log.settings.push(e); },
    },
  };
}

test('client preface, padded and prioritised HEADERS, padded DATA, unknown frames, RST_STREAM, GOAWAY', () => {
  const { h, log } = collector();
  const p = new Http2Parser(h, { side: 'client' });
  const padded = Buffer.concat([Buffer.from([3]), Buffer.from([0x80, 0, 0, 0, 16]), C31, Buffer.alloc(3)]);
  const dataPadded = Buffer.concat([Buffer.from([5]), Buffer.from('hello world'), Buffer.alloc(5)]);
  const goaway = Buffer.concat([hex('00000003 0000000b'), Buffer.from('bye')]);
  const bytes = Buffer.concat([
    HTTP2_PREFACE,
    frame(FRAME_SETTINGS, 0, 0, hex('0001 00001000 0003 00000064')),
    frame(0xfa, 0xff, 0, Buffer.from('unknown extension frame')),
    frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY, 1, padded),
    frame(FRAME_PRIORITY, 0, 1, hex('0000000010')),
    frame(FRAME_DATA, FLAG_PADDED, 1, dataPadded),
    frame(FRAME_DATA, FLAG_END_STREAM, 1, Buffer.alloc(0)),
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 3, C32),
    frame(FRAME_RST_STREAM, 0, 3, hex('00000008')),
    frame(FRAME_GOAWAY, 0, 0, goaway),
  ]);
  p.push(bytes, 42);
  assert.deepEqual(log.errors, []);
  assert.deepEqual(log.settings, [[[1, 4096], [3, 100]]]);
  assert.equal(log.headers.length, 2);
  assert.deepEqual(fieldsToHeaderList(log.headers[0].fields), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']]);
  assert.equal(log.headers[0].kind, 'request');
  assert.equal(log.headers[0].endStream, false);
  assert.equal(log.headers[0].tsUs, 42);
  assert.equal(log.headers[1].authority, 'www.example.com'); // from the dynamic table
  assert.deepEqual(log.data, [[1, 11, false], [1, 0, true]]);
  assert.deepEqual(log.rst, [[3, 8]]);
  assert.deepEqual(log.goaway, [[3, 11, 'bye']]);
  assert.deepEqual(log.ends.map((e) => [e.streamId, e.end, e.dataBytes, e.dataFrames]), [[1, 'end-stream', 11, 2], [3, 'reset', 0, 0]]);
  assert.equal(p.offset, bytes.length);
});

test('a header block over HEADERS + CONTINUATION, split anywhere, and trailers', () => {
  const block = Buffer.concat([C31, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')]);
  const bytes = Buffer.concat([
    HTTP2_PREFACE,
    frame(FRAME_HEADERS, 0, 1, block.subarray(0, 5)),
    frame(FRAME_CONTINUATION, 0, 1, block.subarray(5, 17)),
    frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 1, block.subarray(17)),
    frame(FRAME_DATA, 0, 1, Buffer.alloc(100)),
    frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, hex('be')),
  ]);
  for (let k = 0; k <= bytes.length; k++) {
    const { h, log } = collector();
    const p = new Http2Parser(h, { side: 'client' });
    p.push(bytes.subarray(0, k), 1);
    p.push(bytes.subarray(k), 2);
    assert.deepEqual(log.errors, []);
    assert.equal(log.headers.length, 2, `split ${k}`);
    assert.equal(log.headers[0].frames, 3);
    assert.deepEqual(log.headers[0].fields.at(-1), { name: 'custom-key', value: 'custom-header' });
    assert.equal(log.headers[1].kind, 'trailers');
    assert.deepEqual(log.headers[1].fields, [{ name: 'custom-key', value: 'custom-header' }]);
    assert.deepEqual(log.ends.map((e) => [e.headerBlocks, e.dataBytes]), [[2, 100]]);
  }
});

test('server direction: 1xx is informational, then the response, then trailers', () => {
  const { h, log } = collector();
  const p = new Http2Parser(h, { side: 'server' });
  p.push(Buffer.concat([
    frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0)),
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, hex('08 03 313033')), // :status 103 (literal, static name 8)
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, C51),
    frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, hex('0f 0d 01 30')), // content-length: 0 as a trailer
  ]), 7);
  assert.deepEqual(log.errors, []);
  assert.deepEqual(log.headers.map((x) => [x.kind, x.status]), [['informational', 103], ['response', 302], ['trailers', undefined]]);
});

test('errors: not HTTP/2, bad lengths, CONTINUATION out of sequence', () => {
  let c = collector();
  let p = new Http2Parser(c.h, { side: 'client' });
  p.push(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0);
  assert.equal(c.log.errors[0]?.code, WL_ERR_H2_PREFACE);
  assert.equal(p.dead, true);
  assert.equal(matchHttp2Preface(Buffer.from('PRI * HT')), 1);
  assert.equal(matchHttp2Preface(Buffer.from('GET')), 0);
  assert.equal(matchHttp2Preface(HTTP2_PREFACE), 2);

  c = collector();
  p = new Http2Parser(c.h, { side: 'server' });
  p.push(Buffer.concat([
    frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(5)),
    frame(FRAME_RST_STREAM, 0, 1, Buffer.alloc(3)),
    frame(FRAME_DATA, FLAG_PADDED, 1, Buffer.from([9, 1, 2])),
    frame(FRAME_HEADERS, 0, 1, C51.subarray(0, 4)),
    frame(FRAME_DATA, 0, 1, Buffer.alloc(1)),
    frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 5, Buffer.alloc(1)),
    frame(FRAME_DATA, 0, 0, Buffer.alloc(1)),
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 3, hex('88')),
  ]), 0);
  assert.deepEqual(c.log.errors.map((e) => e.code), [WL_ERR_H2_FRAME_SIZE, WL_ERR_H2_FRAME_SIZE, WL_ERR_H2_FRAME_SIZE, WL_ERR_H2_PROTOCOL, WL_ERR_H2_PROTOCOL, WL_ERR_H2_PROTOCOL]);
  assert.equal(c.log.errors[0].offset, 0);
  assert.equal(c.log.errors[1].offset, 14);
  // framing survived every error: the last block is decoded; the cut one marked the table unreliable
  assert.equal(c.log.headers.at(-1)?.status, 200);
  assert.equal(c.log.headers.at(-1)?.unreliable, true);
  assert.equal(p.hpack.reliable, false);
});

test('capture gaps: inside DATA counted, inside HEADERS the block is lost, between frames the parser stops', () => {
  const { h, log } = collector();
  const p = new Http2Parser(h, { side: 'client', preface: false });
  const data = frame(FRAME_DATA, FLAG_END_STREAM, 1, Buffer.alloc(1000));
  p.push(data.subarray(0, 100), 1);
  p.gap(800);
  p.push(data.subarray(900), 2);
  assert.deepEqual(log.data, [[1, 1000, true]]);
  const hdr = frame(FRAME_HEADERS, FLAG_END_HEADERS, 3, C31);
  p.push(hdr.subarray(0, 12), 3);
  p.gap(4);
  p.push(hdr.subarray(16), 4);
  assert.equal(log.errors.at(-1)?.code, WL_ERR_H2_GAP);
  assert.equal(p.hpack.reliable, false);
  assert.equal(p.dead, false);
  // next block refers to the lost insert: marked, not an error
  p.push(frame(FRAME_HEADERS, FLAG_END_HEADERS, 5, C32), 5);
  assert.equal(log.headers.at(-1)?.missing, 1);
  assert.deepEqual(log.headers.at(-1)?.fields[3], { name: undefined, value: undefined, missingIndex: 62 });
  p.gap(10);
  assert.equal(p.dead, true);
});

test('SETTINGS_HEADER_TABLE_SIZE from one direction bounds the other direction\'s decoder; h2c without preface', () => {
  const c = collector();
  const s = collector();
  // after an HTTP/1.1 Upgrade the client still sends the preface; a caller that consumed it passes preface: false
  const cp = new Http2Parser(c.h, { side: 'client', preface: false });
  const sp = new Http2Parser(s.h, { side: 'server', midStream: true });
  pairHttp2Parsers(cp, sp);
  cp.applySettingsPayload(hex('0001 000000fa')); // HTTP2-Settings header of the upgrade request: 250
  assert.equal(sp.hpack.limit, 250);
  assert.equal(sp.hpack.maxSize, 250);
  // the server's first response on stream 1 (the upgraded request): C.5.1 puts 222 bytes in the 250-byte table,
  // leaving no room for an unseen entry (>= 32 bytes)
  sp.push(frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, C51), 1);
  assert.equal(s.log.headers[0].kind, 'response');
  assert.equal(sp.hpack.reliable, true);
  cp.push(frame(FRAME_SETTINGS, 0, 0, hex('0001 00002000')), 2);
  assert.equal(sp.hpack.limit, 8192);
  assert.equal(cp.hpack.limit, 4096);
});

test('an empty PADDED HEADERS frame is a frame-size error, not a read past the frame (fast-check found it)', () => {
  for (const flags of [FLAG_PADDED, FLAG_PADDED | FLAG_END_HEADERS, FLAG_PADDED | FLAG_PRIORITY]) {
    for (const split of [0, 5, 9]) {
      const { h, log } = collector();
      const p = new Http2Parser(h, { side: 'server', preface: false });
      const bytes = Buffer.concat([frame(FRAME_HEADERS, flags, 1, Buffer.alloc(0)), frame(FRAME_HEADERS, FLAG_END_HEADERS, 3, C31)]);
      assert.doesNotThrow(() => { p.push(bytes.subarray(0, split), 0); p.push(bytes.subarray(split), 1); });
      assert.equal(log.errors[0]?.code, WL_ERR_H2_FRAME_SIZE, `flags ${flags}, split ${split}`);
      // the parser goes on with the next frame
      assert.equal(log.headers.at(-1)?.streamId, 3);
    }
  }
});

test('Http2Headers.offset is the stream offset of the HEADERS frame\'s first byte (preface and gaps counted)', () => {
  const { h, log } = collector();
  const p = new Http2Parser(h, { side: 'client' });
  const settings = frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0));
  const h1 = frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, C31);
  const bytes = Buffer.concat([HTTP2_PREFACE, settings, h1]);
  for (let i = 0; i < bytes.length; i++) p.push(bytes.subarray(i, i + 1), i);
  p.gap(100); // lost inside nothing: with the default the parser stops; offsets so far are what matter
  assert.equal(log.headers[0]!.offset, HTTP2_PREFACE.length + 9);
});

test('resyncAfterGap: a gap between frames (or past a frame\'s end) goes on at the next plausible frame, HPACK unreliable', () => {
  const { h, log } = collector();
  const p = new Http2Parser(h, { side: 'client', resyncAfterGap: true });
  const h1 = frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, C31);
  const h3 = frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 3, C32);
  const h5 = frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 5, C32);
  p.push(Buffer.concat([HTTP2_PREFACE, h1]), 1);
  p.gap(h3.length); // stream 3's block (which C32 does not need) is lost
  p.push(h5, 2);
  assert.equal(p.dead, false);
  assert.deepEqual(log.errors.map((e) => e.code), [WL_ERR_H2_GAP]);
  assert.equal(log.headers.length, 2);
  const last = log.headers[1]!;
  assert.equal(last.streamId, 5);
  assert.equal(last.offset, HTTP2_PREFACE.length + h1.length + h3.length);
  assert.equal(last.unreliable, true, 'decoded after a lost block: not vouched for');
  assert.equal(last.path, '/');
  // a gap that ends inside a frame: the bytes after it are not a plausible frame header, the parser stops
  const q = new Http2Parser(collector().h, { side: 'server', resyncAfterGap: true });
  q.push(frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0)), 1);
  q.gap(10);
  q.push(Buffer.from('this is not a frame header at all'), 2);
  assert.equal(q.dead, true);
  // without the option a gap between frames stops the parser (as before)
  const r = new Http2Parser(collector().h, { side: 'server' });
  r.push(frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0)), 1);
  r.gap(10);
  assert.equal(r.dead, true);
});
