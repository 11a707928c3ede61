import { aeadSeal, headerProtectionMask, initialSecrets, type PacketKeys } from '../../src/proto/quic-crypto.js';
import { QuicVersion } from '../../src/proto/quic.js';
import * as V from '../../test/unit/quic-rfc-vectors.js';
import { InputReader, type FuzzTarget } from '../target.js';
import { runTracker } from './quic-datagram.js';

const DCID = Buffer.from('8394c8f03e515708', 'hex');
const SERVER_CID = Buffer.from('f067a5502a4262b5', 'hex');
const keys = initialSecrets(QuicVersion.V1, DCID)!;

/** A protected v1 Initial packet carrying `frames` (padded to `minLen`), as a real endpoint would send it. */
export function sealInitial(k: PacketKeys, dcid: Buffer, scid: Buffer, pn: number, frames: Buffer, minLen: number): Buffer {
  const pnLen = 4;
  const headLen = 1 + 4 + 1 + dcid.length + 1 + scid.length + 1 + 2 + pnLen;
  const pad = Math.max(0, minLen - headLen - frames.length - 16);
  const payload = Buffer.concat([frames, Buffer.alloc(pad)]);
  const len = pnLen + payload.length + 16;
  const header = Buffer.concat([
    Buffer.from([0xc0 | (pnLen - 1), 0, 0, 0, 1, dcid.length]), dcid, Buffer.from([scid.length]), scid, Buffer.from([0]),
    Buffer.from([0x40 | ((len >> 8) & 0x3f), len & 0xff]), Buffer.from([(pn >>> 24) & 0xff, (pn >>> 16) & 0xff, (pn >>> 8) & 0xff, pn & 0xff]),
  ]);
  const sealed = aeadSeal(k, pn, header, payload);
  const pkt = Buffer.concat([header, sealed]);
  const pnOff = header.length - pnLen;
  const mask = headerProtectionMask(k, pkt.subarray(pnOff + 4, pnOff + 20));
  pkt[0] = pkt[0]! ^ (mask[0]! & 0x0f);
  for (let i = 0; i < pnLen; i++) pkt[pnOff + i] = pkt[pnOff + i]! ^ mask[1 + i]!;
  return pkt;
}

/**
 * Decrypted QUIC: the input's bytes become the plaintext frames of properly protected v1 Initial packets (client and
 * server keys from the RFC 9001 DCID), so the tracker decrypts them and parses frames, CRYPTO reassembly, the TLS
 * ClientHello/ServerHello and transport parameters. Input: packets as [u8 flags: bit 0 server][u16 length][frames].
 */
export const target: FuzzTarget = {
  name: 'quic-initial',
  what: 'QUIC after decryption: frames of sealed Initial packets, CRYPTO reassembly, ClientHello, transport parameters',
  maxLen: 4096,
  seeds: () => {
    const enc = (ps: Array<[number, string]>): Buffer => Buffer.concat(ps.flatMap(([f, h]) => {
      const b = Buffer.from(h, 'hex'), l = Buffer.alloc(3);
      l[0] = f; l.writeUInt16BE(b.length, 1);
      return [l, b];
    }));
    const ch = V.V1_CLIENT_CRYPTO_FRAME;
    return [enc([[0, ch], [1, V.V1_SERVER_PAYLOAD]]), enc([[0, ch]]), enc([[0, '0100'], [1, '02000000000100']])];
  },
  dictionary: [Buffer.from('06', 'hex'), Buffer.from('02', 'hex'), Buffer.from('1c', 'hex'), Buffer.from('01', 'hex'), Buffer.from('00', 'hex'), Buffer.from('0039', 'hex'), Buffer.from('0010', 'hex'), Buffer.from('4000', 'hex')],
  fuzz(data) {
    const r = new InputReader(data);
    const ds: Array<{ fromClient: boolean; data: Buffer }> = [];
    let pn = 0;
    while (r.left > 0 && ds.length < 8) {
      const f = r.u8();
      const frames = r.bytes(r.u16() & 0x7ff);
      const server = (f & 1) !== 0;
      ds.push({ fromClient: !server, data: server ? sealInitial(keys.server, Buffer.alloc(0), SERVER_CID, pn++, frames, 0) : sealInitial(keys.client, DCID, Buffer.alloc(0), pn++, frames, 1200) });
    }
    runTracker(ds, [443]);
  },
};
