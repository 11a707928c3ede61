/**
 * `wirelog trace`'s pipeline: the sensor's trace mode (source/trace.ts) → TraceTracker → a trace sink. It runs until
 * `signal` aborts or every traced process has exited (children too with `follow`), and returns what happened; the
 * CLI turns that into lines and an exit code.
 */
import type { TraceSink, TraceTrackerStats } from '../records.js';
import { TraceTracker } from '../correlate/trace/tracker.js';
import type { LogWriter } from '../sinks/log-writer.js';
import { startTrace } from '../source/trace.js';
import { processExists } from '../source/processes.js';
import type { WlErrorCode } from '../errors.js';

export interface TracePipelineOptions {
  sensorPath: string;
  pids: number[];
  follow: boolean;
  comm?: string;
  snaplen?: number;
  tls: boolean;
  ringMb?: number;
  sink: TraceSink;
  /** the sink's writer: flushed while traffic is quiet */
  writer: LogWriter;
  /** stop (the sensor drains first) */
  signal?: AbortSignal;
  /** the sensor attached: the pids it traces and the binaries it probes for TLS */
  onReady?: (info: { pids: number[]; tlsBinaries: number }) => void;
  /**
   * called once the sensor process runs (it attaches on its own, as root): where the CLI drops root
   * (src/cli/privileges.ts). A throw stops the run with that error.
   */
  dropPrivileges?: () => void;
}

export interface TraceResult {
  /** the sensor attached (before that, nothing was traced) */
  attached: boolean;
  /** 0 when the sensor attached and exited cleanly */
  exitCode: number;
  /** the first error the sensor or the start reported */
  error?: string;
  /** its code: the sensor stream's own (WL_ERR_SENSOR_*), WL_ERR_PRIVILEGES, or WL_ERR_SENSOR for the rest */
  errorCode?: WlErrorCode;
  events: number;
  kernelDrops: number;
  stats: TraceTrackerStats;
}

/** How often to look for traced processes that exited without an event reaching us, and to flush quiet output. */
const PROCESS_POLL_MS = 500;
const FLUSH_MS = 200;

export async function runTrace(o: TracePipelineOptions): Promise<TraceResult> {
  const tracker = new TraceTracker(o.sink);
  let events = 0;
  let kernelDrops = 0;
  let error: string | undefined;
  let errorCode: WlErrorCode = 'WL_ERR_SENSOR';
  let attached = false;
  /** dropPrivileges failed */
  let failedStart = false;
  const live = new Set(o.pids);
  let flushTimer: NodeJS.Timeout | undefined;

  const exitCode = await new Promise<number>((resolve) => {
    let session: ReturnType<typeof startTrace> | undefined;
    const stop = (): void => session?.stop();
    o.signal?.addEventListener('abort', stop, { once: true });
    // a traced process may exit without an event reaching us (e.g. attached after its threads were gone)
    const poll = setInterval(() => {
      for (const p of live) if (!processExists(p)) live.delete(p);
      if (live.size === 0 && !o.follow) stop();
    }, PROCESS_POLL_MS);
    const done = (code: number): void => {
      clearInterval(poll);
      if (flushTimer !== undefined) clearInterval(flushTimer);
      o.signal?.removeEventListener('abort', stop);
      resolve(code);
    };
    try {
      session = startTrace(
        { sensorPath: o.sensorPath, pids: o.pids, follow: o.follow, comm: o.comm, snaplen: o.snaplen, tls: o.tls, ringMb: o.ringMb },
        {
          data: (d) => {
            events++;
            tracker.data(d);
          },
          conn: (c) => {
            events++;
            tracker.conn(c);
          },
          proc: (p) => {
            events++;
            tracker.proc(p);
            if (p.kind === 'fork' && o.follow && live.has(p.ppid)) live.add(p.pid);
            if (p.kind === 'exit' && live.delete(p.pid) && live.size === 0) stop();
          },
          stats: (st) => {
            kernelDrops = st.ringbufDrops;
          },
          ready: (info) => {
            attached = true;
            o.onReady?.({ pids: info.pids.length > 0 ? info.pids : o.pids, tlsBinaries: info.tlsBinaries });
            // lines are coalesced; push them out while traffic is quiet
            flushTimer = setInterval(() => o.writer.flush(), FLUSH_MS);
          },
          error: (m, code) => {
            if (error !== undefined) return;
            error = m;
            if (code !== undefined) errorCode = code;
          },
          info: () => {},
          exit: (code) => {
            if (!attached && error === undefined) error = `sensor exited with code ${code} before attaching`;
            done(attached && code === 0 && !failedStart ? 0 : 1);
          },
        },
      );
      if (session.pid > 0 && o.dropPrivileges !== undefined) {
        try {
          o.dropPrivileges();
        } catch (err) {
          error = (err as Error).message;
          errorCode = 'WL_ERR_PRIVILEGES';
          failedStart = true;
          stop();
        }
      }
      if (o.signal?.aborted) stop();
    } catch (err) {
      error = (err as Error).message;
      done(1);
    }
  });

  tracker.end();
  const r: TraceResult = { attached, exitCode, events, kernelDrops, stats: tracker.stats };
  if (error !== undefined) {
    r.error = error;
    r.errorCode = errorCode;
  }
  return r;
}
