/**
 * src/proto/tls.ts: ClientHellos that real clients sent (test/fixtures/tls-hello.pcap: curl --http1.1, --http2,
 * --tls-max 1.2 and openssl s_client -servername -alpn against nginx, recorded with tcpdump; the expectations in
 * tls-hello.pcap.txt are tshark's fields), split at every byte, spread over several TLS records, truncated, corrupted
 * and random (fast-check); and the capture tracker's TLS records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  parseClientHello, looksLikeClientHello, tlsVersionName, isGrease, type ClientHello, type ClientHelloResult,
} from '../../src/proto/tls.js';
import { HttpTracker } from '../../src/correlate/http-tracker.js';
import { fixturesDir } from '../helpers/paths.js';
import { pcapSegments, clientStreams } from '../helpers/pcap-segments.js';
import { Conv, Recorder } from '../helpers/tcp-conv.js';
import { serializeTls } from '../../src/sinks/schema.js';
import { IsoTimeFormatter } from '../../src/sinks/local-time.js';
import { tlsLine } from '../../src/sinks/text.js';
import { LocalTimeFormatter } from '../../src/sinks/local-time.js';

interface Want { port: number; server: number; sni: string; alpn: string[]; versions: number[]; cipherSuites: number }

const wants: Want[] = fs.readFileSync(path.join(fixturesDir, 'tls-hello.pcap.txt'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => {
  const [port, server, sni, alpn, versions, csLen] = l.split('|');
  return {
    port: Number(port), server: Number(server), sni: sni!, alpn: alpn ? alpn.split(',') : [],
    versions: versions ? versions.split(',').map((v) => Number(v)) : [], cipherSuites: Number(csLen) / 2,
  };
});
const segs = pcapSegments(path.join(fixturesDir, 'tls-hello.pcap'));
const streams = clientStreams(segs, wants[0]!.server);
/** each client's hello: the first TLS record(s) of its stream */
const hellos = wants.map((w) => {
  const b = streams.get(w.port)!;
  const r = parseClientHello(b);
  assert.equal(r.status, 'ok', `port ${w.port}: ${JSON.stringify(r)}`);
  return { w, bytes: b.subarray(0, (r as { hello: ClientHello }).hello.consumed) };
});
const opensslHello = fs.readFileSync(path.join(fixturesDir, 'tls-client-hello.bin'));

function ok(r: ClientHelloResult): ClientHello {
  assert.equal(r.status, 'ok', JSON.stringify(r));
  return (r as { hello: ClientHello }).hello;
}

test('real ClientHellos: SNI, ALPN, versions and cipher suites as tshark reads them', () => {
  assert.equal(hellos.length, 4);
  for (const { w, bytes } of hellos) {
    const h = ok(parseClientHello(bytes));
    assert.equal(h.sni, w.sni, `port ${w.port} sni`);
    assert.deepEqual(h.alpn, w.alpn, `port ${w.port} alpn`);
    assert.deepEqual(h.supportedVersions, w.versions, `port ${w.port} supported_versions`);
    assert.equal(h.cipherSuites, w.cipherSuites, `port ${w.port} cipher suites`);
    assert.equal(h.legacyVersion, 0x0303);
    assert.equal(tlsVersionName(h.maxVersion), w.versions.length > 0 ? 'TLS 1.3' : 'TLS 1.2');
    assert.equal(h.consumed, bytes.length);
    assert.equal(h.records, 1);
    assert.ok(h.extensions.includes(0) && h.extensions.includes(16));
  }
  const o = ok(parseClientHello(opensslHello));
  assert.equal(o.sni, 'localhost');
  assert.equal(o.consumed, 315);
  assert.equal(tlsVersionName(o.maxVersion), 'TLS 1.3');
});

test('split at every byte, one byte at a time: the same hello; every proper prefix is incomplete', () => {
  for (const { bytes } of [...hellos, { bytes: opensslHello }]) {
    const whole = ok(parseClientHello(bytes));
    const ones: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) ones.push(bytes.subarray(i, i + 1));
    assert.deepEqual(ok(parseClientHello(ones)), whole);
    for (let cut = 1; cut < bytes.length; cut++) {
      assert.deepEqual(ok(parseClientHello([bytes.subarray(0, cut), bytes.subarray(cut)])), whole, `cut at ${cut}`);
      const r = parseClientHello(bytes.subarray(0, cut));
      assert.equal(r.status, 'incomplete', `prefix of ${cut} bytes: ${JSON.stringify(r)}`);
    }
  }
});

