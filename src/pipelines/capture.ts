/**
 * `wirelog capture`'s pipeline: source (capture file | live sensor) → decode → HTTP tracker (and, with an L4 sink, the
 * L4 tracker beside it) → sink. Reusable by any
 * command that wants HTTP events out of packets; the CLI adds flags, messages and exit codes around it.
 *
 * Stopping: on `count` packets, on a writer failure, when stdout's reader goes away, at end of file, or (live) on
 * SIGINT/SIGTERM/abort. File reading is synchronous (fastest), so a stop inside it unwinds with a private sentinel
 * thrown from the frame callback; the stop reason is kept apart, so the reader's own handling of it does not matter.
 */
import os from 'node:os';
import net from 'node:net';
import type { Frame, HttpEventSink, L4Sink, SensorStats, TransportSegment } from '../records.js';
import { readCaptureFile, readCaptureStream, type CaptureFileSummary } from '../decode/capture-file.js';
import { decodeFrame, newDecodeStats, type DecodeOptions } from '../decode/frame.js';
import { HttpTracker, type HttpGiveUp } from '../correlate/http-tracker.js';
import { L4Tracker } from '../correlate/l4.js';
import { DevicePaths, HopSink } from '../correlate/paths.js';
import { deviceFlowKey } from '../track/flow.js';
import { NetnsPlaces, PlacedHttpSink, PlacedL4Sink } from '../correlate/place.js';
import { NetnsAttribution } from '../source/attribution.js';
import { currentNetns } from '../source/netns.js';
import { startLiveCapture } from '../source/live.js';
import { sensorPath } from '../source/sensor-path.js';
import type { LogWriter } from '../sinks/log-writer.js';
import { TextSink } from '../sinks/text.js';
import { JsonlSink } from '../sinks/jsonl.js';
import { L4JsonlSink } from '../sinks/l4-jsonl.js';
import { NetnsJsonlSink } from '../sinks/netns-jsonl.js';
import { LadderSink } from '../sinks/ladder.js';
import type { WlErrorCode } from '../errors.js';

export type StopReason = 'end' | 'count' | 'signal' | 'output-closed' | 'error';

export interface FileSource {
  kind: 'file';
  /** '-' = stdin */
  path: string;
}

export interface LiveSource {
  kind: 'live';
  sensorPath: string;
  iface?: string;
  /** every device of these namespaces (paths the sensor enters), or of every namespace */
  netns?: 'all' | string[];
  snaplen?: number;
  ringMb?: number;
}

export interface PipelineOptions {
  source: FileSource | LiveSource;
  sink: HttpEventSink;
  /** L4 records (`--l4`): an L4 tracker is fed every segment, pure ACKs included */
  l4Sink?: L4Sink;
  /** live: who is behind each namespace the records name, once per namespace (`"record":"netns"` lines) */
  netnsSink?: Pick<NetnsJsonlSink, 'netns'>;
  /** the sink's writer: flushed periodically and at the end; its failures stop the run */
  writer?: LogWriter;
  ports: number[] | 'any';
  reassembly: boolean;
  localAddrs: Set<string>;
  /** stop after this many packets */
  count?: number;
  /** a stats line every N packets */
  logEvery?: number;
  /** file: called after each block read (about every MiB), for a progress line */
  progress?: (p: FileProgress) => void;
  /** diagnostics (stderr); lines without newline */
  log?: (line: string) => void;
  verbose?: boolean;
  /** live: stop when aborted (the CLI aborts on SIGINT/SIGTERM) */
  signal?: AbortSignal;
  /** live: how often to run the tracker's timeouts and flush the writer, ms */
  tickMs?: number;
  /** live: after stop(), how long to wait for the sensor to drain before killing it, ms */
  drainTimeoutMs?: number;
  /**
   * Called once the privileged part is done: live, when the sensor process runs (it loads and attaches on its own,
   * as root); a file, when it is open. The CLI drops root there (src/cli/privileges.ts). A throw stops the run with
   * that error.
   */
  dropPrivileges?: () => void;
}

