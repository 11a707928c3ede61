/**
 * `wirelog-sensor packet --netns all|PATH` on this machine's kernel (root): one AF_PACKET socket per network
 * namespace. Topology: namespaces A and B, each with a veth whose host end is a port of one bridge in the sensor's
 * namespace; nginx in A, curl in B; later a third namespace C on the same bridge, made after the sensor started,
 * then deleted. Reference: tcpdump on each veth end, inside the namespace that holds it. Every TCP segment tcpdump
 * saw at a device must come out of the sensor once, at that device (namespace inode, device name and ifindex of
 * that namespace), in the right direction, with the same seq/ack/flags/window/length and payload preview.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { requirePrivileges } from '../helpers/privileged.js';
import { addBridgedNs, type TopoNs } from '../helpers/topology.js';
import { Scope, run, runOk, waitFor, type Spawned } from '../helpers/proc.js';
import { sensorPath } from '../helpers/paths.js';
import { startNginx, curl } from '../helpers/nginx.js';
import { startTcpdump } from '../helpers/tshark.js';

const SNAPLEN = 4096;
const PREVIEW = 64; // payload bytes a --text line shows

/** A namespace with a veth whose host end (hostDev) is a port of bridge (test/helpers/topology.ts). */
function addNs(scope: Scope, tag: string, letter: string, subnet: number, host: number, bridge: string): Promise<TopoNs> {
  return addBridgedNs(scope, { tag, letter, bridge, ip: `10.201.${subnet}.${host}` });
}

async function hostIfindex(dev: string): Promise<number> {
  return Number(/^(\d+):/.exec((await runOk('ip', ['-o', 'link', 'show', dev])).stdout)![1]);
}

async function ownNetnsInode(): Promise<number> {
  return Number((await runOk('stat', ['-L', '-c', '%i', '/proc/self/ns/net'])).stdout.trim());
}

async function makeBridge(scope: Scope, tag: string): Promise<string> {
  const br = `wlbr${tag}`;
  scope.defer(`delete bridge ${br}`, async () => { await run('ip', ['link', 'del', br], { timeoutMs: 10_000 }); });
  await runOk('ip', ['link', 'add', br, 'type', 'bridge']);
  await runOk('ip', ['link', 'set', br, 'up']);
  return br;
}

interface Seg { src: string; dst: string; sport: number; dport: number; seq: number; ack: number; flags: number; window: number; len: number; preview: string }
const key = (s: Seg): string =>
  `${s.src}:${s.sport}>${s.dst}:${s.dport} seq ${s.seq} ack ${s.ack} f ${s.flags} w ${s.window} len ${s.len} "${s.preview}"`;

/** As the sensor's text_preview: the first 64 payload bytes, non-printables as '.' */
function preview(bytes: Buffer): string {
  let s = '';
  for (const b of bytes.subarray(0, PREVIEW)) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
  return s;
}

/** The TCP segments of a pcap, raw sequence numbers, with the payload preview. */
async function pcapSegments(file: string): Promise<Seg[]> {
  const r = await runOk('tshark', ['-r', file, '-n', '-Y', 'tcp', '-T', 'fields', '-E', 'separator=/t', '-e', 'ip.src',
    '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'tcp.dstport', '-e', 'tcp.seq_raw', '-e', 'tcp.ack_raw', '-e', 'tcp.flags',
    '-e', 'tcp.window_size_value', '-e', 'tcp.len', '-e', 'tcp.payload'], { timeoutMs: 60_000 });
  return r.stdout.split('\n').filter(Boolean).map((line) => {
    const f = line.split('\t');
    return {
      src: f[0]!, sport: Number(f[1]), dst: f[2]!, dport: Number(f[3]), seq: Number(f[4]),
      // tshark leaves ack_raw empty when ACK is not set; the sensor reports the field as it is (0 for a SYN)
      ack: f[5] ? Number(f[5]) : 0, flags: Number(f[6]) & 0xff, window: Number(f[7]), len: Number(f[8]),
      preview: preview(Buffer.from((f[9] ?? '').replace(/:/g, ''), 'hex')),
    };
  });
}

