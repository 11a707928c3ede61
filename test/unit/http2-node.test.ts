/**
 * Http2Parser + HpackDecoder against Node's http2 (nghttp2) as the reference: a real client and server talk
 * h2c with prior knowledge on loopback through a byte-transparent TCP relay that taps both directions. The parsed
 * headers of every request, response and trailer block must equal what the server's 'stream' / 'trailers' and the
 * client's 'response' / 'trailers' / 'push' events saw (rawHeaders, in order); DATA counts must equal the bodies;
 * RST_STREAM and GOAWAY must match what the peer reported. The same capture then drives the split, mid-stream and
 * throughput checks.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  Http2Parser, pairHttp2Parsers, isHttp2Preface, looksLikeHttp2ServerStart, HTTP2_PREFACE,
  type Http2Handler, type Http2Headers, type Http2Error, type Http2StreamStats,
} from '../../src/proto/http2.js';
import type { HpackField } from '../../src/proto/hpack.js';

type Pairs = Array<[string, string]>;
const rawToPairs = (raw: string[]): Pairs => {
  const out: Pairs = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
};

/** What the Node endpoints saw. */
interface Reference {
  serverReq: Map<number, Pairs>;
  serverReqTrailers: Map<number, Pairs>;
  serverReqBody: Map<number, number>;
  serverRst: Map<number, number>;
  clientRes: Map<number, Pairs>;
  clientResTrailers: Map<number, Pairs>;
  clientResBody: Map<number, number>;
  /** pushed stream id → request pairs (from the client session's 'stream' event) */
  clientPush: Map<number, Pairs>;
  serverGoaways: Array<[number, number]>;
}

interface Capture { c2s: Buffer[]; s2c: Buffer[]; ref: Reference }

const BIG = 'v'.repeat(40000) + randomBytes(2000).toString('hex');

