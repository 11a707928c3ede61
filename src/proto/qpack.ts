/**
 * QPACK (RFC 9204): HTTP/3's header compression. The static table (Appendix A), the dynamic table fed by the
 * encoder stream (Set Dynamic Table Capacity, Insert With Name Reference, Insert With Literal Name, Duplicate), and
 * field sections (the encoded Required Insert Count and Base, then indexed, post-base and literal field lines).
 * Huffman strings use HPACK's code (RFC 7541 Appendix B, shared with hpack.ts).
 *
 * A field section whose Required Insert Count is above the inserts received so far is *blocked* (RFC 9204 §2.1.2):
 * it is kept by the caller and decoded again after more inserts; if they never come (a connection joined late, a
 * lost packet) it stays undecodable. Nothing is invented for an entry not received.
 */
import { huffmanDecode } from './hpack.js';
import { WirelogError } from '../errors.js';

/** RFC 9204 Appendix A: the 99 static entries, index 0..98. */
export const QPACK_STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':path', '/'], ['age', '0'], ['content-disposition', ''], ['content-length', '0'],
  ['cookie', ''], ['date', ''], ['etag', ''], ['if-modified-since', ''], ['if-none-match', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['referer', ''], ['set-cookie', ''],
  [':method', 'CONNECT'], [':method', 'DELETE'], [':method', 'GET'], [':method', 'HEAD'], [':method', 'OPTIONS'],
  [':method', 'POST'], [':method', 'PUT'], [':scheme', 'http'], [':scheme', 'https'], [':status', '103'],
  [':status', '200'], [':status', '304'], [':status', '404'], [':status', '503'], ['accept', '*/*'],
  ['accept', 'application/dns-message'], ['accept-encoding', 'gzip, deflate, br'], ['accept-ranges', 'bytes'],
  ['access-control-allow-headers', 'cache-control'], ['access-control-allow-headers', 'content-type'],
  ['access-control-allow-origin', '*'], ['cache-control', 'max-age=0'], ['cache-control', 'max-age=2592000'],
  ['cache-control', 'max-age=604800'], ['cache-control', 'no-cache'], ['cache-control', 'no-store'],
  ['cache-control', 'public, max-age=31536000'], ['content-encoding', 'br'], ['content-encoding', 'gzip'],
  ['content-type', 'application/dns-message'], ['content-type', 'application/javascript'],
  ['content-type', 'application/json'], ['content-type', 'application/x-www-form-urlencoded'],
  ['content-type', 'image/gif'], ['content-type', 'image/jpeg'], ['content-type', 'image/png'],
  ['content-type', 'text/css'], ['content-type', 'text/html; charset=utf-8'], ['content-type', 'text/plain'],
  ['content-type', 'text/plain;charset=utf-8'], ['range', 'bytes=0-'], ['strict-transport-security', 'max-age=31536000'],
  ['strict-transport-security', 'max-age=31536000; includesubdomains'],
  ['strict-transport-security', 'max-age=31536000; includesubdomains; preload'], ['vary', 'accept-encoding'],
  ['vary', 'origin'], ['x-content-type-options', 'nosniff'], ['x-xss-protection', '1; mode=block'],
  [':status', '100'], [':status', '204'], [':status', '206'], [':status', '302'], [':status', '400'],
  [':status', '403'], [':status', '421'], [':status', '425'], [':status', '500'], ['accept-language', ''],
  ['access-control-allow-credentials', 'FALSE'], ['access-control-allow-credentials', 'TRUE'],
  ['access-control-allow-headers', '*'], ['access-control-allow-methods', 'get'],
  ['access-control-allow-methods', 'get, post, options'], ['access-control-allow-methods', 'options'],
  ['access-control-expose-headers', 'content-length'], ['access-control-request-headers', 'content-type'],
  ['access-control-request-method', 'get'], ['access-control-request-method', 'post'], ['alt-svc', 'clear'],
  ['authorization', ''], ['content-security-policy', "script-src 'none'; object-src 'none'; base-uri 'none'"],
  ['early-data', '1'], ['expect-ct', ''], ['forwarded', ''], ['if-range', ''], ['origin', ''],
  ['purpose', 'prefetch'], ['server', ''], ['timing-allow-origin', '*'], ['upgrade-insecure-requests', '1'],
  ['user-agent', ''], ['x-forwarded-for', ''], ['x-frame-options', 'deny'], ['x-frame-options', 'sameorigin'],
];

