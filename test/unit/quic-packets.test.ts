/**
 * src/proto/quic.ts, quic-crypto.ts, quic-frames.ts against the published test vectors: RFC 9001 Appendix A (QUIC v1
 * client and server Initial, Retry, ChaCha20-Poly1305 short header), RFC 9369 Appendix A (the same for v2) and
 * draft-ietf-quic-tls-29 Appendix A (Initials); RFC 9000 Appendix A (varints, packet-number decoding). Then malformed
 * input: every error is a named code in a result, never an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PacketType, QuicErrorCode, QuicVersion, decodePacketNumber, encodeVarint, readVarint, splitDatagram, versionName,
  type QuicPacket,
} from '../../src/proto/quic.js';
import {
  QuicCipher, hkdfExpandLabel, initialSecrets, openPacket, packetKeysFromSecret, verifyRetryIntegrity,
} from '../../src/proto/quic-crypto.js';
import { CryptoStream, parseFrames, parseTransportParameters } from '../../src/proto/quic-frames.js';
import { parseClientHelloMessage } from '../../src/proto/tls.js';
import * as V from './quic-rfc-vectors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ODCID = hex('8394c8f03e515708');
const noShort = (): undefined => undefined;

function onlyPacket(datagram: Buffer): QuicPacket {
  const r = splitDatagram(datagram, noShort);
  assert.equal(r.error, undefined, r.error?.message);
  assert.equal(r.packets.length, 1);
  return r.packets[0]!;
}

/** The client Initial's plaintext: the CRYPTO frame, then PADDING to 1162 bytes. */
function clientPlaintext(cryptoFrameHex: string): Buffer {
  const p = Buffer.alloc(1162);
  hex(cryptoFrameHex).copy(p);
  return p;
}

test('varints: RFC 9000 Appendix A.1 examples, both ways', () => {
  const cases: Array<[string, number]> = [['c2197c5eff14e88c', 151288809941952652], ['9d7f3e7d', 494878333], ['7bbd', 15293], ['25', 37], ['4025', 37]];
  for (const [h, v] of cases) {
    const r = readVarint(hex(h), 0);
    assert.deepEqual(r, { value: v, length: h.length / 2 }, h);
  }
  for (const v of [0, 37, 63, 64, 15293, 16383, 16384, 494878333, 2 ** 30, 2 ** 40 + 5]) {
    const r = readVarint(encodeVarint(v), 0);
    assert.equal(r?.value, v);
  }
  assert.equal(readVarint(hex('c2197c'), 0), undefined, 'a varint cut short is undefined, not an exception');
});

test('packet numbers: RFC 9000 Appendix A.3 example and window edges', () => {
  assert.equal(decodePacketNumber(0xa82f30ea, 0x9b32, 16), 0xa82f9b32);
  assert.equal(decodePacketNumber(-1, 0, 8), 0);
  assert.equal(decodePacketNumber(254, 0x00, 8), 256);
  assert.equal(decodePacketNumber(654360563, 0xbff4, 24), 654360564);
});

test('v1 Initial keys: RFC 9001 A.1', () => {
  const s = initialSecrets(QuicVersion.V1, ODCID)!;
  assert.equal(s.initialSecret.toString('hex'), '7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44');
  assert.equal(s.clientSecret.toString('hex'), 'c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea');
  assert.equal(s.client.key.toString('hex'), '1f369613dd76d5467730efcbe3b1a22d');
  assert.equal(s.client.iv.toString('hex'), 'fa044b2f42a3fd3b46fb255c');
  assert.equal(s.client.hp.toString('hex'), '9f50449e04a0e810283a1e9933adedd2');
  assert.equal(s.serverSecret.toString('hex'), '3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b');
  assert.equal(s.server.key.toString('hex'), 'cf3a5331653c364c88f0f379b6067e37');
  assert.equal(s.server.iv.toString('hex'), '0ac1493ca1905853b0bba03e');
  assert.equal(s.server.hp.toString('hex'), 'c206b8d9b9f0f37644430b490eeaa314');
});

