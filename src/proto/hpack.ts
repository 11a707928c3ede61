/**
 * HPACK (RFC 7541) header block decoder: integers, string literals (raw and Huffman), the static table and one
 * dynamic table. One `HpackDecoder` per connection and direction (the table is shared by every stream of that
 * direction, in the order the header blocks were sent).
 *
 * Mid-stream attach: a decoder created with `{ midStream: true }` did not see the connection's first header
 * blocks, so its dynamic table may hold entries it never saw. A reference to such an entry is never invented:
 * the field comes out as `{ name: undefined, value: undefined, missingIndex: N }` (or with only the name missing
 * for a literal with an indexed name), and `reliable` stays false until the decoder can prove no unseen entry is
 * left (a size update to 0, or the entries it knows fill the table). See docs/http2.md.
 *
 * Errors are returned (`HpackError`, code `WL_ERR_HPACK_*`, offset into the block), never thrown.
 */
import type { DecodeErrorInfo } from '../records.js';
import { HUFFMAN_CODES, HUFFMAN_EOS, HUFFMAN_LENGTHS } from './hpack-huffman.js';

/** The block ended inside a field representation. */
export const WL_ERR_HPACK_TRUNCATED = 'WL_ERR_HPACK_TRUNCATED';
/** An integer does not fit in 2^32 - 1 (or uses absurdly many continuation bytes). */
export const WL_ERR_HPACK_INTEGER = 'WL_ERR_HPACK_INTEGER';
/** Index 0, or an index past the static and dynamic tables while the table is known to be complete. */
export const WL_ERR_HPACK_INDEX = 'WL_ERR_HPACK_INDEX';
/** Invalid Huffman string: EOS decoded, padding longer than 7 bits or not all ones. */
export const WL_ERR_HPACK_HUFFMAN = 'WL_ERR_HPACK_HUFFMAN';
/** A dynamic table size update after the first field of a block, or above `MAX_TABLE_SIZE`. */
export const WL_ERR_HPACK_TABLE_SIZE = 'WL_ERR_HPACK_TABLE_SIZE';
export type HpackErrorCode =
  | typeof WL_ERR_HPACK_TRUNCATED
  | typeof WL_ERR_HPACK_INTEGER
  | typeof WL_ERR_HPACK_INDEX
  | typeof WL_ERR_HPACK_HUFFMAN
  | typeof WL_ERR_HPACK_TABLE_SIZE;

export interface HpackError extends DecodeErrorInfo {
  code: HpackErrorCode;
  layer: 'hpack';
}

/**
 * One decoded field. `name`/`value` are octet strings (latin1: one char per byte). `name` (and for an indexed
 * field also `value`) is undefined only when `missingIndex` is set: the field referenced dynamic-table index
 * `missingIndex` (HPACK numbering, >= 62) that this decoder never saw.
 */
export interface HpackField {
  name: string | undefined;
  value: string | undefined;
  missingIndex?: number;
  /** literal "never indexed" (RFC 7541 6.2.3): an intermediary must keep it literal; often a credential */
  neverIndexed?: boolean;
}

/** RFC 7541 Appendix A */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_LEN = 61;

/** SETTINGS_HEADER_TABLE_SIZE default (RFC 9113 6.5.2) */
export const DEFAULT_TABLE_SIZE = 4096;
/** Sanity bound on a size update (nobody uses more than a few hundred KiB). */
export const MAX_TABLE_SIZE = 1 << 24;
/** Entry overhead (RFC 7541 4.1) */
const ENTRY_OVERHEAD = 32;

// ---------------------------------------------------------------------------------------------------------------
// Huffman: a 4-bit-at-a-time state machine (as nghttp2). States are the 256 internal nodes of the code tree; for
// every (state, nibble) one table entry gives the next state, at most one emitted symbol (codes are >= 5 bits, so
// 4 bits can complete at most one) and whether stopping there is valid padding (<= 7 bits, all ones).

const HF_EMIT = 0x100;
const HF_FAIL = 0x200;
const HF_ACCEPT = 0x400;
const HUFF_TRANS = new Uint16Array(256 * 16);
const HUFF_SYM = new Uint8Array(256 * 16);