/** The hello's handshake message re-framed into TLS records of at most `size` bytes each. */
function reframe(record: Buffer, size: number): Buffer {
  const hs = record.subarray(5);
  const out: Buffer[] = [];
  for (let i = 0; i < hs.length; i += size) {
    const frag = hs.subarray(i, Math.min(hs.length, i + size));
    const h = Buffer.from([22, 3, 1, frag.length >> 8, frag.length & 0xff]);
    out.push(h, frag);
  }
  return Buffer.concat(out);
}

test('a hello spread over several TLS records (RFC 8446 5.1 allows it): the same fields', () => {
  for (const { bytes } of hellos) {
    const whole = ok(parseClientHello(bytes));
    for (const size of [1, 3, 4, 5, 50, 100, 511]) {
      const re = reframe(bytes, size);
      const h = ok(parseClientHello(re));
      assert.equal(h.records, Math.ceil((bytes.length - 5) / size), `records of ${size}`);
      assert.equal(h.consumed, re.length);
      assert.deepEqual({ ...h, consumed: 0, records: 0 }, { ...whole, consumed: 0, records: 0 }, `records of ${size}`);
      // and split across segments too
      const mid = Math.floor(re.length / 2);
      assert.deepEqual(ok(parseClientHello([re.subarray(0, mid), re.subarray(mid)])), h);
    }
  }
});

test('structured errors: not a handshake, not a ClientHello, bad record, lengths past their container', () => {
  const code = (b: Buffer | Buffer[]): string => {
    const r = parseClientHello(b);
    assert.equal(r.status, 'error', JSON.stringify(r));
    return (r as { error: { code: string } }).error.code;
  };
  assert.equal(code(Buffer.from('GET / HTTP/1.1\r\n\r\n')), 'WL_ERR_TLS_NOT_HANDSHAKE');
  assert.equal(code(Buffer.from([22, 2, 1, 0, 5])), 'WL_ERR_TLS_NOT_HANDSHAKE');
  const h = Buffer.from(opensslHello);
  const serverHello = Buffer.from(h);
  serverHello[5] = 2;
  assert.equal(code(serverHello), 'WL_ERR_TLS_NOT_CLIENT_HELLO');
  assert.equal(code(Buffer.from([22, 3, 1, 0, 0])), 'WL_ERR_TLS_RECORD');
  assert.equal(code(Buffer.from([22, 3, 1, 0xff, 0xff])), 'WL_ERR_TLS_RECORD');
  // a second record that is not a handshake record, while the hello is not complete
  const re = reframe(h, 100);
  const bad = Buffer.from(re);
  bad[105] = 23;
  assert.equal(code(bad), 'WL_ERR_TLS_RECORD');
  // the session id claims 33 bytes
  const sid = Buffer.from(h);
  sid[5 + 4 + 2 + 32] = 33;
  assert.equal(code(sid), 'WL_ERR_TLS_LENGTH');
  // the extensions claim more than the hello holds
  const whole = ok(parseClientHello(h));
  assert.ok(whole.extensions.length > 3);
  const ext = Buffer.from(h);
  const sidLen = h[5 + 4 + 2 + 32]!;
  let p = 5 + 4 + 2 + 32 + 1 + sidLen;
  p += 2 + h.readUInt16BE(p);
  p += 1 + h[p]!;
  ext.writeUInt16BE(h.readUInt16BE(p) + 1, p);
  assert.equal(code(ext), 'WL_ERR_TLS_LENGTH');
  // a server_name list whose length does not match its extension
  const sni = Buffer.from(h);
  const at = sni.indexOf(Buffer.from('localhost'));
  sni.writeUInt16BE(sni.readUInt16BE(at - 5) + 1, at - 5);
  assert.equal(code(sni), 'WL_ERR_TLS_EXTENSION');
  // a hello that claims to be huge
  assert.equal(code(Buffer.from([22, 3, 1, 0, 4, 1, 0x7f, 0xff, 0xff])), 'WL_ERR_TLS_LENGTH');
});