/** Run the scenario through a tapping relay; resolves when everything is closed. */
async function capture(): Promise<Capture> {
  const ref: Reference = {
    serverReq: new Map(), serverReqTrailers: new Map(), serverReqBody: new Map(), serverRst: new Map(),
    clientRes: new Map(), clientResTrailers: new Map(), clientResBody: new Map(), clientPush: new Map(), serverGoaways: [],
  };
  const c2s: Buffer[] = [];
  const s2c: Buffer[] = [];
  const settings = { maxHeaderListSize: 1 << 20 };
  const server = http2.createServer({ settings, maxSessionMemory: 64 });
  server.on('session', (s) => s.on('goaway', (code: number, last: number) => ref.serverGoaways.push([last, code])));
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
    const id = stream.id ?? -1;
    ref.serverReq.set(id, rawToPairs(raw));
    let body = 0;
    stream.on('data', (d: Buffer) => { body += d.length; });
    stream.on('trailers', (_t: unknown, _f: number, rawT: string[]) => ref.serverReqTrailers.set(id, rawToPairs(rawT)));
    stream.on('close', () => { ref.serverReqBody.set(id, body); if (stream.rstCode !== 0) ref.serverRst.set(id, stream.rstCode); });
    stream.on('error', () => { /* reset streams */ });
    const path = String(headers[':path']);
    if (path === '/slow') return; // the client cancels it
    stream.on('end', () => {
      if (stream.destroyed) return;
      if (path === '/push') {
        stream.pushStream({ ':path': '/pushed.css', 'x-push': 'yes' }, (err: Error | null, push: http2.ServerHttp2Stream) => {
          if (err) return;
          push.respond({ ':status': 200, 'content-type': 'text/css' });
          push.end('body{}');
        });
      }
      const n = Number(headers['x-want'] ?? 10);
      const resHeaders: http2.OutgoingHttpHeaders = { ':status': path === '/missing' ? 404 : 200, 'content-type': 'text/plain', 'x-echo': String(headers['x-req'] ?? '') };
      if (path === '/big') resHeaders['x-big'] = BIG;
      if (path === '/cookie') resHeaders['set-cookie'] = ['a=1; Path=/', 'b=2; HttpOnly'];
      const trailers = path === '/trailers';
      stream.respond(resHeaders, { waitForTrailers: trailers });
      if (trailers) stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123', 'grpc-status': '0' }));
      stream.end(Buffer.alloc(n, 0x61));
    });
    stream.resume();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const serverPort = (server.address() as net.AddressInfo).port;

  const sockets: net.Socket[] = [];
  const relay = net.createServer((down) => {
    const up = net.connect(serverPort, '127.0.0.1');
    sockets.push(down, up);
    down.on('data', (d) => { c2s.push(Buffer.from(d)); up.write(d); });
    up.on('data', (d) => { s2c.push(Buffer.from(d)); down.write(d); });
    down.on('end', () => up.end());
    up.on('end', () => down.end());
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const relayPort = (relay.address() as net.AddressInfo).port;

  const client = http2.connect(`http://127.0.0.1:${relayPort}`, { settings });
  client.on('error', () => { /* reported through the assertions */ });
  client.on('stream', (pushed: http2.ClientHttp2Stream, _h: unknown, _f: number, raw: string[]) => {
    const pid = pushed.id ?? -1;
    ref.clientPush.set(pid, rawToPairs(raw));
    pushed.on('push', (_rh: unknown, _fl: number, rawRes: string[]) => ref.clientRes.set(pid, rawToPairs(rawRes)));
    let body = 0;
    pushed.on('data', (d: Buffer) => { body += d.length; });
    pushed.on('end', () => ref.clientResBody.set(pid, body));
  });

  const request = (headers: http2.OutgoingHttpHeaders, body?: Buffer, trailers?: http2.OutgoingHttpHeaders): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = client.request(headers, { waitForTrailers: trailers !== undefined, endStream: body === undefined && trailers === undefined });
      if (trailers) req.on('wantTrailers', () => req.sendTrailers(trailers));
      req.on('response', (_h: unknown, _f: number, raw: string[]) => { ref.clientRes.set(req.id!, rawToPairs(raw)); });
      req.on('trailers', (_h: unknown, _f: number, raw: string[]) => { ref.clientResTrailers.set(req.id!, rawToPairs(raw)); });
      let n = 0;
      req.on('data', (d: Buffer) => { n += d.length; });
      req.on('end', () => { ref.clientResBody.set(req.id!, n); resolve(); });
      req.on('error', reject);
      if (body !== undefined || trailers !== undefined) req.end(body);
    });

  try {
    // many requests, in parallel batches, with repeated and changing headers: the dynamic table fills and evicts
    for (let batch = 0; batch < 6; batch++) {
      const all: Array<Promise<void>> = [];
      for (let i = 0; i < 10; i++) {
        const k = batch * 10 + i;
        all.push(request({
          ':method': k % 7 === 3 ? 'POST' : 'GET', ':path': `/item/${k}?q=${randomBytes(4).toString('hex')}`,
          'user-agent': 'wirelog-test/1.0', accept: '*/*', 'x-req': `r${k}`, 'x-rand': randomBytes(24).toString('base64'),
          'x-want': String((k * 997) % 5000), 'accept-language': k % 2 ? 'en-US,en;q=0.9' : 'fr', cookie: `sid=${k}`,
          authorization: k % 5 === 0 ? 'Bearer secret-token' : 'Basic dXNlcjpwYXNz',
        }, k % 7 === 3 ? randomBytes(3000 + k * 100) : undefined));
      }
      await Promise.all(all);
    }
    await request({ ':path': '/upload', ':method': 'PUT' }, randomBytes(100_000));
    await request({ ':path': '/big', 'x-big-req': BIG });
    await request({ ':path': '/trailers', ':method': 'POST' }, undefined, { 'x-req-trailer': 'done', 'x-sum': '42' });
    await request({ ':path': '/missing' });
    await request({ ':path': '/cookie', 'x-dup': 'one' });
    await request({ ':path': '/push' });
    // RST_STREAM from the client: NGHTTP2_CANCEL
    await new Promise<void>((resolve) => {
      const req = client.request({ ':path': '/slow' });
      req.on('error', () => { /* cancelled */ });
      // the server must have the HEADERS before the cancel, else no RST_STREAM is sent for an idle stream
      setTimeout(() => { req.close(http2.constants.NGHTTP2_CANCEL); resolve(); }, 50);
    });
    await new Promise((r) => setTimeout(r, 50));
    // GOAWAY from the client
    await new Promise<void>((r) => client.close(() => r()));
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    client.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => relay.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  }
  return { c2s, s2c, ref };
}