test('v2 Initial keys: RFC 9369 A.1 ("quicv2" labels, its own salt)', () => {
  const s = initialSecrets(QuicVersion.V2, ODCID)!;
  assert.equal(s.initialSecret.toString('hex'), '2062e8b3cd8d52092614b8071d0aa1fb7c2e3ac193f78b280e72d8f5751f6aba');
  assert.equal(s.client.key.toString('hex'), '8b1a0bc121284290a29e0971b5cd045d');
  assert.equal(s.client.iv.toString('hex'), '91f73e2351d8fa91660e909f');
  assert.equal(s.client.hp.toString('hex'), '45b95e15235d6f45a6b19cbcb0294ba9');
  assert.equal(s.server.key.toString('hex'), '82db637861d55e1d011f19ea71d5d2a7');
  assert.equal(s.server.iv.toString('hex'), 'dd13c276499c0249d3310652');
  assert.equal(s.server.hp.toString('hex'), 'edf6d05c83121201b436e16877593c3a');
});

const VERSIONS = [
  { name: 'v1', version: QuicVersion.V1, ci: V.V1_CLIENT_INITIAL, cf: V.V1_CLIENT_CRYPTO_FRAME, si: V.V1_SERVER_INITIAL, sp: V.V1_SERVER_PAYLOAD },
  { name: 'v2', version: QuicVersion.V2, ci: V.V2_CLIENT_INITIAL, cf: V.V2_CLIENT_CRYPTO_FRAME, si: V.V2_SERVER_INITIAL, sp: V.V2_SERVER_PAYLOAD },
  { name: 'v2-draft', version: QuicVersion.V2_DRAFT, ci: V.V2DRAFT_CLIENT_INITIAL, cf: V.V2DRAFT_CLIENT_CRYPTO_FRAME, si: V.V2DRAFT_SERVER_INITIAL, sp: V.V2DRAFT_SERVER_PAYLOAD },
  { name: 'draft-29', version: QuicVersion.DRAFT29, ci: V.D29_CLIENT_INITIAL, cf: V.D29_CLIENT_CRYPTO_FRAME, si: V.D29_SERVER_INITIAL, sp: V.D29_SERVER_PAYLOAD },
];

for (const vv of VERSIONS) {
  test(`${vv.name} client Initial: header, header protection, AEAD, frames, ClientHello`, () => {
    const p = onlyPacket(hex(vv.ci));
    assert.equal(p.type, PacketType.INITIAL);
    assert.equal(p.version, vv.version);
    assert.equal(versionName(p.version), vv.name);
    assert.equal(p.dcid.toString('hex'), '8394c8f03e515708');
    assert.equal(p.scid?.length, 0);
    assert.equal(p.token?.length, 0);
    assert.equal(p.end, 1200);
    const keys = initialSecrets(vv.version, p.dcid)!;
    const o = openPacket(p, keys.client, -1);
    assert.ok(o.ok, o.ok ? '' : o.error.message);
    assert.equal(o.packet.packetNumber, 2);
    assert.equal(o.packet.pnLength, 4);
    assert.deepEqual(o.packet.payload, clientPlaintext(vv.cf));
    const f = parseFrames(o.packet.payload);
    assert.equal(f.error, undefined);
    assert.deepEqual(f.frames.map((x) => x.type), ['crypto', 'padding']);
    assert.equal(f.frames[0]!.offset, 0);
    const frameLength = hex(vv.cf).length;
    assert.equal(f.frames[0]!.length, frameLength - 4); // type, 1-byte offset, 2-byte length
    assert.equal(f.frames[1]!.length, 1162 - frameLength);
    const ch = parseClientHelloMessage(f.frames[0]!.data!);
    assert.equal(ch.status, 'ok');
    if (ch.status !== 'ok') return;
    if (vv.version === QuicVersion.DRAFT29) {
      // that draft's sample hello names "server" and carries neither ALPN nor transport parameters
      assert.equal(ch.hello.sni, 'server');
      assert.deepEqual(ch.hello.alpn, []);
      return;
    }
    assert.equal(ch.hello.sni, 'example.com');
    assert.deepEqual(ch.hello.alpn, ['alpn']);
    assert.ok(ch.hello.quicTransportParameters !== undefined, 'transport parameters kept');
    const tp = parseTransportParameters(ch.hello.quicTransportParameters!);
    assert.equal(tp.error, undefined);
    assert.equal(tp.params.initial_source_connection_id, '8394c8f03e515708');
    assert.ok((tp.params.initial_max_data as number) > 2 ** 61, 'initial_max_data is the 8-byte varint 2^62-1');
    assert.equal(tp.params.max_idle_timeout, 30000);
  });

  test(`${vv.name} server Initial: 2-byte packet number, ACK + CRYPTO(ServerHello)`, () => {
    const p = onlyPacket(hex(vv.si));
    assert.equal(p.type, PacketType.INITIAL);
    assert.equal(p.dcid.length, 0);
    assert.equal(p.scid?.toString('hex'), 'f067a5502a4262b5');
    const keys = initialSecrets(vv.version, ODCID)!;
    const o = openPacket(p, keys.server, -1);
    assert.ok(o.ok, o.ok ? '' : o.error.message);
    assert.equal(o.packet.packetNumber, 1);
    assert.equal(o.packet.pnLength, 2);
    assert.deepEqual(o.packet.payload, hex(vv.sp));
    if (vv.version === QuicVersion.DRAFT29) return; // that draft's sample payload begins with a pre-draft frame type (0x0d)
    const f = parseFrames(o.packet.payload);
    assert.equal(f.error, undefined);
    assert.deepEqual(f.frames.map((x) => x.type), ['ack', 'crypto']);
    assert.deepEqual(f.frames[0]!.acked_ranges, [[0, 0]]);
    assert.equal(f.frames[1]!.data![0], 2, 'a ServerHello');
    // the client's keys do not open the server's packet: a named error, not an exception
    const wrong = openPacket(p, keys.client, -1);
    assert.equal(wrong.ok, false);
  });
}

