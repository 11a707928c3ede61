import { Http3Connection, type Http3Message } from '../../src/proto/http3.js';
import { QpackDynamicTable, QpackError, decodeFieldSection } from '../../src/proto/qpack.js';
import { InputReader, check, type FuzzTarget } from '../target.js';

/**
 * HTTP/3 over QUIC streams (src/proto/http3.ts) and QPACK (src/proto/qpack.ts). Byte 0 picks the mode:
 * - even: one Http3Connection fed chunks [side u8][stream id u8][offset u16][fin u8][length u8][bytes] in any
 *   order, overlapping or not, then finish(). Checked: every message has a known kind, a non-negative body length,
 *   string field pairs, and either fields or the reason it has none;
 * - odd: a QPACK dynamic table fed encoder instructions [length u8][bytes] and field sections the same way,
 *   alternating. Checked: a QpackError is the only exception, and decoded fields are string pairs.
 */

/** A QUIC variable-length integer (RFC 9000 §16), for the seeds. */
function varint(n: number): Buffer {
  if (n < 64) return Buffer.from([n]);
  return Buffer.from([0x40 | (n >> 8), n & 0xff]);
}
const frame = (type: number, payload: Buffer): Buffer => Buffer.concat([varint(type), varint(payload.length), payload]);

/** Chunks in the even mode's layout. */
function chunks(parts: Array<{ side: 0 | 1; stream: number; data: Buffer; fin: boolean }>): Buffer {
  const out: Buffer[] = [Buffer.from([0])];
  for (const p of parts) {
    out.push(Buffer.from([p.side, p.stream, 0, 0, p.fin ? 1 : 0, p.data.length]), p.data);
  }
  return Buffer.concat(out);
}

function seeds(): Buffer[] {
  // SETTINGS with QPACK_MAX_TABLE_CAPACITY 4096 (0x01), then a request: :method GET, :scheme https, :path /,
  // :authority literal; the response :status 200 and a DATA frame
  const settings = Buffer.concat([Buffer.from([0x00]), frame(0x04, Buffer.concat([varint(0x01), varint(4096)]))]);
  const reqFields = Buffer.concat([Buffer.from([0x00, 0x00, 0xd1, 0xd7, 0xc1, 0x50, 0x09]), Buffer.from('localhost')]);
  const resFields = Buffer.from([0x00, 0x00, 0xd9]);
  const request = frame(0x01, reqFields);
  const response = Buffer.concat([frame(0x01, resFields), frame(0x00, Buffer.from('hello'))]);
  // an encoder stream inserting a literal name and value, and a section referring to it (Required Insert Count 1)
  const encoder = Buffer.concat([Buffer.from([0x02, 0x3f, 0xe1, 0x1f]), Buffer.from([0x63]), Buffer.from('x-a'), Buffer.from([0x01]), Buffer.from('b')]);
  const dynFields = Buffer.from([0x02, 0x00, 0x80]);
  return [
    chunks([
      { side: 0, stream: 2, data: settings, fin: false }, { side: 1, stream: 3, data: settings, fin: false },
      { side: 0, stream: 0, data: request, fin: true }, { side: 1, stream: 0, data: response, fin: true },
    ]),
    chunks([
      { side: 1, stream: 3, data: settings, fin: false }, { side: 0, stream: 6, data: encoder, fin: false },
      { side: 0, stream: 4, data: frame(0x01, dynFields), fin: true },
    ]),
    Buffer.concat([Buffer.from([1]), Buffer.from([encoder.length - 1]), encoder.subarray(1), Buffer.from([dynFields.length]), dynFields]),
  ];
}

function checkMessage(m: Http3Message): void {
  check(m.kind === 'request' || m.kind === 'response', `message kind ${String(m.kind)}`);
  check(Number.isInteger(m.bodyLength) && m.bodyLength >= 0, `body length ${m.bodyLength}`);
  if (m.fields !== undefined) for (const [n, v] of m.fields) check(typeof n === 'string' && typeof v === 'string', 'a field that is not a string pair');
  else check(m.fieldsError !== undefined || m.error !== undefined || !m.complete || m.bodyLength >= 0, 'no fields and no reason');
}

export const target: FuzzTarget = {
  name: 'http3',
  what: 'HTTP/3 streams (control, request, QPACK encoder/decoder streams, frames) and QPACK field sections',
  maxLen: 4096,
  seeds,
  dictionary: [Buffer.from([0x00]), Buffer.from([0x02]), Buffer.from([0x03]), Buffer.from([0x01, 0x00]), Buffer.from([0x04]), Buffer.from([0x3f, 0xe1, 0x1f]), Buffer.from([0xd1]), Buffer.from([0x80])],
  fuzz(data) {
    const r = new InputReader(data);
    const mode = r.u8();
    if ((mode & 1) === 0) {
      const conn = new Http3Connection(checkMessage);
      let t = 0;
      while (r.left > 0) {
        const side = (r.u8() & 1) === 0 ? 'client' : 'server';
        const stream = r.u8();
        const offset = r.u16() & 0x3fff;
        const fin = (r.u8() & 1) === 1;
        const bytes = r.bytes(r.u8());
        conn.streamData(side, stream, offset, bytes, fin, t++);
      }
      conn.finish(t);
      return;
    }
    const table = new QpackDynamicTable();
    table.maxCapacity = 4096;
    let pending = Buffer.alloc(0);
    let encoder = true;
    while (r.left > 0) {
      const b = r.bytes(r.u8());
      try {
        if (encoder) {
          pending = Buffer.concat([pending, b]);
          const used = table.encoderInstructions(pending);
          check(used >= 0 && used <= pending.length, `encoderInstructions consumed ${used} of ${pending.length}`);
          pending = pending.subarray(used);
        } else {
          const res = decodeFieldSection(b, table);
          if (res.status === 'ok') for (const [n, v] of res.fields) check(typeof n === 'string' && typeof v === 'string', 'a field that is not a string pair');
        }
      } catch (err) {
        if (!(err instanceof QpackError)) throw err;
        pending = Buffer.alloc(0);
      }
      encoder = !encoder;
    }
  },
};