/** Each entry's size counts its name and value lengths plus 32 (RFC 9204 §3.2.1). */
const ENTRY_OVERHEAD = 32;

export class QpackError extends WirelogError {
  constructor(message: string) {
    super('WL_ERR_QPACK', message);
  }
}
/** The input ends inside an instruction: wait for more bytes. */
class Incomplete extends Error {}

/** A cursor over an instruction or field-section buffer. */
class Cursor {
  constructor(readonly b: Buffer, public p = 0) {}
  get left(): number { return this.b.length - this.p; }
  peek(): number {
    if (this.p >= this.b.length) throw new Incomplete();
    return this.b[this.p]!;
  }
  /** An integer with an N-bit prefix (RFC 7541 §5.1, used unchanged by QPACK). */
  int(prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let v = this.peek() & max;
    this.p++;
    if (v < max) return v;
    let shift = 0;
    for (;;) {
      const byte = this.peek();
      this.p++;
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) return v;
      if (shift > 49) throw new QpackError('integer too large');
    }
  }
  /** A string literal whose Huffman flag is `hBit` of the first byte, length with an N-bit prefix. */
  str(hBit: number, prefixBits: number): string {
    const huffman = (this.peek() & hBit) !== 0;
    const len = this.int(prefixBits);
    if (this.left < len) throw new Incomplete();
    const s = this.p, e = this.p + len;
    this.p = e;
    if (!huffman) return this.b.toString('latin1', s, e);
    const d = huffmanDecode(this.b, s, e);
    if (d === undefined) throw new QpackError('bad Huffman string');
    return d;
  }
}

/** One sender's dynamic table (the encoder's, as mirrored by the peer's decoder). */
export class QpackDynamicTable {
  /** entries by absolute index, oldest first from `dropped` */
  private entries: Array<[string, string]> = [];
  /** entries evicted (the absolute index of entries[0]) */
  private dropped = 0;
  private size = 0;
  capacity = 0;
  /** SETTINGS_QPACK_MAX_TABLE_CAPACITY of the decoding side; undefined until its SETTINGS is seen */
  maxCapacity?: number;

  /** Entries evicted so far. */
  get evicted(): number { return this.dropped; }

  /** Total number of inserts (the Insert Count). */
  get insertCount(): number { return this.dropped + this.entries.length; }

  get(absolute: number): [string, string] {
    if (absolute < this.dropped || absolute >= this.insertCount) {
      throw new QpackError(`dynamic table entry ${absolute} is not there (entries ${this.dropped}..${this.insertCount - 1})`);
    }
    return this.entries[absolute - this.dropped]!;
  }

  setCapacity(c: number): void {
    if (this.maxCapacity !== undefined && c > this.maxCapacity) throw new QpackError(`table capacity ${c} above the maximum ${this.maxCapacity}`);
    this.capacity = c;
    this.evict(0);
  }

  insert(name: string, value: string): void {
    const n = name.length + value.length + ENTRY_OVERHEAD;
    if (n > this.capacity) throw new QpackError(`entry of ${n} bytes above the table capacity ${this.capacity}`);
    this.evict(n);
    this.entries.push([name, value]);
    this.size += n;
  }

  private evict(room: number): void {
    while (this.size + room > this.capacity && this.entries.length > 0) {
      const [n, v] = this.entries.shift()!;
      this.size -= n.length + v.length + ENTRY_OVERHEAD;
      this.dropped++;
    }
  }

  /**
   * Feed encoder-stream bytes; returns how many were consumed (whole instructions only: the rest waits for more).
   * Throws QpackError on an instruction that cannot be right.
   */
  encoderInstructions(b: Buffer): number {
    const c = new Cursor(b);
    let done = 0;
    try {
      while (c.left > 0) {
        const first = c.peek();
        if ((first & 0x80) !== 0) {
          // Insert With Name Reference: T (0x40) static, 6-bit name index
          const isStatic = (first & 0x40) !== 0;
          const idx = c.int(6);
          const value = c.str(0x80, 7);
          const name = isStatic ? staticEntry(idx)[0] : this.get(this.insertCount - 1 - idx)[0];
          this.insert(name, value);
        } else if ((first & 0x40) !== 0) {
          // Insert With Literal Name: H (0x20), 5-bit name length
          const name = c.str(0x20, 5);
          const value = c.str(0x80, 7);
          this.insert(name, value);
        } else if ((first & 0x20) !== 0) {
          this.setCapacity(c.int(5));
        } else {
          // Duplicate: 5-bit relative index
          const e = this.get(this.insertCount - 1 - c.int(5));
          this.insert(e[0], e[1]);
        }
        done = c.p;
      }
    } catch (e) {
      if (!(e instanceof Incomplete)) throw e;
    }
    return done;
  }
}