test('v1 and v2 Retry: integrity tag verifies with the original DCID only; type bits differ per version', () => {
  for (const [h, version] of [[V.V1_RETRY, QuicVersion.V1], [V.V2_RETRY, QuicVersion.V2], [V.V2DRAFT_RETRY, QuicVersion.V2_DRAFT]] as const) {
    const p = onlyPacket(hex(h));
    assert.equal(p.type, PacketType.RETRY);
    assert.equal(p.version, version);
    assert.equal(p.scid?.toString('hex'), 'f067a5502a4262b5');
    assert.equal(p.token?.toString('latin1'), 'token');
    assert.equal(verifyRetryIntegrity(p, ODCID), true);
    assert.equal(verifyRetryIntegrity(p, hex('8394c8f03e515709')), false);
  }
});

test('ChaCha20-Poly1305 short header (v1 and v2): keys from the secret, ChaCha20 header protection, a PING', () => {
  const secret = hex('9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b');
  assert.equal(hkdfExpandLabel('sha256', secret, 'quic ku', 32).toString('hex'), '1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9');
  for (const [h, version, keyHex] of [
    [V.V1_CHACHA_SHORT, QuicVersion.V1, 'c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8'],
    [V.V2_CHACHA_SHORT, QuicVersion.V2, '3bfcddd72bcf02541d7fa0dd1f5f9eeea817e09a6963a0e6c7df0f9a1bab90f2'],
  ] as const) {
    const keys = packetKeysFromSecret(version, secret, QuicCipher.CHACHA20_POLY1305);
    assert.equal(keys.key.toString('hex'), keyHex);
    const r = splitDatagram(hex(h), () => ({ length: 0, version }));
    assert.equal(r.error, undefined);
    const p = r.packets[0]!;
    assert.equal(p.type, PacketType.ONE_RTT);
    const o = openPacket(p, keys, 654360563);
    assert.ok(o.ok, o.ok ? '' : o.error.message);
    assert.equal(o.packet.packetNumber, 654360564);
    assert.equal(o.packet.pnLength, 3);
    assert.deepEqual(parseFrames(o.packet.payload).frames, [{ type: 'ping' }]);
  }
});

test('AES-256-GCM keys round-trip through packet protection (key log ciphers)', async () => {
  const { aeadSeal, aeadOpen } = await import('../../src/proto/quic-crypto.js');
  const secret = hex('9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b9ac312a7f877468ebe69422748ad00a1');
  const keys = packetKeysFromSecret(QuicVersion.V1, secret, QuicCipher.AES_256_GCM, 'sha384');
  assert.equal(keys.key.length, 32);
  const sealed = aeadSeal(keys, 7, hex('4100'), hex('01'));
  assert.deepEqual(aeadOpen(keys, 7, hex('4100'), sealed), hex('01'));
  assert.equal(aeadOpen(keys, 8, hex('4100'), sealed), undefined);
});