test('GREASE is left out of supported_versions; version names', () => {
  assert.ok(isGrease(0x0a0a) && isGrease(0xfafa) && !isGrease(0x0304) && !isGrease(0x0a1a));
  assert.equal(tlsVersionName(0x0301), 'TLS 1.0');
  assert.equal(tlsVersionName(0x0300), 'SSL 3.0');
  assert.equal(tlsVersionName(0x7f1c), '0x7f1c');
  assert.equal(looksLikeClientHello(Buffer.from([22])), 1);
  assert.equal(looksLikeClientHello(Buffer.from([22, 3, 1, 0, 5, 2])), 0);
  assert.equal(looksLikeClientHello(Buffer.from('GET')), 0);
});

test('fast-check: random bytes, truncations, bit flips and random splits never throw, and split results equal whole ones', () => {
  const all = [...hellos.map((x) => x.bytes), opensslHello];
  const check = (r: ClientHelloResult): void => {
    assert.ok(r.status === 'ok' || r.status === 'incomplete' || r.status === 'error');
    if (r.status === 'error') assert.ok(r.error.code.startsWith('WL_ERR_TLS_') && r.error.layer === 'tls');
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (a) => check(parseClientHello(Buffer.from(a)))), { numRuns: 2000 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (a) => {
    // a plausible record header in front of random bytes reaches the hello parser
    const b = Buffer.concat([Buffer.from([22, 3, 1, a.length >> 8, a.length & 0xff, 1]), Buffer.from(a)]);
    check(parseClientHello(b));
  }), { numRuns: 2000 });
  fc.assert(fc.property(fc.integer({ min: 0, max: all.length - 1 }), fc.array(fc.nat(), { maxLength: 6 }), fc.nat(), fc.integer({ min: 0, max: 7 }),
    (k, cuts, flipAt, bit) => {
      const orig = all[k]!;
      const b = Buffer.from(orig);
      const at = flipAt % b.length;
      b[at] = b[at]! ^ (1 << bit);
      const whole = parseClientHello(b);
      check(whole);
      const points = [...new Set(cuts.map((c) => c % b.length))].sort((x, y) => x - y);
      const parts: Buffer[] = [];
      let prev = 0;
      for (const p of points) { parts.push(b.subarray(prev, p)); prev = p; }
      parts.push(b.subarray(prev));
      assert.deepEqual(parseClientHello(parts), whole);
    }), { numRuns: 3000 });
});

const CLIENT = { ip: '192.0.2.10', port: 40000 };
const SERVER = { ip: '10.0.0.1', port: 443 };

function track(conv: Conv, ports = new Set([443])): { r: Recorder; t: HttpTracker } {
  const r = new Recorder();
  const t = new HttpTracker({ reassembly: true, servicePorts: ports, localAddrs: new Set([SERVER.ip]) }, r);
  for (const s of conv.segs) t.onSegment(s);
  t.finish();
  return { r, t };
}

test('tracker: the fixture\'s connections are TLS records with tshark\'s SNI and ALPN, none counted as not HTTP', () => {
  const r = new Recorder();
  const t = new HttpTracker({ reassembly: true, servicePorts: 'any', localAddrs: new Set(['127.0.0.1']) }, r);
  for (const s of segs) t.onSegment(s);
  t.finish();
  assert.equal(r.tlsHellos.length, wants.length);
  for (const w of wants) {
    const e = r.tlsHellos.find((x) => x.conn.clientPort === w.port);
    assert.ok(e, `no TLS record for ${w.port}`);
    assert.equal(e.sni, w.sni);
    assert.deepEqual(e.alpn, w.alpn);
    assert.equal(e.conn.serverPort, w.server);
    assert.match(e.conn.connTraceId ?? '', /^\d+_\d+$/);
  }
  assert.equal(t.stats.tlsConnections, wants.length);
  assert.equal(t.stats.connectionsNotHttp, 0);
  assert.equal(t.stats.tlsNotParsed, 0);
  assert.equal(r.txs.length, 0);
  // the JSON line and the text line
  const line = serializeTls(r.tlsHellos[1]!, new IsoTimeFormatter());
  const o = JSON.parse(line) as Record<string, unknown>;
  assert.ok(line.startsWith('{"record":"tls",'));
  assert.deepEqual(Object.keys(o), ['record', 'ts', 'kind', 'conn_id', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'sni', 'alpn',
    'tls_version', 'cipher_suites', 'ifname', 'netns', 'conn_trace_id']);
  assert.deepEqual([o.sni, o.alpn, o.tls_version, o.kind], ['www.wirelog.test', ['h2', 'http/1.1'], 'TLS 1.3', 'CQ']);
  const text = tlsLine(new LocalTimeFormatter(() => 0), r.tlsHellos[1]!);
  assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} 127\.0\.0\.1#\d+ 127\.0\.0\.1#\d+ CQ TLS TLSv1\.3 www\.wirelog\.test h2,http\/1\.1$/);
});

