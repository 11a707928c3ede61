/**
 * /etc/resolv.conf and /etc/hosts for the traced client's resolver, read as glibc and Go's resolver read them.
 *
 * resolv.conf: `nameserver ADDR` (at most 3, like glibc's MAXNS and Go; port 53), `search` / `domain` (the last
 * of them wins), `options ndots:N timeout:N attempts:N rotate edns0 use-vc`. Defaults as glibc: timeout 5 s,
 * attempts 2, ndots 1, and nameservers 127.0.0.1 and ::1 when none is configured (Go's default). wirelog's
 * extension: `nameserver [ADDR]:PORT` selects another port (brackets needed, for IPv4 too). Unknown keywords and
 * options are ignored, as glibc does.
 *
 * hosts: `ADDR NAME [ALIAS...]`, `#` comments; names case-insensitive; IPv4 and IPv6 (with a zone) addresses.
 */
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';

export interface Nameserver {
  ip: string;
  port: number;
}

export interface ResolvConf {
  nameservers: Nameserver[];
  /** search domains, without the trailing dot */
  search: string[];
  ndots: number;
  /** per-try timeout, milliseconds */
  timeoutMs: number;
  attempts: number;
  rotate: boolean;
  edns0: boolean;
  /** `options use-vc` / `tcp`: query over TCP only */
  useTCP: boolean;
  /** true when the defaults were used because the file could not be read */
  missing?: boolean;
}

const MAX_NAMESERVERS = 3;
const MAX_NDOTS = 15;
const MAX_TIMEOUT_S = 30;
const MAX_ATTEMPTS = 5;

export const DEFAULT_RESOLV_CONF_PATH = '/etc/resolv.conf';
export const DEFAULT_HOSTS_PATH = '/etc/hosts';

/** `ip:port`, IPv6 in brackets: how nettrace names a nameserver (`8.8.8.8:53`). */
export function nameserverAddr(ns: Nameserver): string {
  return isIP(ns.ip) === 6 ? `[${ns.ip}]:${ns.port}` : `${ns.ip}:${ns.port}`;
}

function parseNameserver(s: string): Nameserver | undefined {
  const bracket = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s);
  if (bracket) {
    const port = Number(bracket[2]);
    if (isIP(stripZone(bracket[1])) === 0 || port < 1 || port > 65535) return undefined;
    return { ip: bracket[1], port };
  }
  if (isIP(stripZone(s)) === 0) return undefined;
  return { ip: s, port: 53 };
}

function stripZone(ip: string): string {
  const pct = ip.indexOf('%');
  return pct >= 0 && ip.includes(':') ? ip.slice(0, pct) : ip;
}

/** The domain part of this host's name, Go's default search list when resolv.conf has none. */
function defaultSearch(host: string): string[] {
  const dot = host.indexOf('.');
  return dot >= 0 && dot < host.length - 1 ? [host.slice(dot + 1).replace(/\.$/, '')] : [];
}

export function parseResolvConf(text: string, localHostname: string = hostname()): ResolvConf {
  const conf: ResolvConf = {
    nameservers: [], search: [], ndots: 1, timeoutMs: 5000, attempts: 2, rotate: false, edns0: false, useTCP: false,
  };
  let search: string[] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const f = line.split(/\s+/);
    switch (f[0]) {
      case 'nameserver': {
        const ns = f[1] !== undefined ? parseNameserver(f[1]) : undefined;
        if (ns && conf.nameservers.length < MAX_NAMESERVERS) conf.nameservers.push(ns);
        break;
      }
      case 'domain':
        if (f[1] !== undefined) search = [trimDots(f[1])].filter((d) => d !== '');
        break;
      case 'search':
        search = f.slice(1).map(trimDots).filter((d) => d !== '');
        break;
      case 'options':
        for (const opt of f.slice(1)) applyOption(conf, opt);
        break;
      default:
        break; // sortlist, unknown keywords: ignored like glibc
    }
  }
  conf.search = search ?? defaultSearch(localHostname);
  return conf;
}

function trimDots(d: string): string {
  return d.replace(/^\.+|\.+$/g, '');
}

function applyOption(conf: ResolvConf, opt: string): void {
  const colon = opt.indexOf(':');
  const key = colon >= 0 ? opt.slice(0, colon) : opt;
  const val = colon >= 0 ? Number.parseInt(opt.slice(colon + 1), 10) : NaN;
  switch (key) {
    case 'ndots':
      if (Number.isFinite(val) && val >= 0) conf.ndots = Math.min(val, MAX_NDOTS);
      break;
    case 'timeout':
      if (Number.isFinite(val)) conf.timeoutMs = Math.min(Math.max(val, 1), MAX_TIMEOUT_S) * 1000;
      break;
    case 'attempts':
      if (Number.isFinite(val)) conf.attempts = Math.min(Math.max(val, 1), MAX_ATTEMPTS);
      break;
    case 'rotate': conf.rotate = true; break;
    case 'edns0': conf.edns0 = true; break;
    case 'use-vc': case 'usevc': case 'tcp': conf.useTCP = true; break;
    default: break;
  }
}

/** name (lower case, no trailing dot) → addresses in file order */
export type HostsTable = Map<string, string[]>;

export function parseHosts(text: string): HostsTable {
  const table: HostsTable = new Map();
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    const f = (hash >= 0 ? raw.slice(0, hash) : raw).trim().split(/\s+/);
    if (f.length < 2 || f[0] === '') continue;
    if (isIP(stripZone(f[0])) === 0) continue;
    for (const name of f.slice(1)) {
      const key = hostsKey(name);
      const list = table.get(key) ?? [];
      if (!list.includes(f[0])) list.push(f[0]);
      table.set(key, list);
    }
  }
  return table;
}

export function hostsKey(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Reads resolv.conf; a missing or unreadable file gives the defaults (like glibc and Go). */
export async function loadResolvConf(path: string = DEFAULT_RESOLV_CONF_PATH): Promise<ResolvConf> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    const conf = parseResolvConf('');
    conf.missing = true;
    conf.nameservers = defaultNameservers();
    return conf;
  }
  const conf = parseResolvConf(text);
  if (conf.nameservers.length === 0) conf.nameservers = defaultNameservers();
  return conf;
}

function defaultNameservers(): Nameserver[] {
  return [{ ip: '127.0.0.1', port: 53 }, { ip: '::1', port: 53 }];
}

export async function loadHosts(path: string = DEFAULT_HOSTS_PATH): Promise<HostsTable> {
  try {
    return parseHosts(await readFile(path, 'utf8'));
  } catch {
    return new Map();
  }
}

/**
 * A file re-read when it changed, checked at most every 5 seconds (Go's resolver does the same for resolv.conf
 * and hosts), so a lookup does not read two files.
 */
export class CachedFile<T> {
  private value: T | undefined;
  private checkedAt = 0;
  private stamp = '';

  constructor(private readonly path: string, private readonly load: (path: string) => Promise<T>, private readonly maxAgeMs = 5000) {}

  async get(): Promise<T> {
    const now = Date.now();
    if (this.value !== undefined && now - this.checkedAt < this.maxAgeMs) return this.value;
    this.checkedAt = now;
    let stamp = 'missing';
    try {
      const st = await stat(this.path);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch { /* missing: defaults */ }
    if (this.value === undefined || stamp !== this.stamp) {
      this.value = await this.load(this.path);
      this.stamp = stamp;
    }
    return this.value;
  }
}
