/**
 * The fuzz loop: pick an input from the corpus, mutate it (havoc: a stack of byte-level edits, splices with other
 * corpus entries, dictionary tokens), run the target, and keep the input when it bumped a branch counter into a
 * hit-count bucket never seen before (AFL's buckets: 1, 2, 3, 4–7, 8–15, 16–31, 32–127, 128+).
 *
 * Runs inside a worker (fuzz/worker.ts); the current input is mirrored into shared memory before each run so that
 * the parent can save it when the worker hangs or runs out of memory.
 */
import type { FuzzTarget } from './target.js';

export interface Finding {
  /** stable key: exception name, message without numbers, first stack frame in src/ */
  key: string;
  name: string;
  message: string;
  stack: string;
  /** the (minimised) input, hex */
  inputHex: string;
  /** run number when first seen */
  run: number;
}

export interface EngineReport {
  target: string;
  runs: number;
  seconds: number;
  execsPerSecond: number;
  corpus: number;
  /** counters ever hit, and counters in the modules instrumented (all of src/) */
  countersHit: number;
  countersTotal: number;
  /** per instrumented module reached: [counters hit, counters in the module] */
  byFile?: Record<string, [number, number]>;
  findings: Finding[];
}

export interface EngineOptions {
  seconds: number;
  maxRuns?: number;
  seed: number;
  /** stop after this many distinct findings */
  maxFindings?: number;
  /** shared mirror: state[0] = runs so far, state[1] = current input length; input = its bytes */
  state?: Int32Array;
  /** counter id ranges per module (coverage-map.json), for the per-module figures */
  ranges?: Record<string, [number, number]>;
  input?: Uint8Array;
  progress?: (r: EngineReport) => void;
}

const INTERESTING8 = [0, 1, 0x7f, 0x80, 0xff, 0x40, 0x3f, 0x20, 0x10, 0x0a, 0x0d];
const INTERESTING16 = [0, 1, 0x7fff, 0x8000, 0xffff, 0x100, 0x3fff, 0x4000, 0x400, 0x1000, 0x5dc, 0x0800, 0x86dd];
const INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0x40000000, 0x1000000, 0xa1b2c3d4, 0x0a0d0d0a];

/** Hit-count bucket bit for a counter value. */
const BUCKET = new Uint8Array(256);
for (let v = 1; v < 256; v++) BUCKET[v] = v === 1 ? 1 : v === 2 ? 2 : v === 3 ? 4 : v < 8 ? 8 : v < 16 ? 16 : v < 32 ? 32 : v < 128 ? 64 : 128;

class Rng {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) || 0x9e3779b9; }
  next(): number {
    let x = this.s;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number { return n <= 1 ? 0 : this.next() % n; }
}

export function findingKey(e: unknown): { key: string; name: string; message: string; stack: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const stack = err.stack ?? '';
  const frame = stack.split('\n').find((l) => l.includes('/src/')) ?? stack.split('\n')[1] ?? '';
  const where = frame.replace(/:\d+:\d+\)?$/, '').replace(/^.*\/src\//, 'src/');
  const message = err.message;
  return { key: `${err.name}: ${message.replace(/\d+/g, 'N').slice(0, 160)} @ ${where.trim()}`, name: err.name, message, stack };
}

export class Engine {
  private readonly rng: Rng;
  private readonly corpus: Buffer[] = [];
  private readonly seen: Uint8Array;
  private readonly words: Uint32Array;
  private readonly dict: Buffer[];
  private hit = 0;
  runs = 0;
  readonly findings = new Map<string, Finding>();

  constructor(private readonly target: FuzzTarget, private readonly cov: Uint8Array, private readonly opts: EngineOptions) {
    this.rng = new Rng(opts.seed);
    this.seen = new Uint8Array(cov.length);
    // cov's length is padded to a multiple of 4 by the worker, so whole-word zero checks are exact
    this.words = new Uint32Array(cov.buffer, cov.byteOffset, cov.length >>> 2);
    this.dict = (target.dictionary ?? []).map((d) => (typeof d === 'string' ? Buffer.from(d, 'latin1') : d));
  }

  /** Run one input; returns true when it reached new coverage. Exceptions are recorded as findings. */
  private exec(data: Buffer): boolean {
    const st = this.opts.state;
    if (st !== undefined) {
      this.opts.input!.set(data.subarray(0, this.opts.input!.length));
      st[1] = data.length;
    }
    this.cov.fill(0);
    try {
      this.target.fuzz(data);
    } catch (e) {
      this.record(e, data);
    }
    this.runs++;
    if (st !== undefined) Atomics.store(st, 0, this.runs);
    return this.absorb();
  }

