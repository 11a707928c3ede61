/** `wirelog capture`: flags/env/config → log writer + sink → pipeline → summary and exit code. */
import { resolveCapture, CAPTURE_OPTIONS, ConfigFileError, type CaptureSettings } from './config.js';
import { formatOptions, UsageError } from './args.js';
import { createLogWriter, DirWriter, LogDirError, type LogWriter } from '../sinks/log-writer.js';
import { stderrLine, stdoutText, withStopSignals } from './io.js';
import { dropCallback, handOverOutputs, KEEP_ROOT_WARNING, outputDirs, planPrivileges, type PrivilegePlan } from './privileges.js';

export const CAPTURE_USAGE = `Usage: wirelog capture [options]

Log every HTTP/1.x request and response crossing this host's interfaces (live, via eBPF, as root),
or read from a pcap/pcapng file (-r, no privileges), as httplog text lines or JSON lines.

Options:
${formatOptions(CAPTURE_OPTIONS)}

Settings come from flags, then the environment (WIRELOG_PORTS, WIRELOG_DIR, ...), then the config file
(key = value lines with the long option names). See docs/cli.md and docs/config.md.
`;

export interface CaptureIo {
  env?: NodeJS.ProcessEnv;
  /** config file used when --config is absent (tests) */
  defaultConfigFile?: string;
  version?: string;
}

