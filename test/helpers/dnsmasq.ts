/**
 * A throw-away dnsmasq for the resolver tests: a foreground child listening on one loopback address, port 53
 * (resolv.conf has no port, so the resolver always asks port 53), answering only the records it is given, with
 * every query logged to a file the tests read back as the independent account of what was asked, by whom
 * (client address and port) and over what (a TCP query is served by a forked child, so its log line carries
 * another pid than the main process).
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Scope, Spawned, waitFor, fmtExit } from './proc.js';

export interface DnsmasqOptions {
  /** loopback address to listen on, e.g. 127.0.0.53 (port 53) */
  address: string;
  /** `--host-record` entries: name and its addresses (repeat a name for more addresses) */
  hostRecords?: Array<[name: string, ...addrs: string[]]>;
  /** domains dnsmasq answers for itself: unknown names under them are NXDOMAIN (`--local=/d/`) */
  localDomains?: string[];
  /** TTL of the configured records (`--local-ttl`); default 60 */
  ttl?: number;
  extraArgs?: string[];
}

/** One `query[TYPE] NAME from ADDR` line of the log. */
export interface DnsmasqQuery {
  pid: number;
  clientIP: string;
  clientPort: number;
  type: string;
  name: string;
}

export interface Dnsmasq {
  address: string;
  proc: Spawned;
  logPath: string;
  /** the main process; TCP queries are logged by its forked children */
  pid: number;
  queries(): Promise<DnsmasqQuery[]>;
}

export const dnsmasqPath = '/usr/sbin/dnsmasq';

export function dnsmasqAvailable(): boolean {
  return existsSync(dnsmasqPath);
}

const QUERY_LINE = /dnsmasq\[(\d+)\]: \d+ ([^\s/]+)\/(\d+) query\[(\w+)\] (\S+) from (\S+)/;

export async function startDnsmasq(scope: Scope, o: DnsmasqOptions): Promise<Dnsmasq> {
  const dir = await scope.tempDir('wirelog-dnsmasq-');
  const logPath = path.join(dir, 'dnsmasq.log');
  const args = [
    '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--keep-in-foreground', '--bind-interfaces',
    `--listen-address=${o.address}`, '--port=53', '--log-queries=extra', `--log-facility=${logPath}`,
    '--pid-file=', '--user=root', `--local-ttl=${o.ttl ?? 60}`, '--cache-size=0',
  ];
  for (const [name, ...addrs] of o.hostRecords ?? []) args.push(`--host-record=${[name, ...addrs].join(',')}`);
  for (const d of o.localDomains ?? []) args.push(`--local=/${d}/`);
  args.push(...(o.extraArgs ?? []));
  const proc = scope.spawn(dnsmasqPath, args);
  await waitFor(`dnsmasq on ${o.address}:53 to start`, async () => {
    if (!proc.running) throw new Error(`dnsmasq exited (${fmtExit(proc.exitInfo!)}): ${proc.stderr.slice(-1000)}`);
    try {
      return (await readFile(logPath, 'utf8')).includes('started, version');
    } catch { return false; }
  }, 10_000);
  return {
    address: o.address, proc, logPath, pid: proc.pid!,
    async queries() {
      const text = await readFile(logPath, 'utf8');
      const out: DnsmasqQuery[] = [];
      for (const line of text.split('\n')) {
        const m = QUERY_LINE.exec(line);
        if (m) out.push({ pid: Number(m[1]), clientIP: m[2], clientPort: Number(m[3]), type: m[4], name: m[5] });
      }
      return out;
    },
  };
}
