/**
 * `wirelog capture --store`: a sink for L7 transactions, L4 chunks, TLS and namespace records that queues them as
 * rows in memory and hands them, in batches (every 250 ms or every `batchRows` rows), to a worker thread that
 * writes each batch in one SQLite transaction (src/store/worker.ts). The capture thread only builds rows and posts
 * them: the queue is bounded (rows queued + rows posted and not yet written), and when it is full a row is dropped
 * and counted per table — never waited for, unless `blockWhenFull` (reading a file: there is no one to drop for).
 */
import { Worker } from 'node:worker_threads';
import type { HttpEventSink, HttpRequestEvent, HttpResponseEvent, HttpTransaction, L4Chunk, L4Sink, TlsHelloEvent, TraceSink, TraceTransaction } from '../records.js';
import type { NetnsInfo } from '../source/attribution.js';
import { IsoTimeFormatter } from '../sinks/local-time.js';
import { DEFAULT_RETENTION_AGE_US, DEFAULT_RETENTION_BYTES, openDatabase, zeroCounts, type RetentionOptions, type StoreStats, type TableCounts } from './db.js';
import { l4Row, l7RowOfTrace, l7StoredOfRow, newL7Columns, netnsRow, pushL7Stored, pushL7StoredRow, STORE_TABLES, tlsRow, type L7Columns, type Row, type StoreTable } from './schema.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker.js';

export interface StoreWriterOptions {
  file: string;
  retention?: Partial<RetentionOptions>;
  /** a batch is posted at least this often while rows wait (ms), default 250 */
  flushMs?: number;
  /** … and as soon as this many rows wait, default 2000 */
  batchRows?: number;
  /** rows queued or in the writer thread's hands, at most; past it rows are dropped (counted), default 100 000 */
  maxQueueRows?: number;
  /** wait for the writer thread instead of dropping (capture files), default false */
  blockWhenFull?: boolean;
}

export interface StoreCloseResult {
  /** rows written by this run, and dropped (queue full, or the database failed) */
  written: number;
  dropped: number;
  droppedByTable: TableCounts;
  /** the store's totals (store_stats), all runs */
  stats: StoreStats;
  /** batches written, their total and longest time (ms) */
  batches: number;
  batchMsTotal: number;
  batchMsMax: number;
  /** the first database error, if any */
  error?: string;
}

/** Something with a netns() like NetnsJsonlSink's. */
export interface NetnsSinkLike {
  netns(info: NetnsInfo, tsUs: number): void;
}

export class SqliteStoreWriter implements HttpEventSink, L4Sink, NetnsSinkLike {
  private readonly iso = new IsoTimeFormatter();
  private readonly worker: Worker;
  private readonly acked: Int32Array;
  private posted = 0; // rows posted, mod 2^32
  private queue: Record<StoreTable, Row[]> = { l7: [], l4: [], tls: [], netns: [] };
  /** l7 rows in the stored layout, by column (posted as Batch.l7Stored) */
  private l7Stored: L7Columns = newL7Columns();
  private queued = 0;
  private droppedSince: TableCounts = zeroCounts();
  readonly dropped: TableCounts = zeroCounts();
  private readonly timer: NodeJS.Timeout;
  private closing: Promise<StoreCloseResult> | undefined;
  private readonly batchRows: number;
  private readonly maxQueueRows: number;
  private readonly block: boolean;
  /** the first error the writer thread reported */
  failure: string | undefined;
  private closedResolve: ((m: Extract<FromWorker, { type: 'closed' }>) => void) | undefined;
  /**
   * Settles once the writer thread has the database open (or failed to). A run that drops root (--user) waits for
   * it: the connection, opened as root, keeps its -wal and -shm files, which the user could not create in a
   * directory of root's.
   */
  readonly opened: Promise<void>;
  private openedResolve!: () => void;

  /** Opens (creating and migrating: errors are thrown here, before any capture) and starts the writer thread. */
  constructor(readonly opts: StoreWriterOptions) {
    openDatabase(opts.file).close();
    this.batchRows = opts.batchRows ?? 2000;
    this.maxQueueRows = Math.max(1, opts.maxQueueRows ?? 100_000);
    this.block = opts.blockWhenFull ?? false;
    const acked = new SharedArrayBuffer(4);
    this.acked = new Int32Array(acked);
    const init: WorkerInit = {
      file: opts.file,
      retention: {
        maxBytes: opts.retention?.maxBytes ?? DEFAULT_RETENTION_BYTES,
        maxAgeUs: opts.retention?.maxAgeUs ?? DEFAULT_RETENTION_AGE_US,
      },
      acked,
    };
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    // the thread keeps the process alive until the database is open (someone may be awaiting `opened`), not after
    this.opened = new Promise<void>((resolve) => {
      this.openedResolve = () => {
        if (this.closing === undefined) this.worker.unref(); // close() keeps it referenced until 'closed'
        resolve();
      };
    });
    this.worker.on('message', (m: FromWorker) => {
      if (m.type === 'opened') this.openedResolve();
      else if (m.type === 'error') {
        this.failure ??= m.message;
        this.openedResolve();
      } else this.closedResolve?.(m);
    });
    this.worker.on('error', (err) => {
      this.failure ??= err.message;
      this.openedResolve();
    });
    this.worker.on('exit', () => this.openedResolve());
    this.timer = setInterval(() => this.flush(), opts.flushMs ?? 250);
    this.timer.unref();
  }

