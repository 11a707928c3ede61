/**
 * Property tests for docs/http1.md "Resynchronising": valid and invalid messages interleaved on one keep-alive
 * connection, cut into TCP segments at random points (1-byte segments included), client and server segments
 * interleaved in request → response order (pipelined when the interleaving says so), fed to HttpTracker.
 *
 * Every expectation is computed from the generated model (what was put on the wire), never from wirelog's output.
 * Junk is generated so that no line of it is a request line: random junk is filtered by an independent,
 * deliberately conservative predicate (`mayBeRequestLine`, from the contract's wording, not from src/), and a few
 * hand-picked near misses (a status line sent by the client, a NUL or DEL or bare CR in the target, …) are
 * judged by hand against RFC 9112's request-line grammar.
 *
 * Model notes (from the contract):
 * - consecutive invalid items are ONE skipped message: the client's direction skips ahead to the next start line,
 *   so junk that follows junk is part of the same resynchronisation (docs/http1.md: "one per resynchronisation").
 *   The server answers such a run with one 400.
 * - an item whose head is valid but whose body framing is lost (property 2) is logged as a request; what follows
 *   its head up to the next start line is skipped, and the next request carries `junk-before-message`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HttpTracker } from '../../src/correlate/http-tracker.js';
import { toHttpRecord } from '../../src/sinks/schema.js';
import { Conv, Recorder, type Ep } from '../helpers/tcp-conv.js';

const CLIENT: Ep = { ip: '192.0.2.10', port: 40000 };
const SERVER: Ep = { ip: '10.0.0.1', port: 80 };
const LOCAL = new Set(['10.0.0.1']);
/** docs/http1.md: a connection is not HTTP once one direction skipped more than 16 KiB before any message */
const NOT_HTTP_LIMIT = 16 * 1024;
/** no further cutting by Conv: the test chooses every segment itself */
const WHOLE = 1 << 30;
const CRLF = '\r\n';

const BAD_START = 'WL_ERR_HTTP_BAD_START_LINE';
const CHUNK_OVERFLOW = 'WL_ERR_HTTP_CHUNK_OVERFLOW';
const BAD_CHUNK = 'WL_ERR_HTTP_BAD_CHUNK';
const BAD_FRAMING = 'WL_ERR_HTTP_BAD_FRAMING';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

// ---------- the model's own idea of a request line (independent of src/) ----------

const TCHAR_SET = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const METHOD_THEN_BLANK = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]/;

/**
 * Could this line (without its LF) be a request line by docs/http1.md? Conservative: a method token followed by a
 * blank, and either "HTTP/" anywhere after it (METHOD SP target SP HTTP/…) or a method "GET" (HTTP/0.9 `GET /x`,
 * any case). Junk is only ever made of lines for which this says no.
 */
function mayBeRequestLine(line: string): boolean {
  if (!METHOD_THEN_BLANK.test(line)) return false;
  return /http\//i.test(line) || /^get[ \t]/i.test(line);
}
function noRequestLine(b: Buffer): boolean {
  return b.toString('latin1').split('\n').every((l) => !mayBeRequestLine(l));
}

// ---------- generated messages ----------

/** body contents: random bytes, or text that would be a message if framing were not followed */
interface Fill { pattern: 0 | 1 | 2; seed: number }
function fillBytes(n: number, f: Fill): Buffer {
  const b = Buffer.alloc(n);
  const text = f.pattern === 1 ? 'GET /in-body HTTP/1.1\r\nHost: x\r\n\r\n' : f.pattern === 2 ? 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' : '';
  let x = f.seed | 1;
  for (let i = 0; i < n; i++) {
    if (text !== '') b[i] = text.charCodeAt(i % text.length);
    else {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 255;
    }
  }
  return b;
}
const fillArb: fc.Arbitrary<Fill> = fc.record({ pattern: fc.constantFrom<0 | 1 | 2>(0, 1, 2), seed: fc.integer() });

interface Chunk { size: number; zeros: number; upper: boolean; ext: string }
type Body =
  | { kind: 'none' }
  | { kind: 'cl'; n: number; fill: Fill }
  | { kind: 'chunked'; chunks: Chunk[]; lastZeros: number; trailer: boolean; fill: Fill };

