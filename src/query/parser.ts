/**
 * The filter language's parser (docs/query.md): `or` < `and` < `not` < comparison; fields by their docs/schema.md
 * names, checked against the record type, values typed by the field.
 */
import { QueryError } from './error.js';
import { lex, type CompareOp, type Token } from './lexer.js';
import { recordFields, type FieldType, type RecordKind } from './fields.js';
import { foldOf, asciiLower, asciiUpper, type QueryAst } from './ast.js';
import { parseCidr } from './ip.js';

export interface ParseOptions {
  /** the record type whose fields may be named (default `l7`) */
  record?: RecordKind;
}

const NUM_RE = /^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$/;
const CLASS_RE = /^([1-5])xx$/i;
const OPS = new Set(['=', '!=', '<', '<=', '>', '>=', '^=', '~']);
const KEYWORDS = new Set(['and', 'or', 'not', 'in']);

/** Parse a filter expression; an empty one matches every record. Throws QueryError. */
export function parseQuery(expr: string, opts: ParseOptions = {}): QueryAst {
  return new Parser(expr, recordFields(opts.record ?? 'l7')).parse();
}

class Parser {
  private readonly toks: Token[];
  private i = 0;
  constructor(expr: string, private readonly fields: ReadonlyMap<string, FieldType>) {
    this.toks = lex(expr);
  }

  private peek(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    return this.toks[this.i++]!;
  }
  private isKw(t: Token, kw: string): boolean {
    return t.type === 'word' && t.text.toLowerCase() === kw;
  }
  private describe(t: Token): string {
    return t.type === 'eof' ? 'the end' : t.type === 'string' ? `"${t.text}"` : `'${t.text}'`;
  }

  parse(): QueryAst {
    if (this.peek().type === 'eof') return { k: 'all' };
    const e = this.or();
    const t = this.peek();
    if (t.type !== 'eof') throw new QueryError(`expected 'and', 'or' or the end, not ${this.describe(t)}`, t.col);
    return e;
  }

  private or(): QueryAst {
    let a = this.and();
    while (this.isKw(this.peek(), 'or')) {
      this.next();
      a = { k: 'or', a, b: this.and() };
    }
    return a;
  }

  private and(): QueryAst {
    let a = this.unary();
    while (this.isKw(this.peek(), 'and')) {
      this.next();
      a = { k: 'and', a, b: this.unary() };
    }
    return a;
  }

  private unary(): QueryAst {
    if (this.isKw(this.peek(), 'not')) {
      this.next();
      return { k: 'not', a: this.unary() };
    }
    return this.primary();
  }

  private primary(): QueryAst {
    const t = this.peek();
    if (t.type === '(') {
      this.next();
      const e = this.or();
      const c = this.peek();
      if (c.type !== ')') throw new QueryError(`expected ')' to close the '(' at column ${t.col}, not ${this.describe(c)}`, c.col);
      this.next();
      return e;
    }
    return this.comparison();
  }

  private comparison(): QueryAst {
    const f = this.next();
    if (f.type !== 'word' || KEYWORDS.has(f.text.toLowerCase())) {
      throw new QueryError(`expected a field name, 'not' or '(', not ${this.describe(f)}`, f.col);
    }
    const type = this.fields.get(f.text);
    if (type === undefined) {
      const near = nearest(f.text, [...this.fields.keys()]);
      throw new QueryError(`unknown field '${f.text}': expected a record field of docs/schema.md${near === undefined ? '' : ` (did you mean '${near}'?)`}`, f.col);
    }
    if (type === 'none') throw new QueryError(`field '${f.text}' cannot be filtered on`, f.col);
    const op = this.next();
    if (this.isKw(op, 'in')) return this.inList(f, type);
    if (this.isKw(op, 'not') && this.isKw(this.peek(), 'in')) {
      this.next();
      return { k: 'not', a: this.inList(f, type) };
    }
    if (op.type !== 'op' || !OPS.has(op.text)) {
      throw new QueryError(`expected an operator after '${f.text}' (= != < <= > >= ^= ~ in), not ${this.describe(op)}`, op.col);
    }
    const v = this.next();
    if (v.type !== 'word' && v.type !== 'string') throw new QueryError(`expected a value after '${op.text}', not ${this.describe(v)}`, v.col);
    return this.leaf(f, type, op.text as CompareOp, v, op.col);
  }

  /** `field in VALUE` or `field in (V, V, ...)`: one `=` per value, or'ed. */
  private inList(f: Token, type: FieldType): QueryAst {
    const items: Token[] = [];
    const t = this.next();
    if (t.type === '(') {
      for (;;) {
        const v = this.next();
        if (v.type !== 'word' && v.type !== 'string') throw new QueryError(`expected a value in the list, not ${this.describe(v)}`, v.col);
        items.push(v);
        const s = this.next();
        if (s.type === ')') break;
        if (s.type !== ',') throw new QueryError(`expected ',' or ')' in the list, not ${this.describe(s)}`, s.col);
      }
    } else if (t.type === 'word' || t.type === 'string') {
      items.push(t);
    } else {
      throw new QueryError(`expected a CIDR block, a value or '(' after 'in', not ${this.describe(t)}`, t.col);
    }
    let e: QueryAst | undefined;
    for (const v of items) {
      const l = this.leaf(f, type, '=', v, v.col);
      e = e === undefined ? l : { k: 'or', a: e, b: l };
    }
    return e!;
  }