interface Parsed {
  headers: Http2Headers[];
  data: Map<number, number>;
  dataEnds: Set<number>;
  rst: Array<[number, number]>;
  goaway: Array<[number, number]>;
  errors: Http2Error[];
  ends: Http2StreamStats[];
}
function collector(): { h: Http2Handler; p: Parsed } {
  const p: Parsed = { headers: [], data: new Map(), dataEnds: new Set(), rst: [], goaway: [], errors: [], ends: [] };
  const h: Http2Handler = {
    onHeaders: (x) => { p.headers.push(x); },
    onData: (sid, n, end) => { p.data.set(sid, (p.data.get(sid) ?? 0) + n); if (end) p.dataEnds.add(sid); },
    onRst: (sid, code) => { p.rst.push([sid, code]); },
    onGoaway: (last, code) => { p.goaway.push([last, code]); },
    onError: (e) => { p.errors.push(e); },
    onStreamEnd: (s) => { p.ends.push(s); },
  };
  return { h, p };
}

function parse(c2s: Buffer[], s2c: Buffer[], opts: { midStream?: boolean } = {}): { c: Parsed; s: Parsed } {
  const a = collector();
  const b = collector();
  const cp = new Http2Parser(a.h, { side: 'client', midStream: opts.midStream === true });
  const sp = new Http2Parser(b.h, { side: 'server', midStream: opts.midStream === true });
  pairHttp2Parsers(cp, sp);
  // interleave roughly as on the wire
  const n = Math.max(c2s.length, s2c.length);
  for (let i = 0; i < n; i++) {
    if (i < c2s.length) cp.push(c2s[i], i);
    if (i < s2c.length) sp.push(s2c[i], i);
  }
  return { c: a.p, s: b.p };
}

const pairsOf = (h: Http2Headers): Array<[string | undefined, string | undefined]> => h.fields.map((f) => [f.name, f.value]);

let cap: Capture | undefined;
async function getCapture(): Promise<Capture> {
  cap ??= await capture();
  return cap;
}

