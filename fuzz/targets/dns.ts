import { parseDnsMessage, toReplyMsg } from '../../src/proto/dns.js';
import { check, type FuzzTarget } from '../target.js';
import dnsPacket from 'dns-packet';

/**
 * DNS message reader (parseDnsMessage, toReplyMsg): compression pointers, every section, OPT. It promises never to
 * throw; a message it read whole must have no parseErr, and one shorter than a header no header. Seeds: messages
 * encoded by dns-packet (the fixtures hold no DNS).
 */
export const target: FuzzTarget = {
  name: 'dns',
  what: 'DNS message reader (parseDnsMessage, toReplyMsg): names, compression pointers, sections, OPT',
  maxLen: 1024,
  seeds: () => [
    dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'example.com' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as dnsPacket.Answer] }),
    dnsPacket.encode({ type: 'response', id: 2, flags: dnsPacket.RECURSION_AVAILABLE, questions: [{ type: 'AAAA', name: 'www.example.org' }],
      answers: [{ type: 'CNAME', name: 'www.example.org', ttl: 60, data: 'example.org' }, { type: 'AAAA', name: 'example.org', ttl: 60, data: '2001:db8::1' }, { type: 'A', name: 'example.org', ttl: 5, data: '192.0.2.1' }] }),
    dnsPacket.encode({ type: 'response', id: 3, flags: 3, questions: [{ type: 'A', name: 'nx.example' }], authorities: [{ type: 'SOA', name: 'example', ttl: 1, data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 } }] }),
  ],
  dictionary: [Buffer.from('c00c', 'hex'), Buffer.from('0001', 'hex'), Buffer.from('001c', 'hex'), Buffer.from('0029', 'hex'), Buffer.from('03777777', 'hex'), Buffer.from('00', 'hex')],
  fuzz(data) {
    const m = parseDnsMessage(data);
    if (data.length < 12) check(m.header === undefined && m.parseErr !== undefined, 'short message without its error');
    for (const q of m.questions) check(typeof q.name === 'string' && q.name.endsWith('.'), `question name ${q.name}`);
    const r = toReplyMsg(m, data.length, 0 as never);
    check(r !== undefined, 'no reply message');
  },
};
