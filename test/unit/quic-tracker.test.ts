/**
 * src/pipelines/quic.ts's QuicTracker on datagrams built from the RFC 9001 Appendix A packets (a client Initial with a
 * zero-length SCID, so the server's reply is joined by its UDP flow; a server Initial with its ServerHello), and on
 * bad input: garbled, truncated and corrupted datagrams, random bytes. Nothing may throw; everything is counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuicTracker, type QuicEvent } from '../../src/pipelines/quic.js';
import { QuicErrorCode } from '../../src/proto/quic.js';
import { eventTypeSet, QuicTypeError } from '../../src/sinks/quic-jsonl.js';
import * as V from './quic-rfc-vectors.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const C = '10.0.0.1', S = '10.0.0.2';
const T0 = 1_700_000_000_000_000;

function tracker(ports: number[] | 'any' = [443], vantage: 'server' | 'client' = 'server'): { t: QuicTracker; ev: QuicEvent[] } {
  const ev: QuicEvent[] = [];
  return { t: new QuicTracker({ vantage, ports, emit: (e) => ev.push(e) }), ev };
}

/** A v1 long header of `type` bits with `len` bytes of (undecryptable) payload, to a known DCID. */
function longPacket(typeBits: number, dcid: Buffer, scid: Buffer, payloadLen: number): Buffer {
  const hdr = Buffer.concat([Buffer.from([0xc0 | (typeBits << 4)]), hex('00000001'), Buffer.from([dcid.length]), dcid, Buffer.from([scid.length]), scid,
    Buffer.from([0x40 | (payloadLen >> 8), payloadLen & 0xff])]);
  return Buffer.concat([hdr, Buffer.alloc(payloadLen, 0x5a)]);
}

test('RFC 9001 client and server Initials: accept, both packets decrypted, summary', () => {
  const { t, ev } = tracker();
  t.datagram(T0, C, 50000, S, 443, hex(V.V1_CLIENT_INITIAL));
  t.datagram(T0 + 1000, S, 443, C, 50000, hex(V.V1_SERVER_INITIAL));
  // two Handshake packets from the server: counted, one decrypt-failed
  t.datagram(T0 + 2000, S, 443, C, 50000, longPacket(2, Buffer.alloc(0), hex('f067a5502a4262b5'), 40));
  t.datagram(T0 + 3000, S, 443, C, 50000, longPacket(2, Buffer.alloc(0), hex('f067a5502a4262b5'), 40));
  t.finish();
  assert.deepEqual(ev.map((e) => e.type), ['accept', 'packet-received', 'packet-sent', 'packet-sent', 'decrypt-failed', 'packet-sent', 'conn-summary']);
  const [accept, rcv, snt] = ev;
  assert.equal(accept!.dcid, '8394c8f03e515708');
  assert.equal(accept!.scid, '');
  assert.equal(accept!.sni, 'example.com');
  assert.deepEqual(accept!.alpn, ['alpn']);
  assert.equal(accept!.time, T0 / 1000);
  assert.equal(rcv!.pn, 2);
  assert.deepEqual((rcv!.frames as Array<{ type: string }>).map((f) => f.type), ['crypto', 'padding']);
  assert.equal(snt!.pn, 1);
  assert.equal(snt!.scid, 'f067a5502a4262b5');
  assert.deepEqual((snt!.frames as Array<{ type: string }>).map((f) => f.type), ['ack', 'crypto']);
  assert.equal(ev[4]!.space, 'handshake');
  const sum = ev[6]!;
  assert.equal(sum.cipher_suite, '0x1301');
  assert.equal(sum.server_scid, 'f067a5502a4262b5');
  assert.deepEqual(sum.undecrypted, { handshake: 2 });
  assert.deepEqual((sum.sent as { by_type: unknown }).by_type, { initial: 1, handshake: 2 });
  assert.equal(t.stats.decrypted, 2);
  assert.equal(t.stats.undecryptable, 2);
});

test('--vantage client flips the packet events and names the first one connect', () => {
  const { t, ev } = tracker([443], 'client');
  t.datagram(T0, C, 50000, S, 443, hex(V.V1_CLIENT_INITIAL));
  t.datagram(T0 + 1000, S, 443, C, 50000, hex(V.V1_SERVER_INITIAL));
  assert.deepEqual(ev.map((e) => e.type), ['connect', 'packet-sent', 'packet-received']);
});

test('v2 Initials with v2\'s type bits and keys', () => {
  const { t, ev } = tracker();
  t.datagram(T0, C, 50000, S, 443, hex(V.V2_CLIENT_INITIAL));
  t.datagram(T0 + 1000, S, 443, C, 50000, hex(V.V2_SERVER_INITIAL));
  assert.equal(ev[0]!.version, 'v2');
  assert.deepEqual(ev.map((e) => [e.type, e.pn]), [['accept', undefined], ['packet-received', 2], ['packet-sent', 1]]);
});

