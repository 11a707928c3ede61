import { decodeLink, newLinkResult } from '../../src/decode/link.js';
import { frames } from '../seeds.js';
import { decodeWhole } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

/** Link types the decoder knows, picked by the input's first byte (other values: the next two bytes as is). */
const LINK_TYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];
const out = newLinkResult();

/** First byte: link type (index into LINK_TYPES); the rest: the frame. */
export const target: FuzzTarget = {
  name: 'link',
  what: 'link layers (Ethernet, VLAN/QinQ, SLL, SLL2, NULL/LOOP, raw IP) via decodeLink and decodeFrame',
  maxLen: 2048,
  seeds: () => frames().map((f) => Buffer.concat([Buffer.from([Math.max(0, LINK_TYPES.indexOf(f.linkType))]), f.data])),
  dictionary: [Buffer.from('8100', 'hex'), Buffer.from('88a8', 'hex'), Buffer.from('9100', 'hex'), Buffer.from('0800', 'hex'), Buffer.from('86dd', 'hex'), Buffer.from('0806', 'hex'),
    Buffer.from('02000000', 'hex'), Buffer.from('1e000000', 'hex'), Buffer.from('00000018', 'hex')],
  fuzz(data) {
    if (data.length === 0) return;
    const i = data[0]!;
    const lt = i < LINK_TYPES.length ? LINK_TYPES[i]! : i < 200 ? i : data.length > 2 ? data.readUInt16BE(1) : 0;
    const frame = data.subarray(1);
    const err = decodeLink(lt, frame, frame.length, out);
    if (err === undefined) {
      check(out.netOffset >= 0 && out.netOffset <= frame.length, `network offset ${out.netOffset} outside a ${frame.length}-byte frame`);
    }
    decodeWhole(lt, frame);
  },
};
