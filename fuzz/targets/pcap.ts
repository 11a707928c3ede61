import { PcapParser } from '../../src/decode/pcap.js';
import { PcapngParser } from '../../src/decode/pcapng.js';
import type { Frame } from '../../src/records.js';
import { captureFiles } from '../seeds.js';
import { decodeWhole } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

type Parser = PcapParser | PcapngParser;

/**
 * A capture file parsed whole, then again fed in windows that grow by what the parser says it needs (as the file
 * reader does): both must deliver the same frames and stop the same way. Every frame goes through decodeFrame.
 */
export function captureFileTarget(name: 'pcap' | 'pcapng', make: (on: (f: Frame) => void) => Parser): FuzzTarget {
  return {
    name,
    what: `${name} file parser (whole and incremental) and every frame through decodeFrame`,
    maxLen: 8192,
    seeds: () => captureFiles().filter((f) => f.name.endsWith(`.${name}`)).map((f) => f.data),
    dictionary: name === 'pcap'
      ? [Buffer.from('d4c3b2a1', 'hex'), Buffer.from('a1b2c3d4', 'hex'), Buffer.from('4d3cb2a1', 'hex'), Buffer.from('0200040000000000', 'hex')]
      : [Buffer.from('0a0d0d0a', 'hex'), Buffer.from('4d3c2b1a', 'hex'), Buffer.from('1a2b3c4d', 'hex'), Buffer.from('06000000', 'hex'), Buffer.from('01000000', 'hex'), Buffer.from('03000000', 'hex'), Buffer.from('09000100', 'hex')],
    fuzz(data) {
      const whole: string[] = [];
      const a = make((f) => {
        whole.push(`${f.linkType}/${f.data.length}/${f.origLen}/${f.tsUs}/${f.ifindex}/${f.direction}`);
        check(Number.isFinite(f.tsUs), `frame timestamp ${f.tsUs}`);
        decodeWhole(f.linkType, f.data, f.origLen);
      });
      const endA = a.parse(data, 0, data.length, 0);
      check(endA >= 0 && endA <= data.length, `parse returned ${endA} for ${data.length} bytes`);
      check(a.failure !== undefined || endA === data.length || a.need > data.length - endA, `stopped at ${endA} needing ${a.need} with ${data.length - endA} bytes left`);

      const inc: string[] = [];
      const b = make((f) => { inc.push(`${f.linkType}/${f.data.length}/${f.origLen}/${f.tsUs}/${f.ifindex}/${f.direction}`); });
      let pos = 0, step = 0;
      while (b.failure === undefined && pos < data.length && step++ < 100_000) {
        const end = Math.min(data.length, pos + Math.max(b.need, 1 + (data[pos]! & 15)));
        const next = b.parse(data, pos, end, pos);
        if (next === pos && end === data.length) break;
        pos = next;
      }
      check(inc.length === whole.length, `whole parse gave ${whole.length} frames, incremental ${inc.length}`);
      for (let i = 0; i < inc.length; i++) check(inc[i] === whole[i], `frame ${i}: whole ${whole[i]} incremental ${inc[i]}`);
      check((a.failure?.code) === (b.failure?.code), `whole parse failure ${a.failure?.code}, incremental ${b.failure?.code}`);
    },
  };
}

export const target = captureFileTarget('pcap', (on) => new PcapParser(on));
