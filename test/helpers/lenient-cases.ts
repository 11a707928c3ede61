/**
 * The lenient / malformed / hostile HTTP/1 corpus (issue 8, docs/http1.md), as data.
 *
 * Each request-side case is the bytes a raw client writes on one fresh connection, cut into the messages
 * docs/http1.md says wirelog finds in them: a request (with the fields and `anomalies` wirelog must log) or a
 * skipped message (a start line that is not one, a head over 64 KiB: logged, when the server answers it, as a
 * `no-request` transaction with the reason in `anomalies`). `parts` are written one after another on the same
 * connection, each after the answer to the previous one went quiet (keep-alive), and only while the server has not
 * closed; messages in one part are pipelined.
 *
 * `servers` says what each reference server does with the case (found by running them, see
 * test/fixtures/lenient-cases-report.md): whether it understands each request (answers it and logs it as a
 * request), and where its access log shows a request differently from what wirelog must log, and why.
 * `tshark` says which of the case's requests tshark 4.0 dissects as HTTP requests, where that is not all of them.
 *
 * Response-side cases (`responseCases()`) are the fixed bytes a tiny raw server answers with, read by curl.
 *
 * To add a case: add it to `lenientCases()` (ids stay unique: they are in each request's User-Agent) with the
 * verdicts the servers give it (the references test says which when they differ), and regenerate the report's tables
 * with lenient-report.ts.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fixturesDir } from './paths.js';

export type ServerKind = 'nginx' | 'h2o' | 'node';
export const SERVER_KINDS: readonly ServerKind[] = ['nginx', 'h2o', 'node'];

/** Every anomaly name docs/http1.md defines. */
export const ANOMALIES: readonly string[] = [
  'crlf-before-message', 'extra-whitespace', 'bare-lf', 'obs-fold', 'bad-header-name', 'header-without-colon',
  'unknown-method', 'no-target', 'bad-version', 'cl-repeated', 'cl-mismatch', 'cl-invalid', 'te-and-cl',
  'te-not-chunked-last', 'te-in-http10', 'chunk-overflow', 'bad-chunk', 'head-too-large', 'bad-start-line',
  'junk-before-message',
];

export type Http1ErrorCode = 'WL_ERR_HTTP_BAD_START_LINE' | 'WL_ERR_HTTP_HEAD_TOO_LARGE' | 'WL_ERR_HTTP_BAD_FRAMING'
  | 'WL_ERR_HTTP_BAD_CHUNK' | 'WL_ERR_HTTP_CHUNK_OVERFLOW';

/** A request wirelog parses (docs/http1.md: how it is logged). */
export interface RequestMessage {
  kind: 'request';
  bytes: Buffer;
  method: string;
  /** null: no target (`GET HTTP/1.1`) */
  uri: string | null;
  version: string;
  host: string | null;
  userAgent: string | null;
  /** the record's `anomalies` for the request side, in the order docs/http1.md lists them (each once) */
  anomalies: string[];
  /** request body bytes wirelog counts; undefined where the framing is lost (not compared) */
  reqBodyBytes?: number;
  /** the head is logged but its framing cannot be followed: the direction resynchronises after it (one skip) */
  resync?: Http1ErrorCode;
}

/** A message wirelog skips (resynchronising at the next request line). */
export interface SkippedMessage {
  kind: 'skip';
  bytes: Buffer;
  anomalies: string[];
  error: Http1ErrorCode;
}

/** Bytes that make wirelog judge the connection not HTTP (over 16 KiB skipped, no message in either direction): nothing
 * of the connection is logged. */
export interface NotHttpMessage {
  kind: 'not-http';
  bytes: Buffer;
}

export type CaseMessage = RequestMessage | SkippedMessage | NotHttpMessage;

/** What one reference server does with one message of a case. */
export interface ServerVerdict {
  /** 'accept': answered with a status it logs as a request; 'reject': answered with an error (400, 431, …) and closed;
   * 'none': never answered (e.g. not read after a close) */
  verdict: 'accept' | 'reject' | 'none';
  /** fields the server logs differently from what wirelog must log, and why (an explained, per-field exception) */
  logs?: { method?: string | null; uri?: string | null; version?: string | null; host?: string | null; status?: number | null; why: string };
}

