import { Ipv4View, ipv4Options } from '../../src/decode/ipv4.js';
import { LINKTYPE_IPV4 } from '../../src/decode/link.js';
import { ipPackets } from '../seeds.js';
import { decodeWhole } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

const v = new Ipv4View();

export const target: FuzzTarget = {
  name: 'ipv4',
  what: 'IPv4 header, options, fragments and length rules (Ipv4View, ipv4Options, decodeFrame on LINKTYPE_IPV4)',
  maxLen: 2048,
  seeds: () => ipPackets(4),
  dictionary: [Buffer.from('45', 'hex'), Buffer.from('4f', 'hex'), Buffer.from('2000', 'hex'), Buffer.from('4000', 'hex'), Buffer.from('1fff', 'hex'), Buffer.from('0106', 'hex'), Buffer.from('0111', 'hex')],
  fuzz(data) {
    if (v.reset(data, 0, data.length) === undefined) {
      check(v.headerLen >= 20 && v.headerLen <= data.length, `header length ${v.headerLen}`);
      const opts = ipv4Options(v);
      if (Array.isArray(opts)) for (const o of opts) check(o.offset + o.length <= v.headerLen, `option past the header: ${JSON.stringify(o)}`);
      const wl = v.wireLength(data.length);
      check(wl >= v.headerLen || wl === data.length, `wire length ${wl}`);
      void v.src; void v.dst; void v.fragmentOffset; void v.options;
    }
    decodeWhole(LINKTYPE_IPV4, data);
  },
};