  private absorb(): boolean {
    let fresh = false;
    const w = this.words, cov = this.cov, seen = this.seen;
    for (let i = 0; i < w.length; i++) {
      if (w[i] === 0) continue;
      for (let j = i << 2, e = j + 4; j < e; j++) {
        const b = BUCKET[cov[j]!]!;
        if (b !== 0 && (seen[j]! & b) === 0) {
          if (seen[j] === 0) this.hit++;
          seen[j]! |= b;
          fresh = true;
        }
      }
    }
    return fresh;
  }

  private record(e: unknown, data: Buffer): void {
    const k = findingKey(e);
    if (this.findings.has(k.key)) return;
    const min = this.minimise(data, k.key);
    this.findings.set(k.key, { ...k, inputHex: min.toString('hex'), run: this.runs });
  }

  /** Shrink a crashing input while it still fails the same way (chunk removal, bounded). */
  private minimise(data: Buffer, key: string): Buffer {
    const fails = (b: Buffer): boolean => {
      try { this.target.fuzz(b); return false; } catch (e) { return findingKey(e).key === key; }
    };
    let cur: Buffer = Buffer.from(data);
    let budget = 3000;
    for (let chunk = cur.length >> 1; chunk >= 1 && budget > 0; chunk >>= 1) {
      for (let at = 0; at + chunk <= cur.length && budget > 0;) {
        const cand = Buffer.concat([cur.subarray(0, at), cur.subarray(at + chunk)]);
        budget--;
        if (fails(cand)) cur = cand; else at += chunk;
      }
    }
    return cur;
  }

  private mutate(src: Buffer): Buffer {
    const max = this.target.maxLen;
    let b: Buffer = Buffer.from(src.length === 0 ? Buffer.alloc(1) : src);
    const n = 1 + this.rng.below(6);
    for (let k = 0; k < n; k++) b = this.mutateOnce(b, max);
    return b.length > max ? b.subarray(0, max) : b;
  }

