/** scratch: ingest variants (profile). Not registered. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { fixtureTransactions, replay } from './store.js';
import { l7Row, TABLE_COLUMNS, schemaStatements, type Row } from '../src/store/schema.js';
import { IsoTimeFormatter } from '../src/sinks/local-time.js';

const n = Number(process.env.N ?? 200000);
const base = await fixtureTransactions();
const txs = replay(base, n);
const iso = new IsoTimeFormatter();
const rows: Row[] = txs.map((t) => l7Row(t, iso));
const cols = TABLE_COLUMNS.l7;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wl-var-'));

interface V { name: string; indexes?: (s: string) => boolean; pragmas?: string[]; per?: number; cols?: number; noop?: boolean }
const only = process.env.ONLY?.split(',');
const variants: V[] = [
  { name: 'v1 as is' },
  { name: 'no indexes', indexes: (s) => !s.includes('INDEX l7') },
  ...['l7_ts', 'l7_trace', 'l7_conn_trace', 'l7_dst', 'l7_status', 'l7_host', 'l7_uri'].map((x) => ({ name: `only ${x}`, indexes: (s: string) => !s.includes('INDEX l7') || s.includes(`INDEX ${x} `) })),
  { name: 'all, cache 64MB', pragmas: ['cache_size = -65536'] },
  { name: 'all, page 16k cache 64MB', pragmas: ['page_size = 16384', 'cache_size = -65536'] },
  { name: 'ts only, page 16k', pragmas: ['page_size = 16384'], indexes: (s) => !s.includes('INDEX l7') || s.includes('INDEX l7_ts ') },
  { name: 'ts only, exclusive', pragmas: ['locking_mode = EXCLUSIVE'], indexes: (s) => !s.includes('INDEX l7') || s.includes('INDEX l7_ts ') },
  { name: 'ts only, multi 50', per: 50, indexes: (s) => !s.includes('INDEX l7') || s.includes('INDEX l7_ts ') },
  { name: 'ts only, multi 200', per: 200, indexes: (s) => !s.includes('INDEX l7') || s.includes('INDEX l7_ts ') },
  { name: 'no idx, multi 200', per: 200, indexes: (s) => !s.includes('INDEX l7') },
  { name: 'no idx, multi 200, 16k', per: 200, pragmas: ['page_size = 16384'], indexes: (s) => !s.includes('INDEX l7') },
  { name: 'no idx, 10 cols', cols: 10, indexes: (s) => !s.includes('INDEX l7') },
  { name: 'no idx, 20 cols', cols: 20, indexes: (s) => !s.includes('INDEX l7') },
  { name: 'no idx, temp_store mem', pragmas: ['temp_store = MEMORY'], indexes: (s) => !s.includes('INDEX l7') },
];
for (const v of variants) {
  if (only && !only.some((o) => v.name.includes(o))) continue;
  const f = path.join(dir, `${v.name.replace(/\W+/g, '_')}.db`);
  const db = new Database(f);
  for (const p of v.pragmas ?? []) if (p.startsWith('page_size')) db.pragma(p);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 10000');
  for (const p of v.pragmas ?? []) if (!p.startsWith('page_size')) db.pragma(p);
  for (const s of schemaStatements()) if (!s.startsWith('CREATE INDEX') || (v.indexes ?? (() => true))(s)) db.exec(s);
  const nc = v.cols ?? cols.length;
  const per = v.per ?? 1;
  const one = `(${Array(nc).fill('?').join(',')})`;
  const ins = `INSERT INTO l7 (${cols.slice(0, nc).join(',')}) VALUES `;
  const stMulti = db.prepare(ins + Array(per).fill(one).join(','));
  const stOne = db.prepare(ins + one);
  const batch = 2000;
  const write = db.transaction((b: Row[]) => {
    let i = 0;
    if (per > 1) {
      const flat: unknown[] = [];
      for (; i + per <= b.length; i += per) {
        flat.length = 0;
        for (let j = i; j < i + per; j++) { const r = b[j]!; for (let k = 0; k < nc; k++) flat.push(r[k]); }
        stMulti.run(flat);
      }
    }
    for (; i < b.length; i++) stOne.run(nc === cols.length ? b[i]! : b[i]!.slice(0, nc));
  });
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) write(rows.slice(i, i + batch));
  const ms = performance.now() - t0;
  db.close();
  const size = fs.statSync(f).size + (fs.existsSync(f + '-wal') ? fs.statSync(f + '-wal').size : 0);
  console.log(`${v.name.padEnd(28)} ${Math.round(n / (ms / 1000)).toString().padStart(8)} rows/s  ${(size / n).toFixed(0)} B/row`);
  fs.rmSync(f, { force: true }); fs.rmSync(f + '-wal', { force: true }); fs.rmSync(f + '-shm', { force: true });
}
fs.rmSync(dir, { recursive: true, force: true });