(function buildHuffman(): void {
  // child[node*2+bit]: >= 0 internal node id, < 0 leaf ~symbol, 0x7fffffff unset
  const UNSET = 0x7fffffff;
  const child = new Int32Array(512 * 2).fill(UNSET);
  const depth = new Uint8Array(512);
  const ones = new Uint8Array(512);
  ones[0] = 1;
  let nodes = 1;
  for (let sym = 0; sym <= HUFFMAN_EOS; sym++) {
    const code = HUFFMAN_CODES[sym];
    const len = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        child[slot] = ~sym;
      } else {
        if (child[slot] === UNSET) {
          const n = nodes++;
          child[slot] = n;
          depth[n] = depth[node] + 1;
          ones[n] = ones[node] & bit;
        }
        node = child[slot];
      }
    }
  }
  if (nodes !== 256) throw new Error(`HPACK Huffman table is not a complete code (${nodes} internal nodes)`);
  for (let s = 0; s < 256; s++) {
    for (let nib = 0; nib < 16; nib++) {
      let node = s;
      let flags = 0;
      let sym = 0;
      for (let b = 3; b >= 0; b--) {
        const c = child[node * 2 + ((nib >> b) & 1)];
        if (c < 0) {
          if (~c === HUFFMAN_EOS) { flags |= HF_FAIL; break; }
          flags |= HF_EMIT;
          sym = ~c;
          node = 0;
        } else {
          node = c;
        }
      }
      if (!(flags & HF_FAIL) && ones[node] && depth[node] <= 7) flags |= HF_ACCEPT;
      HUFF_TRANS[s * 16 + nib] = flags | (flags & HF_FAIL ? 0 : node);
      HUFF_SYM[s * 16 + nib] = sym;
    }
  }
})();

let huffScratch = Buffer.allocUnsafe(4096);

/**
 * Decode the Huffman string buf[s..e) to a latin1 string, or undefined when it is invalid (EOS inside, padding
 * longer than 7 bits or not all ones).
 */
export function huffmanDecode(buf: Buffer, s: number, e: number): string | undefined {
  // shortest code is 5 bits: at most 8/5 symbols per byte
  const need = (((e - s) * 8) / 5 + 1) | 0;
  if (huffScratch.length < need) huffScratch = Buffer.allocUnsafe(Math.max(need, huffScratch.length * 2));
  const out = huffScratch;
  let o = 0;
  let state = 0;
  let accept = HF_ACCEPT;
  for (let i = s; i < e; i++) {
    const b = buf[i];
    let t = HUFF_TRANS[(state << 4) | (b >> 4)];
    if (t & HF_FAIL) return undefined;
    if (t & HF_EMIT) out[o++] = HUFF_SYM[(state << 4) | (b >> 4)];
    state = t & 0xff;
    const k = (state << 4) | (b & 15);
    t = HUFF_TRANS[k];
    if (t & HF_FAIL) return undefined;
    if (t & HF_EMIT) out[o++] = HUFF_SYM[k];
    state = t & 0xff;
    accept = t & HF_ACCEPT;
  }
  if (!accept) return undefined;
  return out.toString('latin1', 0, o);
}

// ---------------------------------------------------------------------------------------------------------------

function hpackError(code: HpackErrorCode, offset: number, message: string, required?: number, actual?: number): HpackError {
  const e: HpackError = { code, layer: 'hpack', offset, message };
  if (required !== undefined) e.required = required;
  if (actual !== undefined) e.actual = actual;
  return e;
}

export interface HpackDecoderOptions {
  /**
   * The decoder's SETTINGS_HEADER_TABLE_SIZE (what the *receiving* endpoint advertised). Default 4096. A complete
   * connection starts with this as the table's maximum size; mid-stream it is the best bound known.
   */
  tableSizeLimit?: number;
  /** the connection's first header blocks were not seen: the table may hold entries this decoder never saw */
  midStream?: boolean;
}