/** How far a file has been read: for `capture -r`'s progress line (src/cli/progress.ts). */
export interface FileProgress {
  bytesRead: number;
  packets: number;
  /** HTTP transactions written so far */
  transactions: number;
}

export interface PipelineResult {
  packets: number;
  requests: number;
  responses: number;
  transactions: number;
  kernelDrops: number;
  gaps: number;
  gapBytes: number;
  /** connections judged not HTTP; messages the HTTP parser skipped, and every byte it passed over; give-ups by code */
  notHttp: number;
  messagesSkipped: number;
  bytesSkipped: number;
  parseErrors: Record<string, number>;
  /** HTTP/2 connections, streams logged, frames skipped, header blocks with HPACK state not known complete */
  h2Connections?: number;
  h2Streams?: number;
  h2FramesSkipped?: number;
  h2UnreliableBlocks?: number;
  /** TLS connections (ClientHello logged), and connections that started like a ClientHello but were not logged as TLS */
  tlsConnections?: number;
  tlsNotParsed?: number;
  /** L4 records written; present only when an L4 sink was given */
  l4Records?: number;
  /** live: processes whose network namespace could not be read at the last attribution scan (not root: other users') */
  attributionUnreadable?: number;
  /** connections on devices (one per device a connection crossed), and of them those that joined another device's */
  deviceFlows?: number;
  joinedFlows?: number;
  /** live: ring-buffer losses per device, when some device lost events (the last counts the sensor sent) */
  deviceDrops?: Array<{ netns: number; ifindex: number; ifname: string; drops: number }>;
  /** live: of kernelDrops, the packets that began an HTTP/1 request or response (messages never logged) */
  kernelLostHeads?: { requests: number; responses: number };
  /** `--store`: rows written to the store and rows dropped (set by the command after closing the store) */
  stored?: { rows: number; dropped: number };
  stoppedBy: StopReason;
  /** one line, for `wirelog: error: …`; an errno (ENOENT, …) is in the message and kept as `cause` */
  error?: { code: WlErrorCode; message: string; cause?: unknown };
}

export const STATS_PREFIX = 'wirelog: stats';

/** The default sensor: $WIRELOG_SENSOR, else build/wirelog-sensor of this install. */
export const defaultSensorPath = sensorPath;

/** This host's addresses, as the decoders print them (scope ids dropped, RFC 5952 IPv6). */
export function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      const addr = a.address.replace(/%.*$/, '');
      out.add(a.family === 'IPv6' ? new net.SocketAddress({ address: addr, family: 'ipv6' }).address : addr);
    }
  }
  return out;
}

export function createHttpSink(format: 'text' | 'jsonl', writer: LogWriter): HttpEventSink {
  return format === 'jsonl' ? new JsonlSink(writer) : new TextSink(writer);
}

/** The namespace records' sink: JSON lines through the same writer as the HTTP records. */
export function createNetnsSink(writer: LogWriter): NetnsJsonlSink {
  return new NetnsJsonlSink(writer);
}

/** The L4 records' sink: JSON lines through the same writer as the HTTP records. */
export function createL4Sink(writer: LogWriter): L4Sink {
  return new L4JsonlSink(writer);
}

/** `--format ladder`: one sink for both trackers (the HTTP requests become markers in the ladder). */
export function createLadderSink(writer: LogWriter): LadderSink {
  return new LadderSink(writer);
}

/** Packet-time interval between tracker.tick() calls in file mode. */
const FILE_TICK_US = 1_000_000;

const STOP = Symbol('wirelog.stop');

interface TrackerStats {
  requests: number;
  responses: number;
  transactions: number;
  gaps: number;
  gapBytes: number;
  connectionsNotHttp: number;
  messagesSkipped: number;
  bytesSkipped: number;
  parseErrors: number;
  parseErrorsByCode: Record<string, number>;
  h2Connections?: number;
  h2Streams?: number;
  h2FramesSkipped?: number;
  h2UnreliableBlocks?: number;
  tlsConnections?: number;
  tlsNotParsed?: number;
}

