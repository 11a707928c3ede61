/**
 * Settings of `wirelog capture`, from three places, highest first: command-line flags, the environment
 * (`WIRELOG_*`), the config file (`--config FILE`, else /etc/wirelog.conf when it exists). A setting comes whole
 * from the highest place that has it (ports are not merged across places). Every error names where the bad value
 * came from: the flag as typed, the environment variable, or FILE:LINE.
 */
import fs from 'node:fs';
import net from 'node:net';
import { parseArgs, UsageError, type OptionSpec } from './args.js';
import { USER_OPTION } from './privileges.js';
import { DEFAULT_RETENTION_AGE_US, DEFAULT_RETENTION_BYTES, DEFAULT_STORE_PATH, parseDurationUs, parseSize } from '../store/options.js';
import { WirelogError } from '../errors.js';

export const DEFAULT_CONFIG_FILE = '/etc/wirelog.conf';
export const MAX_SNAPLEN = 4096; // WL_MAX_SNAPLEN of bpf/wirelog_events.h

/** Options of a ClickHouse store (capture and trace; ignored for a SQLite store). */
export const STORE_CLICKHOUSE_OPTIONS: readonly OptionSpec[] = [
  { name: 'agent', value: true, env: 'WIRELOG_AGENT', inFile: true, valueName: 'NAME',
    help: 'ClickHouse store: the agent column of every row, default this host\'s name' },
  { name: 'spool-dir', value: true, env: 'WIRELOG_SPOOL_DIR', inFile: true, valueName: 'DIR',
    help: 'ClickHouse store: batches the server does not take wait here, default /var/lib/wirelog/spool/DB' },
  { name: 'spool-size', value: true, env: 'WIRELOG_SPOOL_SIZE', inFile: true, valueName: 'SIZE',
    help: 'ClickHouse store: the spool holds at most SIZE (256M, 1G); more is dropped (counted), default 256M' },
  { name: 'spool-if-down', value: false, negatable: true, env: 'WIRELOG_SPOOL_IF_DOWN', inFile: true,
    help: 'ClickHouse store: start even when the server does not answer (spool until it does); default: refuse' },
];