test('coalesced packets: a server Initial followed by a short-header packet in one datagram', () => {
  const d = Buffer.concat([hex(V.V1_SERVER_INITIAL), hex(V.V1_CHACHA_SHORT)]);
  const r = splitDatagram(d, () => ({ length: 0, version: QuicVersion.V1 }));
  assert.equal(r.error, undefined);
  assert.deepEqual(r.packets.map((p) => p.type), [PacketType.INITIAL, PacketType.ONE_RTT]);
  assert.equal(r.packets[1]!.start, hex(V.V1_SERVER_INITIAL).length);
});

test('Version Negotiation and unknown versions', () => {
  const vn = hex('80 00000000 04 a1b2c3d4 00 00000001 6b3343cf');
  const p = onlyPacket(vn);
  assert.equal(p.type, PacketType.VERSION_NEGOTIATION);
  assert.deepEqual(p.supportedVersions, [1, 0x6b3343cf]);
  const unk = onlyPacket(hex('c0 1a2a3a4a 04 a1b2c3d4 00 0011223344'));
  assert.equal(unk.type, PacketType.UNKNOWN_VERSION);
  assert.equal(versionName(0x1a2a3a4a), 'grease-1a2a3a4a');
});

test('malformed packets: named errors, packets before the bad one kept', () => {
  const ci = hex(V.V1_CLIENT_INITIAL);
  // truncated in the header
  let r = splitDatagram(ci.subarray(0, 10), noShort);
  assert.equal(r.error?.code, QuicErrorCode.TRUNCATED);
  // Length runs past the datagram
  r = splitDatagram(ci.subarray(0, 600), noShort);
  assert.equal(r.error?.code, QuicErrorCode.TRUNCATED);
  assert.match(r.error!.message, /past the datagram/);
  // a Length too small for a sample
  const small = Buffer.from(ci.subarray(0, 40));
  small[16] = 0x40; small[17] = 0x05;
  r = splitDatagram(small, noShort);
  assert.equal(r.error?.code, QuicErrorCode.BAD_LENGTH);
  // a DCID length over 20
  const long = Buffer.from(ci);
  long[5] = 21;
  assert.equal(splitDatagram(long, noShort).error?.code, QuicErrorCode.BAD_LENGTH);
  // a good packet then garbage that is no packet of a known connection
  r = splitDatagram(Buffer.concat([hex(V.V1_SERVER_INITIAL), hex('4101020304')]), noShort);
  assert.equal(r.packets.length, 1);
  assert.equal(r.error?.code, QuicErrorCode.UNKNOWN_CONNECTION);
  // a flipped ciphertext byte: AEAD fails
  const bad = Buffer.from(ci);
  bad[100] = bad[100]! ^ 1;
  const p = onlyPacket(bad);
  const o = openPacket(p, initialSecrets(QuicVersion.V1, ODCID)!.client, -1);
  assert.equal(o.ok, false);
  if (!o.ok) assert.equal(o.error.code, QuicErrorCode.AEAD_FAILED);
});

