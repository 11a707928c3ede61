/**
 * The real sensor on this machine's kernel (root). Traffic goes only to loopback and to a network namespace the
 * test creates and deletes. References: tcpdump capturing the same traffic concurrently (read back with tshark),
 * curl's own view of its local port (-w), and the test HTTP servers' view of the peer.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sensorPath } from '../helpers/paths.js';
import { requirePrivileges } from '../helpers/privileged.js';
import { SensorRecordReader, type SensorHello } from '../../src/decode/sensor.js';
import { startLiveCapture } from '../../src/source/live.js';
import type { SensorStats, TransportSegment } from '../../src/records.js';

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** a TransportSegment copied out of the callback (payload as latin1 text) */
type Seg = Omit<TransportSegment, 'payload'> & { payload: string };

interface SensorRun {
  proc: ChildProcess;
  segs: Seg[];
  stats: SensorStats[];
  hello?: SensorHello;
  /** record kinds in arrival order: 'H', 'P', 'S' */
  order: string[];
  stderr: string[];
  decodeErrors: string[];
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** resolves at the next "ports now" acknowledgement on stderr */
  nextPortsAck(): Promise<string>;
  stop(): Promise<{ code: number | null; signal: string | null }>;
}

function runSensor(t: TestContext, args: string[], prefix: string[] = []): SensorRun {
  const cmd = [...prefix, sensorPath, 'packet', '--binary', ...args];
  const proc = spawn(cmd[0], cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const run: Partial<SensorRun> = { proc, segs: [], stats: [], order: [], stderr: [], decodeErrors: [] };
  const reader = new SensorRecordReader({
    packet(seg) {
      run.segs!.push({ ...seg, payload: seg.payload.toString('latin1') });
      run.order!.push('P');
    },
    stats(s) {
      run.stats!.push(s);
      run.order!.push('S');
    },
    hello(h) {
      run.hello = h;
      run.order!.push('H');
    },
    error(e) {
      run.decodeErrors!.push(e.message);
    },
  });
  proc.stdout!.on('data', (c: Buffer) => reader.push(c));
  let ackWaiters: Array<(s: string) => void> = [];
  let resolveReady!: () => void;
  let rejectReady!: (e: Error) => void;
  run.ready = new Promise((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  let tail = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (s: string) => {
    const lines = (tail + s).split('\n');
    tail = lines.pop()!;
    for (const l of lines) {
      run.stderr!.push(l);
      if (l.startsWith('wirelog-sensor: attached')) resolveReady();
      if (l.startsWith('wirelog-sensor: ports now ')) {
        const w = ackWaiters;
        ackWaiters = [];
        for (const f of w) f(l.slice('wirelog-sensor: ports now '.length));
      }
    }
  });
  run.exited = new Promise((res) => {
    proc.on('close', (code, signal) => {
      reader.end();
      rejectReady(new Error(`sensor exited before attaching: ${run.stderr!.join(' | ')}`));
      res({ code, signal });
    });
  });
  run.nextPortsAck = () => new Promise((res) => ackWaiters.push(res));
  run.stop = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    return run.exited!;
  };
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await run.exited;
    }
  });
  return run as SensorRun;
}

interface Servers {
  port: number;
  /** requests as the servers saw them */
  seen: Array<{ url: string; remoteAddress: string; remotePort: number }>;
  close(): Promise<void>;
}

function listen(s: Server, port: number, host: string): Promise<void> {
  return new Promise((res, rej) => {
    s.once('error', rej);
    s.listen(port, host, () => {
      s.off('error', rej);
      res();
    });
  });
}

/** HTTP servers on 127.0.0.1 and ::1, same port */
async function startServers(t: TestContext): Promise<Servers> {
  const seen: Servers['seen'] = [];
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    seen.push({ url: req.url ?? '', remoteAddress: req.socket.remoteAddress ?? '', remotePort: req.socket.remotePort ?? 0 });
    res.setHeader('Connection', 'close');
    res.end('hello from the test server\n');
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    const a = createServer(handler);
    const b = createServer(handler);
    await listen(a, 0, '127.0.0.1');
    const port = (a.address() as import('node:net').AddressInfo).port;
    try {
      await listen(b, port, '::1');
    } catch {
      await new Promise((r) => a.close(r));
      continue;
    }
    const close = async () => {
      a.closeAllConnections();
      b.closeAllConnections();
      await Promise.all([new Promise((r) => a.close(r)), new Promise((r) => b.close(r))]);
    };
    t.after(close);
    return { port, seen, close };
  }
  throw new Error('no port free on both 127.0.0.1 and ::1');
}

