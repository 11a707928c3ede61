import { TcpView, tcpOptions } from '../../src/decode/tcp.js';
import { LINKTYPE_IPV4, LINKTYPE_IPV6 } from '../../src/decode/link.js';
import { transportHeaders } from '../seeds.js';
import { decodeWhole } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';
import { ipPrefixed } from './udp.js';

const v = new TcpView();

/** Input: first byte picks IPv4/IPv6 and whether the IP length is stated; the rest is the TCP header and payload. */
export const target: FuzzTarget = {
  name: 'tcp',
  what: 'TCP header and options (TcpView, tcpOptions), then the same bytes behind an IPv4/IPv6 header through decodeFrame',
  maxLen: 2048,
  seeds: () => transportHeaders(6).map((t) => Buffer.concat([Buffer.from([0]), t])),
  dictionary: [Buffer.from('020405b4', 'hex'), Buffer.from('010303', 'hex'), Buffer.from('0402', 'hex'), Buffer.from('080a', 'hex'), Buffer.from('050a', 'hex'), Buffer.from('01', 'hex'), Buffer.from('00', 'hex')],
  fuzz(data) {
    if (data.length === 0) return;
    const t = data.subarray(1);
    if (v.reset(t, 0, t.length) === undefined) {
      check(v.headerLen >= 20 && v.headerLen <= t.length, `header length ${v.headerLen}`);
      const o = tcpOptions(v);
      if (!(o instanceof Error) && o.sack !== undefined) check(o.sack.length <= 5, `${o.sack.length} SACK blocks in 40 option bytes`);
    }
    const [lt, pkt] = ipPrefixed(data[0]!, 6, t);
    decodeWhole(lt === 4 ? LINKTYPE_IPV4 : LINKTYPE_IPV6, pkt);
  },
};