export interface LenientCase {
  id: string;
  title: string;
  /** one fresh connection: parts written in turn (keep-alive), each holding pipelined messages */
  parts: CaseMessage[][];
  /** per server: one verdict per message (in order, over all parts) */
  servers: Record<ServerKind, ServerVerdict[]>;
  /** the servers the case is sent to, when not all (a server whose answer races the client's sending) */
  only?: ServerKind[];
  /**
   * tshark, where it does not dissect every request of the case as wirelog logs it: `requests` the indexes (over all
   * messages) of those it dissects, in order; `differs` what it shows for the ones whose fields differ from wirelog's
   * (those are compared with the server and docs/http1.md instead); `why` the reason.
   */
  tshark?: { requests: number[]; differs?: Record<number, { method?: string; uri?: string; version?: string }>; why: string };
}

// ---------------------------------------------------------------------------------------------------------------
// Building requests

export const HOST = 't';
const ua = (id: string): string => `wl-lenient/${id}`;

interface ReqOpts {
  /** line end (default CRLF) */
  eol?: string;
  /** headers after Host and User-Agent */
  headers?: string[];
  body?: string | Buffer;
  /** add `Connection: close` (default true) */
  close?: boolean;
}

/** A request's bytes: `line`, Host, User-Agent, extra headers, Connection: close, body. */
function raw(id: string, line: string, o: ReqOpts = {}): Buffer {
  const eol = o.eol ?? '\r\n';
  const h = [line, `Host: ${HOST}`, `User-Agent: ${ua(id)}`, ...(o.headers ?? []),
    ...(o.close === false ? [] : ['Connection: close'])];
  return Buffer.concat([Buffer.from(h.join(eol) + eol + eol, 'latin1'), Buffer.from(o.body ?? '')]);
}

function request(id: string, line: string, f: Partial<Omit<RequestMessage, 'kind' | 'bytes'>>, o: ReqOpts = {}): RequestMessage {
  const [method, uri, version] = line.split(/[ \t]+/);
  return {
    kind: 'request', bytes: raw(id, line, o), method: method!, uri: uri ?? null, version: version ?? 'HTTP/1.1',
    host: HOST, userAgent: ua(id), anomalies: [],
    reqBodyBytes: o.body === undefined ? 0 : Buffer.byteLength(o.body), ...f,
  };
}

function prefixed(prefix: string, m: RequestMessage): RequestMessage {
  return { ...m, bytes: Buffer.concat([Buffer.from(prefix, 'latin1'), m.bytes]) };
}

function skip(bytes: Buffer | string, error: Http1ErrorCode = 'WL_ERR_HTTP_BAD_START_LINE'): SkippedMessage {
  const anomaly = { WL_ERR_HTTP_BAD_START_LINE: 'bad-start-line', WL_ERR_HTTP_HEAD_TOO_LARGE: 'head-too-large' }[error as string];
  if (!anomaly) throw new Error(`no skip anomaly for ${error}`);
  return { kind: 'skip', bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, anomalies: [anomaly], error };
}

/** 16 fixed bytes with neither CR nor LF (reproducible "random" junk) */
const JUNK16 = Buffer.from('8f3a17c2e9b4d05b6aa1ff0c73e8d291', 'hex');

/** A real TLS 1.3 ClientHello (openssl s_client 3.0, SNI localhost), 315 bytes. */
export function tlsClientHello(): Buffer {
  return readFileSync(path.join(fixturesDir, 'tls-client-hello.bin'));
}

// ---------------------------------------------------------------------------------------------------------------
// The cases. The verdicts are what nginx 1.22.1, h2o 2.2.5 and Node 20 did (test/fixtures/lenient-cases-report.md).

const A: ServerVerdict = { verdict: 'accept' };
const R: ServerVerdict = { verdict: 'reject' };
const N: ServerVerdict = { verdict: 'none' };
const v = (nginx: ServerVerdict[], h2o: ServerVerdict[], node: ServerVerdict[]): Record<ServerKind, ServerVerdict[]> => ({ nginx, h2o, node });

/** 32 KiB of fixed pseudo-random bytes with neither CR nor LF: more than NOT_HTTP_SKIP_LIMIT (16 KiB) of junk */
function junk32k(): Buffer {
  const out = Buffer.alloc(32 * 1024);
  let off = 0;
  for (let i = 0; off < out.length; i++) {
    for (const b of createHash('sha256').update(`wirelog-junk-${i}`).digest()) {
      if (off < out.length) out[off++] = b === 10 || b === 13 ? 0x20 : b;
    }
  }
  // not a method's first letter either (A-Z): no server could take it for a request line
  out[0] = 0x80;
  return out;
}