/** a port nothing listens on (bound and released) */
async function unusedPort(): Promise<number> {
  const s = createServer();
  await listen(s, 0, '127.0.0.1');
  const port = (s.address() as import('node:net').AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** curl's own view: its local port and the status */
async function curl(url: string): Promise<{ localPort: number; status: number }> {
  const { stdout } = await execFileP('curl', ['-s', '-o', '/dev/null', '--max-time', '5', '-w', '%{local_port} %{http_code}', url]);
  const [lp, st] = stdout.trim().split(' ');
  return { localPort: Number(lp), status: Number(st) };
}

async function startTcpdump(t: TestContext, iface: string, filter: string, file: string): Promise<{ stop(): Promise<void> }> {
  const p = spawn('tcpdump', ['-i', iface, '-n', '-U', '--immediate-mode', '-Z', 'root', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  const closed = new Promise<void>((r) => p.on('close', () => r()));
  t.after(async () => {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await closed;
    }
  });
  await new Promise<void>((res, rej) => {
    let err = '';
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (s: string) => {
      err += s;
      if (err.includes('listening on')) res();
    });
    p.on('close', () => rej(new Error(`tcpdump exited: ${err}`)));
  });
  return {
    async stop() {
      p.kill('SIGINT');
      await closed;
    },
  };
}

/** the packets tcpdump wrote, as comparable tuples */
function tsharkTuples(file: string): string[] {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=,', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'ip.dst',
    '-e', 'ipv6.dst', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tcp.seq_raw', '-e', 'tcp.ack_raw', '-e', 'tcp.flags', '-e', 'tcp.len'],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trim().split('\n').filter(Boolean).map((l) => {
    const [s4, s6, d4, d6, sp, dp, seq, ack, flags, len] = l.split(',');
    return [s4 || s6, d4 || d6, sp, dp, seq, ack, parseInt(flags, 16), len].join(' ');
  }).sort();
}

function segTuple(s: Seg): string {
  return [s.src, s.dst, s.sport, s.dport, s.seq, s.ack, s.flags, s.payloadLen].join(' ');
}

