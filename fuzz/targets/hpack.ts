import { HpackDecoder, type HpackField } from '../../src/proto/hpack.js';
import { hpackBlocks } from '../seeds.js';
import { InputReader, check, type FuzzTarget } from '../target.js';

/**
 * One HPACK decoder over a sequence of header blocks (the dynamic table carries over). Byte 0: mid-stream, a small
 * table-size limit; then blocks as [u16 length][bytes]. Checked: the decoder's table stays within its size, fields
 * are strings, `missing` is only reported mid-stream or after a lost block.
 */
export const target: FuzzTarget = {
  name: 'hpack',
  what: 'HPACK decoder (integers, Huffman, static and dynamic table, size updates, eviction)',
  maxLen: 4096,
  seeds: () => {
    const blocks = hpackBlocks();
    const frame = (bs: Buffer[]): Buffer => Buffer.concat([Buffer.from([0]), ...bs.flatMap((b) => { const h = Buffer.alloc(2); h.writeUInt16BE(b.length); return [h, b]; })]);
    return [frame(blocks), ...blocks.map((b) => frame([b]))];
  },
  dictionary: [Buffer.from('3fe11f', 'hex'), Buffer.from('20', 'hex'), Buffer.from('82', 'hex'), Buffer.from('7f', 'hex'), Buffer.from('ffffffff0f', 'hex'), Buffer.from('40', 'hex'), Buffer.from('00', 'hex'), Buffer.from('10', 'hex')],
  fuzz(data) {
    const r = new InputReader(data);
    const o = r.u8();
    const d = new HpackDecoder({ midStream: (o & 1) !== 0, tableSizeLimit: (o & 2) !== 0 ? 100 : undefined });
    let lost = false;
    while (r.left > 0) {
      const block = r.bytes(r.u16() & 0x7ff);
      if ((o & 4) !== 0 && block.length > 0 && block[0] === 0xff) { d.lostBlock(); lost = true; continue; }
      const out: HpackField[] = [];
      const info = { missing: 0, sizeUpdates: 0 };
      const err = d.decode(block, 0, block.length, out, info);
      for (const f of out) check(typeof f.value === 'string' || f.missingIndex !== undefined, 'field value missing without missingIndex');
      check(info.missing === 0 || (o & 1) !== 0 || lost, `${info.missing} missing fields on a complete connection`);
      // a block that failed half-way leaves the table unknown: later references may be missing, by design
      if (err !== undefined) { check(err.code.startsWith('WL_ERR_HPACK_'), `error code ${err.code}`); lost = true; }
    }
  },
};
