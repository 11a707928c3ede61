/**
 * `wirelog trace -p PID ...`: the sensor's trace mode (src/source/trace.ts) → TraceTracker → h2olog lines or JSON
 * lines, to stdout or -w FILE. Ends on SIGINT/SIGTERM or when every traced process has exited, with the summary
 * line `wirelog: N requests, N responses, N events, N dropped by kernel; ...` on stderr.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatOptions, parseArgs, UsageError, type OptionSpec } from './args.js';
import { stderrLine, stdoutText } from './capture.js';
import { StdoutWriter, type LogWriter } from '../sinks/log-writer.js';
import { parseHeaderMode, type HeaderMode } from '../sinks/redact.js';
import { parseH2ologTypes, H2ologSink, type H2ologType } from '../sinks/h2olog.js';
import { TraceJsonlSink } from '../sinks/trace-jsonl.js';
import {
  TraceTracker, parseTraceFilter, filterTraceSink, TraceFilterError, type TraceFilter, type TraceSink, type TraceTrackerStats,
} from '../correlate/trace-tracker.js';

export const TRACE_OPTIONS: readonly OptionSpec[] = [
  { name: 'pid', short: 'p', value: true, multiple: true, valueName: 'PID', help: 'process to trace (repeatable; comma lists accepted)' },
  { name: 'follow', value: false, help: 'also trace children forked after start' },
  { name: 'comm', value: true, valueName: 'NAME', help: 'only threads whose comm is NAME' },
  { name: 'snaplen', short: 's', value: true, valueName: 'N', help: 'bytes copied per syscall / SSL call, default 4096' },
  { name: 'types', short: 't', value: true, valueName: 'LIST', help: 'line types to print: RxProtocol,RxHeader,TxStatus,TxHeader,TxProtocol,RxStatus' },
  { name: 'write', short: 'w', value: true, valueName: 'FILE', help: 'write to FILE instead of stdout' },
  { name: 'format', value: true, valueName: 'F', help: 'h2olog (default) | jsonl' },
  { name: 'filter', value: true, valueName: 'EXPR', help: 'only requests matching all terms: method=GET,host=example.com,path=/api (prefix),status=2xx|404' },
  { name: 'headers', value: true, valueName: 'MODE', help: 'none | names | length | values; default: values with Authorization, Cookie,\nSet-Cookie and Proxy-Authorization shown as [redacted]' },
  { name: 'no-tls', value: false, help: 'do not attach TLS uprobes' },
  { name: 'ring-mb', short: 'b', value: true, valueName: 'MB', help: 'kernel ring buffer in MiB, 1..1024, rounded up to a power of 2 (default 64)' },
  { name: 'help', short: 'h', value: false, help: 'this help' },
];

export const TRACE_USAGE = `Usage: wirelog trace -p PID [-p PID ...] [options]

Log the HTTP/1.x and HTTP/2 requests and responses of running processes (server or client side, TLS plaintext
through OpenSSL uprobes), as h2olog lines (CONNID REQID NAME VALUE) or JSON lines. Needs root.

Options:
${formatOptions(TRACE_OPTIONS.filter((o) => o.help !== undefined))}

See docs/trace.md.
`;

export interface TraceSettings {
  pids: number[];
  follow: boolean;
  comm?: string;
  snaplen?: number;
  types?: Set<H2ologType>;
  write?: string;
  format: 'h2olog' | 'jsonl';
  filter?: TraceFilter;
  headers: HeaderMode;
  tls: boolean;
  /** -b: the sensor's ring buffer in MiB (sensor default for trace mode: 64) */
  ringMb?: number;
}

