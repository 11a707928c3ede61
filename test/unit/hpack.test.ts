/**
 * HPACK decoder against RFC 7541 Appendix C (C.2–C.6: fields, dynamic table contents and sizes after each
 * block), plus errors, size updates and mid-stream (missing dynamic entries marked, never invented).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  HpackDecoder, huffmanDecode, STATIC_TABLE, type HpackField,
  WL_ERR_HPACK_HUFFMAN, WL_ERR_HPACK_INDEX, WL_ERR_HPACK_INTEGER, WL_ERR_HPACK_TABLE_SIZE, WL_ERR_HPACK_TRUNCATED,
} from '../../src/proto/hpack.js';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from '../../src/proto/hpack-huffman.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decode(d: HpackDecoder, block: Buffer): HpackField[] {
  const out: HpackField[] = [];
  const err = d.decode(block, 0, block.length, out);
  assert.equal(err, undefined, `unexpected error ${JSON.stringify(err)}`);
  return out;
}
const pairs = (fs: HpackField[]): Array<[string | undefined, string | undefined]> => fs.map((f) => [f.name, f.value]);
/** dynamic table newest first, with entry sizes */
function table(d: HpackDecoder): Array<[string | undefined, string, number]> {
  const t: Array<[string | undefined, string, number]> = [];
  for (let i = 0; i < d.length; i++) {
    const e = d.entry(i)!;
    t.push([e.name, e.value, e.size]);
  }
  return t;
}

// RFC 7541 Appendix C, published hex and expected results
interface Step { id: string; input: string; output: Array<[string, string]>; table: Array<[string, string, number]>; size: number }

const REQ1: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQ2: Array<[string, string]> = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const RT1: Array<[string, string, number]> = [[':authority', 'www.example.com', 57]];
const RT2: Array<[string, string, number]> = [['cache-control', 'no-cache', 53], ...RT1];
const RT3: Array<[string, string, number]> = [['custom-key', 'custom-value', 54], ...RT2];