function result(packets: number, kernelDrops: number, t: TrackerStats, stoppedBy: StopReason, error?: PipelineResult['error']): PipelineResult {
  const r: PipelineResult = {
    packets,
    requests: t.requests,
    responses: t.responses,
    transactions: t.transactions,
    kernelDrops,
    gaps: t.gaps,
    gapBytes: t.gapBytes,
    notHttp: t.connectionsNotHttp,
    messagesSkipped: t.messagesSkipped,
    bytesSkipped: t.bytesSkipped,
    parseErrors: { ...t.parseErrorsByCode },
    stoppedBy,
    h2Connections: t.h2Connections ?? 0,
    h2Streams: t.h2Streams ?? 0,
    h2FramesSkipped: t.h2FramesSkipped ?? 0,
    h2UnreliableBlocks: t.h2UnreliableBlocks ?? 0,
    tlsConnections: t.tlsConnections ?? 0,
    tlsNotParsed: t.tlsNotParsed ?? 0,
  };
  if (error !== undefined) r.error = error;
  return r;
}

/** `CODE=n CODE=n`, codes in name order */
function byCode(errors: Record<string, number>, sep: string): string {
  return Object.keys(errors).sort().map((k) => `${k}=${errors[k]}`).join(sep);
}

export function statsLine(packets: number, t: TrackerStats, kernelDrops: number): string {
  return `${STATS_PREFIX} packets=${packets} requests=${t.requests} responses=${t.responses} kernel_drops=${kernelDrops} gaps=${t.gaps}` +
    ` not_http=${t.connectionsNotHttp} skipped_messages=${t.messagesSkipped} skipped_bytes=${t.bytesSkipped} parse_errors=${t.parseErrors}` +
    (t.parseErrors > 0 ? ` ${byCode(t.parseErrorsByCode, ',')}` : '');
}

export function summaryLine(r: PipelineResult): string {
  const errors = Object.values(r.parseErrors).reduce((a, b) => a + b, 0);
  return `wirelog: ${r.packets} packets, ${r.requests} requests, ${r.responses} responses, ${r.transactions} transactions, ${r.kernelDrops} dropped by kernel, ${r.gaps} reassembly gaps (${r.gapBytes} bytes)` +
    `, ${r.notHttp} not HTTP, ${r.messagesSkipped} messages skipped (${r.bytesSkipped} bytes), ${errors} parse errors` +
    (errors > 0 ? ` (${byCode(r.parseErrors, ' ')})` : '') +
    ((r.h2Connections ?? 0) > 0
      ? `, ${r.h2Connections} HTTP/2 connections (${r.h2Streams ?? 0} streams, ${r.h2FramesSkipped ?? 0} frames skipped, ${r.h2UnreliableBlocks ?? 0} header blocks unreliable)`
      : '') +
    ((r.tlsConnections ?? 0) + (r.tlsNotParsed ?? 0) > 0
      ? `, ${r.tlsConnections ?? 0} TLS` + ((r.tlsNotParsed ?? 0) > 0 ? ` (${r.tlsNotParsed} TLS-like starts not TLS)` : '')
      : '') +
    (r.l4Records !== undefined ? `, ${r.l4Records} L4 records` : '') +
    (r.stored !== undefined ? `, ${r.stored.rows} rows stored (${r.stored.dropped} dropped)` : '');
}

/** The kernel's losses by device (live, when some device lost events): `NETNS/IFNAME=N …`, or undefined. */
export function deviceDropsLine(r: PipelineResult): string | undefined {
  if (r.deviceDrops === undefined || r.deviceDrops.length === 0) return undefined;
  return `wirelog: dropped by device: ${r.deviceDrops.map((d) => `${d.netns}/${d.ifname || d.ifindex}=${d.drops}`).join(' ')}`;
}

/** When the kernel lost packets: how many of them began a request or a response, i.e. messages never logged. */
export function lostHeadsLine(r: PipelineResult): string | undefined {
  const h = r.kernelLostHeads;
  if (h === undefined) return undefined;
  return `wirelog: of the ${r.kernelDrops} packets dropped by kernel, ${h.requests} began a request and ${h.responses} a response (not logged)`;
}