function staticEntry(i: number): readonly [string, string] {
  const e = QPACK_STATIC_TABLE[i];
  if (e === undefined) throw new QpackError(`static table index ${i} (there are ${QPACK_STATIC_TABLE.length})`);
  return e;
}

export type FieldSectionResult =
  | { status: 'ok'; fields: Array<[string, string]>; requiredInsertCount: number }
  | { status: 'blocked'; requiredInsertCount: number; insertCount: number }
  | { status: 'error'; message: string };

/** Decode one field section (a HEADERS frame's payload) against `table` (the sender's encoder's dynamic table). */
export function decodeFieldSection(b: Buffer, table: QpackDynamicTable): FieldSectionResult {
  try {
    const c = new Cursor(b);
    const encRic = c.int(8);
    let ric = 0;
    if (encRic !== 0) {
      // RFC 9204 §4.5.1.1: the Required Insert Count is sent modulo 2 * MaxEntries
      if (table.maxCapacity === undefined) return { status: 'blocked', requiredInsertCount: -1, insertCount: table.insertCount };
      const maxEntries = Math.floor(table.maxCapacity / 32);
      const fullRange = 2 * maxEntries;
      if (encRic > fullRange) return { status: 'error', message: `encoded Required Insert Count ${encRic} above ${fullRange}` };
      const maxValue = table.insertCount + maxEntries;
      const maxWrapped = Math.floor(maxValue / fullRange) * fullRange;
      ric = maxWrapped + encRic - 1;
      if (ric > maxValue) {
        if (ric <= fullRange) return { status: 'error', message: `Required Insert Count ${ric} cannot be decoded` };
        ric -= fullRange;
      }
      if (ric === 0) return { status: 'error', message: 'Required Insert Count 0 encoded as non-zero' };
    }
    if (ric > table.insertCount) return { status: 'blocked', requiredInsertCount: ric, insertCount: table.insertCount };
    const sign = (c.peek() & 0x80) !== 0;
    const deltaBase = c.int(7);
    const base = sign ? ric - deltaBase - 1 : ric + deltaBase;
    const fields: Array<[string, string]> = [];
    const dyn = (abs: number): [string, string] => {
      if (abs >= ric) throw new QpackError(`reference to dynamic entry ${abs} at or above the Required Insert Count ${ric}`);
      return table.get(abs);
    };
    while (c.left > 0) {
      const first = c.peek();
      if ((first & 0x80) !== 0) {
        // Indexed Field Line: T (0x40) static, 6-bit index
        const isStatic = (first & 0x40) !== 0;
        const idx = c.int(6);
        const e = isStatic ? staticEntry(idx) : dyn(base - 1 - idx);
        fields.push([e[0], e[1]]);
      } else if ((first & 0x40) !== 0) {
        // Literal Field Line With Name Reference: N (0x20), T (0x10), 4-bit index
        const isStatic = (first & 0x10) !== 0;
        const idx = c.int(4);
        const name = isStatic ? staticEntry(idx)[0] : dyn(base - 1 - idx)[0];
        fields.push([name, c.str(0x80, 7)]);
      } else if ((first & 0x20) !== 0) {
        // Literal Field Line With Literal Name: N (0x10), H (0x08), 3-bit name length
        const name = c.str(0x08, 3);
        fields.push([name, c.str(0x80, 7)]);
      } else if ((first & 0x10) !== 0) {
        // Indexed Field Line With Post-Base Index: 4-bit index
        const e = dyn(base + c.int(4));
        fields.push([e[0], e[1]]);
      } else {
        // Literal Field Line With Post-Base Name Reference: N (0x08), 3-bit index
        const name = dyn(base + c.int(3))[0];
        fields.push([name, c.str(0x80, 7)]);
      }
    }
    return { status: 'ok', fields, requiredInsertCount: ric };
  } catch (e) {
    if (e instanceof Incomplete) return { status: 'error', message: 'field section ends inside a field line' };
    if (e instanceof QpackError) return { status: 'error', message: e.message };
    return { status: 'error', message: `QPACK decoder: ${(e as Error).message}` };
  }
}
