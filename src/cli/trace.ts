/**
 * `wirelog trace -p PID ...`: flags → writer and sink → src/pipelines/trace.ts (the sensor's trace mode →
 * TraceTracker) → h2olog lines or JSON lines, to stdout or -w FILE. Ends on SIGINT/SIGTERM or when every traced process has exited, with the summary
 * line `wirelog: N requests, N responses, N events, N dropped by kernel; ...` on stderr.
 */
import fs from 'node:fs';
import { formatOptions, parseArgs, UsageError, type OptionSpec } from './args.js';
import { stderrLine, stdoutText, withStopSignals } from './io.js';
import { StdoutWriter, type LogWriter } from '../sinks/log-writer.js';
import { parseHeaderMode, type HeaderMode } from '../sinks/redact.js';
import { parseH2ologTypes, H2ologSink, type H2ologType } from '../sinks/h2olog.js';
import { TraceJsonlSink } from '../sinks/trace-jsonl.js';
import { parseTraceFilter, filterTraceSink, TraceFilterError, type TraceFilter } from '../sinks/filter.js';
import type { TraceSink, TraceTrackerStats } from '../records.js';
import { processExists } from '../source/processes.js';
import { sensorPath } from '../source/sensor-path.js';
import { STORE_CLICKHOUSE_OPTIONS, clickHouseSettings } from './config.js';
import { dropCallback, handOverOutputs, KEEP_ROOT_WARNING, outputDirs, planPrivileges, USER_OPTION, type PrivilegePlan } from './privileges.js';
import { DEFAULT_RETENTION_AGE_US, DEFAULT_RETENTION_BYTES, DEFAULT_STORE_PATH, parseDurationUs, parseSize } from '../store/options.js';


export const TRACE_OPTIONS: readonly OptionSpec[] = [
  { name: 'pid', short: 'p', value: true, multiple: true, valueName: 'PID', help: 'process to trace (repeatable; comma lists accepted)' },
  { name: 'follow', value: false, help: 'also trace children forked after start' },
  { name: 'comm', value: true, valueName: 'NAME', help: 'only threads whose comm is NAME' },
  { name: 'snaplen', short: 's', value: true, valueName: 'N', help: 'bytes copied per syscall / SSL call, default 4096' },
  { name: 'types', short: 't', value: true, valueName: 'LIST', help: 'line types to print: RxProtocol,RxHeader,TxStatus,TxHeader,TxProtocol,RxStatus' },
  { name: 'write', short: 'w', value: true, valueName: 'FILE', help: 'write to FILE instead of stdout' },
  { name: 'format', value: true, valueName: 'F', help: 'h2olog (default) | jsonl' },
  { name: 'filter', value: true, valueName: 'EXPR', help: 'only requests matching EXPR (docs/query.md): "status >= 500 and path ^= /api"; or method=GET,host=example.com,path=/api (prefix),status=2xx|404' },
  { name: 'headers', value: true, valueName: 'MODE', help: 'none | names | length | values; default: values with Authorization, Cookie,\nSet-Cookie and Proxy-Authorization shown as [redacted]' },
  { name: 'no-tls', value: false, help: 'do not attach TLS uprobes' },
  { name: 'store', value: true, optionalValue: true, valueName: 'PATH', help: `also keep every transaction (after --filter) in the embedded store (docs/store.md); PATH default ${DEFAULT_STORE_PATH};\nor clickhouse://[USER:PASSWORD@]HOST:PORT/DB (docs/clickhouse.md)` },
  { name: 'retention-size', value: true, valueName: 'SIZE', help: 'store: remove the oldest rows above SIZE (1G, 500M; 0 = no limit), default 1G' },
  { name: 'retention-age', value: true, valueName: 'DURATION', help: 'store: remove rows older than DURATION (7d, 12h; 0 = no limit), default 7d' },
  ...STORE_CLICKHOUSE_OPTIONS.map((o) => ({ ...o, env: undefined, inFile: undefined })),
  { name: 'ring-mb', short: 'b', value: true, valueName: 'MB', help: 'kernel ring buffer in MiB, 1..1024, rounded up to a power of 2 (default 64)' },
  USER_OPTION,
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
  /** --store: the store's path, and its retention (bytes, µs; 0 = no limit) */
  store?: string;
  retentionBytes: number;
  retentionAgeUs: number;
  /** ClickHouse store: --agent, --spool-dir, --spool-size, --spool-if-down */
  clickhouse: { agent?: string; spoolDir?: string; spoolBytes?: number };
  spoolIfDown: boolean;
  /** --user: who the agent becomes when started as root (undefined: the default) */
  user?: string;
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
    retentionBytes: DEFAULT_RETENTION_BYTES,
    retentionAgeUs: DEFAULT_RETENTION_AGE_US,
    clickhouse: clickHouseSettings((k) => {
      const f = flags.get(k);
      return f === undefined ? undefined : { values: f.values, where: f.as };
    }),
    spoolIfDown: flags.get('spool-if-down')?.values[0] === 'true',
  };
  const store = flags.get('store');
  if (store !== undefined) s.store = store.values[store.values.length - 1] || DEFAULT_STORE_PATH;
  for (const [k, parse, what] of [['retention-size', parseSize, 'a size (1G, 500M, 0 = no limit)'], ['retention-age', parseDurationUs, 'a duration (7d, 12h, 30m, 0 = no limit)']] as const) {
    const f = flags.get(k);
    if (f === undefined) continue;
    const v = parse(f.values[f.values.length - 1]!);
    if (v === undefined) throw new UsageError(`${f.as}: not ${what}: '${f.values[f.values.length - 1]}'`, f.as);
    if (k === 'retention-size') s.retentionBytes = v;
    else s.retentionAgeUs = v;
  }
  if (comm !== undefined) s.comm = comm.values[0];
  const user = flags.get('user');
  if (user !== undefined) {
    const v = user.values[user.values.length - 1]!.trim();
    if (v === '') throw new UsageError(`${user.as}: needs a user name`, user.as);
    s.user = v;
  }
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

