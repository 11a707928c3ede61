/**
 * Printable IP addresses straight from a buffer offset. These run twice per packet, so IPv4 strings are cached by
 * their 32-bit value (a host sees few distinct peers; the cache is cleared when it grows past a bound rather than
 * tracked as an LRU, which would cost more per hit than it saves).
 */

const V4_CACHE_MAX = 1 << 16;
let v4Cache = new Map<number, string>();

/** Dotted quad of the 32-bit big-endian value. */
export function ipv4FromU32(v: number): string {
  v = v >>> 0;
  let s = v4Cache.get(v);
  if (s === undefined) {
    s = `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
    if (v4Cache.size >= V4_CACHE_MAX) v4Cache = new Map();
    v4Cache.set(v, s);
  }
  return s;
}

/** Dotted quad of the 4 bytes at buf[off]. The caller has checked that they are there. */
export function ipv4ToString(buf: Uint8Array, off: number): string {
  return ipv4FromU32(((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0);
}

const HEX: string[] = [];
function hex(v: number): string {
  let s = HEX[v];
  if (s === undefined) HEX[v] = s = v.toString(16);
  return s;
}

const groups = new Uint16Array(8);

// Direct-mapped cache for IPv6 text: 4 words of the address per slot, compared before reusing the string.
// A flow's two addresses recur on every packet, and building the text costs ~10x a cache probe.
const V6_SLOTS = 1024;
const v6Keys = new Int32Array(V6_SLOTS * 4);
const v6Text: Array<string | undefined> = new Array<string | undefined>(V6_SLOTS).fill(undefined);

function w32(b: Uint8Array, o: number): number { return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!; }

/** RFC 5952 text of the 16 bytes at buf[off] (cached; see ipv6Format for the rules). */
export function ipv6ToString(buf: Uint8Array, off: number): string {
  const a = w32(buf, off), b = w32(buf, off + 4), c = w32(buf, off + 8), d = w32(buf, off + 12);
  let h = Math.imul(a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca77) ^ Math.imul(d, 0xc2b2ae3d), 0x27d4eb2f);
  h = (h ^ (h >>> 15)) & (V6_SLOTS - 1);
  const k = h * 4;
  const t = v6Text[h];
  if (t !== undefined && v6Keys[k] === a && v6Keys[k + 1] === b && v6Keys[k + 2] === c && v6Keys[k + 3] === d) return t;
  const s = ipv6Format(buf, off);
  v6Keys[k] = a; v6Keys[k + 1] = b; v6Keys[k + 2] = c; v6Keys[k + 3] = d;
  v6Text[h] = s;
  return s;
}

/**
 * RFC 5952 text of the 16 bytes at buf[off]: lowercase hex, no leading zeros, the longest run (first on a tie) of
 * two or more zero groups as "::", and IPv4-mapped addresses (::ffff:0:0/96) as ::ffff:a.b.c.d.
 */
export function ipv6Format(buf: Uint8Array, off: number): string {
  let bestStart = -1, bestLen = 1, runStart = -1;
  for (let i = 0; i < 8; i++) {
    const g = (buf[off + 2 * i]! << 8) | buf[off + 2 * i + 1]!;
    groups[i] = g;
    if (g === 0) {
      if (runStart < 0) runStart = i;
      const len = i - runStart + 1;
      if (len > bestLen) { bestLen = len; bestStart = runStart; }
    } else runStart = -1;
  }
  // ::ffff:a.b.c.d — the only embedded-IPv4 form RFC 5952 (section 5) asks for in output.
  if (bestStart === 0 && bestLen === 5 && groups[5] === 0xffff) {
    return '::ffff:' + buf[off + 12] + '.' + buf[off + 13] + '.' + buf[off + 14] + '.' + buf[off + 15];
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    s += hex(groups[i]!);
    if (i < 7) s += ':';
  }
  return s;
}