export const CAPTURE_OPTIONS: readonly OptionSpec[] = [
  { name: 'iface', short: 'i', value: true, env: 'WIRELOG_IFACE', inFile: true, valueName: 'IFACE',
    help: 'interface to capture on (live); default: all interfaces of the network namespace' },
  { name: 'netns', value: true, multiple: true, env: 'WIRELOG_NETNS', inFile: true, valueName: 'NS',
    help: "every device of network namespace NS (an 'ip netns' name, an nsfs path or /proc/PID/ns/net, or an inode),\nrepeatable; 'all' = every namespace of the host, those created while it runs included (docs/netlog.md)" },
  { name: 'ports', short: 'p', value: true, multiple: true, env: 'WIRELOG_PORTS', inFile: true, valueName: 'PORTS',
    help: 'HTTP service ports, comma list or repeated (-p 80,8080 -p 3000), or `any`.\nLive default: 80. With -r the default is `any` (HTTP found by content)' },
  { name: 'snaplen', short: 's', value: true, env: 'WIRELOG_SNAPLEN', inFile: true, valueName: 'SNAPLEN',
    help: `payload bytes captured per packet (live), default 4096, max ${MAX_SNAPLEN}` },
  { name: 'buffer-mb', short: 'b', value: true, env: 'WIRELOG_BUFFER_MB', inFile: true, valueName: 'MB',
    help: 'sensor ring buffer size in MiB, default 8' },
  { name: 'count', short: 'c', value: true, env: 'WIRELOG_COUNT', inFile: true, valueName: 'COUNT',
    help: 'stop after COUNT packets (live or file)' },
  { name: 'dir', short: 'd', value: true, env: 'WIRELOG_DIR', inFile: true, valueName: 'DIR',
    help: 'write log files in DIR (http-YYYYMMDD.log, one a day by local date; rotation at local midnight);\ndefault: stdout' },
  { name: 'log-split', value: false, negatable: true, env: 'WIRELOG_LOG_SPLIT', inFile: true,
    help: 'four files a day (http-CQ-, -CR-, -SQ-, -SR-YYYYMMDD.log), as httplog -log_split' },
  { name: 'log-every', value: true, env: 'WIRELOG_LOG_EVERY', inFile: true, valueName: 'N',
    help: 'every N packets a stats line on stderr' },
  { name: 'read', short: 'r', value: true, valueName: 'FILE',
    help: 'read a pcap or pcapng file instead of capturing (no privileges needed); - = stdin' },
  { name: 'format', value: true, env: 'WIRELOG_FORMAT', inFile: true, valueName: 'F',
    help: 'text (default, httplog lines) | jsonl (one JSON record per transaction, docs/schema.md)\n| ladder (packet ladder per connection and device, HTTP requests marked; implies --l4)' },
  { name: 'l4', value: false, negatable: true, env: 'WIRELOG_L4', inFile: true,
    help: 'also write L4 records: every packet header of every connection, in chunks (needs --format jsonl)' },
  { name: 'no-reassembly', value: false, negatedBy: 'reassembly', env: 'WIRELOG_NO_REASSEMBLY', inFile: true,
    help: 'parse only packets that begin an HTTP message, like httplog (fastest)' },
  { name: 'local-addr', value: true, multiple: true, env: 'WIRELOG_LOCAL_ADDR', inFile: true, valueName: 'A,B',
    help: "this host's addresses, deciding CQ vs SQ (default: the addresses of this host's interfaces)" },
  { name: 'store', value: true, optionalValue: true, env: 'WIRELOG_STORE', inFile: true, valueName: 'PATH',
    help: 'also keep every record in an embedded SQLite store (docs/store.md); PATH default /var/lib/wirelog/wirelog.db;\nor clickhouse://[USER:PASSWORD@]HOST:PORT/DB: ship to ClickHouse (docs/clickhouse.md)' },
  { name: 'retention-size', value: true, env: 'WIRELOG_STORE_RETENTION_SIZE', inFile: true, valueName: 'SIZE',
    help: 'store: remove the oldest rows above SIZE (1G, 500M; 0 = no limit), default 1G' },
  { name: 'retention-age', value: true, env: 'WIRELOG_STORE_RETENTION_AGE', inFile: true, valueName: 'DURATION',
    help: 'store: remove rows older than DURATION (7d, 12h, 30m; 0 = no limit), default 7d' },
  ...STORE_CLICKHOUSE_OPTIONS,
  { ...USER_OPTION, env: 'WIRELOG_USER', inFile: true },
  { name: 'config', value: true, valueName: 'FILE', help: `config file (default ${DEFAULT_CONFIG_FILE} if it exists)` },
  { name: 'version', short: 'v', value: false, help: 'print the version and exit' },
  { name: 'verbose', value: false, negatable: true, inFile: true, help: 'more diagnostics on stderr' },
  { name: 'quiet', short: 'q', value: false, negatable: true, inFile: true,
    help: 'no progress line for -r (shown on a terminal: percent read, packets/s, records, ETA)' },
  { name: 'help', short: 'h', value: false, help: 'this help' },
];

export type OutputFormat = 'text' | 'jsonl' | 'ladder';

export interface CaptureSettings {
  /** -r FILE ('-' = stdin); undefined = live capture */
  readFile?: string;
  iface?: string;
  /** service ports; 'any' = HTTP found by content */
  ports: number[] | 'any';
  snaplen: number;
  bufferMb: number;
  count?: number;
  dir?: string;
  logSplit: boolean;
  logEvery?: number;
  format: OutputFormat;
  /** L4 records beside the HTTP records (jsonl; always with ladder) */
  l4: boolean;
  reassembly: boolean;
  /** undefined: the addresses of this host's interfaces */
  localAddrs?: string[];
  /** --netns: 'all', or the values given (resolved by the command) */
  netns?: 'all' | string[];
  /** --store: the database file; undefined = no store */
  store?: string;
  /** --retention-size in bytes, --retention-age in µs (0 = no limit) */
  retentionBytes: number;
  retentionAgeUs: number;
  /** ClickHouse store: --agent, --spool-dir, --spool-size (bytes), --spool-if-down */
  agent?: string;
  spoolDir?: string;
  spoolBytes?: number;
  spoolIfDown: boolean;
  /** --user: who the agent becomes when started as root (undefined: the default, src/cli/privileges.ts) */
  user?: string;
  verbose: boolean;
  /** --quiet: no progress line */
  quiet: boolean;
  /** the config file that was read, if any */
  configFile?: string;
  /** where each setting came from (diagnostics, --verbose) */
  origin: Record<string, string>;
}

export type CaptureCommand =
  | { action: 'help' }
  | { action: 'version' }
  | { action: 'run'; settings: CaptureSettings };