const chunkArb: fc.Arbitrary<Chunk> = fc.record({
  size: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 400 })),
  zeros: fc.integer({ min: 0, max: 3 }),
  upper: fc.boolean(),
  ext: fc.constantFrom('', ';a=b', ';name="quoted value"', ';x;y=z'),
});
const chunkedArb = fc.record({
  kind: fc.constant('chunked' as const),
  chunks: fc.array(chunkArb, { maxLength: 4 }),
  lastZeros: fc.integer({ min: 0, max: 2 }),
  trailer: fc.boolean(),
  fill: fillArb,
});
const clArb = fc.record({ kind: fc.constant('cl' as const), n: fc.integer({ min: 0, max: 600 }), fill: fillArb });
const bodyArb: fc.Arbitrary<Body> = fc.oneof(fc.constant({ kind: 'none' as const }), clArb, chunkedArb);

function chunkLine(c: Chunk): string {
  const hex = c.size.toString(16);
  return '0'.repeat(c.zeros) + (c.upper ? hex.toUpperCase() : hex) + c.ext + CRLF;
}
/** the framing header, the body's bytes on the wire, and how many body bytes that is (chunk data only) */
function encodeBody(b: Body): { header: string; wire: Buffer; size: number } {
  if (b.kind === 'none') return { header: '', wire: Buffer.alloc(0), size: 0 };
  if (b.kind === 'cl') return { header: `Content-Length: ${b.n}\r\n`, wire: fillBytes(b.n, b.fill), size: b.n };
  const parts: Buffer[] = [];
  let size = 0;
  for (const c of b.chunks) {
    parts.push(latin1(chunkLine(c)), fillBytes(c.size, { pattern: b.fill.pattern, seed: b.fill.seed + size }), latin1(CRLF));
    size += c.size;
  }
  parts.push(latin1('0'.repeat(b.lastZeros) + '0\r\n' + (b.trailer ? 'X-Checksum: abc\r\n' : '') + CRLF));
  return { header: 'Transfer-Encoding: chunked\r\n', wire: Buffer.concat(parts), size };
}

// registered methods (RFC 9110 and the WebDAV family); CONNECT is left out: its 2xx ends HTTP on the connection
const METHODS = [
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY',
  'MOVE', 'LOCK', 'UNLOCK', 'REPORT', 'SEARCH', 'MKCALENDAR', 'ACL', 'BIND', 'CHECKOUT', 'VERSION-CONTROL',
  'BASELINE-CONTROL', 'MKWORKSPACE', 'ORDERPATCH',
];
const PCHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%/?";
const pathArb = fc.string({ unit: fc.constantFrom(...PCHARS), maxLength: 40 });
const uriArb = fc.oneof(
  pathArb.map((p) => '/' + p),
  fc.constant('*'),
  pathArb.map((p) => 'http://example.test:8080/' + p),
);
const VCHARS = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~';
const headerArb = fc.tuple(
  fc.string({ unit: fc.constantFrom(...TCHAR_SET), minLength: 1, maxLength: 20 })
    .filter((n) => !['content-length', 'transfer-encoding', 'host'].includes(n.toLowerCase())),
  fc.string({ unit: fc.constantFrom(...VCHARS), maxLength: 40 }),
);

interface Req { method: string; uri: string; version: 'HTTP/1.1' | 'HTTP/1.0'; host: string | null; headers: Array<[string, string]>; body: Body }
const reqArb: fc.Arbitrary<Req> = fc.record({
  method: fc.constantFrom(...METHODS),
  uri: uriArb,
  version: fc.constantFrom<'HTTP/1.1' | 'HTTP/1.0'>('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'),
  host: fc.option(fc.constantFrom('example.test', 'h.example:8080', '[::1]'), { nil: null }),
  headers: fc.array(headerArb, { maxLength: 4 }),
  body: bodyArb,
}).map((r) => (r.version === 'HTTP/1.0' && r.body.kind === 'chunked' ? { ...r, version: 'HTTP/1.1' as const } : r));

function encodeRequest(r: Req): { wire: Buffer; bodySize: number } {
  const b = encodeBody(r.body);
  let head = `${r.method} ${r.uri} ${r.version}\r\n`;
  if (r.host !== null) head += `Host: ${r.host}\r\n`;
  for (const [n, v] of r.headers) head += `${n}: ${v}\r\n`;
  head += b.header + CRLF;
  return { wire: Buffer.concat([latin1(head), b.wire]), bodySize: b.size };
}

