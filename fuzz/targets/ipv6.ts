import { Ipv6View, ipv6ExtensionHeaders, newIpv6Walk, walkIpv6 } from '../../src/decode/ipv6.js';
import { LINKTYPE_IPV6 } from '../../src/decode/link.js';
import { ipPackets } from '../seeds.js';
import { decodeWhole } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

const v = new Ipv6View();
const walk = newIpv6Walk();

export const target: FuzzTarget = {
  name: 'ipv6',
  what: 'IPv6 header and extension-header chain (hop-by-hop, routing, fragment, AH, …), decodeFrame on LINKTYPE_IPV6',
  maxLen: 2048,
  seeds: () => ipPackets(6),
  dictionary: [Buffer.from('60', 'hex'), Buffer.from('00', 'hex'), Buffer.from('2b', 'hex'), Buffer.from('2c', 'hex'), Buffer.from('32', 'hex'), Buffer.from('33', 'hex'), Buffer.from('3b', 'hex'), Buffer.from('3c', 'hex'), Buffer.from('06', 'hex'), Buffer.from('11', 'hex')],
  fuzz(data) {
    if (v.reset(data, 0, data.length) === undefined) {
      const end = v.wireLength(data.length);
      check(end >= 40 && end <= data.length, `wire length ${end} of ${data.length}`);
      if (walkIpv6(v, end, walk) === undefined) check(walk.offset >= 40 && walk.offset <= end, `transport offset ${walk.offset} outside [40, ${end}]`);
      const ext = ipv6ExtensionHeaders(v, end);
      if (Array.isArray(ext)) for (const e of ext) check(e.offset + e.length <= end, `extension header past the packet: ${JSON.stringify(e)}`);
      void v.src; void v.dst; void v.flowLabel;
    }
    decodeWhole(LINKTYPE_IPV6, data);
  },
};