function tempDir(t: TestContext): string {
  const d = mkdtempSync(path.join(tmpdir(), 'wl-sensor-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const loIfindex = () => Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8'));
const netnsIno = () => statSync('/proc/self/ns/net').ino;

test('loopback HTTP over IPv4 and IPv6: every packet exactly once, as tcpdump sees it', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startServers(t);
  const dir = tempDir(t);
  const pcap = path.join(dir, 'lo.pcap');
  const td = await startTcpdump(t, 'lo', `tcp port ${srv.port}`, pcap);
  const sensor = runSensor(t, ['-i', 'lo', '-p', String(srv.port)]);
  await sensor.ready;
  const t0 = Date.now() * 1000;
  const nonce = Math.random().toString(36).slice(2);
  const c4 = await curl(`http://127.0.0.1:${srv.port}/v4/${nonce}`);
  const c6 = await curl(`http://[::1]:${srv.port}/v6/${nonce}`);
  await sleep(300); // last ACKs of the teardown
  const t1 = Date.now() * 1000;
  await td.stop();
  const ex = await sensor.stop();
  assert.deepEqual(ex, { code: 0, signal: null });
  assert.deepEqual(sensor.decodeErrors, []);

  assert.equal(c4.status, 200);
  assert.equal(c6.status, 200);
  // the servers saw the same client ports curl reports
  assert.deepEqual(srv.seen.map((s) => [s.url, s.remotePort]).sort(), [[`/v4/${nonce}`, c4.localPort], [`/v6/${nonce}`, c6.localPort]].sort());

  const ref = tsharkTuples(pcap);
  const got = sensor.segs.map(segTuple).sort();
  assert.ok(ref.length >= 16, `tcpdump saw ${ref.length} packets`);
  assert.deepEqual(got, ref);

  assert.equal(sensor.hello?.ifindex, loIfindex());
  for (const s of sensor.segs) {
    assert.equal(s.ifindex, loIfindex());
    assert.equal(s.ifname, 'lo');
    assert.equal(s.direction, 'in', 'loopback copies are reported once, as received');
    assert.equal(s.netns, netnsIno());
    assert.equal(s.proto, 6);
    assert.ok(s.tsUs >= t0 - 1000 && s.tsUs <= t1 + 1000, `timestamp ${s.tsUs} in [${t0}, ${t1}]`);
    assert.equal(s.payload.length, s.payloadLen, 'requests this small are not cut by the default snaplen');
  }
  for (const [family, addr, c, p] of [[4, '127.0.0.1', c4, 'v4'], [6, '::1', c6, 'v6']] as const) {
    const mine = sensor.segs.filter((s) => s.family === family && (s.sport === c.localPort || s.dport === c.localPort));
    const syn = mine.filter((s) => (s.flags & 0x12) === 0x02);
    assert.equal(syn.length, 1, `one SYN for the ${p} connection`);
    assert.deepEqual([syn[0].src, syn[0].sport, syn[0].dst, syn[0].dport], [addr, c.localPort, addr, srv.port]);
    const get = mine.filter((s) => s.payload.startsWith(`GET /${p}/${nonce} HTTP/1.1\r\n`));
    assert.equal(get.length, 1, `the ${p} request once`);
    assert.equal(get[0].sport, c.localPort);
    const resp = mine.filter((s) => s.sport === srv.port && s.payload.startsWith('HTTP/1.1 200 OK\r\n'));
    assert.equal(resp.length, 1);
  }
});

test('ports on stdin change the capture without a restart', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startServers(t);
  const other = await unusedPort();
  const sensor = runSensor(t, ['-i', 'lo', '-p', String(other)]);
  await sensor.ready;
  const url = `http://127.0.0.1:${srv.port}/`;
  const ofClient = (port: number) => sensor.segs.filter((s) => s.sport === port || s.dport === port);

  const before = await curl(url);
  await sleep(200);
  let ack = sensor.nextPortsAck();
  sensor.proc.stdin!.write(`ports ${other},${srv.port}\n`);
  assert.equal(await ack, `${other},${srv.port}`);
  const during = await curl(url);
  await sleep(200);
  ack = sensor.nextPortsAck();
  sensor.proc.stdin!.write(`ports ${other}\n`);
  assert.equal(await ack, String(other));
  const after = await curl(url);
  await sleep(200);
  ack = sensor.nextPortsAck();
  sensor.proc.stdin!.write('ports any\n');
  assert.equal(await ack, 'any');
  const any = await curl(url);
  await sleep(200);
  assert.deepEqual(await sensor.stop(), { code: 0, signal: null });

  assert.equal(ofClient(before.localPort).length, 0, 'port not yet in the set');
  assert.ok(ofClient(during.localPort).length >= 8, `captured after "ports": ${ofClient(during.localPort).length}`);
  assert.equal(ofClient(after.localPort).length, 0, 'port removed again');
  assert.ok(ofClient(any.localPort).length >= 8, 'captured with "ports any"');
  assert.equal(sensor.stats.length >= 1, true);
});

