import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Http1Parser, looksLikeHttpStart, parseRequestHead, parseResponseHead, findHeadEnd, type Http1Role } from '../../src/proto/http1/index.js';

/** Feed buf cut at `cuts` (sorted offsets); return a normalised event log (body counts merged per message). */
function feed(buf: Buffer, role: Http1Role, cuts: number[], methods: string[] = []): string[] {
  const log: string[] = [];
  let body = 0;
  let mi = 0;
  const p = new Http1Parser({
    onRequest: (h) => log.push(`Q ${h.method} ${h.uri} ${h.version} ${JSON.stringify(h.headers)} ${h.contentLength} ${h.chunked} ${h.headLen}`),
    onResponse: (h) => {
      log.push(`R ${h.status} ${h.reason} ${JSON.stringify(h.headers)} ${h.headLen}`);
      return h.status >= 200 ? methods[mi++] : methods[mi];
    },
    onBody: (n) => { body += n; },
    onMessageEnd: () => { log.push(`E ${body}`); body = 0; },
    onError: (e) => log.push(`X ${e.code}`),
    onNotHttp: () => log.push('N'),
    onTunnel: () => log.push('T'),
  }, role);
  let prev = 0;
  for (const c of [...cuts, buf.length]) {
    if (c > prev && c <= buf.length) {
      p.push(buf.subarray(prev, c), prev);
      prev = c;
    }
  }
  p.end();
  return log;
}

const cutsArb = (max: number) => fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, max - 1) }), { maxLength: 40 }).map((a) => a.sort((x, y) => x - y));

test('random bytes in random splits never throw, in any role', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.constantFrom<Http1Role>(0, 1, 2), fc.array(fc.integer({ min: 1, max: 599 }), { maxLength: 30 }), (bytes, role, cuts) => {
      const buf = Buffer.from(bytes);
      feed(buf, role, cuts.sort((a, b) => a - b));
      looksLikeHttpStart(buf);
      parseRequestHead(buf, 0, buf.length, 0, false);
      parseResponseHead(buf, 0, buf.length, 0, false);
      findHeadEnd(buf);
    }),
    { numRuns: 500 },
  );
});

test('random bytes after a valid prefix never throw', () => {
  const prefix = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 20 }), (bytes, cuts) => {
      const buf = Buffer.concat([Buffer.from(prefix), Buffer.from(bytes), Buffer.from('\r\nHTTP/1.1 200 OK\r\n\r\n')]);
      const log = feed(buf, 2, cuts.sort((a, b) => a - b), ['GET', 'GET']);
      assert.ok(log.length >= 1);
    }),
    { numRuns: 300 },
  );
});

const token = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'X-CUSTOM', 'M-SEARCH');
const uri = fc.constantFrom('/', '/a/b?c=d&e=%20', '*', 'http://h.example:8080/x', 'h.example:443', '/' + 'p'.repeat(300));
const hname = fc.constantFrom('Host', 'user-agent', 'Accept', 'X-Thing', 'Cookie', 'content-type');
const hvalue = fc.constantFrom('', 'x', 'a b c', 'text/html; charset=utf-8', 'v'.repeat(200), 'é');
const eol = fc.constantFrom('\r\n', '\n');
const bodyArb = fc.oneof(
  fc.constant({ kind: 'none' as const, data: '' }),
  fc.integer({ min: 0, max: 2000 }).map((n) => ({ kind: 'cl' as const, data: 'b'.repeat(n) })),
  fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 4 }).map((sizes) => ({ kind: 'chunked' as const, data: '', sizes })),
);

function message(start: string, headers: [string, string][], body: { kind: 'none' | 'cl' | 'chunked'; data: string; sizes?: number[] }, nl: string): string {
  let s = start + nl;
  for (const [n, v] of headers) s += `${n}: ${v}${nl}`;
  if (body.kind === 'cl') s += `Content-Length: ${body.data.length}${nl}`;
  if (body.kind === 'chunked') s += `Transfer-Encoding: chunked${nl}`;
  s += nl;
  if (body.kind === 'cl') s += body.data;
  if (body.kind === 'chunked') {
    for (const n of body.sizes!) s += `${n.toString(16)};ext=1\r\n${'c'.repeat(n)}\r\n`;
    s += '0\r\nX-Trailer: t\r\n\r\n';
  }
  return s;
}

test('the same request stream split differently yields the same events', () => {
  const req = fc.record({ m: token, u: uri, h: fc.array(fc.tuple(hname, hvalue), { maxLength: 6 }), b: bodyArb, nl: eol });
  fc.assert(
    fc.property(fc.array(req, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 50 }), (msgs, seed) => {
      const text = msgs.map((m) => message(`${m.m} ${m.u} HTTP/1.1`, m.h, m.b, m.nl)).join('');
      const buf = Buffer.from(text, 'latin1');
      const whole = feed(buf, 1, []);
      assert.equal(whole.filter((l) => l.startsWith('Q ')).length, msgs.length);
      assert.ok(!whole.some((l) => l.startsWith('X')), whole.join('\n'));
      // split points from the seed: deterministic but varied
      const cuts: number[] = [];
      let x = seed;
      for (let i = 0; i < buf.length; ) {
        x = (x * 48271) % 2147483647;
        i += 1 + (x % 97);
        cuts.push(i);
      }
      assert.deepEqual(feed(buf, 1, cuts), whole);
      assert.deepEqual(feed(buf, 0, cuts), whole, 'role learned from the first start line');
    }),
    { numRuns: 200 },
  );
});

test('the same response stream split differently yields the same events, including 1-byte chunks', () => {
  const st = fc.constantFrom([200, 'OK'], [404, 'Not Found'], [204, 'No Content'], [304, 'Not Modified'], [100, 'Continue'], [500, '']);
  const res = fc.record({ s: st, h: fc.array(fc.tuple(hname, hvalue), { maxLength: 4 }), b: bodyArb, nl: eol, head: fc.boolean() });
  fc.assert(
    fc.property(fc.array(res, { minLength: 1, maxLength: 4 }), cutsArb(3000), (msgs, cuts) => {
      const methods: string[] = [];
      const text = msgs.map((m) => {
        const [code, reason] = m.s as [number, string];
        const noBody = code < 200 || code === 204 || code === 304 || m.head;
        if (code >= 200) methods.push(m.head ? 'HEAD' : 'GET');
        // a response that may not have a body gets none (its framing headers are still sent, as servers do)
        // a response with neither length nor chunking would be read until close: give it Content-Length: 0
        const b = m.b.kind === 'none' ? { kind: 'cl' as const, data: '' } : m.b;
        const body = noBody ? { ...b, sizes: [] } : b;
        const full = message(`HTTP/1.1 ${code}${reason ? ' ' + reason : ''}`, m.h, body, m.nl);
        if (noBody && b.kind === 'cl') return full.slice(0, full.length - b.data.length);
        if (noBody && b.kind === 'chunked') return full.slice(0, full.indexOf('0\r\nX-Trailer'));
        return full;
      }).join('') + 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
      methods.push('GET');
      const buf = Buffer.from(text, 'latin1');
      const whole = feed(buf, 2, [], methods);
      assert.equal(whole.filter((l) => l.startsWith('R ')).length, msgs.length + 1, whole.join('\n'));
      assert.deepEqual(feed(buf, 2, cuts, methods), whole);
      if (buf.length < 1500) assert.deepEqual(feed(buf, 2, Array.from({ length: buf.length }, (_, i) => i), methods), whole);
    }),
    { numRuns: 200 },
  );
});
