/**
 * The filter expression as a JS predicate over a record object (the JSON object of docs/schema.md). A missing or
 * null field fails every comparison except `= null`; `not` is plain negation.
 */
import { asciiLower, asciiUpper, foldOf, type Leaf, type QueryAst } from './ast.js';
import { cidrContains, parseIpCached } from './ip.js';

export type RecordPredicate = (r: Readonly<Record<string, unknown>>) => boolean;

/** The value a field names: `path` is `uri` up to its first `?`. */
export function fieldValue(r: Readonly<Record<string, unknown>>, field: string): unknown {
  if (field === 'path' && !('path' in r)) {
    const u = r['uri'];
    if (typeof u !== 'string') return null;
    const q = u.indexOf('?');
    return q < 0 ? u : u.slice(0, q);
  }
  return r[field] ?? null;
}

/** `host = example.com` also matches `example.com:8080` (a port in Host is ignored unless the value has one). */
export function hostEquals(h: string, v: string): boolean {
  if (h === v) return true;
  if (h.length <= v.length + 1 || !h.startsWith(v) || h.charCodeAt(v.length) !== 58) return false;
  for (let i = v.length + 1; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const regexCache = new Map<string, RegExp>();
export function cachedRegExp(src: string): RegExp {
  let re = regexCache.get(src);
  if (re === undefined) {
    re = new RegExp(src);
    if (regexCache.size >= 256) regexCache.clear();
    regexCache.set(src, re);
  }
  return re;
}

export function compilePredicate(ast: QueryAst): RecordPredicate {
  switch (ast.k) {
    case 'all':
      return () => true;
    case 'and': {
      const a = compilePredicate(ast.a), b = compilePredicate(ast.b);
      return (r) => a(r) && b(r);
    }
    case 'or': {
      const a = compilePredicate(ast.a), b = compilePredicate(ast.b);
      return (r) => a(r) || b(r);
    }
    case 'not': {
      const a = compilePredicate(ast.a);
      return (r) => !a(r);
    }
    default:
      return leaf(ast);
  }
}

function leaf(l: Leaf): RecordPredicate {
  const f = l.field;
  if (l.k === 'class') {
    const lo = l.lo, hi = l.lo + 100, neg = l.neg;
    return (r) => {
      const v = fieldValue(r, f);
      if (typeof v !== 'number') return false;
      return (v >= lo && v < hi) !== neg;
    };
  }
  if (l.k === 'cidr') {
    const c = l.cidr, neg = l.neg;
    return (r) => {
      const v = fieldValue(r, f);
      if (typeof v !== 'string') return false;
      const ip = parseIpCached(v);
      return (ip !== null && cidrContains(c, ip)) !== neg;
    };
  }
  const { op, value } = l;
  if (value === null) return op === '=' ? (r) => fieldValue(r, f) === null : (r) => fieldValue(r, f) !== null;
  if (l.type === 'numbers' || l.type === 'strings') {
    const neg = op === '!=';
    return (r) => {
      const v = fieldValue(r, f);
      if (!Array.isArray(v)) return false;
      return v.includes(value) !== neg;
    };
  }
  const fold = foldOf(f);
  const norm = fold === 'upper' ? asciiUpper : fold === 'lower' ? asciiLower : (s: string): string => s;
  const get = (r: Readonly<Record<string, unknown>>): unknown => {
    const v = fieldValue(r, f);
    return typeof v === 'string' ? norm(v) : v;
  };
  if (f === 'host' && (op === '=' || op === '!=') && typeof value === 'string') {
    const neg = op === '!=';
    return (r) => {
      const v = get(r);
      return typeof v === 'string' && hostEquals(v, value) !== neg;
    };
  }
  switch (op) {
    case '=':
      return (r) => { const v = get(r); return v !== null && v === value; };
    case '!=':
      return (r) => { const v = get(r); return v !== null && v !== value; };
    case '<':
      return (r) => { const v = get(r); return v !== null && (v as number) < (value as number); };
    case '<=':
      return (r) => { const v = get(r); return v !== null && (v as number) <= (value as number); };
    case '>':
      return (r) => { const v = get(r); return v !== null && (v as number) > (value as number); };
    case '>=':
      return (r) => { const v = get(r); return v !== null && (v as number) >= (value as number); };
    case '^=': {
      const p = value as string;
      return (r) => { const v = get(r); return typeof v === 'string' && v.startsWith(p); };
    }
    case '~': {
      const re = cachedRegExp(value as string);
      return (r) => { const v = get(r); return typeof v === 'string' && re.test(v); };
    }
  }
}