test('stats records arrive periodically, and a final one at SIGTERM after every packet', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startServers(t);
  const sensor = runSensor(t, ['-i', 'lo', '-p', String(srv.port), '--stats-ms', '150']);
  await sensor.ready;
  const t0 = Date.now();
  while (sensor.stats.length < 2 && Date.now() - t0 < 3000) await sleep(20);
  assert.ok(sensor.stats.length >= 2, 'periodic stats');
  const ports: number[] = [];
  for (let i = 0; i < 5; i++) ports.push((await curl(`http://127.0.0.1:${srv.port}/n${i}`)).localPort);
  const ex = await sensor.stop(); // immediately: the sensor must drain what is in flight
  assert.deepEqual(ex, { code: 0, signal: null });

  assert.equal(sensor.order[0], 'H');
  assert.equal(sensor.order.at(-1), 'S', 'last record is the final stats');
  const fin = sensor.stats.at(-1)!;
  assert.equal(fin.ringbufDrops, 0);
  assert.equal(fin.packetsSent, sensor.segs.length, 'every packet sent by the kernel reached the reader');
  assert.equal(fin.packetsMatched, fin.packetsSent);
  assert.ok(fin.packetsSeen >= fin.packetsMatched);
  assert.equal(fin.recordsWritten, sensor.order.length, 'records_written counts every record, itself included');
  for (let i = 1; i < sensor.stats.length; i++) {
    assert.ok(sensor.stats[i].packetsSent >= sensor.stats[i - 1].packetsSent);
    assert.ok(sensor.stats[i].tsUs >= sensor.stats[i - 1].tsUs);
  }
  for (let i = 0; i < 5; i++) {
    const get = sensor.segs.filter((s) => s.sport === ports[i] && s.payload.startsWith(`GET /n${i} `));
    assert.equal(get.length, 1, `request ${i} captured`);
  }
  // the SYN of every connection too: nothing lost at the start
  assert.equal(sensor.segs.filter((s) => (s.flags & 0x12) === 0x02 && ports.includes(s.sport)).length, 5);
});

// An agent that dropped root cannot signal the sensor (docs/privileges.md): its stdin is how it stops it.
for (const how of ['the stop command', 'the end of stdin'] as const) {
  test(`${how} stops the sensor as SIGTERM does: exit 0, every packet, then the final stats`, async (t) => {
    if (!requirePrivileges(t)) return;
    const srv = await startServers(t);
    const sensor = runSensor(t, ['-i', 'lo', '-p', String(srv.port), '--stats-ms', '0']);
    await sensor.ready;
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) ports.push((await curl(`http://127.0.0.1:${srv.port}/s${i}`)).localPort);
    if (how === 'the stop command') sensor.proc.stdin!.write('stop\n');
    else sensor.proc.stdin!.end();
    const ex = await sensor.exited;
    assert.deepEqual(ex, { code: 0, signal: null }, sensor.stderr.join(' | '));
    assert.equal(sensor.order.at(-1), 'S', 'last record is the final stats');
    const fin = sensor.stats.at(-1)!;
    assert.equal(fin.packetsSent, sensor.segs.length, 'every packet sent by the kernel reached the reader');
    for (let i = 0; i < 3; i++) assert.equal(sensor.segs.filter((x) => x.sport === ports[i] && x.payload.startsWith(`GET /s${i} `)).length, 1, `request ${i}`);
  });
}

test('-i nosuchif0: one clear line and exit 2', async (t) => {
  if (!requirePrivileges(t)) return;
  const r = await execFileP(sensorPath, ['packet', '-i', 'nosuchif0']).then(
    () => assert.fail('sensor should fail'),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'wirelog-sensor: no such interface: nosuchif0\n');
  assert.equal(r.stdout, '');
});

test('unprivileged: a clear permission error naming the capabilities, non-zero exit', async (t) => {
  if (!requirePrivileges(t)) return;
  const r = await execFileP('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', sensorPath, 'packet', '-i', 'lo', '--binary']).then(
    () => assert.fail('sensor should fail without privileges'),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^wirelog-sensor: permission denied .*CAP_BPF, CAP_PERFMON, CAP_NET_RAW and CAP_NET_ADMIN\n$/);
  assert.equal(r.stdout, '');
});