/** A raw value and where it came from, for messages: '-p', 'WIRELOG_PORTS', '/etc/wirelog.conf:3'. */
interface Raw {
  values: string[];
  where: string;
  from: 'flag' | 'env' | 'file';
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function parseBool(r: Raw): boolean {
  const v = r.values[r.values.length - 1].trim().toLowerCase();
  if (TRUE.has(v) || (v === '' && r.from === 'file')) return true;
  if (FALSE.has(v)) return false;
  throw new UsageError(`${r.where}: expected true or false, got '${v}'`, r.where);
}

function parseInteger(r: Raw, min: number, max: number, what: string): number {
  const v = r.values[r.values.length - 1].trim();
  if (!/^\d+$/.test(v)) throw new UsageError(`${r.where}: ${what} must be an integer, got '${v}'`, r.where);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${r.where}: ${what} must be ${min}..${max}, got ${v}`, r.where);
  return n;
}

/** `80,8080` `3000` (repeated) or `any`. */
export function parsePorts(r: { values: string[]; where: string }): number[] | 'any' {
  const ports: number[] = [];
  let any = false;
  for (const value of r.values) {
    for (const item of value.split(',')) {
      const s = item.trim();
      if (s.toLowerCase() === 'any') {
        any = true;
        continue;
      }
      if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 65535)
        throw new UsageError(`${r.where}: bad port '${s}' (want 1..65535, a comma list, or any)`, r.where);
      if (!ports.includes(Number(s))) ports.push(Number(s));
    }
  }
  if (any && ports.length > 0) throw new UsageError(`${r.where}: 'any' cannot be combined with port numbers`, r.where);
  if (!any && ports.length === 0) throw new UsageError(`${r.where}: no ports given`, r.where);
  return any ? 'any' : ports;
}

/** Addresses as the decoders print them (dotted quad, RFC 5952 IPv6), so set lookups match. */
export function parseAddrs(r: { values: string[]; where: string }): string[] {
  const out: string[] = [];
  for (const value of r.values) {
    for (const item of value.split(',')) {
      const s = item.trim().replace(/%.*$/, '');
      if (s === '') continue;
      const family = net.isIP(s);
      if (family === 0) throw new UsageError(`${r.where}: not an IP address: '${item.trim()}'`, r.where);
      const norm = family === 6 ? new net.SocketAddress({ address: s, family: 'ipv6' }).address : s;
      if (!out.includes(norm)) out.push(norm);
    }
  }
  if (out.length === 0) throw new UsageError(`${r.where}: no addresses given`, r.where);
  return out;
}

const FILE_KEYS = new Map(CAPTURE_OPTIONS.filter((o) => o.inFile).map((o) => [o.name, o]));
const ENV_KEYS = new Map(CAPTURE_OPTIONS.filter((o) => o.env !== undefined).map((o) => [o.env as string, o]));

function unquote(s: string): string {
  if (s.length >= 2 && (s[0] === '"' || s[0] === "'") && s[s.length - 1] === s[0]) return s.slice(1, -1);
  return s;
}

/**
 * A config file: `key = value` lines with the long flag names (`ports = 80,8080`, `log-split = true`, a bare
 * `log-split` means true), `#` comments, and httplog-style env-file lines `WIRELOG_PORTS=80` (optionally
 * `export`ed and quoted). Other upper-case KEY=VALUE lines (a shared /etc/sysconfig file) are ignored.
 */
export function parseConfigText(text: string, file: string): Map<string, Raw> {
  const out = new Map<string, Raw>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    line = line.replace(/\s+#.*$/, ''); // trailing comment after whitespace; '#' inside a value stays
    const where = `${file}:${i + 1}`;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_-]*)\s*(?:[=:]\s*(.*))?$/.exec(line);
    if (m === null) throw new UsageError(`${where}: cannot parse '${lines[i].trim()}' (want key = value)`, where);
    const key = m[1];
    const value = unquote((m[2] ?? '').trim());
    let spec: OptionSpec | undefined;
    if (/^[A-Z0-9_]+$/.test(key)) {
      spec = ENV_KEYS.get(key);
      if (spec === undefined) {
        if (key.startsWith('WIRELOG_')) throw new UsageError(`${where}: unknown setting ${key}`, where);
        continue;
      }
    } else {
      spec = FILE_KEYS.get(key.toLowerCase().replace(/_/g, '-'));
      if (spec === undefined) throw new UsageError(`${where}: unknown setting '${key}'`, where);
    }
    if (spec.value && m[2] === undefined && !spec.optionalValue) throw new UsageError(`${where}: ${key} needs a value`, where);
    out.set(spec.name, { values: [value], where: `${where}: ${key}`, from: 'file' });
  }
  return out;
}

