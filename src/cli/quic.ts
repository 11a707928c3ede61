/** `wirelog quic -r FILE`: flags → tracker + JSON-lines sink → capture file → summary and exit code (docs/quic.md). */
import fs from 'node:fs';
import { formatOptions, parseArgs, UsageError, type OptionSpec } from './args.js';
import { stderrLine, stdoutText } from './io.js';
import { dropPrivileges, KEEP_ROOT_WARNING, planPrivileges, USER_OPTION, type PrivilegePlan } from './privileges.js';

export const QUIC_OPTIONS: readonly OptionSpec[] = [
  { name: 'read', short: 'r', value: true, valueName: 'FILE', help: 'read a pcap/pcapng file (- for stdin); no privileges needed' },
  { name: 'type', short: 't', value: true, multiple: true, valueName: 'TYPE', help: 'keep only these event types (repeatable; h2olog\'s quicly:TYPE works too)' },
  { name: 'write', short: 'w', value: true, valueName: 'FILE', help: 'write the JSON lines to FILE instead of stdout' },
  { name: 'port', value: true, multiple: true, valueName: 'PORTS', help: 'UDP ports whose datagrams are QUIC (comma-separated, repeatable; default 443);\nother ports are still taken when a datagram starts with a QUIC long header' },
  { name: 'ports', value: true, valueName: 'any', help: 'look at every UDP datagram (content detection); a port list is --port' },
  { name: 'vantage', value: true, valueName: 'SIDE', help: 'server (default: packet-received is what the server received) or client' },
  { name: 'filter', value: true, valueName: 'EXPR', help: 'keep connections matching EXPR (sni, alpn, src_ip, src_port, dst_ip, dst_port;\nsrc is the client), in the filter language of docs/query.md' },
  USER_OPTION,
  { name: 'keylog', value: true, valueName: 'FILE', help: 'TLS secrets (SSLKEYLOGFILE format): decrypt Handshake and 1-RTT packets, show HTTP/3' },
  { name: 'help', short: 'h', value: false, help: 'this help' },
  // h2olog's and the live sources: recognised, so that their error says what is missing
  { name: 'pid', short: 'p', value: true, multiple: true },
  { name: 'interface', short: 'i', value: true },
  { name: 'format', value: true },
];

export const QUIC_USAGE = `Usage: wirelog quic -r FILE [options]

QUIC events of every connection in a capture file, as JSON lines in h2olog's shape
({"time":…,"type":"accept","conn":1,"dcid":…}). Initial packets are decrypted without keys
(version, connection IDs, SNI, ALPN, frames); with --keylog (or pcapng secrets) every packet is,
and streams and HTTP/3 requests are shown. See docs/quic.md.

Options:
${formatOptions(QUIC_OPTIONS)}
`;

interface QuicSettings {
  readFile: string;
  types: string[];
  writeFile?: string;
  ports: number[] | 'any';
  vantage: 'server' | 'client';
  filter?: string;
  user?: string;
  keylog?: string;
}