/** One --verbose line per give-up: the connection, whose stream, where, and why. */
export function giveUpLine(g: HttpGiveUp): string {
  const ep = (e: { ip: string; port: number }): string => `${e.ip}#${e.port}`;
  if (g.kind === 'not-http') return `wirelog: not HTTP ${ep(g.client)} > ${ep(g.server)}: ${g.message}`;
  return `wirelog: skip ${ep(g.client)} > ${ep(g.server)} ${g.stream} stream byte ${g.offset}: ${g.code} ${g.message}`;
}

function writerProblem(w: LogWriter | undefined): StopReason | undefined {
  if (w === undefined) return undefined;
  if (w.failure !== undefined) return 'error';
  if (w.outputClosed) return 'output-closed';
  return undefined;
}

/**
 * How long a finished transaction waits for its exchange to pass the other devices of its path before it is written
 * with its hops (capture time). The response reaches the client's devices after the device that parsed it.
 */
export const HOP_HOLD_US = 1_000_000;

export async function runPipeline(opts: PipelineOptions): Promise<PipelineResult> {
  const log = opts.log;
  const servicePorts = opts.ports === 'any' ? 'any' : new Set(opts.ports);
  // a capture file (almost always) and `-i IFACE` are one device: connections are tracked across devices only if a
  // second one shows up (a pcapng with several interfaces)
  const paths = new DevicePaths({ soleDeviceFastPath: opts.source.kind === 'file' || opts.source.iface !== undefined });
  // live records name their namespaces (the pid/cgroup scan needs /proc: never for files)
  const netnsSink = opts.netnsSink;
  const attribution = opts.source.kind === 'live' ? new NetnsAttribution() : undefined;
  const places = attribution !== undefined
    ? new NetnsPlaces(attribution, ownNetns(), netnsSink && ((info) => netnsSink.netns(info, Date.now() * 1000)))
    : undefined;
  const hops = new HopSink(paths, places === undefined ? opts.sink : new PlacedHttpSink(places, opts.sink), HOP_HOLD_US);
  const tracker = new HttpTracker(
    {
      reassembly: opts.reassembly, servicePorts, localAddrs: opts.localAddrs,
      onGiveUp: opts.verbose && log !== undefined ? (g) => log(giveUpLine(g)) : undefined,
    },
    hops,
  );
  const l4Sink = opts.l4Sink === undefined || places === undefined ? opts.l4Sink : new PlacedL4Sink(places, opts.l4Sink);
  const l4 = l4Sink === undefined ? undefined : new L4Tracker({ servicePorts, localAddrs: opts.localAddrs }, l4Sink);
  const trackers = new OnPaths(paths, hops, tracker, l4);
  const r = await (opts.source.kind === 'file' ? runFile(opts, opts.source, trackers) : runLive(opts, opts.source, trackers, places));
  if (l4 !== undefined) r.l4Records = l4.stats.records;
  // processes whose namespace this process may not read (not root: other users' processes), at the last scan
  if (attribution?.scanned) r.attributionUnreadable = attribution.stats().unreadable;
  r.deviceFlows = paths.stats.deviceFlows;
  r.joinedFlows = paths.stats.joined;
  // what the hop stage could not do, said where it happened; the rest with --verbose
  const p = paths.stats;
  if (opts.verbose || p.evicted > 0 || p.marksDropped > 0)
    log?.(`wirelog: device paths: ${p.deviceFlows} device flows in ${p.paths} paths (${p.joined} joined), ` +
      `${p.evicted} evicted, ${p.marksDropped} packet marks dropped, ${hops.stats.withoutPath} transactions without a path`);
  return r;
}

function ownNetns(): number | undefined {
  try {
    return currentNetns();
  } catch {
    return undefined;
  }
}

/** What the run loops drive: the HTTP tracker, or it and the L4 tracker together. */
interface Trackers {
  readonly stats: TrackerStats;
  onSegment(seg: TransportSegment): void;
  tick(nowUs: number): void;
  finish(): void;
}

