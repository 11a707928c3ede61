/**
 * `wirelog query`'s pipeline: the store (read-only, through src/store/reader.ts) → the filter language compiled to
 * the store's SQL → rows in time order → records → lines (JSON lines as `capture --format jsonl` writes them, CSV,
 * or one readable line each). Never writes to the store and needs no privileges beyond reading it.
 */
import { parseQuery } from '../query/index.js';
import { packetJson, rowToLine, rowToRecord } from '../store/read.js';
import { openStoreReader, StoreReadError, type StoreReader } from '../store/reader.js';
import { recordColumns, type StoreTable } from '../store/schema.js';
import type { L4Packet } from '../records.js';
import { WirelogError } from '../errors.js';

export type QueryFormat = 'jsonl' | 'csv' | 'text';

export interface QueryOptions {
  store: string;
  /** the table: one record type of the filter language */
  record: Exclude<StoreTable, 'netns'>;
  /** the filter language (docs/query.md); '' = every record */
  filter: string;
  /** µs since the epoch, inclusive / exclusive */
  fromUs?: number;
  toUs?: number;
  limit: number;
  /** newest first (`--desc`) */
  newestFirst: boolean;
  format: QueryFormat;
  out: (line: string) => void;
}

export interface QueryResult {
  /** records written */
  records: number;
  /** more records matched than `limit` */
  more: boolean;
}

export class QueryStoreError extends WirelogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WL_ERR_STORE', message, options);
  }
}

/** `now`, an ISO 8601 time (a date alone is midnight UTC), or `-15m` / `-2h` / `-7d` / `-30s` before now. */
export function parseTimeArg(s: string, nowMs: number = Date.now()): number | undefined {
  const t = s.trim();
  if (t === 'now') return nowMs * 1000;
  const rel = /^-(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(t);
  if (rel) {
    const sec = { s: 1, m: 60, h: 3600, d: 86_400, w: 7 * 86_400 }[rel[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return Math.round((nowMs - Number(rel[1]) * sec * 1000) * 1000);
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(t)) return undefined;
  // Date keeps milliseconds: the microseconds are added from the text
  const frac = /\.(\d{1,6})/.exec(t)?.[1] ?? '';
  const ms = Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(t) || t.length === 10 ? t : t + 'Z');
  if (Number.isNaN(ms)) return undefined;
  return ms * 1000 + (Number(frac.padEnd(6, '0')) % 1000);
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break; arrays and objects as JSON. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The readable line of an L7 record: time, client → server, method, URI, status, latency, host. */
function l7Text(r: Record<string, unknown>): string {
  const lat = r.latency_ms === null ? '-' : `${r.latency_ms}ms`;
  return `${r.ts} ${r.src_ip}#${r.src_port} ${r.dst_ip}#${r.dst_port} ${r.method ?? '-'} ${r.uri ?? '-'} ${r.status ?? '-'} ${lat} ${r.host ?? '-'}` +
    (r.incomplete !== null ? ` (${r.incomplete})` : '');
}

export async function runQuery(o: QueryOptions): Promise<QueryResult> {
  // the filter first: a bad expression is a usage error, whatever the store
  const filter = parseQuery(o.filter, { record: o.record });
  let reader: StoreReader;
  try {
    reader = await openStoreReader(o.store);
  } catch (err) {
    if (err instanceof StoreReadError) throw new QueryStoreError(err.message);
    throw err;
  }
  try {
    const fields = recordColumns(o.record);
    if (o.format === 'csv') o.out(fields.map(csvField).join(','));
    let n = 0;
    let more = false;
    // one more than the limit tells whether there are more
    const spec = { table: o.record, filter, fromUs: o.fromUs, toUs: o.toUs, desc: o.newestFirst, limit: o.limit + 1 };
    for await (const row of reader.iterate(spec)) {
      if (n === o.limit) {
        more = true;
        break;
      }
      n++;
      if (o.format === 'jsonl') o.out(rowToLine(o.record, row));
      else {
        const rec = rowToRecord(o.record, row);
        // an L4 record's packets: the JSON array of the JSON lines, in one field
        if (o.format === 'csv') o.out(fields.map((f) => (f === 'packets' ? csvField(`[${(rec.packets as L4Packet[]).map(packetJson).join(',')}]`) : csvField(rec[f]))).join(','));
        else o.out(o.record === 'l7' ? l7Text(rec) : JSON.stringify(rec));
      }
    }
    return { records: n, more };
  } catch (err) {
    if (err instanceof StoreReadError) throw new QueryStoreError(err.message);
    throw err;
  } finally {
    await reader.close();
  }
}
