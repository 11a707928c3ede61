/**
 * Two network namespaces (client, server) joined by a veth pair, for tests that need real "remote" hosts:
 * addresses 10.200.N.1-2/24 and fd00:200::1-2/64, MTU 1500. Only namespaces created here are touched,
 * and they are deleted (with anything still running inside) when the scope closes.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Scope, run, runOk, type RunResult } from './proc.js';

export interface NetnsEnd {
  /** namespace name (for `ip netns exec`) */
  ns: string;
  ifname: string;
  ip4: string;
  ip6: string;
}

export interface NetnsPair {
  client: NetnsEnd;
  server: NetnsEnd;
  mtu: number;
  /** whether TSO/GSO/GRO were left on (off: the capture sees MTU-sized segments, as on a real wire) */
  offloads: boolean;
  exec(ns: string, cmd: string, args: string[], timeoutMs?: number): Promise<RunResult>;
  destroy(): Promise<void>;
}

export interface NetnsOptions {
  mtu?: number;
  /** keep segmentation offloads on; default off so segments are really split at the MTU */
  offloads?: boolean;
}

function ethtoolPath(): string | undefined {
  for (const p of ['/usr/sbin/ethtool', '/sbin/ethtool', '/usr/bin/ethtool']) if (existsSync(p)) return p;
  return undefined;
}

async function deleteNetns(ns: string): Promise<void> {
  // processes still inside would keep the veth alive: end them (they are ours: we made the namespace)
  const pids = await run('ip', ['netns', 'pids', ns], { timeoutMs: 5000 });
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  await run('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
}

export async function createNetnsPair(scope: Scope, opts: NetnsOptions = {}): Promise<NetnsPair> {
  const mtu = opts.mtu ?? 1500;
  const offloads = opts.offloads ?? false;
  const tag = randomBytes(3).toString('hex');
  const subnet = 1 + (randomBytes(1)[0]! % 250);
  const client: NetnsEnd = { ns: `wl-${tag}-c`, ifname: `wlc${tag}`, ip4: `10.200.${subnet}.1`, ip6: 'fd00:200::1' };
  const server: NetnsEnd = { ns: `wl-${tag}-s`, ifname: `wls${tag}`, ip4: `10.200.${subnet}.2`, ip6: 'fd00:200::2' };

  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    await deleteNetns(client.ns);
    await deleteNetns(server.ns);
  };
  // registered before the first ip command so a half-built pair is removed too
  scope.defer(`delete namespaces ${client.ns} ${server.ns}`, destroy);

  await runOk('ip', ['netns', 'add', client.ns]);
  await runOk('ip', ['netns', 'add', server.ns]);
  await runOk('ip', ['link', 'add', client.ifname, 'netns', client.ns, 'type', 'veth',
    'peer', 'name', server.ifname, 'netns', server.ns]);
  const ethtool = ethtoolPath();
  if (!offloads && !ethtool) throw new Error('ethtool is needed to turn segmentation offloads off (apt-get install ethtool)');
  for (const end of [client, server]) {
    const ns = (args: string[]): Promise<RunResult> => runOk('ip', ['netns', 'exec', end.ns, ...args]);
    await ns(['ip', 'link', 'set', 'lo', 'up']);
    await ns(['ip', 'link', 'set', end.ifname, 'mtu', String(mtu), 'up']);
    await ns(['ip', 'addr', 'add', `${end.ip4}/24`, 'dev', end.ifname]);
    await ns(['ip', '-6', 'addr', 'add', `${end.ip6}/64`, 'dev', end.ifname, 'nodad']);
    if (!offloads) await ns([ethtool!, '-K', end.ifname, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
  }
  const pair: NetnsPair = {
    client, server, mtu, offloads, destroy,
    exec: (ns, cmd, args, timeoutMs = 60_000) => run(cmd, args, { netns: ns, timeoutMs }),
  };
  return pair;
}