/** What `decode()` reports besides the fields. */
export interface HpackBlockInfo {
  /** fields that referenced dynamic-table entries this decoder does not have */
  missing: number;
  /** dynamic table size updates seen at the block's start (RFC 7541 6.3) */
  sizeUpdates: number;
}

/**
 * A dynamic table (ring of entries, newest first by HPACK index) plus the decoding loop.
 */
export class HpackDecoder {
  /** current maximum size of the dynamic table (the last size update, or the settings value) */
  maxSize: number;
  /** the settings bound (SETTINGS_HEADER_TABLE_SIZE of the receiving endpoint) */
  limit: number;
  /** sum of entry sizes (exact when `reliable`; otherwise a lower bound) */
  size = 0;
  /** header blocks decoded */
  blocks = 0;
  /** fields that came out with `missingIndex` */
  missingRefs = 0;
  /** errors seen (each leaves the table in doubt) */
  errors = 0;

  /** entries older than any this decoder saw may exist (mid-stream start, or after an error or a lost block) */
  private unknownTail: boolean;
  /** entries inserted with an unknown name (their size is a lower bound) */
  private inexact = 0;
  /** `maxSize` is known to bound the encoder's table (not just assumed after a mid-stream start) */
  private maxKnown: boolean;
  private names: Array<string | undefined> = new Array(32);
  private values: string[] = new Array(32);
  private sizes: number[] = new Array(32);
  /** ring: newest entry at (head - 1) & mask */
  private head = 0;
  private count = 0;
  private mask = 31;

  constructor(opts: HpackDecoderOptions = {}) {
    this.limit = opts.tableSizeLimit ?? DEFAULT_TABLE_SIZE;
    this.maxSize = this.limit;
    this.unknownTail = opts.midStream === true;
    this.maxKnown = !this.unknownTail || opts.tableSizeLimit !== undefined;
  }

  /**
   * True when the table is known to be exactly what the encoder has: every reference can be resolved and an
   * unresolvable one is a protocol error. False after a mid-stream start, an error, or `lostBlock()`, until
   * proven again.
   */
  get reliable(): boolean {
    return !this.unknownTail && this.inexact === 0;
  }

  /** number of dynamic entries known */
  get length(): number {
    return this.count;
  }

  /** Dynamic entry `i` (0 = newest, i.e. HPACK index 62 + i); name undefined for an entry whose name was unknown. */
  entry(i: number): { name: string | undefined; value: string; size: number } | undefined {
    if (i < 0 || i >= this.count) return undefined;
    const p = (this.head - 1 - i) & this.mask;
    return { name: this.names[p], value: this.values[p], size: this.sizes[p] };
  }

  /**
   * The receiving endpoint's SETTINGS_HEADER_TABLE_SIZE changed. Only the bound moves: the encoder signals the
   * table's new size with a size update in its next block (RFC 7541 4.2), which is what resizes the table here.
   */
  setLimit(n: number): void {
    this.limit = n;
    if (this.unknownTail && !this.maxKnown) {
      // mid-stream: the first settings seen bound the encoder's table
      this.maxSize = n;
      this.maxKnown = true;
    }
  }

  /**
   * A header block this decoder never got to decode (capture gap, oversized block skipped): its inserts are
   * unknown, so older entries move to unknown indexes.
   */
  lostBlock(): void {
    this.unknownTail = true;
  }