test('startLiveCapture: ready, packets, setPorts, stop delivers everything before exit', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startServers(t);
  const other = await unusedPort();
  const segs: Seg[] = [];
  const stats: SensorStats[] = [];
  const errors: string[] = [];
  let readyInfo: { iface: string; ports: string; snaplen: number } | undefined;
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  let onPorts!: (p: string) => void;
  let portsAck = new Promise<string>((r) => (onPorts = r));
  let exitInfo: { code: number | null; signal: string | null; segsAtExit: number; statsAtExit: number } | undefined;
  const exited = new Promise<void>((res) => {
    const cap = startLiveCapture(
      { sensorPath, iface: 'lo', ports: [other], snaplen: 16 },
      {
        packet: (s) => segs.push({ ...s, payload: s.payload.toString('latin1') }),
        stats: (s) => stats.push(s),
        ready: (info) => {
          readyInfo = info;
          onReady();
        },
        error: (m) => errors.push(m),
        exit: (code, signal) => {
          exitInfo = { code, signal, segsAtExit: segs.length, statsAtExit: stats.length };
          res();
        },
        portsChanged: (p) => onPorts(p),
      },
    );
    t.after(() => cap.stop());
    (async () => {
      await ready;
      assert.ok(cap.pid > 0);
      cap.setPorts([srv.port]);
      assert.equal(await portsAck, String(srv.port));
      portsAck = new Promise<string>((r) => (onPorts = r));
      const c = await curl(`http://127.0.0.1:${srv.port}/live`);
      (t as unknown as { clientPort: number }).clientPort = c.localPort;
      cap.stop();
    })().catch((e) => {
      errors.push(String(e));
      cap.stop();
    });
  });
  await exited;
  assert.deepEqual(errors, []);
  assert.deepEqual(readyInfo, { iface: 'lo', ports: String(other), snaplen: 16 });
  assert.equal(exitInfo?.code, 0);
  assert.equal(exitInfo?.segsAtExit, segs.length, 'no packet after exit()');
  assert.ok(stats.length >= 1, 'final stats before exit()');
  assert.equal(stats.at(-1)!.packetsSent, segs.length);
  const clientPort = (t as unknown as { clientPort: number }).clientPort;
  const get = segs.filter((s) => s.sport === clientPort && s.payloadLen > 0 && s.dport === srv.port);
  assert.equal(get.length, 1);
  assert.equal(get[0].payload, 'GET /live HTTP/1', 'snaplen 16 cuts the payload');
  assert.ok(get[0].payloadLen > 16);
});

test('startLiveCapture: missing binary gives the build hint', async () => {
  const msgs: string[] = [];
  const code = await new Promise<number | null>((res) => {
    startLiveCapture(
      { sensorPath: '/nonexistent/wirelog-sensor', ports: [80] },
      { packet() {}, stats() {}, ready() {}, error: (m) => msgs.push(m), exit: (c) => res(c) },
    );
  });
  assert.deepEqual(msgs, ['sensor binary not found at /nonexistent/wirelog-sensor: run npm run build']);
  assert.notEqual(code, 0);
});

/** a network namespace with a veth pair: host side 10.213.0.1, namespace side 10.213.0.2; deleted after the test */
function makeVethNs(t: TestContext): { ns: string; host: string; peer: string; sh: (...a: string[]) => Buffer } {
  const tag = `${process.pid % 10000}`;
  const ns = `wltest${tag}`;
  const host = `wlh${tag}`;
  const peer = `wlp${tag}`;
  const sh = (...a: string[]) => execFileSync(a[0], a.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    try { sh('ip', 'link', 'del', host); } catch { /* gone with the namespace */ }
    try { sh('ip', 'netns', 'del', ns); } catch { /* not created */ }
  });
  sh('ip', 'netns', 'add', ns);
  sh('ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
  sh('ip', 'link', 'set', peer, 'netns', ns);
  sh('ip', 'addr', 'add', '10.213.0.1/24', 'dev', host);
  sh('ip', 'link', 'set', host, 'up');
  sh('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', '10.213.0.2/24', 'dev', peer);
  sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up');
  sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  return { ns, host, peer, sh };
}