export function lenientCases(): LenientCase[] {
  const c: LenientCase[] = [];
  const add = (x: LenientCase): void => { c.push(x); };
  const tsharkNoJunkFirst = 'tshark dissects an HTTP message only where a segment begins with one: a request behind leading junk or CRLF is shown as continuation data';

  add({ id: '01', title: 'valid baseline `GET /ok HTTP/1.1`', parts: [[request('01', 'GET /ok HTTP/1.1', {})]], servers: v([A], [A], [A]) });
  add({ id: '02', title: 'stray CRLF CRLF, then a valid request',
    parts: [[prefixed('\r\n\r\n', request('02', 'GET /crlf HTTP/1.1', { anomalies: ['crlf-before-message'] }))]],
    // h2o (picohttpparser) skips one empty line, not two: it answers the second with 400 and closes
    servers: v([A], [R], [A]), tshark: { requests: [], why: tsharkNoJunkFirst } });
  add({ id: '02b', title: 'one stray CRLF, then a valid request',
    // tshark skips one leading CRLF (not two)
    parts: [[prefixed('\r\n', request('02b', 'GET /crlf1 HTTP/1.1', { anomalies: ['crlf-before-message'] }))]],
    servers: v([A], [A], [A]) });
  add({ id: '03', title: '16 bytes of binary junk (no LF) + CRLF, then a valid request',
    parts: [[skip(Buffer.concat([JUNK16, Buffer.from('\r\n')])), request('03', 'GET /after-junk HTTP/1.1', { anomalies: ['junk-before-message'] })]],
    servers: v([R, N], [R, N], [R, N]), tshark: { requests: [], why: tsharkNoJunkFirst } });
  add({ id: '04', title: 'a TLS ClientHello sent to the HTTP port', parts: [[skip(tlsClientHello())]], servers: v([R], [R], [R]) });
  add({ id: '05', title: '`GET HTTP/1.1` (no target)',
    parts: [[request('05', 'GET HTTP/1.1', { uri: null, version: 'HTTP/1.1', anomalies: ['no-target'] })]], servers: v([R], [R], [R]),
    tshark: { requests: [0], differs: { 0: { uri: 'HTTP/1.1', version: '' } }, why: 'tshark takes the second token for the target whatever it is' } });
  add({ id: '06', title: '`GET /v HTTP/1.`', parts: [[request('06', 'GET /v HTTP/1.', { anomalies: ['bad-version'] })]], servers: v([R], [R], [R]) });
  add({ id: '07', title: '`GET /v HTTP/1.10`', parts: [[request('07', 'GET /v HTTP/1.10', { anomalies: ['bad-version'] })]],
    // nginx reads major and minor as numbers (up to 999) and logs the version as sent
    servers: v([A], [R], [R]) });
  add({ id: '08', title: 'several spaces between tokens `GET   /sp   HTTP/1.1`',
    parts: [[request('08', 'GET   /sp   HTTP/1.1', { uri: '/sp', anomalies: ['extra-whitespace'] })]], servers: v([A], [R], [A]),
    tshark: { requests: [0], differs: { 0: { uri: '', version: '/sp   HTTP/1.1' } }, why: 'tshark splits the request line at single spaces (nginx and Node log /sp and HTTP/1.1)' } });
  add({ id: '09', title: 'bare LF line endings throughout',
    parts: [[request('09', 'GET /lf HTTP/1.1', { anomalies: ['bare-lf'] }, { eol: '\n' })]], servers: v([A], [A], [R]) });
  add({ id: '10', title: 'obs-fold: `X-Fold: a` CRLF `  b`',
    parts: [[request('10', 'GET /fold HTTP/1.1', { anomalies: ['obs-fold'] }, { headers: ['X-Fold: a', '  b'] })]], servers: v([R], [A], [R]) });
  add({ id: '11a', title: 'header name with a space `X Bad: 1`',
    parts: [[request('11a', 'GET /hn-space HTTP/1.1', { anomalies: ['bad-header-name'] }, { headers: ['X Bad: 1'] })]], servers: v([R], [R], [R]) });
  add({ id: '11b', title: 'header name with parentheses `X(y): 1`',
    // nginx ignores invalid header names (ignore_invalid_headers on): it drops the header and serves the request
    parts: [[request('11b', 'GET /hn-paren HTTP/1.1', { anomalies: ['bad-header-name'] }, { headers: ['X(y): 1'] })]], servers: v([A], [R], [R]) });
  add({ id: '11c', title: 'whitespace before the colon `Name : v`',
    parts: [[request('11c', 'GET /hn-ws HTTP/1.1', { anomalies: ['bad-header-name'] }, { headers: ['Name : v'] })]], servers: v([R], [R], [R]) });
  const tsharkMethods = 'tshark 4.0 recognises a request only by a method it knows (upper-case, RFC 9110/WebDAV): `get` and `QUERY` are not requests to it';
  add({ id: '12', title: 'lower-case method `get /lc HTTP/1.1`',
    parts: [[request('12', 'get /lc HTTP/1.1', { anomalies: ['unknown-method'] })]], servers: v([R], [A], [R]), tshark: { requests: [], why: tsharkMethods } });
  add({ id: '13', title: '`QUERY /q HTTP/1.1` with a 5-byte body',
    parts: [[request('13', 'QUERY /q HTTP/1.1', { anomalies: ['unknown-method'] }, { headers: ['Content-Type: text/plain', 'Content-Length: 5'], body: 'hello' })]],
    servers: v([A], [A], [A]), tshark: { requests: [], why: tsharkMethods } });
  add({ id: '14a', title: 'WebDAV `PROPFIND /dav HTTP/1.1`',
    parts: [[request('14a', 'PROPFIND /dav HTTP/1.1', {}, { headers: ['Depth: 0'] })]], servers: v([A], [A], [A]) });
  add({ id: '14b', title: 'WebDAV `MKCOL /dav2 HTTP/1.1`', parts: [[request('14b', 'MKCOL /dav2 HTTP/1.1', {})]], servers: v([A], [A], [A]) });
  add({ id: '15', title: 'HTTP/0.9 simple request `GET /index.html` CRLF',
    parts: [[{ kind: 'request', bytes: Buffer.from('GET /index.html\r\n'), method: 'GET', uri: '/index.html', version: 'HTTP/0.9',
      host: null, userAgent: null, anomalies: [], reqBodyBytes: 0 }]],
    servers: v([{ verdict: 'accept', logs: { version: null, status: 200, why: 'nginx logs an empty $server_protocol for HTTP/0.9, and the status it would have sent; the HTTP/0.9 answer itself is the body alone' } }],
      // h2o answers 400 at once; Node waits for more and answers 400 (HPE_INVALID_EOF_STATE) after the client's FIN
      [R], [R]),
    tshark: { requests: [], why: 'tshark does not dissect a request line without a version' } });
  add({ id: '16', title: '`Content-Length: 0000000005` with a 5-byte body',
    parts: [[request('16', 'POST /cl-zeros HTTP/1.1', {}, { headers: ['Content-Length: 0000000005'], body: 'hello' })]], servers: v([A], [A], [A]) });
  add({ id: '17', title: '`Content-Length: 5` twice',
    parts: [[request('17', 'POST /cl-twice HTTP/1.1', { anomalies: ['cl-repeated'] }, { headers: ['Content-Length: 5', 'Content-Length: 5'], body: 'hello' })]],
    servers: v([R], [A], [R]) });
  add({ id: '18', title: 'differing `Content-Length` values (5 and 6)',
    parts: [[request('18', 'POST /cl-differ HTTP/1.1', { anomalies: ['cl-mismatch'], reqBodyBytes: undefined, resync: 'WL_ERR_HTTP_BAD_FRAMING' },
      { headers: ['Content-Length: 5', 'Content-Length: 6'], body: 'hello!' })]],
    // h2o 2.2 takes one of the values and answers
    servers: v([R], [A], [R]) });
  {
    // CL covers the chunked body and the request smuggled after it; chunked wins (RFC 9112 §6.3 rule 3)
    const smuggled = request('19', 'GET /smuggled HTTP/1.1', {});
    const chunked = '0\r\n\r\n';
    const post = request('19', 'POST /te-cl HTTP/1.1', { anomalies: ['te-and-cl'], reqBodyBytes: 0 },
      { close: false, headers: ['Transfer-Encoding: chunked', `Content-Length: ${chunked.length + smuggled.bytes.length}`], body: chunked });
    add({ id: '19', title: '`Transfer-Encoding: chunked` + `Content-Length` with a request smuggled in the body',
      // nginx and Node refuse both headers together (400, close); h2o 2.2 lets chunked win and serves the smuggled GET
      parts: [[post, smuggled]], servers: v([R, N], [A, A], [R, N]) });
  }
  add({ id: '20', title: 'chunk size with leading zeros and an extension `0005;ext=1`',
    parts: [[request('20', 'POST /chunk-ext HTTP/1.1', { reqBodyBytes: 5 }, { headers: ['Transfer-Encoding: chunked'], body: '0005;ext=1\r\nhello\r\n0\r\n\r\n' })]],
    servers: v([A], [A], [A]) });
  add({ id: '21', title: 'chunk size overflow `ffffffffffffffffff`',
    parts: [[request('21', 'POST /chunk-ovf HTTP/1.1', { anomalies: ['chunk-overflow'], reqBodyBytes: undefined, resync: 'WL_ERR_HTTP_CHUNK_OVERFLOW' },
      { headers: ['Transfer-Encoding: chunked'], body: 'ffffffffffffffffff\r\nhello\r\n0\r\n\r\n' })]],
    // nginx answers 404 for the static path before it reads (and fails on) the body
    servers: v([A], [R], [R]) });
  add({ id: '22', title: '`Transfer-Encoding: chunked, gzip` (chunked not last) on a request',
    parts: [[request('22', 'POST /te-gzip HTTP/1.1', { anomalies: ['te-not-chunked-last'], reqBodyBytes: undefined, resync: 'WL_ERR_HTTP_BAD_FRAMING' },
      { headers: ['Transfer-Encoding: chunked, gzip'], body: '5\r\nhello\r\n0\r\n\r\n' })]],
    // nginx: 501 Not Implemented; h2o: 400 Invalid Request (logged); Node: 400
    servers: v([R], [R], [R]) });
  add({ id: '23a', title: 'a bad request line, then a valid request pipelined behind it',
    parts: [[skip('THIS IS NOT HTTP\r\n\r\n'), request('23a', 'GET /after-bad HTTP/1.1', { anomalies: ['junk-before-message'] })]],
    servers: v([R, N], [R, N], [R, N]), tshark: { requests: [], why: tsharkNoJunkFirst } });
  add({ id: '23b', title: 'keep-alive: a valid request, a bad one, a valid one, each after the previous answer',
    // every server closes after its 400: the third request is never written
    parts: [[request('23b', 'GET /ka1 HTTP/1.1', {}, { close: false })], [skip('THIS IS NOT HTTP\r\n\r\n')],
      [request('23b', 'GET /ka3 HTTP/1.1', { anomalies: ['junk-before-message'] })]],
    servers: v([A, R, N], [A, R, N], [A, R, N]) });
  add({ id: '24', title: 'a 70 000-byte header line (under the 256 KiB head bound: a request like any other)',
    parts: [[request('24', 'GET /huge HTTP/1.1', {}, { headers: [`X-Huge: ${'h'.repeat(70_000)}`] })]],
    // Node: 431 (HPE_HEADER_OVERFLOW at 16 KiB)
    servers: v([R], [A], [R]) });
  add({ id: '24b', title: 'a request head over 256 KiB (one 300 000-byte header): logged from its beginning, the rest skipped',
    parts: [[request('24b', 'GET /huger HTTP/1.1', { anomalies: ['head-too-large'], resync: 'WL_ERR_HTTP_HEAD_TOO_LARGE' },
      { headers: [`X-Huge: ${'h'.repeat(300_000)}`] })]],
    // Node answers 431 at 16 KiB and resets while the client still sends: how much of the head is on the wire then
    // is a race, so the case is sent to the two servers that read it all
    only: ['nginx', 'h2o'],
    servers: v([R], [A], [R]) });
  add({ id: '25', title: '32 KiB of binary junk without a line end (not HTTP)', parts: [[{ kind: 'not-http', bytes: junk32k() }]],
    servers: v([R], [R], [R]) });
  add({ id: '26', title: '`Content-Length: 5x` (not a number)',
    parts: [[request('26', 'POST /cl-bad HTTP/1.1', { anomalies: ['cl-invalid'], reqBodyBytes: undefined, resync: 'WL_ERR_HTTP_BAD_FRAMING' },
      { headers: ['Content-Length: 5x'], body: 'hello' })]], servers: v([R], [R], [R]) });
  add({ id: '27', title: '`Transfer-Encoding: chunked` in an HTTP/1.0 request',
    parts: [[request('27', 'POST /te10 HTTP/1.0', { anomalies: ['te-in-http10'], reqBodyBytes: 5 },
      { headers: ['Transfer-Encoding: chunked'], body: '5\r\nhello\r\n0\r\n\r\n' })]],
    // nginx refuses it (400); h2o and Node frame it as chunked
    servers: v([R], [A], [A]) });
  add({ id: '28', title: 'a chunk-size line that is not hex (`zz`)',
    parts: [[request('28', 'POST /bad-chunk HTTP/1.1', { anomalies: ['bad-chunk'], reqBodyBytes: undefined, resync: 'WL_ERR_HTTP_BAD_CHUNK' },
      { headers: ['Transfer-Encoding: chunked'], body: 'zz\r\nhello\r\n0\r\n\r\n' })]],
    // nginx answers 404 for the static path before it reads the body
    servers: v([A], [R], [R]) });
  add({ id: '29', title: 'a header line without a colon',
    parts: [[request('29', 'GET /no-colon HTTP/1.1', { anomalies: ['header-without-colon'] }, { headers: ['NoColonHere'] })]],
    // nginx drops the line (ignore_invalid_headers)
    servers: v([A], [R], [R]) });
  add({ id: '30', title: 'lower-case protocol name `GET /lv http/1.1`',
    parts: [[request('30', 'GET /lv http/1.1', { anomalies: ['bad-version'] })]], servers: v([R], [R], [R]) });
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Response side: a raw server answers `GET /r/ID` with these bytes (then closes); curl is the reference client.

export interface ResponseCase {
  id: string;
  title: string;
  /** what the raw server writes (then it closes the connection) */
  bytes: Buffer;
  /** what wirelog must log (docs/http1.md); the body is every byte after the head up to the close unless `bodyBytes` */
  expect: { status: number; resVersion: string; anomalies: string[]; bodyBytes?: number };
  /** where curl's count of body bytes differs from the bytes on the wire, what it counts and why */
  curlBodyBytes?: { value: number; why: string };
  /** tshark's responses on the connection (version, status), where they are not just wirelog's one */
  tshark?: { responses: Array<[string, number]>; why: string };
}

export function responseCases(): ResponseCase[] {
  const b = (s: string): Buffer => Buffer.from(s, 'latin1');
  return [
    { id: 'r1', title: 'lower-case protocol name `http/1.1 200 OK`',
      bytes: b('http/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nlower\n'),
      expect: { status: 200, resVersion: 'http/1.1', anomalies: ['bad-version'] },
      tshark: { responses: [], why: 'tshark 4.0 recognises a status line only by an upper-case HTTP/' } },
    { id: 'r2', title: 'bare-LF response head',
      bytes: b('HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 7\n\nbarelf\n'),
      expect: { status: 200, resVersion: 'HTTP/1.1', anomalies: ['bare-lf'] } },
    { id: 'r3', title: 'two different `Content-Length` values (4 and 9; 10 bytes follow, then the close)',
      bytes: b('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nContent-Length: 9\r\n\r\ntwo-cl-12\n'),
      expect: { status: 200, resVersion: 'HTTP/1.1', anomalies: ['cl-mismatch'] },
      curlBodyBytes: { value: 9, why: 'curl 7.88 takes the last Content-Length (9) and drops the 10th byte ("Excess found")' },
      tshark: { responses: [['HTTP/1.1', 200], ['', 0]], why: 'tshark takes the first Content-Length (4) and shows the other 6 bytes as a second, empty "response" (continuation)' } },
    { id: 'r4', title: 'HTTP/1.0 response without Content-Length, read until close',
      bytes: b('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close, 24 bytes..\n'),
      expect: { status: 200, resVersion: 'HTTP/1.0', anomalies: [] } },
  ];
}

/** Body bytes on the wire of a response case: everything after the head's empty line. */
export function responseCaseBodyBytes(k: ResponseCase): number {
  if (k.expect.bodyBytes !== undefined) return k.expect.bodyBytes;
  const m = /\r?\n\r?\n/.exec(k.bytes.toString('latin1'));
  if (!m) throw new Error(`response case ${k.id}: no head end`);
  return k.bytes.length - (m.index + m[0].length);
}
