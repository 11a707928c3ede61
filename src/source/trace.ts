/**
 * Process tracing: runs `build/wirelog-sensor trace` (the only privileged piece) for a set of pids and turns its
 * stdout into TraceData / TraceConn / TraceProc events through SensorRecordReader.
 *
 * Sensor stderr protocol (lines prefixed "wirelog-sensor: "):
 *   attached mode=trace pids=.. comm=.. follow=.. tls_binaries=N snaplen=.. ring_mb=..  → ready()
 *   tls: N SSL functions probed in PATH | note: ...                                      → info()
 *   anything else (e.g. "no such process: 12345", exit code 2)                          → error()
 * Unprefixed stderr lines are libbpf's log (with verbose) and go to log(). Spawning and exit: sensor-process.ts.
 */
import {
  type TraceConn,
  type TraceData,
  type TraceProc,
  type TraceStats,
} from '../decode/sensor.js';
import { startSensorProcess, withStreamArgs, type SensorProcessHandlers } from './sensor-process.js';

export interface TraceOptions {
  sensorPath: string;
  /** processes to trace (at least one, unless comm is given) */
  pids: number[];
  /** trace children forked by the traced processes */
  follow?: boolean;
  /** only tasks with this comm (≤ 15 characters); alone: every process of that name */
  comm?: string;
  /** payload bytes per event, 0..4096 (sensor default 4096) */
  snaplen?: number;
  /** SSL_read/SSL_write uprobes (default true) */
  tls?: boolean;
  ringMb?: number;
  statsMs?: number;
  verbose?: boolean;
}

export interface TraceReady {
  pids: number[];
  comm?: string;
  follow: boolean;
  /** binaries (libssl, or an executable with OpenSSL linked in) whose SSL functions are probed */
  tlsBinaries: number;
  snaplen: number;
}

/** with error(), exit(), hello() and log() of SensorProcessHandlers */
export interface TraceHandlers extends SensorProcessHandlers {
  /** the payload view is valid only during the call */
  data(d: TraceData): void;
  conn?(c: TraceConn): void;
  proc?(p: TraceProc): void;
  stats?(s: TraceStats): void;
  ready(info: TraceReady): void;
  info?(message: string): void;
}

export interface TraceSession {
  /** "stop" on the sensor's stdin; it detaches, drains its ring buffer, writes final stats and exits; exit() follows. */
  stop(): void;
  /** ask for a stats record now */
  requestStats(): void;
  readonly pid: number;
}

export function traceArgs(opts: TraceOptions): string[] {
  if (opts.pids.length === 0 && opts.comm === undefined) throw new RangeError('trace: give pids or a comm');
  for (const p of opts.pids) {
    if (!Number.isInteger(p) || p < 1 || p > 0x7fffffff) throw new RangeError(`trace: not a pid: ${p}`);
  }
  if (opts.follow && opts.pids.length === 0) throw new RangeError('trace: follow needs pids');
  if (opts.comm !== undefined && (opts.comm.length === 0 || Buffer.byteLength(opts.comm) > 15)) {
    throw new RangeError(`trace: comm must be 1..15 bytes: ${opts.comm}`);
  }
  const args = ['trace', '--binary'];
  for (const p of opts.pids) args.push('-p', String(p));
  if (opts.follow) args.push('--follow');
  if (opts.comm !== undefined) args.push('--comm', opts.comm);
  if (opts.snaplen !== undefined) args.push('-s', String(opts.snaplen));
  if (opts.tls === false) args.push('--no-tls');
  return withStreamArgs(args, opts);
}

export function startTrace(opts: TraceOptions, handlers: TraceHandlers): TraceSession {
  // traceArgs throws on bad options before anything starts
  const sensor = startSensorProcess(opts.sensorPath, traceArgs(opts), {
    records: {
      packet: () => {}, // not produced in trace mode
      stats: () => {},
      data: (d) => handlers.data(d),
      conn: (c) => handlers.conn?.(c),
      proc: (p) => handlers.proc?.(p),
      traceStats: (s) => handlers.stats?.(s),
    },
    attached: (kv) => {
      const pids = kv.get('pids');
      const comm = kv.get('comm');
      handlers.ready({
        pids: pids && pids !== '-' ? pids.split(',').map(Number) : [],
        comm: comm && comm !== '-' ? comm : undefined,
        follow: kv.get('follow') === '1',
        tlsBinaries: Number(kv.get('tls_binaries') ?? 0),
        snaplen: Number(kv.get('snaplen') ?? opts.snaplen ?? 4096),
      });
    },
    message: (msg) => {
      if (msg.startsWith('tls: ') || msg.startsWith('note: ')) handlers.info?.(msg);
      else handlers.error(msg);
    },
    handlers,
  });
  if (!sensor) return { pid: -1, stop() {}, requestStats() {} };

  return {
    get pid() {
      return sensor.pid;
    },
    stop() {
      sensor.stop();
    },
    requestStats() {
      sensor.command('stats');
    },
  };
}