test('Node http2 through a tapping relay: every header block, body, RST_STREAM and GOAWAY matches', async () => {
  const { c2s, s2c, ref } = await getCapture();
  assert.ok(isHttp2Preface(Buffer.concat(c2s)));
  assert.ok(looksLikeHttp2ServerStart(Buffer.concat(s2c)));
  const { c, s } = parse(c2s, s2c);
  assert.deepEqual(c.errors, []);
  assert.deepEqual(s.errors, []);

  // requests and request trailers: the server's view
  const reqs = c.headers.filter((h) => h.kind === 'request');
  assert.equal(reqs.length, ref.serverReq.size, 'one request block per stream the server saw');
  assert.ok(reqs.length >= 67);
  for (const h of reqs) {
    assert.deepEqual(pairsOf(h), ref.serverReq.get(h.streamId), `request on stream ${h.streamId}`);
    assert.equal(h.missing, 0);
    assert.equal(h.method, ref.serverReq.get(h.streamId)!.find(([n]) => n === ':method')?.[1]);
    assert.equal(h.path, ref.serverReq.get(h.streamId)!.find(([n]) => n === ':path')?.[1]);
    assert.ok(h.authority?.startsWith('127.0.0.1:'));
    assert.equal(h.scheme, 'http');
  }
  const reqTrailers = c.headers.filter((h) => h.kind === 'trailers');
  assert.equal(reqTrailers.length, ref.serverReqTrailers.size);
  for (const h of reqTrailers) {
    assert.deepEqual(pairsOf(h), ref.serverReqTrailers.get(h.streamId));
    assert.equal(h.endStream, true);
  }
  // request bodies: DATA counted equals what the server read
  for (const [sid, n] of ref.serverReqBody) {
    if (ref.serverRst.has(sid)) continue;
    assert.equal(c.data.get(sid) ?? 0, n, `request body on stream ${sid}`);
  }

  // responses, trailers, pushes: the client's view
  const resps = s.headers.filter((h) => h.kind === 'response');
  assert.equal(resps.length, ref.clientRes.size);
  for (const h of resps) {
    assert.deepEqual(pairsOf(h), ref.clientRes.get(h.streamId), `response on stream ${h.streamId}`);
    assert.equal(String(h.status), ref.clientRes.get(h.streamId)![0][1]);
  }
  const resTrailers = s.headers.filter((h) => h.kind === 'trailers');
  assert.equal(resTrailers.length, ref.clientResTrailers.size);
  assert.ok(resTrailers.length >= 1);
  for (const h of resTrailers) assert.deepEqual(pairsOf(h), ref.clientResTrailers.get(h.streamId));
  for (const [sid, n] of ref.clientResBody) assert.equal(s.data.get(sid) ?? 0, n, `response body on stream ${sid}`);
  const pushes = s.headers.filter((h) => h.kind === 'push');
  assert.equal(pushes.length, ref.clientPush.size);
  assert.ok(pushes.length === 1);
  for (const h of pushes) assert.deepEqual(pairsOf(h), ref.clientPush.get(h.promisedStreamId!));

  // CONTINUATION was exercised both ways, and the dynamic tables were used
  assert.ok(reqs.some((h) => h.frames > 1), 'a request header block spanned CONTINUATION frames');
  assert.ok(resps.some((h) => h.frames > 1), 'a response header block spanned CONTINUATION frames');
  assert.ok(reqs.some((h) => h.fields.some((f) => f.neverIndexed)), 'nghttp2 sends short cookies / authorization never-indexed');

  // RST_STREAM: the client's cancel as the server saw it
  assert.deepEqual(c.rst, [...ref.serverRst]);
  assert.ok(c.rst.some(([, code]) => code === http2.constants.NGHTTP2_CANCEL));
  // GOAWAY: the client's, as the server saw it
  assert.deepEqual(c.goaway, ref.serverGoaways);
  assert.ok(c.goaway.length >= 1);

  // stream ends: every request stream ended in this direction by END_STREAM or RST_STREAM
  const ended = new Set(c.ends.map((e) => e.streamId));
  for (const sid of ref.serverReq.keys()) assert.ok(ended.has(sid), `stream ${sid} ended`);
  const up = c.ends.find((e) => e.dataBytes === 100_000);
  assert.ok(up && up.dataFrames > 1 && up.firstDataTsUs >= up.firstHeadersTsUs);
});

test('split at every byte of a small capture gives the same events', async () => {
  const { c2s, s2c } = await getCapture();
  // the first few KB of each direction: preface, SETTINGS, the first batch's header blocks
  const cBuf = Buffer.concat(c2s).subarray(0, 3000);
  const sBuf = Buffer.concat(s2c).subarray(0, 3000);
  const whole = parse([cBuf], [sBuf]);
  assert.ok(whole.c.headers.length >= 3 && whole.s.headers.length >= 1);
  const summary = (p: Parsed): unknown => [p.headers.map((h) => [h.streamId, h.kind, h.endStream, pairsOf(h)]), [...p.data], p.errors.length];
  for (let k = 0; k <= cBuf.length; k++) {
    const r = parse([cBuf.subarray(0, k), cBuf.subarray(k)], [sBuf.subarray(0, k), sBuf.subarray(k)]);
    assert.deepEqual(summary(r.c), summary(whole.c), `client split at ${k}`);
    assert.deepEqual(summary(r.s), summary(whole.s), `server split at ${k}`);
  }
  // one byte at a time
  const bytes = (b: Buffer): Buffer[] => Array.from(b, (x) => Buffer.from([x]));
  const one = parse(bytes(cBuf), bytes(sBuf));
  assert.deepEqual(summary(one.c), summary(whole.c));
  assert.deepEqual(summary(one.s), summary(whole.s));
});

/** Frame boundaries of one direction (test-side walker, independent of the parser). */
function frameStarts(buf: Buffer, start: number): number[] {
  const out: number[] = [];
  let p = start;
  while (p + 9 <= buf.length) {
    out.push(p);
    p += 9 + buf.readUIntBE(p, 3);
  }
  return out;
}