test('Ethernet (veth to a test namespace): directions and packets as tcpdump sees them', async (t) => {
  if (!requirePrivileges(t)) return;
  const { ns, host } = makeVethNs(t);
  const port = 18080 + (process.pid % 1000);
  const server = spawn('ip', ['netns', 'exec', ns, 'python3', '-m', 'http.server', String(port), '--bind', '10.213.0.2'], { stdio: 'ignore' });
  const serverClosed = new Promise((r) => server.on('close', r));
  t.after(async () => {
    server.kill('SIGKILL');
    await serverClosed;
  });
  let up = false;
  for (let i = 0; i < 50 && !up; i++) {
    up = await curl(`http://10.213.0.2:${port}/ping`).then(() => true, () => false);
    if (!up) await sleep(100);
  }
  assert.ok(up, 'test server in the namespace answers');
  const dir = tempDir(t);
  const pcap = path.join(dir, 'veth.pcap');
  const td = await startTcpdump(t, host, `tcp port ${port}`, pcap);
  const sensor = runSensor(t, ['-i', host, '-p', String(port)]);
  await sensor.ready;
  const c = await curl(`http://10.213.0.2:${port}/?veth`);
  await sleep(300);
  await td.stop();
  assert.deepEqual(await sensor.stop(), { code: 0, signal: null });
  assert.deepEqual(sensor.decodeErrors, []);

  assert.deepEqual(sensor.segs.map(segTuple).sort(), tsharkTuples(pcap));
  const mine = sensor.segs.filter((s) => s.sport === c.localPort || s.dport === c.localPort);
  assert.ok(mine.length >= 8, `${mine.length} packets`);
  for (const s of mine) {
    assert.equal(s.ifname, host);
    assert.equal(s.direction, s.src === '10.213.0.1' ? 'out' : 'in', `direction of ${s.src} → ${s.dst}`);
  }
  assert.equal(mine.filter((s) => s.direction === 'out' && s.payload.startsWith('GET /?veth HTTP/1.1')).length, 1);
  assert.equal(mine.filter((s) => s.direction === 'in' && s.payload.startsWith('HTTP/1.0 200 OK')).length, 1);
});

/* Frames written with an AF_PACKET socket on the namespace's veth end; the sensor, in that namespace on the
 * same device, sees them on the transmit path exactly as written (tags in the data, no offload). */
const INJECT_PY = String.raw`
import socket, struct, sys
dev = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
MAC = b'\x02\x00\x00\x00\x00\x01' + b'\x02\x00\x00\x00\x00\x02'
def eth(t): return MAC + struct.pack('!H', t)
def vlan(tpid, vid, inner): return struct.pack('!HH', vid, inner)
def ip4(proto, body, opts=b'', frag=0, mf=0, totlen=None):
    ihl = (20 + len(opts)) // 4
    tl = totlen if totlen is not None else 20 + len(opts) + len(body)
    return struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, tl, 1, (mf << 13) | frag, 64, proto, 0,
                       socket.inet_aton('10.9.8.7'), socket.inet_aton('10.1.2.3')) + opts + body
def ip6(nh, body):
    return struct.pack('!IHBB', 0x60000000, len(body), nh, 64) + socket.inet_pton(socket.AF_INET6, '2001:db8::7') + socket.inet_pton(socket.AF_INET6, 'fd00::1:0:0:3') + body
def tcp(sp, dp, payload, opts=b'', flags=0x18):
    doff = (20 + len(opts)) // 4
    return struct.pack('!HHIIBBHHH', sp, dp, 1000 + sp, 2000 + sp, doff << 4, flags, 512, 0, 0) + opts + payload
def udp(sp, dp, payload): return struct.pack('!HHHH', sp, dp, 8 + len(payload), 0) + payload
P = int(sys.argv[2])
frames = {
  'vlan':  eth(0x8100) + struct.pack('!HH', 42, 0x0800) + ip4(6, tcp(40001, P, b'GET /vlan HTTP/1.1\r\n\r\n')),
  'qinq':  eth(0x88a8) + struct.pack('!HH', 7, 0x8100) + struct.pack('!HH', 42, 0x86dd) + ip6(6, tcp(40002, P, b'GET /qinq HTTP/1.1\r\n\r\n')),
  'opts':  eth(0x0800) + ip4(6, tcp(40003, P, b'GET /opts HTTP/1.1\r\n\r\n', opts=b'\x01' * 12), opts=b'\x01\x01\x01\x00'),
  # hop-by-hop (8 bytes) -> destination options (8) -> fragment (first, more follow) -> TCP
  'ext':   eth(0x86dd) + ip6(0, bytes([60, 0]) + b'\x01\x04\x00\x00\x00\x00' + bytes([44, 0]) + b'\x01\x04\x00\x00\x00\x00'
                              + struct.pack('!BBHI', 6, 0, 1, 99) + tcp(40004, P, b'GET /ext HTTP/1.1\r\n\r\n')),
  'udp':   eth(0x0800) + ip4(17, udp(40005, P, b'udp!')),
  'other': eth(0x0800) + ip4(6, tcp(40006, P + 1, b'GET /other HTTP/1.1\r\n\r\n')),
  # 1 byte of payload; the frame is padded to the 60-byte Ethernet minimum, the padding is not payload
  'pad':   (eth(0x0800) + ip4(6, tcp(40007, P, b'x'))).ljust(60, b'\xee'),
  # non-first fragment: no transport header, only seen with "ports any"
  'frag':  eth(0x0800) + ip4(6, b'continuation bytes', frag=100),
  'arp':   eth(0x0806) + b'\x00' * 28,
}
for name in sys.argv[3:]:
    s.send(frames[name])
`;

