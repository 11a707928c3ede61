/**
 * `wirelog-sensor netdev --netns all` on this machine's kernel (root): two namespaces joined by a veth pair, nginx
 * in the server one and curl in the client one. Reference: tcpdump inside each namespace on its veth. Every TCP
 * segment tcpdump saw on a veth must come out of the sensor once, at that device (netns inode, ifname), in the
 * right direction (tx: leaving the device, rx: arriving at it), with the same seq/ack/flags/window/length. Then a
 * namespace pair created after the sensor started: its first packets must be seen within 1 s of its creation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, runOk } from '../helpers/proc.js';
import { sensorPath } from '../helpers/paths.js';
import { createNetnsPair, type NetnsPair } from '../helpers/netns.js';
import { startNginx, curl } from '../helpers/nginx.js';
import { startTcpdump } from '../helpers/tshark.js';
import { readNetdevStream, type NetdevPacket } from '../../src/decode/sensor-netdev.js';

async function netnsInode(ns: string): Promise<number> {
  return Number((await runOk('stat', ['-L', '-c', '%i', `/run/netns/${ns}`])).stdout.trim());
}

interface Seg { src: string; dst: string; sport: number; dport: number; seq: number; ack: number; flags: number; window: number; len: number }
const key = (s: Seg): string => `${s.src}:${s.sport}>${s.dst}:${s.dport} seq ${s.seq} ack ${s.ack} f ${s.flags} w ${s.window} len ${s.len}`;

/** The TCP segments of a pcap, with raw sequence numbers. */
async function pcapSegments(file: string): Promise<Seg[]> {
  const r = await runOk('tshark', ['-r', file, '-n', '-Y', 'tcp', '-T', 'fields', '-E', 'separator=/t', '-e', 'ip.src',
    '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.dstport', '-e', 'tcp.seq_raw',
    '-e', 'tcp.ack_raw', '-e', 'tcp.flags', '-e', 'tcp.window_size_value', '-e', 'tcp.len'], { timeoutMs: 60_000 });
  return r.stdout.split('\n').filter(Boolean).map((line) => {
    const f = line.split('\t');
    return {
      src: f[0] || f[1]!, sport: Number(f[2]), dst: f[3] || f[4]!, dport: Number(f[5]), seq: Number(f[6]),
      // tshark leaves ack_raw empty when ACK is not set; the sensor reports the field as it is (0 for a SYN)
      ack: f[7] ? Number(f[7]) : 0, flags: Number(f[8]) & 0xff, window: Number(f[9]), len: Number(f[10]),
    };
  });
}

const segOf = (p: NetdevPacket): Seg => ({ src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, seq: p.seq, ack: p.ack,
  flags: p.flags, window: p.window, len: p.payloadLen });

function multiset(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

test('netdev: every TCP segment tcpdump sees on both veths of two namespaces, at the right device, netns and direction; a new namespace within 1 s', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const dir = await scope.tempDir('wl-netdev-');
  const pair = await createNetnsPair(scope);
  const nginx = await startNginx(scope, { netns: pair.server.ns, listen: [pair.server.ip4, pair.server.ip6], bigBytes: 256 * 1024 });
  const port = nginx.port;
  const inode = { client: await netnsInode(pair.client.ns), server: await netnsInode(pair.server.ns) };
  assert.notEqual(inode.client, inode.server);

  const sensor = scope.spawn(sensorPath, ['netdev', '--binary', '--netns', 'all', '-p', String(port), '-b', '16',
    '--stats-ms', '0'], { binary: true, stdin: 'pipe' });
  await sensor.waitForLine('stderr', /attached mode=netdev netns=all/, 15_000);

  const dumps = {
    client: await startTcpdump(scope, { iface: pair.client.ifname, netns: pair.client.ns, file: path.join(dir, 'c.pcap'), filter: `tcp port ${port}` }),
    server: await startTcpdump(scope, { iface: pair.server.ifname, netns: pair.server.ns, file: path.join(dir, 's.pcap'), filter: `tcp port ${port}` }),
  };
  const base4 = `http://${pair.server.ip4}:${port}`;
  const base6 = `http://[${pair.server.ip6}]:${port}`;
  const got = await curl(scope, [`${base4}/`, `${base4}/big.bin`], { netns: pair.client.ns });
  await curl(scope, [`${base6}/`], { netns: pair.client.ns });
  assert.equal(got[1]!.head.status, 200);
  const [dc, ds] = await Promise.all([dumps.client.stop(), dumps.server.stop()]);
  assert.equal(dc.droppedByKernel, 0);
  assert.equal(ds.droppedByKernel, 0);

  // a namespace pair made now, after the sensor started: its first SYN (nothing listens: RST back) is seen at once
  const late: NetnsPair = await createNetnsPair(scope);
  const createdMs = Date.now();
  const lateInode = await netnsInode(late.client.ns);
  await late.exec(late.client.ns, 'curl', ['-s', '--max-time', '2', `http://${late.server.ip4}:${port}/`]);

  sensor.signal('SIGINT');
  const exit = await sensor.exited;
  assert.equal(exit.code, 0, sensor.stderr);
  const out = readNetdevStream(sensor.stdoutBuffer);
  assert.equal(out.rest, 0);
  assert.ok(out.stats.length >= 1, 'a final stats record');
  const stats = out.stats.at(-1)!;
  assert.equal(stats.ringbuf_drops, 0, 'ring buffer drops');
  assert.deepEqual(out.drops, [], 'no device lost events');
  assert.equal(stats.packets_sent, out.packets.length);

  for (const side of ['client', 'server'] as const) {
    const end = pair[side];
    const ref = await pcapSegments(dumps[side].file);
    assert.ok(ref.length > 20, `${side}: tcpdump saw ${ref.length} segments`);
    const atDev = out.packets.filter((p) => p.netns === inode[side] && p.ifname === end.ifname);
    // each segment once at this device, in its direction: sent by this end's address = tx, else rx
    for (const dirn of ['tx', 'rx'] as const) {
      const mine = (s: Seg): boolean => (s.src === end.ip4 || s.src === end.ip6) === (dirn === 'tx');
      const want = multiset(ref.filter(mine).map(key));
      const have = multiset(atDev.filter((p) => p.direction === dirn).map((p) => key(segOf(p))));
      assert.deepEqual(have, want, `${side} ${end.ifname} ${dirn}`);
    }
    for (const p of atDev) assert.ok(p.ifindex > 0 && p.proto === 6);
  }
  // the test port was carried by these four devices only
  const lateServerInode = await netnsInode(late.server.ns);
  const known = new Set([`${inode.client}/${pair.client.ifname}`, `${inode.server}/${pair.server.ifname}`,
    `${lateInode}/${late.client.ifname}`, `${lateServerInode}/${late.server.ifname}`]);
  const others = [...new Set(out.packets.map((p) => `${p.netns}/${p.ifname}`).filter((d) => !known.has(d)))];
  assert.deepEqual(others, [], 'no other device carried the test port');

  const lateSeen = out.packets.filter((p) => p.netns === lateInode && p.ifname === late.client.ifname);
  const syn = lateSeen.find((p) => p.direction === 'tx' && p.flags === 0x02);
  assert.ok(syn, `the late namespace's SYN was seen (${lateSeen.length} events there)`);
  // ts_ns is wall-clock ns
  const lagMs = Number(syn.tsNs / 1_000_000n) - createdMs;
  assert.ok(lagMs < 1000, `seen ${lagMs} ms after the namespace pair was created`);
  t.diagnostic(`events ${out.packets.length}, paged payloads ${stats.paged_payload}, late namespace's SYN ${lagMs} ms after creation`);
});