interface Line { index: number; ns: number; dev: string; ifindex: number; dir: 'in' | 'out'; seg: Seg; cap: number }

const FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, '.': 0x10, U: 0x20, E: 0x40, W: 0x80 };
const PACKET_LINE = /^\S+ ns (\d+) (\S*)\((\d+)\) (in|out) +TCP (\S+):(\d+) > (\S+):(\d+) \[(\S*)\] seq (\d+) ack (\d+) win (\d+) len (\d+) cap (\d+)(?: frag)? "(.*)"$/;

function packetLines(lines: string[]): Line[] {
  const out: Line[] = [];
  lines.forEach((l, index) => {
    const m = PACKET_LINE.exec(l);
    if (!m) return;
    let flags = 0;
    for (const c of m[9]!) flags |= FLAG_BITS[c] ?? 0;
    out.push({
      index, ns: Number(m[1]), dev: m[2]!, ifindex: Number(m[3]), dir: m[4] as 'in' | 'out', cap: Number(m[14]),
      seg: { src: m[5]!, sport: Number(m[6]), dst: m[7]!, dport: Number(m[8]), flags, seq: Number(m[10]), ack: Number(m[11]),
        window: Number(m[12]), len: Number(m[13]), preview: m[15]! },
    });
  });
  return out;
}