export interface ResolveOptions {
  /** the config file used when --config is absent and it exists (tests pass a temp path or '') */
  defaultConfigFile?: string;
  readFile?: (path: string) => string;
}

/** Parse `wirelog capture` arguments and merge flags > environment > config file. Throws UsageError (exit 2)
 *  for bad flags and values, ConfigFileError (exit 1) for an unreadable --config file. */
export function resolveCapture(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  opts: ResolveOptions = {},
): CaptureCommand {
  const { flags, positionals } = parseArgs(argv, CAPTURE_OPTIONS);
  if (flags.has('help')) return { action: 'help' };
  if (flags.has('version')) return { action: 'version' };
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);

  // config file
  let configFile: string | undefined;
  let fileRaw = new Map<string, Raw>();
  const explicit = flags.get('config');
  const candidate = explicit?.values[explicit.values.length - 1] ?? opts.defaultConfigFile ?? DEFAULT_CONFIG_FILE;
  if (candidate !== '' && (explicit !== undefined || fs.existsSync(candidate))) {
    let text: string;
    try {
      text = (opts.readFile ?? ((p) => fs.readFileSync(p, 'utf8')))(candidate);
    } catch (err) {
      throw new ConfigFileError(candidate, err);
    }
    configFile = candidate;
    fileRaw = parseConfigText(text, candidate);
  }

  const raw = new Map<string, Raw>();
  for (const spec of CAPTURE_OPTIONS) {
    const f = flags.get(spec.name);
    if (f !== undefined) {
      raw.set(spec.name, { values: f.values, where: f.as, from: 'flag' });
      continue;
    }
    const e = spec.env !== undefined ? env[spec.env] : undefined;
    if (e !== undefined && e !== '') {
      raw.set(spec.name, { values: [e], where: spec.env as string, from: 'env' });
      continue;
    }
    const c = fileRaw.get(spec.name);
    if (c !== undefined) raw.set(spec.name, c);
  }

  const origin: Record<string, string> = {};
  for (const [k, r] of raw) origin[k] = r.where;
  const get = (k: string): Raw | undefined => raw.get(k);
  const last = (r: Raw): string => r.values[r.values.length - 1];

  const readR = get('read');
  const readFile = readR !== undefined ? last(readR) : undefined;
  if (readFile === '') throw new UsageError(`${readR?.where}: needs a file name (or - for stdin)`, readR?.where);

  const portsR = get('ports');
  const ports = portsR !== undefined ? parsePorts(portsR) : readFile !== undefined ? 'any' : [80];

  const formatR = get('format');
  let format: OutputFormat = 'text';
  if (formatR !== undefined) {
    const v = last(formatR).trim().toLowerCase();
    if (v !== 'text' && v !== 'jsonl' && v !== 'ladder')
      throw new UsageError(`${formatR.where}: unknown format '${v}' (want text, jsonl or ladder)`, formatR.where);
    format = v;
  }

  const ifaceR = get('iface');
  const iface = ifaceR !== undefined ? last(ifaceR).trim() : undefined;
  if (ifaceR !== undefined && (iface === '' || iface === undefined || iface.length > 15 || /[\s/]/.test(iface)))
    throw new UsageError(`${ifaceR.where}: bad interface name '${iface}'`, ifaceR.where);

  const netnsR = get('netns');
  let netns: 'all' | string[] | undefined;
  if (netnsR !== undefined) {
    const values = netnsR.values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
    if (values.length === 0) throw new UsageError(`${netnsR.where}: needs a namespace, or all`, netnsR.where);
    if (values.includes('all')) {
      if (values.length > 1) throw new UsageError(`${netnsR.where}: 'all' is every namespace: name no others with it`, netnsR.where);
      netns = 'all';
    } else netns = values;
    if (readFile !== undefined) throw new UsageError(`${netnsR.where}: live capture only (a file has no namespaces to watch)`, netnsR.where);
    if (ifaceR !== undefined) throw new UsageError(`${netnsR.where}: every device of the namespaces is watched: drop -i ${iface}`, netnsR.where);
  }

  const dirR = get('dir');
  const dir = dirR !== undefined ? last(dirR).trim() : undefined;
  if (dirR !== undefined && dir === '') throw new UsageError(`${dirR.where}: needs a directory`, dirR.where);

  const num = (k: string, min: number, max: number, what: string): number | undefined => {
    const r = get(k);
    return r === undefined ? undefined : parseInteger(r, min, max, what);
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const r = get(k);
    return r === undefined ? dflt : parseBool(r);
  };
  const localR = get('local-addr');
  const store = storeSetting(get('store'));
  const l4 = format === 'ladder' || bool('l4', false); // the ladder is made of L4 records
  const l4R = get('l4');
  if (l4 && format === 'text' && store === undefined)
    throw new UsageError(`${l4R?.where}: L4 records are JSON lines only: --l4 needs --format jsonl`, l4R?.where);

  return {
    action: 'run',
    settings: {
      readFile,
      iface,
      ports,
      snaplen: num('snaplen', 1, MAX_SNAPLEN, 'snaplen') ?? MAX_SNAPLEN,
      bufferMb: num('buffer-mb', 1, 4096, 'buffer size (MiB)') ?? 8,
      count: num('count', 1, Number.MAX_SAFE_INTEGER, 'count'),
      dir,
      logSplit: bool('log-split', false),
      logEvery: num('log-every', 1, Number.MAX_SAFE_INTEGER, 'log-every'),
      format,
      l4,
      reassembly: !bool('no-reassembly', false),
      localAddrs: localR !== undefined ? parseAddrs(localR) : undefined,
      netns,
      store,
      retentionBytes: retention(get('retention-size'), parseSize, 'a size (1G, 500M, 0 = no limit)') ?? DEFAULT_RETENTION_BYTES,
      retentionAgeUs: retention(get('retention-age'), parseDurationUs, 'a duration (7d, 12h, 30m, 0 = no limit)') ?? DEFAULT_RETENTION_AGE_US,
      ...clickHouseSettings(get),
      spoolIfDown: bool('spool-if-down', false),
      user: userSetting(get('user')),
      verbose: bool('verbose', false),
      quiet: bool('quiet', false),
      configFile,
      origin,
    },
  };
}

