/**
 * The surface `wirelog capture --store` and `wirelog trace --store` write through, whatever keeps the rows: the
 * embedded SQLite store (src/store/sqlite-writer.ts) for a path, ClickHouse (src/store/clickhouse-writer.ts) for a
 * `clickhouse://` URL. The commands choose by location and otherwise do the same thing.
 */
import type { HttpEventSink, L4Sink, TraceSink, TraceTransaction } from '../records.js';
import type { NetnsInfo } from '../source/attribution.js';
import { isClickHouseLocation } from './reader.js';

export interface StoreWriterResult {
  /** rows written by this run, and dropped (queue or spool full, refused by the database, the database failed) */
  written: number;
  dropped: number;
  /** the first error, if any (the command exits non-zero) */
  error?: string;
}

export interface StoreWriter extends HttpEventSink, L4Sink {
  netns(info: NetnsInfo, tsUs: number): void;
  /** a `wirelog trace` transaction, as an L7 row */
  traceTransaction(tx: TraceTransaction): void;
  /** Write what is pending (bounded wait for ClickHouse), release everything. */
  close(): Promise<StoreWriterResult>;
  /** lines for stderr after the summary (ClickHouse: per-table counts, the spool) */
  closeNotes?(): string[];
}

export interface OpenStoreWriterOptions {
  retentionBytes: number;
  retentionAgeUs: number;
  /** SQLite: wait for the writer thread instead of dropping (reading a capture file) */
  blockWhenFull?: boolean;
  /** ClickHouse: the agent column (default os.hostname()) */
  agent?: string;
  /** ClickHouse: the spool directory and its bound (bytes) */
  spoolDir?: string;
  spoolBytes?: number;
  /** ClickHouse: start even when the server does not answer (spool until it does) */
  spoolIfDown?: boolean;
  /** diagnostics on stderr */
  log?: (line: string) => void;
}

/** Open the store a location names: creates its schema (errors are thrown here, before any capture). */
export async function openStoreWriter(location: string, o: OpenStoreWriterOptions): Promise<StoreWriter> {
  if (isClickHouseLocation(location)) {
    const ch = await import('./clickhouse-writer.js');
    const opts: import('./clickhouse-writer.js').ClickHouseWriterOptions = { url: location, retentionAgeUs: o.retentionAgeUs };
    if (o.agent !== undefined) opts.agent = o.agent;
    if (o.spoolDir !== undefined) opts.spoolDir = o.spoolDir;
    if (o.spoolBytes !== undefined) opts.spoolBytes = o.spoolBytes;
    if (o.spoolIfDown !== undefined) opts.spoolIfDown = o.spoolIfDown;
    if (o.log !== undefined) opts.log = o.log;
    return ch.ClickHouseStoreWriter.open(opts);
  }
  const sq = await import('./sqlite-writer.js');
  const w = new sq.SqliteStoreWriter({
    file: location,
    retention: { maxBytes: o.retentionBytes, maxAgeUs: o.retentionAgeUs },
    blockWhenFull: o.blockWhenFull ?? false,
  });
  // open in its thread before the caller goes on (and maybe drops root: the open connection keeps its files)
  await w.opened;
  return w;
}

/** Both sinks get every event (the text/jsonl output and the store). */
export function teeHttpSink(a: HttpEventSink, b: HttpEventSink): HttpEventSink {
  return {
    request: (ev) => { a.request(ev); b.request(ev); },
    response: (ev) => { a.response(ev); b.response(ev); },
    transaction: (tx) => { a.transaction(tx); b.transaction(tx); },
    tls: (ev) => { a.tls?.(ev); b.tls?.(ev); },
  };
}

export function teeL4Sink(a: L4Sink | undefined, b: L4Sink): L4Sink {
  return a === undefined ? b : { l4: (c) => { a.l4(c); b.l4(c); } };
}

export interface NetnsSinkLike {
  netns(info: NetnsInfo, tsUs: number): void;
}

export function teeNetnsSink(a: NetnsSinkLike | undefined, b: NetnsSinkLike): NetnsSinkLike {
  return a === undefined ? b : { netns: (i, t) => { a.netns(i, t); b.netns(i, t); } };
}

/** `wirelog trace --store`: the output gets every event, the store every transaction (after the same filter). */
export function teeTraceSink(a: TraceSink, store: Pick<StoreWriter, 'traceTransaction'>): TraceSink {
  const t: TraceSink = {
    request: (ev) => a.request(ev),
    response: (ev) => a.response(ev),
    transaction: (tx: TraceTransaction) => {
      a.transaction(tx);
      store.traceTransaction(tx);
    },
  };
  if (a.trailers !== undefined) t.trailers = (ev) => a.trailers!(ev);
  return t;
}