test('mid-stream start: fields needing unseen dynamic entries are marked, never invented', async () => {
  const { c2s, s2c } = await getCapture();
  const cAll = Buffer.concat(c2s);
  const sAll = Buffer.concat(s2c);
  const full = parse([cAll], [sAll]);
  const cFrames = frameStarts(cAll, HTTP2_PREFACE.length);
  const sFrames = frameStarts(sAll, 0);
  for (const drop of [3, 8, 20]) {
    const mid = parse([cAll.subarray(cFrames[drop])], [sAll.subarray(sFrames[drop])], { midStream: true });
    let missing = 0;
    let known = 0;
    for (const [m, f] of [[mid.c, full.c], [mid.s, full.s]] as const) {
      for (const h of m.headers) {
        const ref = f.headers.find((x) => x.streamId === h.streamId && x.tsUs === h.tsUs && x.kind === h.kind && x.promisedStreamId === h.promisedStreamId)
          ?? f.headers.find((x) => x.streamId === h.streamId && x.blockBytes === h.blockBytes);
        assert.ok(ref, `block on stream ${h.streamId} exists in the full parse`);
        assert.equal(h.fields.length, ref.fields.length);
        for (let i = 0; i < h.fields.length; i++) {
          const g = h.fields[i];
          const w: HpackField = ref.fields[i];
          if (g.missingIndex !== undefined) {
            missing++;
            assert.equal(g.name, undefined);
            if (g.value !== undefined) assert.equal(g.value, w.value, 'a kept value is the real one');
          } else {
            known++;
            assert.equal(g.name, w.name);
            assert.equal(g.value, w.value);
          }
        }
        assert.equal(h.missing, h.fields.filter((x) => x.missingIndex !== undefined).length);
      }
      assert.ok(m.errors.every((e) => e.layer === 'http2'), 'no HPACK errors: unknown references are not errors mid-stream');
    }
    assert.ok(missing > 0, `drop ${drop}: some fields are marked missing`);
    assert.ok(known > missing, `drop ${drop}: most fields still decode`);
  }
});

test('random bytes and corrupted captures never throw (fast-check)', async () => {
  const { c2s, s2c } = await getCapture();
  const cBuf = Buffer.concat(c2s).subarray(0, 4000);
  const sBuf = Buffer.concat(s2c).subarray(0, 4000);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), fc.boolean(), (arr, side, mid) => {
    const { h, p } = collector();
    const parser = new Http2Parser(h, { side: side ? 'client' : 'server', midStream: mid, maxBuffered: 4096 });
    parser.push(Buffer.from(arr), 0);
    parser.gap(7);
    parser.push(Buffer.from(arr), 1);
    return p.errors.every((e) => typeof e.code === 'string' && e.code.startsWith('WL_ERR_'));
  }), { numRuns: 1000 });
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(3999), fc.integer({ min: 0, max: 255 })), { maxLength: 10 }), fc.nat(4000), (flips, split) => {
    const c = Buffer.from(cBuf);
    const s = Buffer.from(sBuf);
    for (const [i, v] of flips) { c[i] = v; s[i] = v; }
    const r = parse([c.subarray(0, split), c.subarray(split)], [s.subarray(0, split), s.subarray(split)]);
    return r.c.errors.concat(r.s.errors).every((e) => e.code.startsWith('WL_ERR_'));
  }), { numRuns: 300 });
});

test('throughput: header blocks decoded per second (perf note)', async (t) => {
  const { c2s, s2c } = await getCapture();
  const cAll = Buffer.concat(c2s);
  const sAll = Buffer.concat(s2c);
  const once = parse([cAll], [sAll]);
  const blocksPerRun = once.c.headers.length + once.s.headers.length;
  const fieldsPerRun = once.c.headers.concat(once.s.headers).reduce((n, h) => n + h.fields.length, 0);
  let blocks = 0;
  const runs = 200;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) {
    const r = parse([cAll], [sAll]);
    blocks += r.c.headers.length + r.s.headers.length;
  }
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  assert.equal(blocks, blocksPerRun * runs);
  t.diagnostic(`${Math.round(blocks / sec)} header blocks/s, ${Math.round((fieldsPerRun * runs) / sec)} fields/s, ` +
    `${((cAll.length + sAll.length) * runs / sec / 1e6).toFixed(0)} MB/s of h2 (incl. ${(sAll.length + cAll.length) >> 10} KiB bodies counted)`);
});