  /** Rows queued here or posted and not yet written. */
  get backlog(): number {
    return this.queued + ((this.posted - Atomics.load(this.acked, 0)) | 0);
  }

  /** Room for one more row of table t (false: dropped and counted). Waits for the writer thread with -r. */
  private room(t: StoreTable): boolean {
    if (this.closing !== undefined) {
      this.drop(t);
      return false;
    }
    if (this.backlog >= this.maxQueueRows) {
      if (!this.block) {
        this.drop(t);
        return false;
      }
      this.flush();
      // wait for the writer thread to take rows (capture files only)
      for (;;) {
        const seen = Atomics.load(this.acked, 0);
        if (this.backlog < this.maxQueueRows) break;
        Atomics.wait(this.acked, 0, seen, 1000);
      }
    }
    return true;
  }

  /** An l7 row appended to the stored-layout columns by `make` (nothing appended when it throws). */
  private pushL7(make: (cols: L7Columns) => void): void {
    if (!this.room('l7')) return;
    const at = this.l7Stored[0]!.length;
    try {
      make(this.l7Stored);
    } catch {
      for (const c of this.l7Stored) c.length = at;
      this.drop('l7');
      return;
    }
    if (++this.queued >= this.batchRows) this.flush();
  }

  private push(t: StoreTable, make: () => Row): void {
    if (!this.room(t)) return;
    let row: Row;
    try {
      row = make();
    } catch {
      this.drop(t); // a record the schema cannot hold (e.g. a packet blob out of range): counted, never thrown
      return;
    }
    this.queue[t].push(row);
    if (++this.queued >= this.batchRows) this.flush();
  }

  private drop(t: StoreTable): void {
    this.dropped[t]++;
    this.droppedSince[t]++;
  }

  /** Post what is queued to the writer thread (a no-op when nothing is). */
  flush(): void {
    if (this.queued === 0) return;
    const q = this.queue;
    const l7Stored = this.l7Stored;
    const dropped = this.droppedSince;
    this.queue = { l7: [], l4: [], tls: [], netns: [] };
    this.l7Stored = newL7Columns();
    this.droppedSince = zeroCounts();
    const n = this.queued;
    this.queued = 0;
    this.posted = (this.posted + n) | 0;
    this.worker.postMessage({ type: 'batch', ...q, l7Stored, dropped } satisfies ToWorker);
  }

  request(_ev: HttpRequestEvent): void {}
  response(_ev: HttpResponseEvent): void {}
  transaction(tx: HttpTransaction): void {
    this.pushL7((out) => pushL7Stored(tx, this.iso, out));
  }
  tls(ev: TlsHelloEvent): void {
    this.push('tls', () => tlsRow(ev, this.iso));
  }
  /** a `wirelog trace` transaction, as an L7 row */
  traceTransaction(tx: TraceTransaction): void {
    this.pushL7((cols) => pushL7StoredRow(l7StoredOfRow(l7RowOfTrace(tx, this.iso)), cols));
  }
  l4(c: L4Chunk): void {
    this.push('l4', () => l4Row(c, this.iso));
  }
  netns(info: NetnsInfo, tsUs: number): void {
    this.push('netns', () => netnsRow(info, tsUs, this.iso));
  }

  /** Write what is queued, close the database; resolves when the writer thread is done. */
  close(): Promise<StoreCloseResult> {
    if (this.closing !== undefined) return this.closing;
    clearInterval(this.timer);
    this.flush();
    this.closing = new Promise<StoreCloseResult>((resolve) => {
      this.worker.ref();
      let done = false;
      const finish = (m?: Extract<FromWorker, { type: 'closed' }>): void => {
        if (done) return;
        done = true;
        const dropped = { ...this.dropped };
        const droppedTotal = STORE_TABLES.reduce((a, t) => a + dropped[t], 0) + (m?.failedRows ?? 0);
        const r: StoreCloseResult = {
          written: m?.rowsWritten ?? 0,
          dropped: droppedTotal,
          droppedByTable: dropped,
          stats: m?.stats ?? { written: zeroCounts(), dropped: zeroCounts(), removed: zeroCounts() },
          batches: m?.batches ?? 0,
          batchMsTotal: m?.batchMsTotal ?? 0,
          batchMsMax: m?.batchMsMax ?? 0,
        };
        if (this.failure !== undefined) r.error = this.failure;
        resolve(r);
      };
      this.closedResolve = finish;
      this.worker.once('exit', () => finish());
      // drops after the last batch go with the close message
      this.worker.postMessage({ type: 'close', dropped: this.droppedSince } satisfies ToWorker);
      this.droppedSince = zeroCounts();
    });
    return this.closing;
  }
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

export function teeNetnsSink(a: NetnsSinkLike | undefined, b: NetnsSinkLike): NetnsSinkLike {
  return a === undefined ? b : { netns: (i, t) => { a.netns(i, t); b.netns(i, t); } };
}

/** `wirelog trace --store`: the output gets every event, the store every transaction (after the same filter). */
export function teeTraceSink(a: TraceSink, store: SqliteStoreWriter): TraceSink {
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