test('tracker: a hello in 1-byte segments, the server answering with a TLS record; a hello sent to an HTTP server answering 400', () => {
  const hello = hellos[1]!.bytes;
  const a = track(new Conv(CLIENT, SERVER).handshake().c(hello, 1).s(Buffer.from([22, 3, 3, 0, 1, 2])).close());
  assert.equal(a.r.tlsHellos.length, 1);
  assert.deepEqual(a.r.tlsHellos[0]!.alpn, ['h2', 'http/1.1']);
  assert.equal(a.r.tlsHellos[0]!.tsUs, new Conv(CLIENT, SERVER).handshake().c(hello, 1).segs[3]!.tsUs, 'ts: the hello\'s first byte');
  // the plaintext answer shows the port is HTTP: the hello is the skipped "request" the 400 answers (docs/http1.md)
  const b = track(new Conv(CLIENT, { ...SERVER, port: 80 }).handshake().c(hello).s('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n').close(), new Set([80]));
  assert.equal(b.r.tlsHellos.length, 0);
  assert.equal(b.r.txs.length, 1);
  assert.equal(b.r.txs[0]!.res?.status, 400);
  assert.equal(b.t.stats.tlsNotParsed, 1);
  assert.deepEqual(b.t.stats.tlsErrorsByCode, { WL_ERR_TLS_PLAINTEXT_ANSWER: 1 });
  // the server never answers: a TLS client all the same
  const c = track(new Conv(CLIENT, SERVER).handshake().c(hello).close());
  assert.equal(c.r.tlsHellos.length, 1);
  // a truncated hello, then the connection ends: not TLS, not HTTP
  const d = track(new Conv(CLIENT, SERVER).handshake().c(hello.subarray(0, 100)).close());
  assert.equal(d.r.tlsHellos.length, 0);
  assert.equal(d.t.stats.connectionsNotHttp, 1);
  assert.deepEqual(d.t.stats.tlsErrorsByCode, { WL_ERR_TLS_TRUNCATED: 1 });
  // a lost segment inside the hello
  const e = track(new Conv(CLIENT, SERVER).handshake().c(hello.subarray(0, 50)).lose(0, hello.subarray(50, 100)).c(hello.subarray(100)).close());
  assert.equal(e.r.tlsHellos.length, 0);
  assert.deepEqual(e.t.stats.tlsErrorsByCode, { WL_ERR_TLS_GAP: 1 });
});

test('tracker: fast-check random first bytes of a connection never throw out of the tracker', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 64 }), (a, b, mss) => {
    const body = Buffer.concat([Buffer.from([22, 3, 1]), Buffer.from(a)]);
    track(new Conv(CLIENT, SERVER).handshake().c(body, mss).s(Buffer.from(b), mss).close());
  }), { numRuns: 500 });
});

test('docs/schema.md documents exactly the TLS record\'s fields, in order', async () => {
  const { TLS_RECORD_FIELDS } = await import('../../src/sinks/schema.js');
  const { repoRoot } = await import('../helpers/paths.js');
  const all = fs.readFileSync(path.join(repoRoot, 'docs', 'schema.md'), 'utf8');
  const at = all.indexOf('\n## TLS records\n');
  assert.ok(at > 0);
  const doc = all.slice(at, all.indexOf('\n## ', at + 5));
  assert.deepEqual([...doc.matchAll(/^\|\s*`([a-z0-9_]+)`\s*\|/gm)].map((m) => m[1]), [...TLS_RECORD_FIELDS]);
});