/**
 * Segments → device paths → the HTTP tracker (the primary device flow of each connection only, so a request crossing
 * several devices is parsed once) and the L4 tracker (every device) → sinks, the HTTP transactions through the hop
 * sink, which adds each exchange's devices in path order.
 */
class OnPaths implements Trackers {
  constructor(
    private readonly paths: DevicePaths,
    private readonly hops: HopSink,
    private readonly http: HttpTracker,
    private readonly l4: L4Tracker | undefined,
  ) {}
  get stats(): TrackerStats {
    return this.http.stats;
  }
  onSegment(seg: TransportSegment): void {
    this.hops.advance(seg.tsUs);
    if (this.l4 === undefined) {
      if (this.paths.observe(seg)) this.http.onSegment(seg);
      return;
    }
    const key = deviceFlowKey(seg); // one key string per segment for both stages
    if (this.paths.observe(seg, key)) this.http.onSegment(seg);
    this.l4.onSegment(seg, key);
  }
  tick(nowUs: number): void {
    this.http.tick(nowUs);
    this.l4?.tick(nowUs);
    this.paths.tick(nowUs);
    this.hops.advance(nowUs);
  }
  finish(): void {
    this.http.finish();
    this.l4?.finish();
    this.hops.finish();
  }
}

function writerError(w: LogWriter | undefined): PipelineResult['error'] {
  const f = w?.failure;
  return f === undefined ? undefined : { code: f.code, message: f.message };
}

/** A lookup table of the ports to keep, or undefined for every port. */
function portFilter(ports: number[] | 'any'): Uint8Array | undefined {
  if (ports === 'any') return undefined;
  const t = new Uint8Array(65536);
  for (const p of ports) t[p] = 1;
  return t;
}

async function runFile(opts: PipelineOptions, src: FileSource, tracker: Trackers): Promise<PipelineResult> {
  const { writer, count, logEvery, log } = opts;
  const dstats = newDecodeStats();
  let packets = 0;
  let stop: StopReason | undefined;
  let nextTickUs = -1;

  // -p filters a file as the kernel filters a live capture: packets of other ports are not counted or parsed.
  // The HTTP tracker does not look at pure ACKs, so the decoder skips them before building a segment; the L4
  // tracker logs every packet.
  const decodeOpts: DecodeOptions = { skipPureAcks: opts.l4Sink === undefined, ports: portFilter(opts.ports) };
  const onFrame = (f: Frame): void => {
    if (stop !== undefined) throw STOP;
    const filtered = dstats.portFiltered;
    const seg = decodeFrame(f, dstats, decodeOpts);
    if (dstats.portFiltered !== filtered) return;
    packets++;
    if (seg !== undefined) tracker.onSegment(seg);
    if (f.tsUs >= nextTickUs) {
      if (nextTickUs >= 0) tracker.tick(f.tsUs);
      nextTickUs = f.tsUs + FILE_TICK_US;
    }
    if (logEvery !== undefined && packets % logEvery === 0) log?.(statsLine(packets, tracker.stats, 0));
    if (writer !== undefined && (writer.failure !== undefined || writer.outputClosed)) {
      stop = writerProblem(writer);
      throw STOP;
    }
    if (count !== undefined && packets >= count) {
      stop = 'count';
      throw STOP;
    }
  };

  let fileError: PipelineResult['error'];
  const report = (summary: CaptureFileSummary): void => {
    if (summary.error !== undefined && stop === undefined) {
      // the reader's messages already start with the file name: `FILE: truncated … at byte N`
      fileError = { code: summary.error.code, message: summary.error.message };
    }
    if (opts.verbose) log?.(`wirelog: ${src.path}: ${summary.format}, ${summary.frames} frames, ${summary.bytes} bytes`);
  };
  const progress = opts.progress;
  const onRead = progress === undefined ? undefined : (bytesRead: number): void => progress({ bytesRead, packets, transactions: tracker.stats.transactions });
  try {
    if (src.path === '-') report(await readCaptureStream(process.stdin, onFrame, { name: 'stdin', onRead, afterOpen: opts.dropPrivileges }));
    else report(readCaptureFile(src.path, onFrame, { onRead, afterOpen: opts.dropPrivileges }));
  } catch (err) {
    if (err !== STOP) {
      if (stop !== undefined) {
        /* the reader wrapped our sentinel; the stop reason stands */
      } else {
        const e = err as NodeJS.ErrnoException;
        fileError = { code: 'WL_ERR_IO', message: `${src.path}: ${e.message}`, cause: err };
      }
    }
  }
  // Everything read before an error or a stop is logged: finish() emits the open transactions.
  if (stop !== 'output-closed' && stop !== 'error') tracker.finish();
  writer?.flush();
  if (opts.verbose) log?.(`wirelog: decode ${JSON.stringify(dstats)}`);
  const werr = writerError(writer);
  if (werr !== undefined) return result(packets, 0, tracker.stats, 'error', werr);
  if (writer?.outputClosed) return result(packets, 0, tracker.stats, 'output-closed');
  if (fileError !== undefined) return result(packets, 0, tracker.stats, 'error', fileError);
  return result(packets, 0, tracker.stats, stop ?? 'end');
}

