/**
 * The network-log topology (docs/netlog.md, docs/testing.md): a client namespace and a server namespace, each with
 * a veth to a bridge of its own in the host namespace, routed by the host, so a request crosses
 *   client veth (tx) → host peer (rx) → client bridge (rx) → routing → server bridge (tx) → host peer (tx) → server veth (rx)
 * plus a DNAT rule in the host (client bridge address:8080 → server:80), and namespaces added later on the client
 * bridge. Segmentation offloads are off everywhere so every device sees the same MTU-sized segments. Everything is
 * removed when the scope closes; ip_forward is put back as it was.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Scope, run, runOk } from './proc.js';

export interface TopoNs {
  name: string;
  inode: number;
  /** the veth inside the namespace */
  dev: string;
  ifindex: number;
  /** its peer in the host namespace (a bridge port) */
  hostDev: string;
  hostIfindex: number;
  ip: string;
}

export interface TopoBridge {
  name: string;
  ifindex: number;
  /** the host's address on it: the gateway of its namespaces */
  ip: string;
}

export interface Topology {
  tag: string;
  hostNetns: number;
  clientBridge: TopoBridge;
  serverBridge: TopoBridge;
  client: TopoNs;
  server: TopoNs;
  /** the DNAT'd service: clientBridge.ip:dnatPort → server.ip:80 */
  dnatPort: number;
  /** another client namespace on the client bridge (created when called) */
  addClient(letter: string): Promise<TopoNs>;
  exec(ns: TopoNs, cmd: string, args: string[], timeoutMs?: number): ReturnType<typeof runOk>;
}

async function ifindexOf(dev: string, ns?: string): Promise<number> {
  const args = ns === undefined ? ['-o', 'link', 'show', dev] : ['-n', ns, '-o', 'link', 'show', dev];
  return Number(/^(\d+):/.exec((await runOk('ip', args)).stdout)![1]);
}

async function inodeOf(p: string): Promise<number> {
  return Number((await runOk('stat', ['-L', '-c', '%i', p])).stdout.trim());
}

const ETHTOOL = '/usr/sbin/ethtool';
const OFFLOADS_OFF = ['tso', 'off', 'gso', 'off', 'gro', 'off'];

export interface BridgedNsOptions {
  /** names: namespace wl-TAG-LETTER, its veth wleTAGLETTER, the host end wlhTAGLETTER */
  tag: string;
  letter: string;
  /** the bridge the host end joins */
  bridge: string;
  /** the namespace's address (/24) */
  ip: string;
  /** default route via this address */
  gateway?: string;
  /** TSO/GSO/GRO off on both ends */
  offloadsOff?: boolean;
}

/** A namespace with a veth whose host end is a port of a bridge; removed (processes killed first) when the scope closes. */
export async function addBridgedNs(scope: Scope, o: BridgedNsOptions): Promise<TopoNs> {
  const name = `wl-${o.tag}-${o.letter}`;
  const dev = `wle${o.tag}${o.letter}`;
  const hostDev = `wlh${o.tag}${o.letter}`;
  scope.defer(`delete namespace ${name}`, async () => {
    const pids = await run('ip', ['netns', 'pids', name], { timeoutMs: 5000 });
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await run('ip', ['netns', 'del', name], { timeoutMs: 10_000 });
    await run('ip', ['link', 'del', hostDev], { timeoutMs: 10_000 });
  });
  await runOk('ip', ['netns', 'add', name]);
  await runOk('ip', ['link', 'add', hostDev, 'type', 'veth', 'peer', 'name', dev, 'netns', name]);
  await runOk('ip', ['link', 'set', hostDev, 'master', o.bridge, 'up']);
  if (o.offloadsOff) await runOk(ETHTOOL, ['-K', hostDev, ...OFFLOADS_OFF]);
  const exec = (args: string[]) => runOk('ip', ['netns', 'exec', name, ...args]);
  await exec(['ip', 'link', 'set', 'lo', 'up']);
  await exec(['ip', 'link', 'set', dev, 'up']);
  await exec(['ip', 'addr', 'add', `${o.ip}/24`, 'dev', dev]);
  if (o.gateway !== undefined) await exec(['ip', 'route', 'add', 'default', 'via', o.gateway]);
  if (o.offloadsOff) await exec([ETHTOOL, '-K', dev, ...OFFLOADS_OFF]);
  return {
    name, inode: await inodeOf(`/run/netns/${name}`), dev, ifindex: await ifindexOf(dev, name), hostDev,
    hostIfindex: await ifindexOf(hostDev), ip: o.ip,
  };
}

export async function createTopology(scope: Scope): Promise<Topology> {
  const tag = randomBytes(3).toString('hex');
  const subnet = 1 + (randomBytes(1)[0]! % 250);
  const hostNetns = await inodeOf('/proc/self/ns/net');

  const fwdPath = '/proc/sys/net/ipv4/ip_forward';
  const fwdBefore = readFileSync(fwdPath, 'utf8').trim();
  scope.defer('restore ip_forward', async () => writeFileSync(fwdPath, fwdBefore));
  writeFileSync(fwdPath, '1');

  const bridge = async (letter: string, net: string): Promise<TopoBridge> => {
    const name = `wlb${tag}${letter}`;
    scope.defer(`delete bridge ${name}`, async () => { await run('ip', ['link', 'del', name], { timeoutMs: 10_000 }); });
    await runOk('ip', ['link', 'add', name, 'type', 'bridge']);
    await runOk('ip', ['addr', 'add', `${net}.1/24`, 'dev', name]);
    await runOk('ip', ['link', 'set', name, 'up']);
    return { name, ifindex: await ifindexOf(name), ip: `${net}.1` };
  };
  const clientNet = `10.211.${subnet}`;
  const serverNet = `10.212.${subnet}`;
  const clientBridge = await bridge('c', clientNet);
  const serverBridge = await bridge('s', serverNet);

  const addNs = (letter: string, br: TopoBridge, net: string, host: number): Promise<TopoNs> =>
    addBridgedNs(scope, { tag, letter, bridge: br.name, ip: `${net}.${host}`, gateway: br.ip, offloadsOff: true });
  const client = await addNs('c', clientBridge, clientNet, 2);
  const server = await addNs('s', serverBridge, serverNet, 2);
  for (const br of [clientBridge, serverBridge]) await runOk(ETHTOOL, ['-K', br.name, ...OFFLOADS_OFF]);

  // DNAT in the host: clientBridge.ip:8080 → server:80 (nftables, a table of our own)
  const dnatPort = 8080;
  const table = `wl_${tag}`;
  scope.defer(`delete nft table ${table}`, async () => { await run('nft', ['delete', 'table', 'ip', table], { timeoutMs: 10_000 }); });
  await runOk('nft', ['add', 'table', 'ip', table]);
  await runOk('nft', ['add', 'chain', 'ip', table, 'pre', '{ type nat hook prerouting priority -100 ; }']);
  await runOk('nft', ['add', 'rule', 'ip', table, 'pre', 'ip', 'daddr', clientBridge.ip, 'tcp', 'dport', String(dnatPort),
    'dnat', 'to', `${server.ip}:80`]);

  let nextHost = 3;
  return {
    tag, hostNetns, clientBridge, serverBridge, client, server, dnatPort,
    addClient: (letter) => addNs(letter, clientBridge, clientNet, nextHost++),
    exec: (ns, cmd, args, timeoutMs) => runOk('ip', ['netns', 'exec', ns.name, cmd, ...args], { timeoutMs }),
  };
}