function multiset(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

function stdoutLines(sensor: Spawned): string[] {
  return sensor.stdout.split('\n');
}

test('packet --netns all: every TCP segment tcpdump sees at each veth end, in each namespace, with its device name and payload; a namespace made later is watched, a deleted one is gone', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const dir = await scope.tempDir('wl-sensor-netns-');
  const tag = randomBytes(3).toString('hex');
  const subnet = 1 + (randomBytes(1)[0]! % 250);
  const bridge = await makeBridge(scope, tag);
  const a = await addNs(scope, tag, 'a', subnet, 1, bridge);
  const b = await addNs(scope, tag, 'b', subnet, 2, bridge);
  const port = 20_000 + (randomBytes(2).readUInt16LE(0) % 20_000);
  const nginx = await startNginx(scope, { netns: a.name, listen: [a.ip], port, bigBytes: 64 * 1024 });
  const hostNs = await ownNetnsInode();

  const sensor = scope.spawn(sensorPath, ['packet', '--netns', 'all', '--text', '-p', String(port), '--stats-ms', '0'],
    { stdin: 'pipe' });
  const attached = await sensor.waitForLine('stderr', /attached .* netns=all$/, 30_000);
  assert.match(attached, /iface=any ifindex=0 ports=\d+ /);
  for (const ns of [a, b]) {
    await sensor.waitForLine('stdout', new RegExp(`^netns ${ns.inode} watched /run/netns/${ns.name}$`), 5000);
    await sensor.waitForLine('stdout', new RegExp(`^device ns ${ns.inode} ${ns.dev}\\(${ns.ifindex}\\) present$`), 5000);
  }

  // reference: tcpdump on both ends of each veth, in the namespace that holds the end
  const ends = [
    { ns: a.inode, netns: a.name, dev: a.dev, ifindex: a.ifindex, ip: a.ip, nsSide: true },
    { ns: b.inode, netns: b.name, dev: b.dev, ifindex: b.ifindex, ip: b.ip, nsSide: true },
    { ns: hostNs, netns: undefined, dev: a.hostDev, ifindex: await hostIfindex(a.hostDev), ip: a.ip, nsSide: false },
    { ns: hostNs, netns: undefined, dev: b.hostDev, ifindex: await hostIfindex(b.hostDev), ip: b.ip, nsSide: false },
  ];
  const dumps = await Promise.all(ends.map((e, i) => startTcpdump(scope, { iface: e.dev, netns: e.netns,
    file: path.join(dir, `${i}.pcap`), filter: `tcp port ${port}` })));
  const got = await curl(scope, [`http://${a.ip}:${port}/`, `http://${a.ip}:${port}/big.bin`], { netns: b.name });
  assert.equal(got[1]!.head.status, 200);
  for (const d of await Promise.all(dumps.map((d) => d.stop()))) assert.equal(d.droppedByKernel, 0);

  // a third namespace, made now: watched within the scan interval, its device announced, its traffic seen
  const c = await addNs(scope, tag, 'c', subnet, 3, bridge);
  const madeMs = Date.now();
  await sensor.waitForLine('stdout', new RegExp(`^netns ${c.inode} watched /run/netns/${c.name}$`), 5000);
  const watchMs = Date.now() - madeMs;
  await sensor.waitForLine('stdout', new RegExp(`^device ns ${c.inode} ${c.dev}\\(${c.ifindex}\\) present$`), 5000);
  const dumpC = await startTcpdump(scope, { iface: c.dev, netns: c.name, file: path.join(dir, 'c.pcap'), filter: `tcp port ${port}` });
  await curl(scope, [`http://${a.ip}:${port}/`], { netns: c.name });
  assert.equal((await dumpC.stop()).droppedByKernel, 0);
  ends.push({ ns: c.inode, netns: c.name, dev: c.dev, ifindex: c.ifindex, ip: c.ip, nsSide: true });
  dumps.push(dumpC);

  // deleting it (nothing runs inside it any more): the sensor's socket was its last user; gone at the next scan
  await runOk('ip', ['netns', 'del', c.name]);
  await sensor.waitForLine('stdout', new RegExp(`^netns ${c.inode} gone /run/netns/${c.name}$`), 5000);
  // ...and with the sensor's socket closed the namespace really ends: its veth pair goes with it
  await waitFor('the host end of the deleted namespace\'s veth to go', async () =>
    (await run('ip', ['link', 'show', c.hostDev])).code !== 0, 10_000);

  sensor.signal('SIGINT');
  const exit = await sensor.exited;
  assert.equal(exit.code, 0, sensor.stderr);
  await nginx.stop();

  const lines = stdoutLines(sensor);
  const stats = lines.filter((l) => l.startsWith('stats: ')).at(-1);
  assert.ok(stats, 'a final stats line');
  assert.match(stats, / drops 0 /, 'no ring buffer drops');
  assert.deepEqual(lines.filter((l) => l.startsWith('drops: ')), [], 'no device lost events');
  const ours = new Set([a.ip, b.ip, c.ip]);
  const pkts = packetLines(lines).filter((p) => ours.has(p.seg.src) || ours.has(p.seg.dst));
  assert.ok(pkts.length > 40, `${pkts.length} packet lines`);

  for (const [i, end] of ends.entries()) {
    const ref = await pcapSegments(dumps[i]!.file);
    assert.ok(ref.length >= 10, `${end.dev}: tcpdump saw ${ref.length} segments`);
    // the first four captures stopped before C's traffic: compare with what they could see
    const inWindow = (p: Line): boolean => end.dev === c.dev || (p.seg.src !== c.ip && p.seg.dst !== c.ip);
    const atDev = pkts.filter((p) => p.ns === end.ns && p.dev === end.dev);
    const compared = atDev.filter(inWindow);
    // direction: inside a namespace its own address sends (out); at the host end the same packets arrive (in)
    for (const dirn of ['out', 'in'] as const) {
      const sent = (s: Seg): boolean => (s.src === end.ip) === end.nsSide;
      const want = multiset(ref.filter((s) => sent(s) === (dirn === 'out')).map(key));
      const have = multiset(compared.filter((p) => p.dir === dirn).map((p) => key(p.seg)));
      assert.deepEqual(have, want, `${end.dev} ${dirn}`);
    }
    for (const p of atDev) {
      assert.equal(p.ifindex, end.ifindex, `${end.dev}: the ifindex of that namespace`);
      assert.equal(p.cap, Math.min(p.seg.len, SNAPLEN));
    }
    // the device was announced (in its namespace, with its name) before its first packet
    const first = atDev[0]!;
    const announced = lines.findIndex((l) => l === `device ns ${end.ns} ${end.dev}(${end.ifindex}) present`);
    assert.ok(announced >= 0 && announced < first.index, `${end.dev} announced before its first packet`);
  }
  // each namespace's packets are at its own veth only (nothing of ours on lo or anywhere else inside them)
  for (const ns of [a, b, c]) {
    const devs = new Set(pkts.filter((p) => p.ns === ns.inode).map((p) => p.dev));
    assert.deepEqual([...devs], [ns.dev], `devices of ${ns.name}`);
  }
  // the HTTP request's payload, at the server's device
  const req = pkts.find((p) => p.ns === a.inode && p.dir === 'in' && p.seg.preview.startsWith('GET / HTTP/1.1..Host: '));
  assert.ok(req, 'the request head at the server namespace\'s device');
  assert.ok(req.seg.preview.includes(`Host: ${a.ip}:${port}`), req.seg.preview);
  // the namespace's packets come after it was watched and before it was gone
  const cWatched = lines.indexOf(`netns ${c.inode} watched /run/netns/${c.name}`);
  const cGone = lines.indexOf(`netns ${c.inode} gone /run/netns/${c.name}`);
  for (const p of pkts.filter((q) => q.ns === c.inode)) assert.ok(p.index > cWatched && p.index < cGone, 'C packets in between');
  t.diagnostic(`${pkts.length} packet lines; the late namespace was watched ${watchMs} ms after it was made`);
});