function parsePorts(values: string[], as: string): number[] {
  const out: number[] = [];
  for (const v of values) {
    for (const part of v.split(',')) {
      const t = part.trim();
      const n = Number(t);
      if (t === '' || !Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${as}: '${t}' is not a port (1-65535)`, as);
      out.push(n);
    }
  }
  return out;
}

function resolve(argv: readonly string[]): QuicSettings | 'help' {
  const a = parseArgs(argv, QUIC_OPTIONS);
  if (a.flags.has('help')) return 'help';
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument '${a.positionals[0]}'`);
  for (const [name, what] of [['pid', 'attaching to a process (-p)'], ['interface', 'live capture (-i)']] as const) {
    const f = a.flags.get(name);
    if (f !== undefined) throw new UsageError(`${f.as}: ${what} is not in this version of wirelog quic; record with tcpdump and use -r FILE (docs/quic.md)`, f.as);
  }
  const fmt = a.flags.get('format');
  if (fmt !== undefined && fmt.values[0] !== 'jsonl') throw new UsageError(`${fmt.as}: only jsonl is written in this version (qlog is not yet)`, fmt.as);
  const read = a.flags.get('read');
  if (read === undefined) throw new UsageError('-r FILE is needed (live sources, -p and -i, are not in this version)', '-r');
  const s: QuicSettings = { readFile: read.values[0]!, types: a.flags.get('type')?.values ?? [], ports: [443], vantage: 'server' };
  const w = a.flags.get('write');
  if (w !== undefined) s.writeFile = w.values[0];
  const port = a.flags.get('port');
  if (port !== undefined) s.ports = parsePorts(port.values, port.as);
  const ports = a.flags.get('ports');
  if (ports !== undefined) {
    if (ports.values[0] === 'any') s.ports = 'any';
    else s.ports = parsePorts(ports.values, ports.as);
  }
  const v = a.flags.get('vantage');
  if (v !== undefined) {
    if (v.values[0] !== 'server' && v.values[0] !== 'client') throw new UsageError(`${v.as}: '${v.values[0]}' is not server or client`, v.as);
    s.vantage = v.values[0];
  }
  const f = a.flags.get('filter');
  if (f !== undefined) s.filter = f.values[0];
  s.user = a.flags.get('user')?.values.at(-1);
  const k = a.flags.get('keylog');
  if (k !== undefined) s.keylog = k.values[0];
  return s;
}

/** Runs the command; resolves to the exit code (0 ok, 1 bad file or output, 2 usage). */
export async function quicCommand(argv: readonly string[]): Promise<number> {
  let settings: QuicSettings;
  let plan: PrivilegePlan;
  let types: Set<string> | undefined;
  let connFilter: ((r: Readonly<Record<string, unknown>>) => boolean) | undefined;
  const { eventTypeSet, QuicTypeError, QuicJsonlSink } = await import('../sinks/quic-jsonl.js');
  try {
    const r = resolve(argv);
    if (r === 'help') {
      stdoutText(QUIC_USAGE);
      return 0;
    }
    settings = r;
    plan = planPrivileges(settings.user);
    types = eventTypeSet(settings.types);
    if (settings.filter !== undefined) {
      const q = await import('../query/index.js');
      try {
        connFilter = q.compilePredicate(q.parseFilter(settings.filter, { record: 'tls' }));
      } catch (err) {
        if (err instanceof q.QueryError) throw new UsageError(`--filter: ${err.message}`, '--filter');
        throw err;
      }
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof QuicTypeError) {
      stderrLine(`wirelog: error: ${err.message}`);
      stderrLine(`Try 'wirelog quic --help'.`);
      return 2;
    }
    throw err;
  }
  if (settings.readFile !== '-' && !fs.existsSync(settings.readFile)) {
    stderrLine(`wirelog: error: ${settings.readFile}: no such file`);
    return 1;
  }
  const { TlsKeylog } = await import('../proto/tls-keylog.js');
  // always a key log: pcapng files may carry secrets (Decryption Secrets Blocks) even without --keylog
  let keylog = new TlsKeylog();
  if (settings.keylog !== undefined) {
    try {
      keylog = TlsKeylog.fromFile(settings.keylog);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      stderrLine(`wirelog: error: --keylog ${settings.keylog}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
      return 1;
    }
  }
  let sink: InstanceType<typeof QuicJsonlSink>;
  try {
    sink = new QuicJsonlSink(settings.writeFile, types);
  } catch (err) {
    stderrLine(`wirelog: error: cannot write ${settings.writeFile}: ${(err as Error).message}`);
    return 1;
  }
  const pipeline = await import('../pipelines/quic.js');
  const tracker = new pipeline.QuicTracker({
    vantage: settings.vantage,
    ports: settings.ports,
    connFilter,
    keylog,
    keylogFromCaptureOnly: settings.keylog === undefined,
    emit: (e) => sink.event(e),
  });
  let result;
  try {
    if (plan.action === 'keep') stderrLine(KEEP_ROOT_WARNING);
    // started as root: the input, the key log and -w are open, parsing runs as --user (docs/privileges.md)
    result = await pipeline.runQuicFile({ path: settings.readFile, tracker, keylog, afterOpen: () => dropPrivileges(plan) });
  } finally {
    sink.close();
    keylog.close();
  }
  stderrLine(pipeline.quicSummaryLine(result, settings.keylog !== undefined || keylog.connections > 0 || keylog.badLines > 0 ? keylog : undefined));
  if (result.capture.error !== undefined) {
    stderrLine(`wirelog: error: ${result.capture.error.message}`);
    return 1;
  }
  if (sink.failure !== undefined) {
    stderrLine(`wirelog: error: writing ${settings.writeFile ?? 'stdout'}: ${sink.failure}`);
    return 1;
  }
  return 0;
}