/** Flags → settings; UsageError (exit 2) names the flag. 'help' for -h. */
export function resolveTrace(argv: readonly string[]): TraceSettings | 'help' {
  const { flags, positionals } = parseArgs(argv, TRACE_OPTIONS);
  if (flags.get('help')?.values[0] === 'true') return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`, positionals[0]);
  const pids: number[] = [];
  const pf = flags.get('pid');
  for (const v of pf?.values ?? []) {
    for (const part of v.split(',')) {
      const t = part.trim();
      if (!/^[0-9]+$/.test(t) || Number(t) < 1 || Number(t) > 0x7fffffff) throw new UsageError(`${pf!.as}: not a pid: '${part}'`, pf!.as);
      if (!pids.includes(Number(t))) pids.push(Number(t));
    }
  }
  const comm = flags.get('comm');
  if (pids.length === 0) throw new UsageError('-p PID is required', '-p');
  if (comm !== undefined && (comm.values[0] === '' || Buffer.byteLength(comm.values[0]) > 15)) {
    throw new UsageError(`${comm.as}: a comm is 1..15 bytes`, comm.as);
  }
  const s: TraceSettings = {
    pids,
    follow: flags.get('follow')?.values[0] === 'true',
    format: 'h2olog',
    headers: 'redacted',
    tls: flags.get('no-tls')?.values[0] !== 'true',
  };
  if (comm !== undefined) s.comm = comm.values[0];
  const snap = flags.get('snaplen');
  if (snap !== undefined) {
    const v = snap.values[0];
    if (!/^[0-9]+$/.test(v) || Number(v) > 4096) throw new UsageError(`${snap.as}: snaplen must be 0..4096: '${v}'`, snap.as);
    s.snaplen = Number(v);
  }
  const ring = flags.get('ring-mb');
  if (ring !== undefined) {
    const v = ring.values[0];
    if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > 1024) throw new UsageError(`${ring.as}: ring buffer size must be 1..1024 MiB: '${v}'`, ring.as);
    s.ringMb = Number(v);
  }
  const types = flags.get('types');
  if (types !== undefined) {
    const r = parseH2ologTypes(types.values[0]);
    if (r.bad !== undefined) throw new UsageError(`${types.as}: unknown line type '${r.bad}' (RxProtocol,RxHeader,TxStatus,TxHeader,TxProtocol,RxStatus)`, types.as);
    if (r.types.size === 0) throw new UsageError(`${types.as}: empty list`, types.as);
    s.types = r.types;
  }
  const w = flags.get('write');
  if (w !== undefined) {
    if (w.values[0] === '') throw new UsageError(`${w.as}: empty file name`, w.as);
    s.write = w.values[0];
  }
  const fmt = flags.get('format');
  if (fmt !== undefined) {
    const v = fmt.values[0];
    if (v !== 'h2olog' && v !== 'jsonl') throw new UsageError(`${fmt.as}: unknown format '${v}' (h2olog, jsonl)`, fmt.as);
    s.format = v;
  }
  const filt = flags.get('filter');
  if (filt !== undefined) {
    try {
      s.filter = parseTraceFilter(filt.values[0]);
    } catch (err) {
      if (err instanceof TraceFilterError) throw new UsageError(`${filt.as}: ${err.message}`, filt.as);
      throw err;
    }
  }
  const hd = flags.get('headers');
  if (hd !== undefined) {
    const m = parseHeaderMode(hd.values[0]);
    if (m === undefined || m === 'redacted') throw new UsageError(`${hd.as}: unknown mode '${hd.values[0]}' (none, names, length, values)`, hd.as);
    s.headers = m;
  }
  return s;
}

/** Does the process exist? (EPERM: it does, owned by someone else) */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function traceSummaryLine(t: TraceTrackerStats, events: number, kernelDrops: number): string {
  return `wirelog: ${t.requests} requests, ${t.responses} responses, ${events} events, ${kernelDrops} dropped by kernel; ` +
    `${t.unparsedBytes} bytes unparsed, ${t.truncatedBytes} bytes cut by snaplen, ${t.pendingDropped} bytes dropped undecided, ` +
    `${t.parseErrors} parse errors, ${t.tlsCiphertextBytes} TLS ciphertext bytes ignored`;
}

/** A LogWriter on one file, appending (h2olog's TODO: output to a file). */
function fileWriter(file: string): LogWriter {
  const fd = fs.openSync(file, 'a');
  const w = new StdoutWriter(fd, file);
  const close = w.close.bind(w);
  w.close = () => {
    close();
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  };
  return w;
}

function sensorPathFor(env: NodeJS.ProcessEnv): string {
  if (env.WIRELOG_SENSOR !== undefined && env.WIRELOG_SENSOR !== '') return env.WIRELOG_SENSOR;
  return fileURLToPath(new URL('../../../build/wirelog-sensor', import.meta.url)); // this file is dist/src/cli/trace.js
}

export async function traceCommand(argv: readonly string[], io: { env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const env = io.env ?? process.env;
  let s: TraceSettings;
  try {
    const r = resolveTrace(argv);
    if (r === 'help') {
      stdoutText(TRACE_USAGE);
      return 0;
    }
    s = r;
  } catch (err) {
    if (err instanceof UsageError) {
      stderrLine(`wirelog: error: ${err.message}`);
      stderrLine(`Try 'wirelog trace --help'.`);
      return 2;
    }
    throw err;
  }
  for (const pid of s.pids) {
    if (!processExists(pid)) {
      stderrLine(`wirelog: error: no such process: ${pid}`);
      return 1;
    }
  }
  let writer: LogWriter;
  try {
    writer = s.write !== undefined ? fileWriter(s.write) : new StdoutWriter();
  } catch (err) {
    stderrLine(`wirelog: error: cannot open ${s.write}: ${(err as Error).message}`);
    return 1;
  }
  let sink: TraceSink = s.format === 'jsonl' ? new TraceJsonlSink(writer, s.headers) : new H2ologSink(writer, { types: s.types, headers: s.headers });
  if (s.filter !== undefined) sink = filterTraceSink(s.filter, sink);
  const tracker = new TraceTracker(sink);
  const { startTrace } = await import('../source/trace.js');

  let events = 0;
  let kernelDrops = 0;
  let error: string | undefined;
  let attached = false;
  const live = new Set(s.pids);
  let flushTimer: NodeJS.Timeout | undefined;

  const code = await new Promise<number>((resolve) => {
    let session: ReturnType<typeof startTrace> | undefined;
    const stop = (): void => session?.stop();
    const onSignal = (): void => stop();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    // a traced process may exit without an event reaching us (e.g. attached after its threads were gone)
    const poll = setInterval(() => {
      for (const p of live) if (!processExists(p)) live.delete(p);
      if (live.size === 0 && !s.follow) stop();
    }, 500);
    try {
      session = startTrace(
        { sensorPath: sensorPathFor(env), pids: s.pids, follow: s.follow, comm: s.comm, snaplen: s.snaplen, tls: s.tls, ringMb: s.ringMb },
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
            if (p.kind === 'fork' && s.follow && live.has(p.ppid)) live.add(p.pid);
            if (p.kind === 'exit' && live.delete(p.pid) && live.size === 0) stop();
          },
          stats: (st) => {
            kernelDrops = st.ringbufDrops;
          },
          ready: (info) => {
            attached = true;
            const pids = info.pids.length > 0 ? info.pids : s.pids;
            stderrLine(`wirelog: tracing pid ${pids.join(',')} (tls: ${info.tlsBinaries} binaries)`);
            // lines are coalesced; push them out while traffic is quiet
            flushTimer = setInterval(() => writer.flush(), 200);
          },
          error: (m) => {
            error ??= m;
          },
          info: () => {},
          exit: (exitCode) => {
            clearInterval(poll);
            if (flushTimer !== undefined) clearInterval(flushTimer);
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
            process.off('SIGHUP', onSignal);
            if (!attached && error === undefined) error = `sensor exited with code ${exitCode} before attaching`;
            resolve(attached && exitCode === 0 ? 0 : 1);
          },
        },
      );
    } catch (err) {
      clearInterval(poll);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      error = (err as Error).message;
      resolve(1);
    }
  });

  tracker.end();
  writer.close();
  stderrLine(traceSummaryLine(tracker.stats, events, kernelDrops));
  if (writer.failure !== undefined) {
    stderrLine(`wirelog: error: ${writer.failure.message}`);
    return 1;
  }
  if (error !== undefined && (code !== 0 || !attached)) {
    stderrLine(`wirelog: error: ${error}`);
    return 1;
  }
  if (error !== undefined) stderrLine(`wirelog: warning: ${error}`);
  return code;
}
