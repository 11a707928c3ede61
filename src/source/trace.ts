/**
 * Process tracing: runs `build/wirelog-sensor trace` (the only privileged piece) for a set of pids and turns its
 * stdout into TraceData / TraceConn / TraceProc events through SensorRecordReader.
 *
 * Sensor stderr protocol (lines prefixed "wirelog-sensor: "):
 *   attached mode=trace pids=.. comm=.. follow=.. tls_binaries=N snaplen=.. ring_mb=..  → ready()
 *   tls: N SSL functions probed in PATH | note: ...                                      → info()
 *   anything else (e.g. "no such process: 12345", exit code 2)                          → error()
 * Unprefixed stderr lines are libbpf's log (with verbose) and go to log().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import {
  SensorRecordReader,
  type SensorHello,
  type TraceConn,
  type TraceData,
  type TraceProc,
  type TraceStats,
} from '../decode/sensor.js';

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

export interface TraceHandlers {
  /** the payload view is valid only during the call */
  data(d: TraceData): void;
  conn?(c: TraceConn): void;
  proc?(p: TraceProc): void;
  stats?(s: TraceStats): void;
  ready(info: TraceReady): void;
  error(message: string): void;
  /** after the sensor exited and every record it wrote was delivered */
  exit(code: number | null, signal: string | null): void;
  hello?(h: SensorHello): void;
  info?(message: string): void;
  log?(line: string): void;
}

export interface TraceSession {
  /** SIGTERM to the sensor; it detaches, drains its ring buffer, writes final stats and exits; exit() follows. */
  stop(): void;
  /** ask for a stats record now */
  requestStats(): void;
  readonly pid: number;
}

const PREFIX = 'wirelog-sensor: ';

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
  if (opts.ringMb !== undefined) args.push('-b', String(opts.ringMb));
  if (opts.statsMs !== undefined) args.push('--stats-ms', String(opts.statsMs));
  if (opts.verbose) args.push('-v');
  return args;
}

function parseKv(s: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of s.split(/\s+/)) {
    const eq = part.indexOf('=');
    if (eq > 0) m.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return m;
}

export function startTrace(opts: TraceOptions, handlers: TraceHandlers): TraceSession {
  const args = traceArgs(opts); // throws on bad options before anything starts
  try {
    accessSync(opts.sensorPath, fsConstants.X_OK);
  } catch {
    const message = `sensor binary not found at ${opts.sensorPath}: run npm run build`;
    process.nextTick(() => {
      handlers.error(message);
      handlers.exit(127, null);
    });
    return { pid: -1, stop() {}, requestStats() {} };
  }

  const child: ChildProcess = spawn(opts.sensorPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let exited = false;
  let spawnFailed = false;
  const reader = new SensorRecordReader({
    packet: () => {}, // not produced in trace mode
    stats: () => {},
    hello: (h) => handlers.hello?.(h),
    error: (e) => handlers.error(`sensor stream at byte ${e.offset}: ${e.message}`),
    data: (d) => handlers.data(d),
    conn: (c) => handlers.conn?.(c),
    proc: (p) => handlers.proc?.(p),
    traceStats: (s) => handlers.stats?.(s),
  });
  child.stdout!.on('data', (chunk: Buffer) => reader.push(chunk));

  let errTail = '';
  const onErrLine = (line: string): void => {
    if (line === '') return;
    if (!line.startsWith(PREFIX)) {
      handlers.log?.(line);
      return;
    }
    const msg = line.slice(PREFIX.length);
    if (msg.startsWith('attached ')) {
      const kv = parseKv(msg.slice('attached '.length));
      const pids = kv.get('pids');
      const comm = kv.get('comm');
      handlers.ready({
        pids: pids && pids !== '-' ? pids.split(',').map(Number) : [],
        comm: comm && comm !== '-' ? comm : undefined,
        follow: kv.get('follow') === '1',
        tlsBinaries: Number(kv.get('tls_binaries') ?? 0),
        snaplen: Number(kv.get('snaplen') ?? opts.snaplen ?? 4096),
      });
    } else if (msg.startsWith('tls: ') || msg.startsWith('note: ')) {
      handlers.info?.(msg);
    } else {
      handlers.error(msg);
    }
  };
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    const lines = (errTail + s).split('\n');
    errTail = lines.pop() ?? '';
    for (const l of lines) onErrLine(l);
  });
  child.stdin!.on('error', () => {});
  child.on('error', (err: NodeJS.ErrnoException) => {
    spawnFailed = true;
    handlers.error(`cannot start sensor ${opts.sensorPath}: ${err.message}`);
  });
  child.on('close', (code, signal) => {
    if (errTail) onErrLine(errTail);
    errTail = '';
    reader.end();
    exited = true;
    handlers.exit(spawnFailed && code === null ? 127 : code, signal);
  });

  return {
    get pid() {
      return child.pid ?? -1;
    },
    stop() {
      if (!exited && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
    requestStats() {
      if (!exited && child.stdin!.writable) child.stdin!.write('stats\n');
    },
  };
}