/** Runs the command; resolves to the process exit code (0 ok, 1 error, 2 usage). */
export async function captureCommand(argv: readonly string[], io: CaptureIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  let settings: CaptureSettings;
  try {
    const cmd = resolveCapture(argv, env, { defaultConfigFile: io.defaultConfigFile });
    if (cmd.action === 'help') {
      stdoutText(CAPTURE_USAGE);
      return 0;
    }
    if (cmd.action === 'version') {
      stdoutText(`wirelog ${io.version ?? '0.0.0'}\n`);
      return 0;
    }
    settings = cmd.settings;
  } catch (err) {
    if (err instanceof UsageError) {
      stderrLine(`wirelog: error: ${err.message}`);
      stderrLine(`Try 'wirelog capture --help'.`);
      return 2;
    }
    if (err instanceof ConfigFileError) {
      stderrLine(`wirelog: error: ${err.message}`);
      return 1;
    }
    throw err;
  }

  // started as root: the sensor and the outputs are set up as root, then the agent drops to --user (docs/privileges.md)
  let plan: PrivilegePlan;
  try {
    plan = planPrivileges(settings.user, settings.origin.user ?? '--user');
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    stderrLine(`wirelog: error: ${err.message}`);
    return 2;
  }
  if (plan.action === 'keep') stderrLine(KEEP_ROOT_WARNING);
  const dirs = await outputDirs({ logDir: settings.dir, store: settings.store, spoolDir: settings.spoolDir });

  if (settings.verbose) {
    stderrLine(`wirelog: settings ${JSON.stringify({ ...settings, origin: undefined })}`);
    stderrLine(`wirelog: from ${JSON.stringify(settings.origin)}`);
  }
  if (settings.logSplit && settings.dir === undefined && settings.verbose)
    stderrLine('wirelog: --log-split has no effect without -d; writing to stdout');

  let writer: LogWriter;
  try {
    writer = createLogWriter({
      dir: settings.dir,
      split: settings.logSplit,
      ext: settings.format === 'text' ? 'log' : settings.format,
    });
  } catch (err) {
    if (err instanceof LogDirError) {
      stderrLine(`wirelog: error: ${err.message}`);
      return 1;
    }
    throw err;
  }

  // --netns values become paths the sensor can enter; a value that names no namespace stops here
  let netnsPaths: 'all' | string[] | undefined;
  if (settings.netns === 'all') netnsPaths = 'all';
  else if (settings.netns !== undefined) {
    const { netnsPath, NetnsError } = await import('../source/netns.js');
    try {
      netnsPaths = settings.netns.map((v) => netnsPath(v).path);
    } catch (err) {
      if (!(err instanceof NetnsError)) throw err;
      writer.close();
      stderrLine(`wirelog: error: ${err.message}`);
      return 2;
    }
  }

  // The pipeline (decoders, tracker, sensor client) is loaded only to run: --help and usage errors stay fast.
  const pipeline = await import('../pipelines/capture.js');
  const localAddrs = settings.localAddrs !== undefined ? new Set(settings.localAddrs) : pipeline.hostAddresses();
  const ladder = settings.format === 'ladder' ? pipeline.createLadderSink(writer) : undefined;
  let sink: import('../records.js').HttpEventSink = ladder ?? pipeline.createHttpSink(settings.format === 'jsonl' ? 'jsonl' : 'text', writer);
  // L4 records go to the output only as JSON lines or the ladder; to the store whenever --l4 is on
  let l4Sink: import('../records.js').L4Sink | undefined = ladder ?? (settings.l4 && settings.format !== 'text' ? pipeline.createL4Sink(writer) : undefined);
  let netnsSink: import('../store/writer.js').NetnsSinkLike | undefined =
    settings.format === 'jsonl' && settings.netns !== undefined ? pipeline.createNetnsSink(writer) : undefined;

  // --store: a sink beside the output (docs/store.md, docs/clickhouse.md); opened (schema created or migrated)
  // before the capture starts
  let store: import('../store/writer.js').StoreWriter | undefined;
  if (settings.store !== undefined) {
    const st = await import('../store/writer.js');
    try {
      store = await st.openStoreWriter(settings.store, {
        retentionBytes: settings.retentionBytes,
        retentionAgeUs: settings.retentionAgeUs,
        blockWhenFull: settings.readFile !== undefined, // a file waits for the store; a live capture never does
        ...(settings.agent !== undefined ? { agent: settings.agent } : {}),
        ...(settings.spoolDir !== undefined ? { spoolDir: settings.spoolDir } : {}),
        ...(settings.spoolBytes !== undefined ? { spoolBytes: settings.spoolBytes } : {}),
        spoolIfDown: settings.spoolIfDown,
        log: stderrLine,
      });
    } catch (err) {
      writer.close();
      stderrLine(`wirelog: error: ${(err as Error).message}`);
      return 1;
    }
    sink = st.teeHttpSink(sink, store);
    if (settings.l4) l4Sink = st.teeL4Sink(l4Sink, store);
    if (settings.netns !== undefined) netnsSink = st.teeNetnsSink(netnsSink, store);
  }

  // Live: SIGINT/SIGTERM make the sensor drain, then everything is written. File mode reads synchronously, so a
  // handler could only run after the whole file: there the default action (exit at once) is kept.
  const live = settings.readFile === undefined;
  // -r on a terminal: a progress line on stderr, erased before the summary
  let progress: import('./progress.js').ProgressLine | undefined;
  if (!live && !settings.quiet && process.stderr.isTTY === true) {
    const { ProgressLine } = await import('./progress.js');
    const file = settings.readFile as string;
    let totalBytes: number | undefined;
    try {
      totalBytes = file === '-' ? undefined : (await import('node:fs')).statSync(file).size;
    } catch {
      /* the reader reports a missing file */
    }
    progress = new ProgressLine({ name: file === '-' ? 'stdin' : file, totalBytes, write: (t) => process.stderr.write(t) });
  }
  handOverOutputs(plan, dirs, (store as { spoolDir?: string } | undefined)?.spoolDir);
  // live, dropping root: today's log files are opened now, while root may; a new day's file (rotation) is opened
  // as --user, which needs the directory to be the user's (it is when wirelog created it)
  if (plan.action === 'drop' && live && writer instanceof DirWriter) writer.openDay(Date.now() * 1000);
  const run = (signal?: AbortSignal): ReturnType<typeof pipeline.runPipeline> => pipeline.runPipeline({
    source: live
      ? {
          kind: 'live',
          sensorPath: pipeline.defaultSensorPath(env),
          iface: settings.iface,
          netns: netnsPaths,
          snaplen: settings.snaplen,
          ringMb: settings.bufferMb,
        }
      : { kind: 'file', path: settings.readFile as string },
    sink,
    l4Sink,
    netnsSink,
    writer,
    ports: settings.ports,
    reassembly: settings.reassembly,
    localAddrs,
    count: settings.count,
    logEvery: settings.logEvery,
    progress: progress && ((p) => progress!.update({ bytesRead: p.bytesRead, packets: p.packets, records: p.transactions })),
    // a diagnostic line (--log-every) takes the progress line's place; the next update redraws it below
    log: progress === undefined ? stderrLine : (line) => { progress!.done(); stderrLine(line); },
    verbose: settings.verbose,
    signal,
    dropPrivileges: dropCallback(plan, dirs, stderrLine, settings.verbose),
  });
  let result;
  try {
    result = live ? await withStopSignals(run) : await run();
  } finally {
    progress?.done();
    writer.close();
  }
  const stored = await store?.close();
  if (stored !== undefined) {
    result.stored = { rows: stored.written, dropped: stored.dropped };
    if (settings.verbose && 'batches' in stored) {
      const sq = stored as import('../store/sqlite-writer.js').StoreCloseResult;
      stderrLine(`wirelog: store ${settings.store}: ${sq.batches} batches, ${sq.batches > 0 ? (sq.batchMsTotal / sq.batches).toFixed(2) : 0} ms average, ${sq.batchMsMax.toFixed(2)} ms longest; totals ${JSON.stringify(sq.stats)}`);
    }
  }
  const closeFailure = writer.failure;
  stderrLine(pipeline.summaryLine(result));
  for (const l of store?.closeNotes?.() ?? []) stderrLine(l);
  if (plan.action === 'drop' && (result.attributionUnreadable ?? 0) > 0)
    stderrLine(`wirelog: netns attribution: ${result.attributionUnreadable} processes of other users unreadable as ${plan.user.name}: ` +
      'records of their namespaces lack processes, container and pod (docs/privileges.md)');
  const byDevice = pipeline.deviceDropsLine(result);
  if (byDevice !== undefined) stderrLine(byDevice);
  const lostHeads = pipeline.lostHeadsLine(result);
  if (lostHeads !== undefined) stderrLine(lostHeads);
  if (result.error !== undefined) {
    stderrLine(`wirelog: error: ${result.error.message}`);
    return 1;
  }
  if (stored?.error !== undefined) {
    stderrLine(`wirelog: error: store ${storeShown(settings.store!)}: ${stored.error}`);
    return 1;
  }
  if (closeFailure !== undefined) {
    stderrLine(`wirelog: error: ${closeFailure.message}`);
    return 1;
  }
  return 0;
}

/** A store location for messages: a ClickHouse URL without its password. */
export const storeShown = (location: string): string => location.replace(/^(clickhouse:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');

/** For tests: the usage text must list every option. */
export function captureOptionNames(): string[] {
  return CAPTURE_OPTIONS.map((o) => o.name);
}