const C3: Step[] = [
  { id: 'C.3.1', input: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', output: REQ1, table: RT1, size: 57 },
  { id: 'C.3.2', input: '8286 84be 5808 6e6f 2d63 6163 6865', output: REQ2, table: RT2, size: 110 },
  { id: 'C.3.3', input: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', output: REQ3, table: RT3, size: 164 },
];
const C4: Step[] = [
  { id: 'C.4.1', input: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', output: REQ1, table: RT1, size: 57 },
  { id: 'C.4.2', input: '8286 84be 5886 a8eb 1064 9cbf', output: REQ2, table: RT2, size: 110 },
  { id: 'C.4.3', input: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', output: REQ3, table: RT3, size: 164 },
];

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RES1: Array<[string, string]> = [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RES2: Array<[string, string]> = [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RES3: Array<[string, string]> = [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOC], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]];
const ST1: Array<[string, string, number]> = [['location', LOC, 63], ['date', DATE1, 65], ['cache-control', 'private', 52], [':status', '302', 42]];
const ST2: Array<[string, string, number]> = [[':status', '307', 42], ['location', LOC, 63], ['date', DATE1, 65], ['cache-control', 'private', 52]];
const ST3: Array<[string, string, number]> = [['set-cookie', COOKIE, 98], ['content-encoding', 'gzip', 52], ['date', DATE2, 65]];

const C5: Step[] = [
  { id: 'C.5.1', input: '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', output: RES1, table: ST1, size: 222 },
  { id: 'C.5.2', input: '4803 3330 37c1 c0bf', output: RES2, table: ST2, size: 222 },
  { id: 'C.5.3', input: '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31', output: RES3, table: ST3, size: 215 },
];
const C6: Step[] = [
  { id: 'C.6.1', input: '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3', output: RES1, table: ST1, size: 222 },
  { id: 'C.6.2', input: '4883 640e ffc1 c0bf', output: RES2, table: ST2, size: 222 },
  { id: 'C.6.3', input: '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07', output: RES3, table: ST3, size: 215 },
];

function runSeries(steps: Step[], tableSize: number): void {
  const d = new HpackDecoder({ tableSizeLimit: tableSize });
  for (const s of steps) {
    const fs = decode(d, hex(s.input));
    assert.deepEqual(pairs(fs), s.output, `${s.id} fields`);
    assert.deepEqual(table(d), s.table, `${s.id} dynamic table`);
    assert.equal(d.size, s.size, `${s.id} table size`);
    assert.equal(d.reliable, true);
  }
}

test('RFC 7541 C.2.1–C.2.4: single representations', () => {
  let d = new HpackDecoder();
  assert.deepEqual(pairs(decode(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))), [['custom-key', 'custom-header']]);
  assert.deepEqual(table(d), [['custom-key', 'custom-header', 55]]);
  assert.equal(d.size, 55);

  d = new HpackDecoder();
  assert.deepEqual(pairs(decode(d, hex('040c 2f73 616d 706c 652f 7061 7468'))), [[':path', '/sample/path']]);
  assert.equal(d.length, 0);
  assert.equal(d.size, 0);

  d = new HpackDecoder();
  const never = decode(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74'));
  assert.deepEqual(never, [{ name: 'password', value: 'secret', neverIndexed: true }]);
  assert.equal(d.length, 0);

  d = new HpackDecoder();
  assert.deepEqual(decode(d, hex('82')), [{ name: ':method', value: 'GET' }]);
  assert.equal(d.length, 0);
});

test('RFC 7541 C.3: requests without Huffman, one decoder', () => runSeries(C3, 4096));
test('RFC 7541 C.4: requests with Huffman, one decoder', () => runSeries(C4, 4096));
test('RFC 7541 C.5: responses without Huffman, 256-byte table (eviction)', () => runSeries(C5, 256));
test('RFC 7541 C.6: responses with Huffman, 256-byte table (eviction)', () => runSeries(C6, 256));

test('Huffman strings of RFC 7541 C.4/C.6', () => {
  const cases: Array<[string, string]> = [
    ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
    ['a8eb 1064 9cbf', 'no-cache'],
    ['25a8 49e9 5ba9 7d7f', 'custom-key'],
    ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
    ['6402', '302'],
    ['aec3 771a 4b', 'private'],
    ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', DATE1],
    ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', LOC],
    ['9bd9 ab', 'gzip'],
    ['', ''],
  ];
  for (const [h, want] of cases) {
    const b = hex(h);
    assert.equal(huffmanDecode(b, 0, b.length), want);
  }
});

/** Test-side Huffman encoder straight from the Appendix B table (bit by bit: slow, obviously right). */
function huffmanEncode(s: Buffer): Buffer {
  const bits: number[] = [];
  for (const c of s) {
    for (let i = HUFFMAN_LENGTHS[c] - 1; i >= 0; i--) bits.push(Math.floor(HUFFMAN_CODES[c] / 2 ** i) & 1);
  }
  while (bits.length % 8 !== 0) bits.push(1);
  const out = Buffer.alloc(bits.length / 8);
  for (let i = 0; i < bits.length; i++) if (bits[i]) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

test('Huffman table: a complete prefix code; every octet round-trips', () => {
  // Kraft equality: sum 2^-len == 1 exactly (scaled by 2^30)
  let kraft = 0;
  for (const l of HUFFMAN_LENGTHS) kraft += 2 ** (30 - l);
  assert.equal(kraft, 2 ** 30);
  assert.equal(HUFFMAN_LENGTHS.length, 257);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const enc = huffmanEncode(all);
  assert.equal(huffmanDecode(enc, 0, enc.length), all.toString('latin1'));
});

test('Huffman: random octet strings round-trip (fast-check)', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (arr) => {
    const b = Buffer.from(arr);
    const enc = huffmanEncode(b);
    return huffmanDecode(enc, 0, enc.length) === b.toString('latin1');
  }), { numRuns: 500 });
});

test('Huffman: invalid padding and EOS are rejected', () => {
  // 'a' = 00011 (5 bits) padded with zeros instead of ones
  assert.equal(huffmanDecode(Buffer.from([0x18]), 0, 1), undefined);
  // 'a' then a full byte of ones: padding longer than 7 bits
  assert.equal(huffmanDecode(Buffer.from([0x1f, 0xff]), 0, 2), undefined);
  // EOS (30 ones) inside the string
  assert.equal(huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4), undefined);
  // '0' (00000) + 3 one bits of padding: valid
  assert.equal(huffmanDecode(Buffer.from([0x07]), 0, 1), '0');
});

test('errors are returned with code and offset, never thrown', () => {
  const cases: Array<[string, string, number]> = [
    ['80', WL_ERR_HPACK_INDEX, 0], // index 0
    ['be', WL_ERR_HPACK_INDEX, 0], // index 62 in an empty table of a complete connection
    ['82ff', WL_ERR_HPACK_TRUNCATED, 1], // indexed, integer continuation missing
    ['400a6375', WL_ERR_HPACK_TRUNCATED, 0], // name literal cut
    ['ff ffffffffff7f', WL_ERR_HPACK_INTEGER, 0],
    ['82 3f e1 1f', WL_ERR_HPACK_TABLE_SIZE, 1], // size update after a field
    ['4081 18 00', WL_ERR_HPACK_HUFFMAN, 0], // name Huffman with zero padding
  ];
  for (const [h, code, at] of cases) {
    const d = new HpackDecoder();
    const out: HpackField[] = [];
    const b = hex(h);
    const err = d.decode(b, 0, b.length, out);
    assert.ok(err, `${h}: expected an error`);
    assert.equal(err.code, code, h);
    assert.equal(err.layer, 'hpack');
    assert.equal(err.offset, at, `${h}: offset`);
    assert.equal(d.reliable, false, `${h}: table in doubt after an error`);
  }
});

test('dynamic table size update: 0 empties, resize evicts, oversize entry empties the table', () => {
  const d = new HpackDecoder();
  decode(d, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'));
  decode(d, hex('8286 84be 5808 6e6f 2d63 6163 6865'));
  assert.equal(d.size, 110);
  // size update to 60 (3f 1d): only the newest 53-byte entry fits
  const fs = decode(d, hex('3f1d be'));
  assert.deepEqual(pairs(fs), [['cache-control', 'no-cache']]);
  assert.equal(d.maxSize, 60);
  assert.deepEqual(table(d), [['cache-control', 'no-cache', 53]]);
  // 0 then back to 4096 in one block (20 3fe11f)
  decode(d, hex('20 3fe11f'));
  assert.equal(d.length, 0);
  assert.equal(d.maxSize, 4096);
  // an entry larger than the table (limit 40): the table is emptied, entry not added (RFC 7541 4.4)
  decode(d, hex('3f09 4003 6162 6303 7879 7a')); // size 40, then abc: xyz (size 38 fits)
  assert.equal(d.size, 38);
  decode(d, hex('4004 6162 6364 0378 797a')); // abcd: xyz = 39 fits, evicts the first
  assert.deepEqual(table(d), [['abcd', 'xyz', 39]]);
  decode(d, hex('400a 6162 6364 6566 6768 696a 0378 797a')); // 45 > 40
  assert.equal(d.length, 0);
  assert.equal(d.size, 0);
});

test('mid-stream: references to unseen dynamic entries are marked, not invented', () => {
  // the C.3 connection seen from its second block on
  const d = new HpackDecoder({ midStream: true });
  assert.equal(d.reliable, false);
  const b2 = decode(d, hex('8286 84be 5808 6e6f 2d63 6163 6865'));
  assert.deepEqual(b2[3], { name: undefined, value: undefined, missingIndex: 62 });
  assert.deepEqual(pairs(b2.filter((f) => f.missingIndex === undefined)), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], ['cache-control', 'no-cache']]);
  // third block: bf (63) is the unseen :authority, now one further back
  const b3 = decode(d, hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'));
  assert.deepEqual(b3[3], { name: undefined, value: undefined, missingIndex: 63 });
  assert.deepEqual(b3[4], { name: 'custom-key', value: 'custom-value' });
  assert.equal(d.missingRefs, 2);
  assert.equal(d.reliable, false);
  // a newly inserted entry the decoder saw resolves
  assert.deepEqual(decode(d, hex('be bf')), [{ name: 'custom-key', value: 'custom-value' }, { name: 'cache-control', value: 'no-cache' }]);

  // literal with an unseen indexed name: value kept, name marked, and the inserted entry is marked too
  const m = new HpackDecoder({ midStream: true });
  const lit = decode(m, hex('7f03 0378 797a')); // name index 66 (0x3f + 3), incremental indexing
  assert.deepEqual(lit, [{ name: undefined, value: 'xyz', missingIndex: 66 }]);
  assert.deepEqual(decode(m, hex('be')), [{ name: undefined, value: 'xyz', missingIndex: 62 }]);

  // a size update to 0 proves the table empty: reliable again, and unknown references become errors
  const z = new HpackDecoder({ midStream: true });
  decode(z, hex('20 3fe11f 82'));
  assert.equal(z.reliable, true);
  const out: HpackField[] = [];
  assert.equal(z.decode(hex('be'), 0, 1, out)?.code, WL_ERR_HPACK_INDEX);
});

test('mid-stream: entries seen that fill a known-size table prove nothing unseen is left', () => {
  const d = new HpackDecoder({ midStream: true, tableSizeLimit: 100 });
  decode(d, hex('4003 6162 6303 7879 7a')); // 38
  assert.equal(d.reliable, false); // 38 + 32 <= 100: an unseen entry could still fit
  decode(d, hex('4003 6465 6603 7879 7a')); // 76: no room for any other entry (>= 32 bytes)
  assert.equal(d.reliable, true);
});

test('static table: 61 entries, RFC 7541 Appendix A spot checks', () => {
  assert.equal(STATIC_TABLE.length, 61);
  assert.deepEqual(STATIC_TABLE[0], [':authority', '']);
  assert.deepEqual(STATIC_TABLE[15], ['accept-encoding', 'gzip, deflate']);
  assert.deepEqual(STATIC_TABLE[60], ['www-authenticate', '']);
  // every static index decodes
  for (let i = 1; i <= 61; i++) {
    const d = new HpackDecoder();
    const b = Buffer.from([0x80 | i]);
    assert.deepEqual(pairs(decode(d, b)), [STATIC_TABLE[i - 1] as [string, string]]);
  }
});

test('random bytes never throw (fast-check), complete and mid-stream decoders', () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), fc.boolean(), (blocks, mid) => {
    const d = new HpackDecoder({ midStream: mid });
    for (const blk of blocks) {
      const b = Buffer.from(blk);
      const out: HpackField[] = [];
      const err = d.decode(b, 0, b.length, out);
      if (err !== undefined && (typeof err.code !== 'string' || err.offset < 0 || err.offset > b.length)) return false;
      if (d.size < 0 || d.size > Math.max(d.maxSize, 0)) return false;
    }
    return true;
  }), { numRuns: 2000 });
});