function runLive(opts: PipelineOptions, src: LiveSource, tracker: Trackers, places?: NetnsPlaces): Promise<PipelineResult> {
  const { writer, count, logEvery, log } = opts;
  return new Promise<PipelineResult>((resolveRun) => {
    let packets = 0;
    let kernelDrops = 0;
    let deviceDrops: PipelineResult['deviceDrops'];
    let lostHeads: PipelineResult['kernelLostHeads'];
    let stop: StopReason | undefined;
    let sensorError: string | undefined;
    let sensorErrorCode: WlErrorCode | undefined; // the record stream's own code, kept through to the result
    /** dropPrivileges failed: the run stops with this */
    let startError: PipelineResult['error'];
    let finished = false;
    let killTimer: NodeJS.Timeout | undefined;
    let handle: ReturnType<typeof startLiveCapture> | undefined;

    const requestStop = (why: StopReason): void => {
      if (stop !== undefined) return;
      stop = why;
      if (handle === undefined) return;
      handle.stop(); // "stop" on its stdin: the sensor drains its ring buffer, then exit() fires
      const pid = handle.pid;
      killTimer = setTimeout(() => {
        log?.(`wirelog: sensor did not exit after ${drainMs} ms; killing it`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch (err) {
          // EPERM: this process dropped root (src/cli/privileges.ts); the sensor ends when we do (parent-death signal)
          if ((err as NodeJS.ErrnoException).code === 'EPERM') {
            log?.('wirelog: cannot kill the root sensor after dropping root; leaving it (it stops when wirelog exits)');
            handle?.abandon();
            done(null, 'SIGKILL');
          }
        }
      }, drainMs);
      killTimer.unref();
    };
    const drainMs = opts.drainTimeoutMs ?? 10_000;

    const onAbort = (): void => requestStop('signal');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const timer = setInterval(() => {
      tracker.tick(Date.now() * 1000);
      writer?.flush();
      const p = writerProblem(writer);
      if (p !== undefined) requestStop(p);
    }, opts.tickMs ?? 250);

    const resolve = (r: PipelineResult): void => {
      if (deviceDrops !== undefined) r.deviceDrops = deviceDrops;
      if (lostHeads !== undefined) r.kernelLostHeads = lostHeads;
      resolveRun(r);
    };
    const done = (code: number | null, signal: string | null): void => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (stop !== 'output-closed' && stop !== 'error') tracker.finish();
      writer?.flush();
      if (startError !== undefined) return resolve(result(packets, kernelDrops, tracker.stats, 'error', startError));
      const werr = writerError(writer);
      if (werr !== undefined) return resolve(result(packets, kernelDrops, tracker.stats, 'error', werr));
      if (writer?.outputClosed) return resolve(result(packets, kernelDrops, tracker.stats, 'output-closed'));
      const weStopped = stop !== undefined;
      const clean = code === 0 || (weStopped && (signal === 'SIGTERM' || signal === 'SIGKILL' || code === 143 || code === 130));
      if (!clean || (sensorError !== undefined && !weStopped)) {
        const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
        const message = sensorError !== undefined ? `sensor: ${sensorError}` : `sensor ${how}`;
        return resolve(result(packets, kernelDrops, tracker.stats, 'error', { code: sensorErrorCode ?? 'WL_ERR_SENSOR', message }));
      }
      resolve(result(packets, kernelDrops, tracker.stats, stop ?? 'end'));
    };

    const portsText = opts.ports === 'any' ? 'any' : opts.ports.join(',');
    try {
      handle = startLiveCapture(
        {
          sensorPath: src.sensorPath,
          iface: src.iface,
          netns: src.netns,
          ports: opts.ports,
          snaplen: src.snaplen,
          ringMb: src.ringMb,
          verbose: opts.verbose,
        },
        {
          packet(seg: TransportSegment): void {
            if (stop === 'count' || stop === 'error' || stop === 'output-closed') return; // -c: not one packet more
            packets++;
            tracker.onSegment(seg);
            if (logEvery !== undefined && packets % logEvery === 0) log?.(statsLine(packets, tracker.stats, kernelDrops));
            if (count !== undefined && packets >= count) requestStop('count');
            else if (writer !== undefined && (writer.failure !== undefined || writer.outputClosed)) requestStop(writerProblem(writer) ?? 'error');
          },
          stats(s: SensorStats): void {
            kernelDrops = s.ringbufDrops;
            if (s.ringbufDrops > 0) lostHeads = { requests: s.droppedRequestHeads, responses: s.droppedResponseHeads };
          },
          netns(n): void {
            places?.forget(n.netns);
            if (n.state === 'failed') log?.(`wirelog: netns ${n.netns} ${n.path}: cannot watch it (errno ${n.err})`);
            else if (opts.verbose) log?.(`wirelog: netns ${n.netns} ${n.state} (${n.path})`);
          },
          device(d): void {
            if (opts.verbose) log?.(`wirelog: device ${d.netns}/${d.ifname}(${d.ifindex}) ${d.state}`);
          },
          deviceDrops(_tsUs, drops): void {
            deviceDrops = drops;
          },
          ready(info: { iface: string; ports: string; snaplen: number }): void {
            const where = src.netns === 'all' ? 'every device of every network namespace'
              : src.netns !== undefined ? `every device of ${src.netns.length} network namespace${src.netns.length > 1 ? 's' : ''}`
              : (src.iface ?? 'all interfaces');
            log?.(`wirelog: listening on ${where}, ports ${portsText}, snaplen ${info.snaplen}`);
            if (opts.verbose) log?.(`wirelog: sensor ready: iface=${info.iface} ports=${info.ports} snaplen=${info.snaplen}`);
          },
          log(line: string): void {
            if (opts.verbose) log?.(`wirelog: sensor: ${line}`);
          },
          error(message: string, code?: WlErrorCode): void {
            if (sensorError === undefined) {
              sensorError = message;
              sensorErrorCode = code;
            }
            if (opts.verbose) log?.(`wirelog: sensor: ${message}`);
          },
          exit: done,
        },
      );
    } catch (err) {
      clearInterval(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const e = err as NodeJS.ErrnoException;
      resolve(result(0, 0, tracker.stats, 'error', { code: 'WL_ERR_SENSOR', message: `cannot start the sensor ${src.sensorPath}: ${e.message}`, cause: err }));
      return;
    }
    if (handle.pid > 0 && opts.dropPrivileges !== undefined) {
      try {
        opts.dropPrivileges();
      } catch (err) {
        startError = { code: 'WL_ERR_PRIVILEGES', message: (err as Error).message, cause: err };
        stop = undefined; // a stop asked for during the start is this one now
        requestStop('error');
      }
    }
    if (stop !== undefined && startError === undefined) {
      // a stop was asked for before the handle existed (an abort during start)
      const why = stop;
      stop = undefined;
      requestStop(why);
    }
  });
}