test('parsing: 802.1Q, QinQ, IPv4/TCP options, IPv6 extension headers, UDP, padding, fragments', async (t) => {
  if (!requirePrivileges(t)) return;
  const { ns, peer } = makeVethNs(t);
  const P = 7777;
  const inNs = ['ip', 'netns', 'exec', ns];
  const sensor = runSensor(t, ['-i', peer, '-p', String(P)], inNs);
  await sensor.ready;
  const inject = (...names: string[]) => execFileSync('ip', ['netns', 'exec', ns, 'python3', '-c', INJECT_PY, peer, String(P), ...names]);
  inject('vlan', 'qinq', 'opts', 'ext', 'udp', 'other', 'pad', 'frag', 'arp');
  await sleep(200);
  const ack = sensor.nextPortsAck();
  sensor.proc.stdin!.write('ports any\n');
  await ack;
  inject('frag');
  await sleep(200);
  assert.deepEqual(await sensor.stop(), { code: 0, signal: null });
  assert.deepEqual(sensor.decodeErrors, []);

  const got = sensor.segs.map((s) => ({
    family: s.family, proto: s.proto, src: s.src, dst: s.dst, sport: s.sport, dport: s.dport, seq: s.seq, ack: s.ack,
    flags: s.flags, window: s.window, payload: s.payload, payloadLen: s.payloadLen, fragment: s.fragment ?? false, direction: s.direction,
  }));
  const tcp4 = (sp: number, body: string) => ({ family: 4, proto: 6, src: '10.9.8.7', dst: '10.1.2.3', sport: sp, dport: P,
    seq: 1000 + sp, ack: 2000 + sp, flags: 0x18, window: 512, payload: body, payloadLen: body.length, fragment: false, direction: 'out' });
  const tcp6 = (sp: number, body: string, fragment: boolean) => ({ ...tcp4(sp, body), family: 6, src: '2001:db8::7', dst: 'fd00::1:0:0:3', fragment });
  assert.deepEqual(got, [
    tcp4(40001, 'GET /vlan HTTP/1.1\r\n\r\n'),
    tcp6(40002, 'GET /qinq HTTP/1.1\r\n\r\n', false),
    tcp4(40003, 'GET /opts HTTP/1.1\r\n\r\n'),
    tcp6(40004, 'GET /ext HTTP/1.1\r\n\r\n', true),
    { ...tcp4(40005, 'udp!'), proto: 17, seq: 0, ack: 0, flags: 0, window: 0 },
    tcp4(40007, 'x'),
    { ...tcp4(0, 'continuation bytes'), dport: 0, seq: 0, ack: 0, flags: 0, window: 0, fragment: true },
  ]);
  const fin = sensor.stats.at(-1)!;
  assert.ok(fin.packetsSeen >= 10, 'every frame ran through the filter (plus the namespace IPv6 chatter)');
  assert.equal(fin.packetsSent, 7);
});