/** --user NAME (a name, not checked here: planPrivileges looks it up) */
function userSetting(r: Raw | undefined): string | undefined {
  if (r === undefined) return undefined;
  const v = r.values[r.values.length - 1].trim();
  if (v === '') throw new UsageError(`${r.where}: needs a user name`, r.where);
  return v;
}

/** `--store` alone (or `store` / `true` in the file or environment): the default path; `false`/`no`/`off`: none. */
function storeSetting(r: Raw | undefined): string | undefined {
  if (r === undefined) return undefined;
  const v = r.values[r.values.length - 1].trim();
  const lower = v.toLowerCase();
  if (v === '' || TRUE.has(lower)) return DEFAULT_STORE_PATH;
  if (FALSE.has(lower)) return undefined;
  return v;
}

/** --agent, --spool-dir, --spool-size of a ClickHouse store. */
export function clickHouseSettings(get: (k: string) => { values: string[]; where: string } | undefined): { agent?: string; spoolDir?: string; spoolBytes?: number } {
  const out: { agent?: string; spoolDir?: string; spoolBytes?: number } = {};
  const agentR = get('agent');
  if (agentR !== undefined) {
    const v = agentR.values[agentR.values.length - 1]!.trim();
    if (v === '' || v.length > 255 || /[\u0000-\u001f]/.test(v)) throw new UsageError(`${agentR.where}: want an agent name (1 to 255 printable characters), got '${v}'`, agentR.where);
    out.agent = v;
  }
  const dirR = get('spool-dir');
  if (dirR !== undefined) {
    const v = dirR.values[dirR.values.length - 1]!.trim();
    if (v === '') throw new UsageError(`${dirR.where}: needs a directory`, dirR.where);
    out.spoolDir = v;
  }
  const sizeR = get('spool-size');
  if (sizeR !== undefined) {
    const v = sizeR.values[sizeR.values.length - 1]!.trim();
    const n = parseSize(v);
    if (n === undefined) throw new UsageError(`${sizeR.where}: want a size (256M, 1G, 0 = no spool), got '${v}'`, sizeR.where);
    out.spoolBytes = n;
  }
  return out;
}

function retention(r: Raw | undefined, parse: (s: string) => number | undefined, what: string): number | undefined {
  if (r === undefined) return undefined;
  const v = r.values[r.values.length - 1].trim();
  const n = parse(v);
  if (n === undefined) throw new UsageError(`${r.where}: want ${what}, got '${v}'`, r.where);
  return n;
}

export class ConfigFileError extends WirelogError {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super('WL_ERR_CONFIG', `config file ${file}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}