  /**
   * Decode the header block buf[s..e), appending fields to `out`. Returns undefined or the first error (the
   * fields decoded before it stay in `out`; the table is then marked unreliable). `info` receives counts.
   */
  decode(buf: Buffer, s: number, e: number, out: HpackField[], info?: HpackBlockInfo): HpackError | undefined {
    this.blocks++;
    let missing = 0;
    let sizeUpdates = 0;
    let fields = 0;
    let p = s;
    let err: HpackError | undefined;
    while (p < e) {
      const b = buf[p];
      if (b & 0x80) {
        // 6.1 indexed header field
        const at = p;
        const idx = this.int(buf, p, e, 7);
        if (idx < 0) { err = this.intError(idx, at - s, e - at); break; }
        p = this.pos;
        if (idx === 0) { err = hpackError(WL_ERR_HPACK_INDEX, at - s, 'index 0'); break; }
        if (idx <= STATIC_LEN) {
          const st = STATIC_TABLE[idx - 1];
          out.push({ name: st[0], value: st[1] });
        } else {
          const d = idx - STATIC_LEN - 1;
          if (d < this.count) {
            const q = (this.head - 1 - d) & this.mask;
            const name = this.names[q];
            if (name === undefined) {
              out.push({ name: undefined, value: this.values[q], missingIndex: idx });
              missing++;
            } else {
              out.push({ name, value: this.values[q] });
            }
          } else if (this.reliable) {
            err = hpackError(WL_ERR_HPACK_INDEX, at - s, `index ${idx} past the table (${STATIC_LEN + this.count} entries)`);
            break;
          } else {
            out.push({ name: undefined, value: undefined, missingIndex: idx });
            missing++;
          }
        }
        fields++;
      } else if ((b & 0xe0) === 0x20) {
        // 6.3 dynamic table size update: only before the first field of a block
        const n = this.int(buf, p, e, 5);
        if (n < 0) { err = this.intError(n, p - s, e - p); break; }
        if (fields > 0) { err = hpackError(WL_ERR_HPACK_TABLE_SIZE, p - s, 'table size update after a field'); break; }
        if (n > MAX_TABLE_SIZE) { err = hpackError(WL_ERR_HPACK_TABLE_SIZE, p - s, `table size ${n}`, MAX_TABLE_SIZE, n); break; }
        p = this.pos;
        sizeUpdates++;
        // trusted even above `limit`: SETTINGS of the other direction may be processed later than this block
        this.maxSize = n;
        this.maxKnown = true;
        this.evict(0);
        if (n === 0) {
          // everything is gone, including what we never saw
          this.unknownTail = false;
        }
        this.checkComplete();
      } else {
        // 6.2 literal: with incremental indexing (01), without (0000), never indexed (0001)
        const incremental = (b & 0xc0) === 0x40;
        const prefix = incremental ? 6 : 4;
        const at = p;
        const idx = this.int(buf, p, e, prefix);
        if (idx < 0) { err = this.intError(idx, at - s, e - at); break; }
        p = this.pos;
        let name: string | undefined;
        let missingIdx = 0;
        if (idx === 0) {
          name = this.str(buf, p, e);
          if (name === undefined) { err = this.strErr(at - s); break; }
          p = this.pos;
        } else if (idx <= STATIC_LEN) {
          name = STATIC_TABLE[idx - 1][0];
        } else {
          const d = idx - STATIC_LEN - 1;
          if (d < this.count) {
            name = this.names[(this.head - 1 - d) & this.mask];
            if (name === undefined) missingIdx = idx;
          } else if (this.reliable) {
            err = hpackError(WL_ERR_HPACK_INDEX, at - s, `name index ${idx} past the table (${STATIC_LEN + this.count} entries)`);
            break;
          } else {
            missingIdx = idx;
          }
        }
        const value = this.str(buf, p, e);
        if (value === undefined) { err = this.strErr(at - s); break; }
        p = this.pos;
        const f: HpackField = { name, value };
        if (missingIdx !== 0) { f.missingIndex = missingIdx; missing++; }
        if ((b & 0xf0) === 0x10) f.neverIndexed = true;
        out.push(f);
        if (incremental) this.insert(name, value);
        fields++;
      }
    }
    if (err !== undefined) {
      this.errors++;
      this.unknownTail = true;
    }
    this.missingRefs += missing;
    if (info !== undefined) {
      info.missing = missing;
      info.sizeUpdates = sizeUpdates;
    }
    return err;
  }

  // --- internals -------------------------------------------------------------------------------------------------

  /** end of the last integer or string read */
  private pos = 0;
  /** why the last str() failed: 1 truncated, 2 Huffman, 3 integer */
  private strFail = 0;