// ---- binary: a small reader of the records bpf/wirelog_events.h defines ----

const REC = { HELLO: 1, PACKET: 2, STATS: 3, NETNS: 11, DEVICE: 12 } as const;
const NS_STATE = { WATCHED: 1, GONE: 2, FAILED: 3 } as const;
const PACKET_EVENT_SIZE = 80;

type Rec =
  | { type: 'hello'; netns: bigint }
  | { type: 'packet'; netns: number; ifindex: number; dir: number; sport: number; dport: number; payload: Buffer }
  | { type: 'stats'; sent: bigint; drops: bigint }
  | { type: 'netns'; netns: bigint; state: number; err: number; path: string }
  | { type: 'device'; netns: bigint; ifindex: number; state: number; ifname: string }
  | { type: 'other'; rtype: number };

function readRecords(buf: Buffer): Rec[] {
  const out: Rec[] = [];
  const str = (b: Buffer): string => b.toString('latin1').replace(/\0.*$/s, '');
  for (let o = 0; o + 8 <= buf.length;) {
    const type = buf.readUInt32LE(o), len = buf.readUInt32LE(o + 4);
    assert.ok(len >= 8 && len % 8 === 0 && o + len <= buf.length, `record at ${o}: length ${len}`);
    const b = o + 8;
    if (type === REC.HELLO) out.push({ type: 'hello', netns: buf.readBigUInt64LE(b + 16) });
    else if (type === REC.PACKET) {
      const cap = buf.readUInt32LE(b + 68);
      out.push({ type: 'packet', ifindex: buf.readUInt32LE(b + 8), dir: buf[b + 12]!, sport: buf.readUInt16LE(b + 48),
        dport: buf.readUInt16LE(b + 50), netns: buf.readUInt32LE(b + 72),
        payload: buf.subarray(b + PACKET_EVENT_SIZE, b + PACKET_EVENT_SIZE + cap) });
    } else if (type === REC.STATS) out.push({ type: 'stats', sent: buf.readBigUInt64LE(b + 24), drops: buf.readBigUInt64LE(b + 32) });
    else if (type === REC.NETNS) out.push({ type: 'netns', netns: buf.readBigUInt64LE(b + 8), state: buf.readUInt32LE(b + 16),
      err: buf.readInt32LE(b + 20), path: str(buf.subarray(b + 24, b + 136)) });
    else if (type === REC.DEVICE) out.push({ type: 'device', netns: buf.readBigUInt64LE(b + 8), ifindex: buf.readUInt32LE(b + 16),
      state: buf.readUInt32LE(b + 20), ifname: str(buf.subarray(b + 24, b + 40)) });
    else out.push({ type: 'other', rtype: type });
    o += len;
  }
  return out;
}