test('garbled, truncated and corrupted datagrams: packet-dropped with a named code, counted, never thrown', () => {
  const { t, ev } = tracker();
  // a short header of no connection
  t.datagram(T0, C, 50001, S, 443, hex('4011223344556677889900112233445566778899'));
  // a client Initial cut inside its payload
  t.datagram(T0, C, 50002, S, 443, hex(V.V1_CLIENT_INITIAL).subarray(0, 600));
  // a client Initial with one ciphertext bit flipped: the connection exists, its packet fails the AEAD check
  const bad = hex(V.V1_CLIENT_INITIAL);
  bad[300] = bad[300]! ^ 0x01;
  t.datagram(T0, C, 50003, S, 443, bad);
  t.finish();
  const codes = ev.filter((e) => e.type === 'packet-dropped').map((e) => e.code);
  assert.deepEqual(codes, [QuicErrorCode.UNKNOWN_CONNECTION, QuicErrorCode.TRUNCATED, QuicErrorCode.AEAD_FAILED]);
  assert.deepEqual(t.stats.errors, { [QuicErrorCode.UNKNOWN_CONNECTION]: 1, [QuicErrorCode.TRUNCATED]: 1, [QuicErrorCode.AEAD_FAILED]: 1 });
  const failed = ev.find((e) => e.type === 'packet-received' && e.decrypted === false)!;
  assert.equal(failed.error, QuicErrorCode.AEAD_FAILED);
  const acc = ev.find((e) => e.type === 'accept')!;
  assert.equal(acc.sni, null);
  assert.match(String(acc.hello), /no ClientHello/);
});

test('other ports: only QUIC-looking datagrams; random bytes on the QUIC port never throw', () => {
  const { t } = tracker();
  t.datagram(T0, C, 5353, S, 53, hex('abcd0100000100000000000003777777'));
  assert.equal(t.stats.notQuic, 1);
  t.datagram(T0, C, 40000, S, 4433, hex(V.V1_CLIENT_INITIAL));
  assert.equal(t.stats.connections, 1, 'a long header of a known version on another port: content detection');
  let seed = 12345;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let i = 0; i < 3000; i++) {
    const n = 1 + (rnd() % 1400);
    const b = Buffer.alloc(n);
    for (let j = 0; j < n; j++) b[j] = rnd() & 0xff;
    if (i % 3 === 0 && n > 5) { b[0] = 0xc0 | (b[0]! & 0x3f); b.writeUInt32BE([1, 0x6b3343cf, 0xff00001d, 0][i % 4]!, 1); }
    t.datagram(T0 + i, C, 40000 + (i % 50), S, 443, b);
  }
  t.finish();
  const dropped = Object.values(t.stats.errors).reduce((a, b) => a + b, 0);
  assert.ok(dropped > 1000, `errors counted: ${JSON.stringify(t.stats.errors)}`);
  assert.equal(t.stats.errors[QuicErrorCode.INTERNAL], undefined, 'no decoder bug caught');
});

test('-t: h2olog spellings, comma lists, unknown names refused', () => {
  assert.deepEqual([...eventTypeSet(['quicly:accept', 'packet-sent,retry'])!], ['accept', 'packet-sent', 'retry']);
  assert.equal(eventTypeSet([]), undefined);
  assert.throws(() => eventTypeSet(['quicly:nope']), QuicTypeError);
});

test('nothing is kept as a view of a datagram: a reused, overwritten buffer gives the same lines', () => {
  const packets = [hex(V.V1_CLIENT_INITIAL), hex(V.V1_SERVER_INITIAL), hex(V.V1_RETRY)];
  const dirs: Array<[string, string]> = [[C, S], [S, C], [S, C]];
  const fresh = tracker();
  const reused = tracker();
  const shared = Buffer.alloc(2000);
  packets.forEach((p, i) => {
    const [from, to] = dirs[i]!;
    fresh.t.datagram(T0 + i, from, from === C ? 50000 : 443, to, to === C ? 50000 : 443, Buffer.from(p));
    p.copy(shared);
    reused.t.datagram(T0 + i, from, from === C ? 50000 : 443, to, to === C ? 50000 : 443, shared.subarray(0, p.length));
    shared.fill(0xee);
  });
  fresh.t.finish();
  reused.t.finish();
  assert.deepEqual(reused.ev, fresh.ev);
  assert.equal(fresh.ev.find((e) => e.type === 'conn-summary')!.server_scid, 'f067a5502a4262b5');
});