  /**
   * RFC 7541 5.1 integer with an N-bit prefix at buf[p]. Returns the value and sets `pos`, or -1 when truncated,
   * -2 when it overflows 2^32 - 1.
   */
  private int(buf: Buffer, p: number, e: number, n: number): number {
    const max = (1 << n) - 1;
    let v = buf[p] & max;
    p++;
    if (v === max) {
      let m = 1;
      let b: number;
      do {
        if (p >= e) return -1;
        b = buf[p++];
        v += (b & 0x7f) * m;
        m *= 128;
        if (v > 0xffffffff) return -2;
      } while (b & 0x80);
    }
    this.pos = p;
    return v;
  }

  private intError(code: number, offset: number, left: number): HpackError {
    return code === -1
      ? hpackError(WL_ERR_HPACK_TRUNCATED, offset, 'block ends inside an integer', left + 1, left)
      : hpackError(WL_ERR_HPACK_INTEGER, offset, 'integer overflow');
  }

  /** RFC 7541 5.2 string literal at buf[p]: the string and `pos`, or undefined with `strFail` set */
  private str(buf: Buffer, p: number, e: number): string | undefined {
    if (p >= e) { this.strFail = 1; this.pos = p; return undefined; }
    const huff = buf[p] & 0x80;
    const len = this.int(buf, p, e, 7);
    if (len < 0) { this.strFail = len === -1 ? 1 : 3; return undefined; }
    const s = this.pos;
    if (s + len > e) { this.strFail = 1; return undefined; }
    this.pos = s + len;
    if (huff) {
      const v = huffmanDecode(buf, s, s + len);
      if (v === undefined) this.strFail = 2;
      return v;
    }
    return buf.toString('latin1', s, s + len);
  }

  private strErr(offset: number): HpackError {
    if (this.strFail === 2) return hpackError(WL_ERR_HPACK_HUFFMAN, offset, 'invalid Huffman string');
    if (this.strFail === 3) return hpackError(WL_ERR_HPACK_INTEGER, offset, 'string length overflow');
    return hpackError(WL_ERR_HPACK_TRUNCATED, offset, 'block ends inside a string literal');
  }

  private insert(name: string | undefined, value: string): void {
    // an unknown name's length is unknown: count what we know (a lower bound) and remember the table is inexact
    const size = ENTRY_OVERHEAD + (name === undefined ? 0 : name.length) + value.length;
    if (size > this.maxSize) {
      // RFC 7541 4.4: an entry larger than the table empties it
      this.evict(this.maxSize + 1);
      if (this.maxKnown) this.unknownTail = false;
      return;
    }
    this.evict(size);
    if (this.count > this.mask) this.grow();
    const q = this.head;
    this.names[q] = name;
    this.values[q] = value;
    this.sizes[q] = size;
    this.head = (q + 1) & this.mask;
    this.count++;
    this.size += size;
    if (name === undefined) this.inexact++;
    this.checkComplete();
  }

  /** evict oldest entries until `room` more bytes fit */
  private evict(room: number): void {
    while (this.count > 0 && this.size + room > this.maxSize) {
      const q = (this.head - this.count) & this.mask;
      this.size -= this.sizes[q];
      if (this.names[q] === undefined) this.inexact--;
      this.names[q] = undefined;
      this.values[q] = '';
      this.count--;
    }
  }

  /** when the entries we know leave no room for even an empty unseen one, no unseen entry can be left */
  private checkComplete(): void {
    if (this.unknownTail && this.maxKnown && this.size + ENTRY_OVERHEAD > this.maxSize) this.unknownTail = false;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const names: Array<string | undefined> = new Array(cap);
    const values: string[] = new Array(cap);
    const sizes: number[] = new Array(cap);
    // copy oldest..newest to 0..count-1
    for (let i = 0; i < this.count; i++) {
      const q = (this.head - this.count + i) & this.mask;
      names[i] = this.names[q];
      values[i] = this.values[q];
      sizes[i] = this.sizes[q];
    }
    this.names = names;
    this.values = values;
    this.sizes = sizes;
    this.head = this.count;
    this.mask = cap - 1;
  }
}
