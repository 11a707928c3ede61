/**
 * Runs build/wirelog-sensor in either mode (live.ts: packet, trace.ts: trace) and feeds its stdout to a
 * SensorRecordReader. Shared here: the binary-missing hint, spawning, splitting stderr into lines, and the
 * stop/exit sequencing (exit() only after the process ended and every record it wrote was delivered).
 *
 * Sensor stderr: "wirelog-sensor: attached k=v ..." goes to attached(), other lines with that prefix to message()
 * without the prefix (each mode gives them meaning); unprefixed lines are libbpf's log (with verbose) and go to
 * handlers.log().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { SensorRecordReader, type SensorHello, type SensorRecordHandlers } from '../decode/sensor.js';
import type { WlErrorCode } from '../errors.js';

export interface SensorProcessHandlers {
  hello?(h: SensorHello): void;
  /** one line for the user; `code` when the error has one of its own (the record stream's WL_ERR_SENSOR_*) */
  error(message: string, code?: WlErrorCode): void;
  /** after the sensor exited and every record it wrote was delivered */
  exit(code: number | null, signal: string | null): void;
  /** libbpf's log (unprefixed stderr lines, with verbose) */
  log?(line: string): void;
}

export interface SensorProcessOptions {
  /** the record handlers; hello goes to handlers.hello(), stream errors to handlers.error() */
  records: Omit<SensorRecordHandlers, 'error' | 'hello'>;
  /** the "attached ..." line: the sensor is ready */
  attached(kv: Map<string, string>): void;
  /** any other "wirelog-sensor: " stderr line, without the prefix */
  message(msg: string): void;
  handlers: SensorProcessHandlers;
}

export interface SensorProcess {
  /** sensor pid, -1 when it could not be started */
  readonly pid: number;
  /** writes one command line (without the newline) to the sensor's stdin while it runs */
  command(line: string): void;
  /**
   * "stop" on the sensor's stdin, which then ends: it drains its ring buffer, writes final stats and exits; exit()
   * fires after that. (Not a signal: the agent may have dropped root since it started the sensor.)
   */
  stop(): void;
  /**
   * Gives up on a sensor that did not stop and may not be killed (root, and we are not any more): closes our ends of
   * its pipes so that nothing keeps this process alive. The sensor then ends on EPIPE, or by the parent-death signal
   * when this process exits. exit() is not called.
   */
  abandon(): void;
}

const SENSOR_PREFIX = 'wirelog-sensor: ';

/** Appends the options both modes end with (-b, --stats-ms, -v) to args and returns it. */
export function withStreamArgs(args: string[], opts: { ringMb?: number; statsMs?: number; verbose?: boolean }): string[] {
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

/**
 * Starts the sensor. Returns undefined when the binary is not executable: error() and exit(127) then follow
 * asynchronously, like every other outcome, so callers can rely on their returned handle existing first.
 */
export function startSensorProcess(sensorPath: string, args: string[], opts: SensorProcessOptions): SensorProcess | undefined {
  const h = opts.handlers;
  try {
    accessSync(sensorPath, fsConstants.X_OK);
  } catch {
    const message = `sensor binary not found at ${sensorPath}: run npm run build`;
    process.nextTick(() => {
      h.error(message);
      h.exit(127, null);
    });
    return undefined;
  }

  const child: ChildProcess = spawn(sensorPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let exited = false;
  let spawnFailed = false;
  const reader = new SensorRecordReader({
    ...opts.records,
    hello: (hello) => h.hello?.(hello),
    error: (e) => h.error(`sensor stream at byte ${e.offset}: ${e.code}: ${e.message}`, e.code),
  });
  child.stdout!.on('data', (chunk: Buffer) => reader.push(chunk));

  let errTail = '';
  const onErrLine = (line: string): void => {
    if (line === '') return;
    if (!line.startsWith(SENSOR_PREFIX)) {
      h.log?.(line);
      return;
    }
    const msg = line.slice(SENSOR_PREFIX.length);
    if (msg.startsWith('attached ')) opts.attached(parseKv(msg.slice('attached '.length)));
    else opts.message(msg);
  };
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    const lines = (errTail + s).split('\n');
    errTail = lines.pop() ?? '';
    for (const l of lines) onErrLine(l);
  });

  // stdin is the sensor's control channel: commands, and its end stops it. A dead sensor must not crash us.
  child.stdin!.on('error', () => {});

  child.on('error', (err: NodeJS.ErrnoException) => {
    // spawn failure (EACCES, ENOENT after the check): 'close' still follows
    spawnFailed = true;
    h.error(`cannot start sensor ${sensorPath}: ${err.message}`);
  });
  // 'close' fires after the process exited and its stdout/stderr ended: every record has been pushed.
  child.on('close', (code, signal) => {
    if (errTail) onErrLine(errTail);
    errTail = '';
    reader.end();
    exited = true;
    h.exit(spawnFailed && code === null ? 127 : code, signal);
  });

  return {
    get pid() {
      return child.pid ?? -1;
    },
    command(line: string) {
      if (!exited && child.stdin!.writable) child.stdin!.write(`${line}\n`);
    },
    abandon() {
      exited = true;
      for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
      child.removeAllListeners('close');
      child.unref();
    },
    stop() {
      // "stop" and the end of its stdin, not SIGTERM: an agent that dropped root may not signal the root sensor
      if (!exited && child.stdin!.writable) child.stdin!.end('stop\n');
    },
  };
}
