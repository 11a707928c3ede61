/**
 * The store's writer thread: opens the database, writes each batch the capture thread posts in one transaction,
 * applies retention at most once a second, and tells the capture thread how many rows it has taken (a shared
 * counter, so the capture thread can bound its queue without waiting for messages). Not a public entry point.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StoreDb, type Batch, type RetentionOptions, type TableCounts } from './db.js';
import { STORE_TABLES } from './schema.js';

export interface WorkerInit {
  file: string;
  retention: RetentionOptions;
  /** Int32Array over a SharedArrayBuffer: [0] rows taken (written or failed), mod 2^32 */
  acked: SharedArrayBuffer;
}

export type ToWorker = ({ type: 'batch' } & Batch) | { type: 'close'; dropped: Partial<TableCounts> };
export type FromWorker =
  | { type: 'error'; message: string }
  /** the database is open (its -wal and -shm files exist and stay while this connection lives) */
  | { type: 'opened' }
  | { type: 'closed'; stats: ReturnType<StoreDb['stats']>; batches: number; batchMsTotal: number; batchMsMax: number; rowsWritten: number; failedRows: number };

const init = workerData as WorkerInit;
const acked = new Int32Array(init.acked);
const port = parentPort!;
let db: StoreDb | undefined;
let failed: string | undefined;
let lastRetention = 0;
let batches = 0, batchMsTotal = 0, batchMsMax = 0, rowsWritten = 0, failedRows = 0;

try {
  db = new StoreDb(init.file, init.retention);
  db.applyRetention();
  lastRetention = Date.now();
  port.postMessage({ type: 'opened' } satisfies FromWorker);
} catch (err) {
  failed = (err as Error).message;
  port.postMessage({ type: 'error', message: failed } satisfies FromWorker);
}

function ack(n: number): void {
  Atomics.add(acked, 0, n);
  Atomics.notify(acked, 0);
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'batch') {
    const n = STORE_TABLES.reduce((a, t) => a + m[t].length, 0) + (m.l7Stored?.[0]?.length ?? 0);
    if (db !== undefined && failed === undefined) {
      const t0 = performance.now();
      try {
        rowsWritten += db.write(m);
      } catch (err) {
        failedRows += n;
        failed = (err as Error).message;
        port.postMessage({ type: 'error', message: failed } satisfies FromWorker);
      }
      const ms = performance.now() - t0;
      batches++;
      batchMsTotal += ms;
      if (ms > batchMsMax) batchMsMax = ms;
      if (Date.now() - lastRetention >= 1000 && failed === undefined) {
        lastRetention = Date.now();
        try {
          db.applyRetention();
        } catch (err) {
          port.postMessage({ type: 'error', message: `retention: ${(err as Error).message}` } satisfies FromWorker);
        }
      }
    } else failedRows += n;
    ack(n);
    return;
  }
  // close
  let stats: ReturnType<StoreDb['stats']> = {
    written: { l7: 0, l4: 0, tls: 0, netns: 0 }, dropped: { l7: 0, l4: 0, tls: 0, netns: 0 }, removed: { l7: 0, l4: 0, tls: 0, netns: 0 },
  };
  if (db !== undefined) {
    try {
      db.addDropped(m.dropped);
      if (failed === undefined) db.applyRetention();
      stats = db.stats();
      db.close();
    } catch (err) {
      port.postMessage({ type: 'error', message: (err as Error).message } satisfies FromWorker);
    }
  }
  port.postMessage({ type: 'closed', stats, batches, batchMsTotal, batchMsMax, rowsWritten, failedRows } satisfies FromWorker);
  port.close();
});
