/**
 * Live capture: runs build/wirelog-sensor (the only privileged piece) and turns its stdout into TransportSegments
 * through SensorRecordReader. The agent itself needs no privileges beyond being allowed to start the sensor.
 *
 * Sensor stderr protocol (lines prefixed "wirelog-sensor: "):
 *   attached iface=.. ifindex=.. ports=.. snaplen=.. ring_mb=..  → ready()
 *   ports now LIST                                               → portsChanged() (ack of setPorts)
 *   anything else                                                → error(message without the prefix)
 * Unprefixed stderr lines are libbpf's log (with verbose) and go to log().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import type { SensorStats, TransportSegment } from '../records.js';
import { SensorRecordReader, type SensorHello } from '../decode/sensor.js';

export interface LiveCaptureOptions {
  sensorPath: string;
  /** interface name; all interfaces of the network namespace when absent */
  iface?: string;
  ports: number[] | 'any';
  /** payload bytes per packet, 0..4096 (sensor default 4096) */
  snaplen?: number;
  /** ring buffer MiB (sensor default 8) */
  ringMb?: number;
  /** stats record interval (sensor default 1000 ms) */
  statsMs?: number;
  /** libbpf's debug log, delivered to handlers.log */
  verbose?: boolean;
}

export interface LiveCaptureHandlers {
  packet(seg: TransportSegment): void;
  stats(s: SensorStats): void;
  ready(info: { iface: string; ports: string; snaplen: number }): void;
  error(message: string): void;
  /** after the sensor exited and every record it wrote was delivered */
  exit(code: number | null, signal: string | null): void;
  hello?(h: SensorHello): void;
  portsChanged?(ports: string): void;
  log?(line: string): void;
}

export interface LiveCapture {
  setPorts(p: number[] | 'any'): void;
  /** SIGTERM to the sensor; it drains its ring buffer, writes final stats and exits; exit() fires after that. */
  stop(): void;
  /** sensor pid, -1 when it could not be started */
  readonly pid: number;
}

const PREFIX = 'wirelog-sensor: ';

export function formatPorts(p: number[] | 'any'): string {
  if (p === 'any') return 'any';
  if (p.length === 0) throw new RangeError('ports: empty list (use "any" for every port)');
  for (const n of p) {
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new RangeError(`ports: not a port number: ${n}`);
  }
  return p.join(',');
}

export function sensorArgs(opts: LiveCaptureOptions): string[] {
  const args = ['packet', '--binary', '-p', formatPorts(opts.ports)];
  if (opts.iface !== undefined) args.push('-i', opts.iface);
  if (opts.snaplen !== undefined) args.push('-s', String(opts.snaplen));
  if (opts.ringMb !== undefined) args.push('-b', String(opts.ringMb));
  if (opts.statsMs !== undefined) args.push('--stats-ms', String(opts.statsMs));
  if (opts.verbose) args.push('-v');
  return args;
}

/** "attached iface=lo ifindex=1 ports=80 snaplen=4096 ring_mb=8" → key/value map */
function parseKv(s: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of s.split(/\s+/)) {
    const eq = part.indexOf('=');
    if (eq > 0) m.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return m;
}

export function startLiveCapture(opts: LiveCaptureOptions, handlers: LiveCaptureHandlers): LiveCapture {
  const args = sensorArgs(opts); // throws on bad ports before anything starts
  try {
    accessSync(opts.sensorPath, fsConstants.X_OK);
  } catch {
    const message = `sensor binary not found at ${opts.sensorPath}: run npm run build`;
    // async, like every other outcome, so callers can rely on the returned handle existing first
    process.nextTick(() => {
      handlers.error(message);
      handlers.exit(127, null);
    });
    return { pid: -1, setPorts() {}, stop() {} };
  }

  const child: ChildProcess = spawn(opts.sensorPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let exited = false;
  let spawnFailed = false;
  const reader = new SensorRecordReader({
    packet: (seg) => handlers.packet(seg),
    stats: (s) => handlers.stats(s),
    hello: (h) => handlers.hello?.(h),
    error: (e) => handlers.error(`sensor stream at byte ${e.offset}: ${e.message}`),
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
      handlers.ready({
        iface: kv.get('iface') ?? opts.iface ?? 'any',
        ports: kv.get('ports') ?? formatPorts(opts.ports),
        snaplen: Number(kv.get('snaplen') ?? opts.snaplen ?? 4096),
      });
    } else if (msg.startsWith('ports now ')) {
      handlers.portsChanged?.(msg.slice('ports now '.length));
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

  // The agent may close or abandon stdin; the sensor ignores EOF there, and a dead sensor must not crash us.
  child.stdin!.on('error', () => {});

  child.on('error', (err: NodeJS.ErrnoException) => {
    // spawn failure (EACCES, ENOENT after the check): 'close' still follows
    spawnFailed = true;
    handlers.error(`cannot start sensor ${opts.sensorPath}: ${err.message}`);
  });
  // 'close' fires after the process exited and its stdout/stderr ended: every record has been pushed.
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
    setPorts(p: number[] | 'any') {
      const list = formatPorts(p);
      if (!exited && child.stdin!.writable) child.stdin!.write(`ports ${list}\n`);
    },
    stop() {
      if (!exited && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