test('packet --netns PATH --binary: failed and watched namespaces, devices before packets, every packet carries its namespace', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const tag = randomBytes(3).toString('hex');
  const subnet = 1 + (randomBytes(1)[0]! % 250);
  const bridge = await makeBridge(scope, tag);
  const a = await addNs(scope, tag, 'a', subnet, 1, bridge);
  const b = await addNs(scope, tag, 'b', subnet, 2, bridge);
  const port = 20_000 + (randomBytes(2).readUInt16LE(0) % 20_000);
  await startNginx(scope, { netns: a.name, listen: [a.ip], port });
  const missing = `/run/netns/wl-${tag}-missing`;

  const sensor = scope.spawn(sensorPath, ['packet', '--netns', missing, '--netns', `/run/netns/${a.name}`, '--binary',
    '-p', String(port), '--stats-ms', '0'], { binary: true, stdin: 'pipe' });
  const attached = await sensor.waitForLine('stderr', /attached .* netns=1$/, 30_000);
  assert.ok(attached);
  assert.match(sensor.stderr, new RegExp(`^wirelog-sensor: netns ${missing}: No such file or directory$`, 'm'));
  await curl(scope, [`http://${a.ip}:${port}/`], { netns: b.name });
  sensor.signal('SIGINT');
  assert.equal((await sensor.exited).code, 0, sensor.stderr);

  const recs = readRecords(sensor.stdoutBuffer);
  assert.equal(recs[0]!.type, 'hello');
  assert.deepEqual(recs.filter((r) => r.type === 'other'), []);
  const nsRecs = recs.filter((r) => r.type === 'netns');
  assert.deepEqual(nsRecs.map((r) => r.type === 'netns' && [r.state, r.path, Number(r.netns), r.err]), [
    [NS_STATE.FAILED, missing, 0, 2 /* ENOENT */],
    [NS_STATE.WATCHED, `/run/netns/${a.name}`, a.inode, 0],
  ]);
  const devs = recs.filter((r) => r.type === 'device');
  assert.ok(devs.some((d) => d.type === 'device' && d.ifname === a.dev && d.ifindex === a.ifindex && Number(d.netns) === a.inode),
    'the veth end announced with its name in A');
  assert.ok(devs.some((d) => d.type === 'device' && d.ifname === 'lo' && Number(d.netns) === a.inode), 'A\'s lo announced');
  // order: hello, netns, its devices, then packets (each after its device), stats last
  const announced = new Set<string>();
  let watchedAt = -1;
  let packets = 0;
  recs.forEach((r, i) => {
    if (r.type === 'netns' && r.state === NS_STATE.WATCHED) watchedAt = i;
    if (r.type === 'device') {
      assert.ok(watchedAt >= 0 && watchedAt < i, 'device after its namespace');
      announced.add(`${r.netns}/${r.ifindex}`);
    }
    if (r.type === 'packet') {
      packets++;
      assert.equal(r.netns, a.inode, 'only A is watched');
      assert.ok(announced.has(`${r.netns}/${r.ifindex}`), `packet at ${r.netns}/${r.ifindex} after its device`);
      assert.equal(r.ifindex, a.ifindex);
    }
  });
  assert.ok(packets >= 8, `${packets} packets`);
  assert.ok(recs.some((r) => r.type === 'packet' && r.dir === 0 && r.payload.toString('latin1').startsWith('GET / HTTP/1.1\r\n')));
  const last = recs.at(-1)!;
  assert.equal(last.type, 'stats');
  if (last.type === 'stats') {
    assert.equal(last.drops, 0n);
    assert.equal(Number(last.sent), packets);
  }
});

test('packet -i with --netns is a usage error: exit 2, one line', async (t) => {
  if (!requirePrivileges(t)) return;
  const r = await run(sensorPath, ['packet', '-i', 'lo', '--netns', 'all'], { timeoutMs: 10_000 });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^wirelog-sensor: -i and --netns cannot be combined/);
});
