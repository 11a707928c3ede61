/** IP addresses and CIDR blocks as numbers, for `in 10.0.0.0/8` (JS predicate and the SQLite function alike). */

export interface IpNum {
  v6: boolean;
  n: bigint;
}

export interface Cidr {
  v6: boolean;
  /** the network, host bits cleared */
  net: bigint;
  prefix: number;
}

function v4(s: string): bigint | null {
  const p = s.split('.');
  if (p.length !== 4) return null;
  let n = 0n;
  for (const x of p) {
    if (!/^[0-9]{1,3}$/.test(x) || Number(x) > 255) return null;
    n = (n << 8n) | BigInt(Number(x));
  }
  return n;
}

function v6(s: string): bigint | null {
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  let tail: bigint | null = null;
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.indexOf('.', lastColon) > 0) {
    tail = v4(s.slice(lastColon + 1));
    if (tail === null) return null;
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return null;
  const parts = (x: string): string[] => (x === '' ? [] : x.split(':'));
  const head = dbl >= 0 ? parts(s.slice(0, dbl)) : parts(s);
  const rest = dbl >= 0 ? parts(s.slice(dbl + 2)) : [];
  const fill = 8 - head.length - rest.length;
  if (dbl >= 0 ? fill < 1 : fill !== 0) return null;
  let n = 0n;
  for (const g of [...head, ...Array<string>(dbl >= 0 ? fill : 0).fill('0'), ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail !== null) n = (n & ~0xffffffffn) | tail;
  return n;
}

/** An address (dotted quad, or IPv6 text with `::`, an embedded IPv4 tail or a `%zone`), else null. */
export function parseIp(s: string): IpNum | null {
  if (s.includes(':')) {
    const n = v6(s);
    return n === null ? null : { v6: true, n };
  }
  const n = v4(s);
  return n === null ? null : { v6: false, n };
}

/** `ADDR/PREFIX` (host bits may be set: they are ignored), or a bare address (a /32 or /128), else null. */
export function parseCidr(s: string): Cidr | null {
  const slash = s.indexOf('/');
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (ip === null) return null;
  const max = ip.v6 ? 128 : 32;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > max) return null;
    prefix = Number(p);
  }
  return { v6: ip.v6, net: ip.n & mask(ip.v6, prefix), prefix };
}

function mask(isV6: boolean, prefix: number): bigint {
  const bits = isV6 ? 128n : 32n;
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefix))) & all;
}

export function cidrContains(c: Cidr, ip: IpNum): boolean {
  return ip.v6 === c.v6 && (ip.n & mask(c.v6, c.prefix)) === c.net;
}

const ipCache = new Map<string, IpNum | null>();
/** parseIp with a bounded cache (records repeat their addresses). */
export function parseIpCached(s: string): IpNum | null {
  let r = ipCache.get(s);
  if (r === undefined && !ipCache.has(s)) {
    r = parseIp(s);
    if (ipCache.size >= 4096) ipCache.clear();
    ipCache.set(s, r);
  }
  return r ?? null;
}