export async function traceCommand(argv: readonly string[], io: { env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const env = io.env ?? process.env;
  let s: TraceSettings;
  let plan: PrivilegePlan;
  try {
    const r = resolveTrace(argv);
    if (r === 'help') {
      stdoutText(TRACE_USAGE);
      return 0;
    }
    s = r;
    plan = planPrivileges(s.user);
  } catch (err) {
    if (err instanceof UsageError) {
      stderrLine(`wirelog: error: ${err.message}`);
      stderrLine(`Try 'wirelog trace --help'.`);
      return 2;
    }
    throw err;
  }
  if (plan.action === 'keep') stderrLine(KEEP_ROOT_WARNING);
  for (const pid of s.pids) {
    if (!processExists(pid)) {
      stderrLine(`wirelog: error: no such process: ${pid}`);
      return 1;
    }
  }
  const dirs = await outputDirs({ store: s.store, spoolDir: s.clickhouse.spoolDir });
  let writer: LogWriter;
  try {
    // opened as root (like tcpdump -Z), before the agent drops to --user
    writer = s.write !== undefined ? fileWriter(s.write) : new StdoutWriter();
  } catch (err) {
    stderrLine(`wirelog: error: cannot open ${s.write}: ${(err as Error).message}`);
    return 1;
  }
  let sink: TraceSink = s.format === 'jsonl' ? new TraceJsonlSink(writer, s.headers) : new H2ologSink(writer, { types: s.types, headers: s.headers });
  // --store: beside the output, behind the same filter; opened (and migrated) before tracing starts
  let store: import('../store/writer.js').StoreWriter | undefined;
  if (s.store !== undefined) {
    const st = await import('../store/writer.js');
    try {
      store = await st.openStoreWriter(s.store, {
        retentionBytes: s.retentionBytes, retentionAgeUs: s.retentionAgeUs, ...s.clickhouse, spoolIfDown: s.spoolIfDown, log: stderrLine,
      });
    } catch (err) {
      writer.close();
      stderrLine(`wirelog: error: ${(err as Error).message}`);
      return 1;
    }
    sink = st.teeTraceSink(sink, store);
  }
  handOverOutputs(plan, dirs, (store as { spoolDir?: string } | undefined)?.spoolDir);
  if (s.filter !== undefined) sink = filterTraceSink(s.filter, sink);
  // the pipeline (sensor client, tracker) is loaded only to run: --help and usage errors stay fast
  const { runTrace } = await import('../pipelines/trace.js');
  const r = await withStopSignals((signal) => runTrace({
    sensorPath: sensorPath(env), pids: s.pids, follow: s.follow, comm: s.comm, snaplen: s.snaplen, tls: s.tls,
    ringMb: s.ringMb, sink, writer, signal,
    onReady: (info) => stderrLine(`wirelog: tracing pid ${info.pids.join(',')} (tls: ${info.tlsBinaries} binaries)`),
    dropPrivileges: dropCallback(plan, dirs, stderrLine),
  }));
  writer.close();
  const stored = await store?.close();
  stderrLine(traceSummaryLine(r.stats, r.events, r.kernelDrops) + (stored !== undefined ? `; ${stored.written} rows stored (${stored.dropped} dropped)` : ''));
  for (const l of store?.closeNotes?.() ?? []) stderrLine(l);
  if (stored?.error !== undefined) {
    stderrLine(`wirelog: error: store ${s.store!.replace(/^(clickhouse:\/\/[^:@/]*:)[^@/]*@/i, '$1***@')}: ${stored.error}`);
    return 1;
  }
  if (writer.failure !== undefined) {
    stderrLine(`wirelog: error: ${writer.failure.message}`);
    return 1;
  }
  if (r.error !== undefined && (r.exitCode !== 0 || !r.attached)) {
    stderrLine(`wirelog: error: ${r.error}`);
    return 1;
  }
  if (r.error !== undefined) stderrLine(`wirelog: warning: ${r.error}`);
  return r.exitCode;
}