  private mutateOnce(b: Buffer, max: number): Buffer {
    const r = this.rng;
    const len = b.length;
    const at = r.below(len);
    switch (r.below(this.dict.length > 0 ? 15 : 13)) {
      case 0: if (len > 0) b[at] ^= 1 << r.below(8); return b;
      case 1: if (len > 0) b[at] = r.below(256); return b;
      case 2: if (len > 0) b[at] = INTERESTING8[r.below(INTERESTING8.length)]!; return b;
      case 3: {
        if (len < 2) return b;
        const o = r.below(len - 1), v = INTERESTING16[r.below(INTERESTING16.length)]!;
        if (r.below(2) === 0) b.writeUInt16BE(v, o); else b.writeUInt16LE(v, o);
        return b;
      }
      case 4: {
        if (len < 4) return b;
        const o = r.below(len - 3), v = INTERESTING32[r.below(INTERESTING32.length)]!;
        if (r.below(2) === 0) b.writeUInt32BE(v >>> 0, o); else b.writeUInt32LE(v >>> 0, o);
        return b;
      }
      case 5: { // arithmetic on a 1, 2 or 4 byte field, either byte order
        const w = [1, 2, 4][r.below(3)]!;
        if (len < w) return b;
        const o = r.below(len - w + 1), d = 1 + r.below(35), neg = r.below(2) === 0;
        const be = r.below(2) === 0;
        const get = w === 1 ? b.readUInt8(o) : w === 2 ? (be ? b.readUInt16BE(o) : b.readUInt16LE(o)) : (be ? b.readUInt32BE(o) : b.readUInt32LE(o));
        const mod = w === 1 ? 0x100 : w === 2 ? 0x10000 : 0x100000000;
        const v = (get + (neg ? mod - d : d)) % mod;
        if (w === 1) b.writeUInt8(v, o); else if (w === 2) (be ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o)); else (be ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
        return b;
      }
      case 6: { // erase a block
        if (len < 2) return b;
        const l = 1 + r.below(Math.min(len - 1, r.below(2) === 0 ? 8 : len));
        return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(len, at + l))]);
      }
      case 7: { // insert random or repeated bytes
        const l = 1 + r.below(r.below(4) === 0 ? 128 : 8);
        if (len + l > max) return b;
        const ins = Buffer.alloc(l, r.below(2) === 0 ? r.below(256) : 0);
        if (r.below(2) === 0) for (let i = 0; i < l; i++) ins[i] = r.below(256);
        return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
      }
      case 8: { // copy a block of itself elsewhere (insert or overwrite)
        if (len < 2) return b;
        const from = r.below(len), l = 1 + r.below(Math.min(64, len - from));
        const chunk = Buffer.from(b.subarray(from, from + l));
        if (r.below(2) === 0 && len + l <= max) return Buffer.concat([b.subarray(0, at), chunk, b.subarray(at)]);
        chunk.copy(b, at, 0, Math.min(l, len - at));
        return b;
      }
      case 9: { // splice with another corpus entry
        const other = this.corpus[r.below(this.corpus.length)];
        if (other === undefined || other.length === 0) return b;
        const cut = r.below(len + 1), from = r.below(other.length);
        const out = Buffer.concat([b.subarray(0, cut), other.subarray(from, from + 1 + r.below(other.length - from))]);
        return out.length > max ? out.subarray(0, max) : out;
      }
      case 10: return len > 1 ? b.subarray(0, r.below(len)) : b; // truncate
      case 11: { // shuffle a few bytes
        if (len < 2) return b;
        const l = Math.min(len - at, 2 + r.below(6));
        for (let i = l - 1; i > 0; i--) { const j = r.below(i + 1); const t = b[at + i]!; b[at + i] = b[at + j]!; b[at + j] = t; }
        return b;
      }
      case 12: { // replace an ASCII number with another
        let s = at;
        while (s < len && (b[s]! < 48 || b[s]! > 57)) s++;
        if (s >= len) return b;
        let e = s;
        while (e < len && b[e]! >= 48 && b[e]! <= 57) e++;
        const choices = ['0', '1', '-1', '65535', '65536', '4294967296', '18446744073709551616', String(r.next()), 'ffffffff', '99999999999999999999'];
        return Buffer.concat([b.subarray(0, s), Buffer.from(choices[r.below(choices.length)]!), b.subarray(e)]);
      }
      case 13: { // insert a dictionary token
        const t = this.dict[r.below(this.dict.length)]!;
        if (len + t.length > max) return b;
        return Buffer.concat([b.subarray(0, at), t, b.subarray(at)]);
      }
      default: { // overwrite with a dictionary token
        const t = this.dict[r.below(this.dict.length)]!;
        t.copy(b, at, 0, Math.min(t.length, len - at));
        return b;
      }
    }
  }

  report(startMs: number, final = false): EngineReport {
    const seconds = (Date.now() - startMs) / 1000;
    let byFile: Record<string, [number, number]> | undefined;
    if (final && this.opts.ranges !== undefined) {
      byFile = {};
      for (const [f, [a, b]] of Object.entries(this.opts.ranges)) {
        let n = 0;
        for (let i = a; i < b; i++) if (this.seen[i] !== 0) n++;
        if (n > 0) byFile[f] = [n, b - a];
      }
    }
    return {
      target: this.target.name, runs: this.runs, seconds, execsPerSecond: seconds > 0 ? Math.round(this.runs / seconds) : 0,
      corpus: this.corpus.length, countersHit: this.hit, countersTotal: this.cov.length, byFile, findings: [...this.findings.values()],
    };
  }

  run(): EngineReport {
    const start = Date.now();
    const deadline = start + this.opts.seconds * 1000;
    const maxRuns = this.opts.maxRuns ?? Infinity;
    const maxFindings = this.opts.maxFindings ?? 20;
    const maxCorpus = 8192;
    for (const s of this.target.seeds()) {
      const seed = s.length > this.target.maxLen ? s.subarray(0, this.target.maxLen) : s;
      this.exec(seed);
      this.corpus.push(Buffer.from(seed)); // every seed stays, new coverage or not: they are the real traffic
    }
    if (this.corpus.length === 0) this.corpus.push(Buffer.alloc(0));
    let lastProgress = start;
    while (this.runs < maxRuns && this.findings.size < maxFindings) {
      if ((this.runs & 255) === 0) {
        const now = Date.now();
        if (now >= deadline) break;
        if (this.opts.progress !== undefined && now - lastProgress >= 10_000) { lastProgress = now; this.opts.progress(this.report(start)); }
      }
      const parent = this.corpus[this.rng.below(this.corpus.length)]!;
      const child = this.mutate(parent);
      if (this.exec(child) && this.corpus.length < maxCorpus) this.corpus.push(child);
    }
    return this.report(start, true);
  }
}