test('frames: every RFC 9000 type with its fields; unknown type stops with a named error', () => {
  const payload = Buffer.concat([
    hex('01'), // PING
    hex('0000 00'), // PADDING x3
    hex('03 0a 05 01 02 00 01 07 08 09'), // ACK_ECN largest 10, delay 5, 1 range: first 2 → [8,10]; gap 0 len 1 → [5,6]; ECN 7 8 9
    hex('04 04 0b 4064'), // RESET_STREAM id 4, error 11, final 100
    hex('05 08 0c'), // STOP_SENDING id 8, error 12
    hex('06 00 03 aabbcc'), // CRYPTO off 0 len 3
    hex('07 02 ffff'), // NEW_TOKEN
    hex('0e 00 05 02 6869'), // STREAM id 0, OFF+LEN: offset 5, len 2, no FIN
    hex('10 4400'), // MAX_DATA 1024
    hex('11 04 20'), // MAX_STREAM_DATA
    hex('12 0a'), hex('13 03'), hex('14 20'), hex('15 04 20'), hex('16 01'), hex('17 02'),
    hex('18 01 00 04 01020304 00112233445566778899aabbccddeeff'), // NEW_CONNECTION_ID
    hex('19 00'),
    hex('1a 0102030405060708'), hex('1b 0102030405060708'),
    hex('1c 0a 06 03 626164'), // CONNECTION_CLOSE transport 0x0a, frame 6, "bad"
    hex('1d 4100 00'), // CONNECTION_CLOSE application 256, no reason
    hex('1e'),
    hex('31 02 abcd'), // DATAGRAM with length
    hex('0b 04 01 686920'), // STREAM id 4, LEN+FIN, len 1 ... then 2 bytes extra would be... (LEN bit set: len 1 "h")
  ]);
  // the last STREAM frame has LEN: "h" then "i " are left, which begin with 0x69 (unknown frame type)
  const r = parseFrames(payload);
  const types = r.frames.map((f) => f.type);
  assert.deepEqual(types, ['ping', 'padding', 'ack', 'reset_stream', 'stop_sending', 'crypto', 'new_token', 'stream', 'max_data',
    'max_stream_data', 'max_streams', 'max_streams', 'data_blocked', 'stream_data_blocked', 'streams_blocked', 'streams_blocked',
    'new_connection_id', 'retire_connection_id', 'path_challenge', 'path_response', 'connection_close', 'connection_close',
    'handshake_done', 'datagram', 'stream']);
  const f = r.frames;
  assert.equal(f[1]!.length, 3);
  assert.deepEqual(f[2]!.acked_ranges, [[8, 10], [5, 6]]);
  assert.deepEqual([f[2]!.ect0, f[2]!.ect1, f[2]!.ce], [7, 8, 9]);
  assert.deepEqual([f[3]!.stream_id, f[3]!.error_code, f[3]!.final_size], [4, 11, 100]);
  assert.deepEqual([f[7]!.stream_id, f[7]!.offset, f[7]!.length, f[7]!.fin], [0, 5, 2, false]);
  assert.equal(f[8]!.maximum, 1024);
  assert.equal(f[10]!.stream_type, 'bidirectional');
  assert.equal(f[16]!.connection_id, '01020304');
  assert.deepEqual([f[20]!.error_space, f[20]!.error_code, f[20]!.trigger_frame_type, f[20]!.reason], ['transport', 10, 6, 'bad']);
  assert.deepEqual([f[21]!.error_space, f[21]!.error_code, f[21]!.reason], ['application', 256, '']);
  assert.deepEqual([f[24]!.stream_id, f[24]!.length, f[24]!.fin], [4, 1, true]);
  assert.equal(r.error?.code, QuicErrorCode.UNKNOWN_FRAME);
  // a frame running past the payload
  const cut = parseFrames(hex('06 00 10 aabb'));
  assert.equal(cut.frames.length, 0);
  assert.equal(cut.error?.code, QuicErrorCode.FRAME);
  // STREAM without LEN runs to the end of the packet
  const tail = parseFrames(hex('09 08 616263'));
  assert.deepEqual([tail.frames[0]!.stream_id, tail.frames[0]!.length, tail.frames[0]!.fin], [8, 3, true]);
});

test('CRYPTO reassembly: out of order, overlapping, repeated; the contiguous prefix only', () => {
  const s = new CryptoStream();
  const data = Buffer.from('0123456789abcdefghij');
  s.add(10, data.subarray(10, 15));
  assert.equal(s.contiguousLength, 0);
  s.add(3, data.subarray(3, 12)); // overlaps the first
  s.add(0, data.subarray(0, 4)); // overlaps at 3
  assert.equal(s.contiguous().toString(), '0123456789abcde');
  s.add(0, data.subarray(0, 4)); // a retransmission
  s.add(17, data.subarray(17, 20)); // a hole at 15..17
  assert.equal(s.contiguousLength, 15);
  s.add(15, data.subarray(15, 17));
  assert.equal(s.contiguous().toString(), data.toString());
  assert.equal(s.add(70_000, Buffer.from('x')), false, 'beyond the bound: refused');
});

test('a ClientHello split over two Initial packets reassembles (CRYPTO frames in reverse order)', () => {
  const frame = hex(V.V1_CLIENT_CRYPTO_FRAME);
  const hello = parseFrames(frame).frames[0]!.data!;
  const s = new CryptoStream();
  s.add(100, hello.subarray(100));
  assert.equal(parseClientHelloMessage(s.contiguous()).status, 'incomplete');
  s.add(0, hello.subarray(0, 100));
  const r = parseClientHelloMessage(s.contiguous());
  assert.equal(r.status, 'ok');
  if (r.status === 'ok') assert.equal(r.hello.sni, 'example.com');
});
