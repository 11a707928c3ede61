import { UdpView } from '../../src/decode/udp.js';
import { LINKTYPE_IPV4, LINKTYPE_IPV6 } from '../../src/decode/link.js';
import { transportHeaders } from '../seeds.js';
import { decodeWhole } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

/**
 * `t` behind a minimal IPv4 (bit 0 of `sel` clear) or IPv6 header for protocol `proto`; bit 1 set: IP length 0
 * (TSO style), bit 2 set: IPv4 first fragment (MF).
 */
export function ipPrefixed(sel: number, proto: number, t: Buffer): [4 | 6, Buffer] {
  if ((sel & 1) === 0) {
    const h = Buffer.alloc(20);
    h[0] = 0x45; h.writeUInt16BE((sel & 2) !== 0 ? 0 : Math.min(0xffff, 20 + t.length), 2);
    if ((sel & 4) !== 0) h[6] = 0x20;
    h[8] = 64; h[9] = proto; h.writeUInt32BE(0x7f000001, 12); h.writeUInt32BE(0x7f000002, 16);
    return [4, Buffer.concat([h, t])];
  }
  const h = Buffer.alloc(40);
  h[0] = 0x60; h.writeUInt16BE((sel & 2) !== 0 ? 0 : Math.min(0xffff, t.length), 4); h[6] = proto; h[7] = 64; h[23] = 1; h[39] = 1;
  return [6, Buffer.concat([h, t])];
}

const v = new UdpView();

export const target: FuzzTarget = {
  name: 'udp',
  what: 'UDP header and length rules behind IPv4/IPv6 through decodeFrame',
  maxLen: 2048,
  seeds: () => {
    const udp = transportHeaders(17);
    // the fixtures hold no UDP: a DNS query and a QUIC-sized datagram, made up here
    const mk = (sport: number, dport: number, body: Buffer): Buffer => {
      const h = Buffer.alloc(8); h.writeUInt16BE(sport, 0); h.writeUInt16BE(dport, 2); h.writeUInt16BE(8 + body.length, 4);
      return Buffer.concat([h, body]);
    };
    const seeds = [...udp, mk(53000, 53, Buffer.from('123401000001000000000000076578616d706c6503636f6d0000010001', 'hex')), mk(50000, 443, Buffer.alloc(64, 0xc3))];
    return seeds.flatMap((s) => [Buffer.concat([Buffer.from([0]), s]), Buffer.concat([Buffer.from([1]), s])]);
  },
  fuzz(data) {
    if (data.length === 0) return;
    const t = data.subarray(1);
    if (v.reset(t, 0, t.length) === undefined) { void v.length; void v.checksum; }
    const [fam, pkt] = ipPrefixed(data[0]!, 17, t);
    const seg = decodeWhole(fam === 4 ? LINKTYPE_IPV4 : LINKTYPE_IPV6, pkt);
    if (seg !== undefined && !seg.fragment) check(seg.payloadLen <= t.length - 8 || (data[0]! & 2) !== 0, `UDP payload ${seg.payloadLen} beyond ${t.length - 8} bytes`);
  },
};