interface Res { status: number; reason: string; body: Body }
const reasonArb = fc.constantFrom('', 'OK', 'Whatever It Is', 'Not Found');
const resArb: fc.Arbitrary<Res> = fc.oneof(
  fc.record({
    status: fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 304),
    reason: reasonArb,
    body: fc.oneof(clArb, chunkedArb) as fc.Arbitrary<Body>,
  }),
  fc.record({ status: fc.constantFrom(204, 304), reason: reasonArb, body: fc.constant<Body>({ kind: 'none' }) }),
);

/** a response to `method`: a HEAD's answer has its framing headers but no body */
function encodeResponse(r: Res, method: string): { wire: Buffer; bodySize: number } {
  const b = encodeBody(r.body);
  const head = `HTTP/1.1 ${r.status} ${r.reason}\r\nServer: prop\r\n${b.header}\r\n`;
  if (method === 'HEAD') return { wire: latin1(head), bodySize: 0 };
  return { wire: Buffer.concat([latin1(head), b.wire]), bodySize: b.size };
}

function response400(n: number): Buffer {
  return Buffer.concat([
    latin1(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: ${n}\r\nConnection: close\r\n\r\n`),
    fillBytes(n, { pattern: 2, seed: n }), // status lines inside the body: framing must be followed
  ]);
}

// ---------- junk (no line of it is a request line) ----------

/** binary bytes without LF, not starting with CR (that would be an empty line), then CRLF */
const binaryJunk = fc.uint8Array({ minLength: 1, maxLength: 200 }).map((a) => {
  const b = Buffer.from(a.map((x) => (x === 10 ? 0 : x)));
  if (b[0] === 13) b[0] = 0x80;
  return Buffer.concat([b, latin1(CRLF)]);
});
const WORDS = ['THIS', 'IS', 'NOT', 'HTTP', 'hello', 'world', 'EHLO', 'mail.example', 'SSH-2.0-OpenSSH_9.6', '+OK', 'QUIT', '*1', '$4', 'PING', 'HTTP1.1', '\x00', 'é'];
const textJunk = fc.oneof(
  fc.constant(latin1('THIS IS NOT HTTP\r\n')),
  fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 6 }).map((w) => latin1(w.join(' ') + CRLF)),
  // long enough (> 256 bytes) that the start line is looked at again only when its LF arrives
  fc.array(fc.constantFrom(...WORDS), { minLength: 60, maxLength: 120 }).map((w) => latin1(w.join(' ') + CRLF)),
);
/** a TLS record header and random bytes (LFs included: every line is checked), then CRLF */
const tlsJunk = fc.tuple(fc.constantFrom(1, 2, 3, 4), fc.uint8Array({ minLength: 0, maxLength: 300 })).map(([minor, a]) =>
  Buffer.concat([Buffer.from([0x16, 0x03, minor, a.length >> 8, a.length & 255]), Buffer.from(a), latin1(CRLF)]));
/** lines that look like request lines but are not one (RFC 9112 request-line), judged by hand */
const NEAR_MISSES = [
  'HTTP/1.1 200 OK', // a status line in the client's direction
  'GET', // a method alone
  '/index.html HTTP/1.1', // no method
  ' GET / HTTP/1.1', // a method is a token: no leading blank
  'GET /a\x00b HTTP/1.1', // NUL in the target
  'GET /a\x7fb HTTP/1.1', // DEL in the target
  'GET\x00/ HTTP/1.1', // NUL after the method
  'GET / HTTP/1.1 trailing', // the version is not the last token
  'GET /\r HTTP/1.1', // bare CR
];
const nearMiss = fc.constantFrom(...NEAR_MISSES).map((l) => latin1(l + CRLF));
const junkArb: fc.Arbitrary<Buffer> = fc.oneof(binaryJunk, textJunk, tlsJunk, nearMiss).filter((b) => {
  if (b[0] === 13 || b[0] === 10) return false;
  return NEAR_MISSES.includes(b.subarray(0, b.length - 2).toString('latin1')) || noRequestLine(b);
});
/** junk lines after a lost framing (not at a message start: any first byte) */
const junkLinesArb = (minLength: number) => fc.array(junkArb, { minLength, maxLength: 3 }).map((a) => Buffer.concat(a));

// ---------- items → exchanges (the model) ----------

type Item =
  | { t: 'valid'; req: Req; res: Res }
  | { t: 'junk'; bytes: Buffer; body400: number }
  | { t: 'broken'; b: Broken };

interface Expect {
  kind: 'valid' | 'junk' | 'broken';
  method?: string; uri?: string; version?: string;
  status: number;
  reqBody: number;
  resBody: number;
  /** anomaly names that must be in the record, and those that may be (the contract leaves them open) */
  must: string[];
  may: string[];
  /** give-up code this exchange causes, if any */
  code?: string;
  /** bytes skipped in the client's direction because of this exchange (a range where the contract is loose) */
  skipMin: number;
  skipMax: number;
}
interface Exchange { client: Buffer; server: Buffer; x: Expect }

const validItem: fc.Arbitrary<Item> = fc.record({ t: fc.constant('valid' as const), req: reqArb, res: resArb });
const junkItem: fc.Arbitrary<Item> = fc.record({ t: fc.constant('junk' as const), bytes: junkArb, body400: fc.integer({ min: 0, max: 200 }) });

function validExchange(req: Req, res: Res, junkBefore: boolean): Exchange {
  const q = encodeRequest(req);
  const s = encodeResponse(res, req.method);
  return {
    client: q.wire, server: s.wire,
    x: {
      kind: 'valid', method: req.method, uri: req.uri, version: req.version, status: res.status, reqBody: q.bodySize,
      resBody: s.bodySize, must: junkBefore ? ['junk-before-message'] : [], may: [], skipMin: 0, skipMax: 0,
    },
  };
}

function buildExchanges(items: Item[]): Exchange[] {
  const ex: Exchange[] = [];
  let junkBefore = false;
  for (const it of items) {
    if (it.t === 'junk') {
      const last = ex[ex.length - 1];
      if (last !== undefined && last.x.kind === 'junk') {
        // junk after junk: the same resynchronisation, one skipped message, one answer
        last.client = Buffer.concat([last.client, it.bytes]);
        last.x.skipMin += it.bytes.length;
        last.x.skipMax += it.bytes.length;
        continue;
      }
      assert.ok(last === undefined || last.x.kind !== 'broken', 'model: junk after a lost framing is part of its resync');
      ex.push({
        client: it.bytes, server: response400(it.body400),
        x: {
          kind: 'junk', status: 400, reqBody: 0, resBody: it.body400, must: ['bad-start-line'], may: [], code: BAD_START,
          skipMin: it.bytes.length, skipMax: it.bytes.length,
        },
      });
      junkBefore = true;
    } else if (it.t === 'valid') {
      ex.push(validExchange(it.req, it.res, junkBefore));
      junkBefore = false;
    } else {
      ex.push(brokenExchange(it.b, junkBefore));
      junkBefore = true;
    }
  }
  return ex;
}

// ---------- property 2: valid heads whose body framing is lost ----------

type Broken =
  | { kind: 'overflow'; method: string; uri: string; good: Chunk[]; zeros: number; digits: string; ext: string; junk: Buffer; fill: Fill; body400: number }
  | { kind: 'badhex'; method: string; uri: string; good: Chunk[]; line: string; junk: Buffer; fill: Fill; body400: number }
  | { kind: 'te'; method: string; uri: string; te: string; junk: Buffer; body400: number }
  | { kind: 'hexgarbage'; method: string; uri: string; good: Chunk[]; hex: string; line: string; junk: Buffer; fill: Fill; body400: number };

const HEX = '0123456789abcdefABCDEF';
/** a chunk size above 2^53-1: 2^53 itself, or 15 and more hex digits without leading zero */
const overflowDigits = fc.oneof(
  fc.constantFrom('20000000000000', 'ffffffffffffffffff', 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF'),
  fc.tuple(fc.constantFrom(...HEX.slice(1)), fc.string({ unit: fc.constantFrom(...HEX), minLength: 14, maxLength: 24 })).map(([a, b]) => a + b),
);
/** a chunk-size line whose first byte is not a hex digit (and that is not a request line) */
const badHexLine = fc.oneof(
  fc.constantFrom('zz', 'xyz', 'g', '-1', 'hello world', ';ext=1', '\x00\x01', 'Z', '\x16\x03\x01'),
  fc.tuple(fc.constantFrom(...'ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ-_;~'), fc.string({ unit: fc.constantFrom(...VCHARS), maxLength: 30 }))
    .map(([a, b]) => a + b),
).filter((l) => !mayBeRequestLine(l));
const TE_HEADERS = [
  'Transfer-Encoding: chunked, gzip',
  'Transfer-Encoding: gzip',
  'Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip',
  'Transfer-Encoding: gzip, chunked, br',
];
const bodyMethod = fc.constantFrom('POST', 'PUT', 'PATCH', 'PROPPATCH', 'REPORT', 'SEARCH', 'LOCK');
const body400Arb = fc.integer({ min: 0, max: 100 });
const brokenArb: fc.Arbitrary<Broken> = fc.oneof(
  fc.record({
    kind: fc.constant('overflow' as const), method: bodyMethod, uri: uriArb, good: fc.array(chunkArb, { maxLength: 2 }),
    zeros: fc.integer({ min: 0, max: 3 }), digits: overflowDigits, ext: fc.constantFrom('', ';a=b', ' ; x'),
    junk: junkLinesArb(0), fill: fillArb, body400: body400Arb,
  }),
  fc.record({
    kind: fc.constant('badhex' as const), method: bodyMethod, uri: uriArb, good: fc.array(chunkArb, { maxLength: 2 }),
    line: badHexLine, junk: junkLinesArb(0), fill: fillArb, body400: body400Arb,
  }),
  fc.record({
    kind: fc.constant('te' as const), method: bodyMethod, uri: uriArb, te: fc.constantFrom(...TE_HEADERS),
    junk: junkLinesArb(1), body400: body400Arb,
  }),
);

/**
 * A chunk-size line that starts with hex digits and goes on with a byte that can follow no chunk size (RFC 9112
 * 7.1: only BWS and `;` extensions, then CRLF): `0x10`, `5z`, `1.5`. nginx and Node's llhttp answer 400.
 */
const hexGarbageArb: fc.Arbitrary<Broken> = fc.record({
  kind: fc.constant('hexgarbage' as const), method: bodyMethod, uri: uriArb, good: fc.array(chunkArb, { maxLength: 2 }),
  hex: fc.string({ unit: fc.constantFrom(...HEX), minLength: 1, maxLength: 3 }),
  line: fc.tuple(fc.constantFrom(...'xXgGzZ.-,/=:'), fc.string({ unit: fc.constantFrom(...VCHARS), maxLength: 10 })).map(([g, r]) => g + r),
  junk: junkLinesArb(0), fill: fillArb, body400: body400Arb,
}).filter((b) => b.kind === 'hexgarbage' && !mayBeRequestLine(b.hex + b.line));

/** index in `line` of the hex digit that takes the chunk size above 2^53-1 */
function overflowAt(line: string): number {
  let v = 0n;
  for (let i = 0; i < line.length; i++) {
    v = v * 16n + BigInt(parseInt(line[i]!, 16));
    if (v > 2n ** 53n - 1n) return i;
  }
  throw new Error('model: no overflow in ' + line);
}

function brokenExchange(b: Broken, junkBefore: boolean): Exchange {
  const te = b.kind === 'te' ? b.te : 'Transfer-Encoding: chunked';
  const head = latin1(`${b.method} ${b.uri} HTTP/1.1\r\nHost: broken.test\r\n${te}\r\n\r\n`);
  const parts: Buffer[] = [head];
  let reqBody = 0;
  let skipMin: number, skipMax: number, anomaly: string, code: string;
  if (b.kind !== 'te') {
    for (const c of b.good) {
      parts.push(latin1(chunkLine(c)), fillBytes(c.size, b.fill), latin1(CRLF));
      reqBody += c.size;
    }
  }
  if (b.kind === 'overflow') {
    const line = '0'.repeat(b.zeros) + b.digits + b.ext + CRLF;
    parts.push(latin1(line), b.junk);
    // the bytes of the size line before the failing digit were read as a chunk size: whether they count as
    // skipped is not said by the contract, so both readings are accepted
    skipMin = line.length - overflowAt(line) + b.junk.length;
    skipMax = line.length + b.junk.length;
    anomaly = 'chunk-overflow';
    code = CHUNK_OVERFLOW;
  } else if (b.kind === 'hexgarbage') {
    const line = b.hex + b.line + CRLF;
    parts.push(latin1(line), b.junk);
    // as for an overflow: the hex digits before the bad byte may or may not count as skipped
    skipMin = line.length - b.hex.length + b.junk.length;
    skipMax = line.length + b.junk.length;
    anomaly = 'bad-chunk';
    code = BAD_CHUNK;
  } else if (b.kind === 'badhex') {
    parts.push(latin1(b.line + CRLF), b.junk);
    skipMin = skipMax = b.line.length + 2 + b.junk.length;
    anomaly = 'bad-chunk';
    code = BAD_CHUNK;
  } else {
    parts.push(b.junk);
    skipMin = skipMax = b.junk.length;
    anomaly = 'te-not-chunked-last';
    code = BAD_FRAMING;
  }
  return {
    client: Buffer.concat(parts), server: response400(b.body400),
    x: {
      kind: 'broken', method: b.method, uri: b.uri, version: 'HTTP/1.1', status: 400, reqBody, resBody: b.body400,
      must: junkBefore ? ['junk-before-message', anomaly] : [anomaly], may: [], code, skipMin, skipMax,
    },
  };
}

// ---------- the conversation ----------

/** cut [0, len) into segments whose sizes are taken from `sizes` in turn, starting at `phase` */
function cut(len: number, sizes: number[], phase: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0, k = phase; i < len; k++) {
    const e = Math.min(len, i + sizes[k % sizes.length]!);
    out.push([i, e]);
    i = e;
  }
  return out;
}

interface Run { r: Recorder; t: HttpTracker; client: Buffer; server: Buffer }

/**
 * One connection: handshake, client and server segments interleaved (a server segment only once the client has
 * sent every byte of each exchange it answers; `choices` picks between them otherwise), FIN both ways.
 */
function converse(ex: Exchange[], sizes: number[], choices: boolean[]): Run {
  const client = Buffer.concat(ex.map((e) => e.client));
  const server = Buffer.concat(ex.map((e) => e.server));
  const clientEnd: number[] = [];
  const serverEnd: number[] = [];
  let ce = 0, se = 0;
  for (const e of ex) {
    clientEnd.push((ce += e.client.length));
    serverEnd.push((se += e.server.length));
  }
  const cseg = cut(client.length, sizes, 0);
  const sseg = cut(server.length, sizes, sizes.length >> 1);
  const need = sseg.map(([, b]) => clientEnd[serverEnd.findIndex((x) => x >= b)]!);
  const conv = new Conv(CLIENT, SERVER).handshake();
  let ci = 0, si = 0, sent = 0, step = 0;
  while (ci < cseg.length || si < sseg.length) {
    const canAnswer = si < sseg.length && sent >= need[si]!;
    if (canAnswer && (ci >= cseg.length || choices[step++ % choices.length])) {
      const [a, b] = sseg[si++]!;
      conv.s(server.subarray(a, b), WHOLE);
    } else {
      const [a, b] = cseg[ci++]!;
      conv.c(client.subarray(a, b), WHOLE);
      sent = b;
    }
  }
  conv.close();
  const r = new Recorder();
  const t = new HttpTracker({ reassembly: true, servicePorts: new Set([80]), localAddrs: LOCAL }, r);
  for (const seg of conv.segs) t.onSegment(seg);
  t.finish();
  return { r, t, client, server };
}

/** Everything the model says about one connection's records and counters. */
function check(ex: Exchange[], { r, t, client }: Run): void {
  const ctx = `client stream ${JSON.stringify(client.toString('latin1'))}`;
  // (a) every request, once, in order, with its reqId (skipped messages keep their place)
  const wantReqs: unknown[] = [];
  ex.forEach((e, k) => {
    if (e.x.kind !== 'junk') wantReqs.push([k + 1, e.x.method, e.x.uri, e.x.version]);
  });
  assert.deepEqual(r.requests.map((ev) => [ev.reqId, ev.req.method, ev.req.uri, ev.req.version]), wantReqs, `request events; ${ctx}`);
  assert.equal(r.responses.length, ex.length, `response events; ${ctx}`);
  assert.equal(r.txs.length, ex.length, `one transaction per exchange; ${ctx}`);
  ex.forEach((e, k) => {
    const x = e.x;
    const rec = toHttpRecord(r.txs[k]!);
    const where = `exchange ${k + 1} (${x.kind}); ${ctx}`;
    assert.equal(rec.req_id, k + 1, where);
    assert.equal(rec.status, x.status, where);
    if (x.kind === 'junk') {
      // (b) the server's answer to a skipped message
      assert.equal(rec.incomplete, 'no-request', where);
      assert.equal(rec.method, null, where);
    } else {
      assert.equal(rec.incomplete, null, where);
      assert.deepEqual([rec.method, rec.uri, rec.version], [x.method, x.uri, x.version], where);
    }
    // (b), (c) and property 2's framing anomalies: exactly the expected names
    for (const a of x.must) assert.ok(rec.anomalies.includes(a), `${where}: ${a} missing from ${JSON.stringify(rec.anomalies)}`);
    for (const a of rec.anomalies) assert.ok(x.must.includes(a) || x.may.includes(a), `${where}: unexpected ${a} in ${JSON.stringify(rec.anomalies)}`);
    // (e)
    assert.equal(rec.req_body_bytes, x.reqBody, `req_body_bytes, ${where}`);
    assert.equal(rec.res_body_bytes, x.resBody, `res_body_bytes, ${where}`);
  });
  // (d) counters
  const st = t.stats;
  const codes: Record<string, number> = {};
  let skipMin = 0, skipMax = 0;
  for (const { x } of ex) {
    if (x.code !== undefined) codes[x.code] = (codes[x.code] ?? 0) + 1;
    skipMin += x.skipMin;
    skipMax += x.skipMax;
  }
  assert.equal(st.messagesSkipped, ex.filter((e) => e.x.kind === 'junk').length, `messagesSkipped; ${ctx}`);
  assert.deepEqual(st.parseErrorsByCode, codes, `parseErrorsByCode; ${ctx}`);
  assert.ok(st.bytesSkipped >= skipMin && st.bytesSkipped <= skipMax, `bytesSkipped ${st.bytesSkipped} not in [${skipMin}, ${skipMax}]; ${ctx}`);
  assert.equal(st.connectionsNotHttp, 0, ctx);
}

/** fast-check parameters: bounded runs (the file runs in a second or two), the failed assertion in the report */
const runs = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, includeErrorInReport: true });

/** segment sizes: 1-byte segments, small ones, MSS-like ones */
const sizesArb = fc.array(
  fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 3000 })),
  { minLength: 1, maxLength: 12 },
);
/** true: the server's next segment goes first when it may (false favours the client: pipelining) */
const choicesArb = fc.array(fc.boolean(), { minLength: 1, maxLength: 12 });

// ---------- properties ----------

test('property 1: valid requests and skipped junk interleaved on a keep-alive connection are all logged, paired and counted', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof({ weight: 3, arbitrary: validItem }, { weight: 2, arbitrary: junkItem }), { minLength: 1, maxLength: 10 }),
      sizesArb, choicesArb,
      (items, sizes, choices) => {
        const ex = buildExchanges(items);
        check(ex, converse(ex, sizes, choices));
      },
    ),
    runs(300),
  );
});

test('property 2: a valid head whose body framing is lost is logged with its anomaly; the next request after the skipped bytes too', () => {
  const brokenItem: fc.Arbitrary<Item> = brokenArb.map((b) => ({ t: 'broken' as const, b }));
  fc.assert(
    fc.property(
      fc.array(fc.oneof({ weight: 3, arbitrary: validItem }, { weight: 2, arbitrary: brokenItem }), { minLength: 1, maxLength: 8 }),
      sizesArb, choicesArb,
      (items, sizes, choices) => {
        const ex = buildExchanges(items);
        check(ex, converse(ex, sizes, choices));
      },
    ),
    runs(250),
  );
});

// Found by this property: after its hex digits, the chunk-size state took any byte as the start of an extension, so
// `0x` was the last chunk and the next request was read as its trailer section, silently. RFC 9112 7.1.1 allows only
// BWS, `;` or the line end after the size: anything else is `bad-chunk` and the direction resynchronises.
test('property 2b: a chunk-size line of hex digits then garbage (`0x10`, `5z`) is bad-chunk, and the next request is logged', () => {
  const brokenItem: fc.Arbitrary<Item> = hexGarbageArb.map((b) => ({ t: 'broken' as const, b }));
  fc.assert(
    fc.property(
      fc.array(fc.oneof({ weight: 2, arbitrary: validItem }, { weight: 2, arbitrary: brokenItem }), { minLength: 1, maxLength: 6 }),
      sizesArb, choicesArb,
      (items, sizes, choices) => {
        const ex = buildExchanges(items);
        check(ex, converse(ex, sizes, choices));
      },
    ),
    runs(200),
  );
});

/** empty lines (which may come first), then random bytes that hold no request line, as junk before the first message */
interface LeadJunk { lead: string; core: Buffer }
function coreOf(a: Uint8Array): Buffer {
  if (a.length === 0) return Buffer.alloc(0);
  const b = Buffer.from(a);
  if (b[0] === 13 || b[0] === 10) b[0] = 0x7f; // a first CR/LF would be an empty line: that is `lead`'s part
  return Buffer.concat([b, latin1(CRLF)]);
}

/**
 * One line of tchar words and single spaces, starting with 'X', no '/' in it (so no version, no `GET`): a start
 * line the parser cannot rule out before the line's end.
 */
function wordsLine(a: Uint8Array): Buffer {
  if (a.length === 0) return Buffer.alloc(0);
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.';
  const b = Buffer.from(a.map((x, i) => (i > 0 && i < a.length - 1 && x % 6 === 0 ? 0x20 : letters.charCodeAt(x % letters.length))));
  b[0] = 0x58; // 'X'
  return Buffer.concat([b, latin1(CRLF)]);
}
const coreArb = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 4096 }).map(coreOf) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4096 }).map(wordsLine) },
).filter(noRequestLine);

/** the exchanges of a fresh connection that starts with `j` and goes on with valid requests */
function leadingJunkExchanges(j: LeadJunk, valid: Array<{ req: Req; res: Res }>, body400: number): Exchange[] {
  const ex: Exchange[] = [];
  const lead = latin1(j.lead);
  if (j.core.length > 0) {
    ex.push({
      client: Buffer.concat([lead, j.core]), server: response400(body400),
      x: {
        kind: 'junk', status: 400, reqBody: 0, resBody: body400, must: ['bad-start-line'], may: [], code: BAD_START,
        skipMin: lead.length + j.core.length, skipMax: lead.length + j.core.length,
      },
    });
  }
  valid.forEach((v, i) => {
    const e = validExchange(v.req, v.res, i === 0 && j.core.length > 0);
    if (i === 0 && lead.length > 0) {
      if (j.core.length === 0) {
        // empty lines right before the first request: skipped and flagged (RFC 9112 2.2)
        e.client = Buffer.concat([lead, e.client]);
        e.x.must.push('crlf-before-message');
        e.x.skipMin = e.x.skipMax = lead.length;
      } else e.x.may.push('crlf-before-message'); // empty lines before the junk: the contract does not say
      if (/(^|[^\r])\n/.test(j.lead)) e.x.may.push('bare-lf');
    }
    ex.push(e);
  });
  return ex;
}

const leadArb = fc.constantFrom('', '', '\r\n', '\r\n\r\n', '\n');

test('property 3: random bytes before the first request of a fresh connection are skipped; the requests are logged', () => {
  fc.assert(
    fc.property(
      leadArb,
      coreArb,
      fc.array(fc.record({ req: reqArb, res: resArb }), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 0, max: 100 }),
      sizesArb, choicesArb,
      (lead, core, valid, body400, sizes, choices) => {
        const ex = leadingJunkExchanges({ lead, core }, valid, body400);
        check(ex, converse(ex, sizes, choices));
      },
    ),
    runs(150),
  );
});

test('property 3, at the not-HTTP limit: 16 KiB of junk before the first message is still HTTP, one byte more is not', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: NOT_HTTP_LIMIT - 1, maxLength: NOT_HTTP_LIMIT - 1 }),
      fc.boolean(),
      fc.array(fc.record({ req: reqArb, res: resArb }), { minLength: 1, maxLength: 3 }),
      sizesArb, choicesArb,
      (bytes, words, valid, sizes, choices) => {
        // junk of exactly NOT_HTTP_LIMIT bytes (CRLF included), and of one byte more: random bytes (lines of
        // ~256 bytes), or one line of words that could be a start line until its end
        const make = words ? wordsLine : coreOf;
        const atLimit = make(bytes.subarray(0, NOT_HTTP_LIMIT - 2));
        const over = make(bytes);
        fc.pre(noRequestLine(atLimit) && noRequestLine(over));
        assert.equal(atLimit.length, NOT_HTTP_LIMIT);
        assert.equal(over.length, NOT_HTTP_LIMIT + 1);

        const ex = leadingJunkExchanges({ lead: '', core: atLimit }, valid, 10);
        check(ex, converse(ex, sizes, choices));

        // no message in either direction before the limit is passed (the server has not answered yet): not HTTP,
        // and nothing after it is parsed, the server's answers included
        const exOver = leadingJunkExchanges({ lead: '', core: over }, valid, 10);
        const { r, t } = converse(exOver, sizes, choices);
        assert.equal(t.stats.connectionsNotHttp, 1);
        assert.equal(r.requests.length, 0);
        assert.equal(r.responses.length, 0);
        assert.equal(r.txs.length, 0);
      },
    ),
    runs(12),
  );
});