  private leaf(f: Token, type: FieldType, op: CompareOp, v: Token, opCol: number): QueryAst {
    const field = f.text;
    const col = f.col;
    const eqOnly = op === '=' || op === '!=';
    if (v.type === 'word' && v.text.toLowerCase() === 'null') {
      if (!eqOnly) throw new QueryError(`null only compares with = or !=, not '${op}'`, opCol);
      return { k: 'cmp', field, type, op, value: null, col };
    }
    const text = v.text;
    switch (type) {
      case 'number':
      case 'numbers': {
        const cls = CLASS_RE.exec(text);
        if (cls !== null && field === 'status') {
          if (!eqOnly) throw new QueryError(`a status class (${text}) only compares with = or !=`, v.col);
          return { k: 'class', field, type, lo: Number(cls[1]) * 100, neg: op === '!=', col };
        }
        if (!NUM_RE.test(text)) throw new QueryError(`expected a number${field === 'status' ? ' or a status class (4xx)' : ''} for '${field}', not ${this.describe(v)}`, v.col);
        if (op === '^=' || op === '~') throw new QueryError(`'${op}' works on text; '${field}' is a number`, opCol);
        if (type === 'numbers' && !eqOnly) throw new QueryError(`'${field}' is a list: only = (contains) and != work on it`, opCol);
        return { k: 'cmp', field, type, op, value: Number(text), col };
      }
      case 'bool': {
        const b = text.toLowerCase();
        if (v.type !== 'word' || (b !== 'true' && b !== 'false')) throw new QueryError(`expected true or false for '${field}', not ${this.describe(v)}`, v.col);
        if (!eqOnly) throw new QueryError(`'${field}' is true or false: only = and != work on it`, opCol);
        return { k: 'cmp', field, type, op, value: b === 'true', col };
      }
      case 'time':
        if (op !== '^=' && op !== '~') {
          const t = normaliseTime(text);
          if (t === null) throw new QueryError(`expected an ISO 8601 time for '${field}' (2026-11-23T10:00:00Z, 2026-11-23 10:00, 2026-11-23), not ${this.describe(v)}`, v.col);
          return { k: 'cmp', field, type, op, value: t, col };
        }
        break;
      case 'strings':
        if (!eqOnly) throw new QueryError(`'${field}' is a list: only = (contains) and != work on it`, opCol);
        return { k: 'cmp', field, type, op, value: text, col };
      case 'addr':
        if (eqOnly && text.includes('/')) {
          if (op === '!=') throw new QueryError(`a CIDR block goes with 'in' ('${field} in ${text}')`, opCol);
        }
        if (eqOnly) {
          const c = parseCidr(text);
          if (c !== null) return { k: 'cidr', field, type, cidr: c, text, neg: op === '!=', col };
          if (text.includes('/')) throw new QueryError(`expected a CIDR block (10.0.0.0/8, fd00::/8), not ${this.describe(v)}`, v.col);
        }
        break;
      default:
        break;
    }
    // text fields
    let value = text;
    const fold = foldOf(field);
    if (op === '~') {
      try {
        new RegExp(value);
      } catch (err) {
        throw new QueryError(`expected a regular expression (JS syntax): ${(err as Error).message}`, v.col);
      }
    } else if (fold === 'upper') value = asciiUpper(value);
    else if (fold === 'lower') value = asciiLower(value);
    return { k: 'cmp', field, type, op, value, col };
  }
}

const TIME_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$/i;

/**
 * A time as the records write it, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (so text order is time order): a date, a date and
 * time (`T` or a blank), seconds and up to 6 fraction digits optional, UTC unless a `Z` or `±HH:MM` says otherwise.
 */
export function normaliseTime(s: string): string | null {
  const m = TIME_RE.exec(s);
  if (m === null) return null;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zone = 'Z'] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec));
  if (Number.isNaN(ms) || Number(mo) > 12 || Number(d) > 31 || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 60) return null;
  if (zone.toUpperCase() !== 'Z') {
    const z = zone.replace(':', '');
    ms -= (z[0] === '-' ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5))) * 60000;
  }
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${iso.slice(0, 19)}.${frac.padEnd(6, '0')}Z`;
}

/** The field name closest to a misspelt one (edit distance at most 2, or a different case), if any. */
function nearest(name: string, names: string[]): string | undefined {
  const low = name.toLowerCase();
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = n === low ? 0 : editDistance(low, n);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
