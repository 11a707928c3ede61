/**
 * The traced client's conntrack lookups (`wirelog-sensor conntrack` via lookupConntrack) on NAT'ed connections,
 * compared with the conntrack tool's own view (`conntrack -L -o extended`) of the same entries.
 *
 * Setup: the client end of a netns veth pair is moved into this (host) namespace; nft rules in the host map a
 * virtual address on that link to the server namespace (`nat output` DNAT), SNAT the traffic to a second host
 * address on the way out and set a conntrack mark. The test connects with plain Node sockets to the virtual
 * address, so the entries have src-nat and dst-nat status and reply tuples that differ from the orig ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import net from 'node:net';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, runOk, run, waitFor } from '../helpers/proc.js';
import { createNetnsPair } from '../helpers/netns.js';
import { sensorPath } from '../helpers/paths.js';
import { lookupConntrack, type ConntrackQuery, type ConntrackResult } from '../../src/client/conntrack.js';
import type { ConntrackEntry } from '../../src/client/trace.js';

/** TCP echo on 8080 and UDP echo on 5353, in the server namespace */
const ECHO_SERVER = `
const net = require('node:net'), dgram = require('node:dgram');
const t = net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('end', () => s.end()); s.on('error', () => {}); });
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(m, r.port, r.address));
t.listen(8080, '0.0.0.0', () => u.bind(5353, '0.0.0.0', () => console.log('ready')));
`;

interface ToolEntry {
  state?: string;
  flags: string[];
  orig: { src: string; dst: string; sport: number; dport: number; packets: number; bytes: number };
  reply: { src: string; dst: string; sport: number; dport: number; packets: number; bytes: number };
  mark: number;
}

/** One line of `conntrack -L -o extended`: "ipv4 2 tcp 6 119 TIME_WAIT src=.. dst=.. sport=.. dport=.. packets=..
 *  bytes=.. src=.. ... [ASSURED] mark=42 use=1" */
function parseToolLine(line: string): ToolEntry {
  const words = line.trim().split(/\s+/);
  const flags = words.filter((w) => /^\[[A-Z_]+\]$/.test(w)).map((w) => w.slice(1, -1));
  const state = words.find((w) => /^[A-Z_]+$/.test(w) && !w.startsWith('['));
  const groups: Array<Record<string, string>> = [];
  let mark = 0;
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) continue;
    const k = w.slice(0, eq);
    const v = w.slice(eq + 1);
    if (k === 'src') groups.push({});
    if (k === 'mark') mark = Number(v);
    else if (groups.length) groups[groups.length - 1]![k] = v;
  }
  const side = (g: Record<string, string> | undefined): ToolEntry['orig'] => ({
    src: g?.src ?? '', dst: g?.dst ?? '', sport: Number(g?.sport), dport: Number(g?.dport),
    packets: Number(g?.packets ?? 0), bytes: Number(g?.bytes ?? 0),
  });
  return { state, flags, orig: side(groups[0]), reply: side(groups[1]), mark };
}

async function toolEntry(q: ConntrackQuery): Promise<ToolEntry> {
  const r = await runOk('conntrack', ['-L', '-o', 'extended', '-p', q.proto, '--orig-src', q.tuple.srcIP,
    '--orig-dst', q.tuple.dstIP, '--sport', String(q.tuple.srcPort), '--dport', String(q.tuple.dstPort)]);
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `conntrack -L: one entry expected for ${JSON.stringify(q)}: ${r.stdout}`);
  return parseToolLine(lines[0]!);
}

const TOOL_STATES: Record<string, string> = {
  SYN_SENT: 'syn-sent', SYN_RECV: 'sync-recv', ESTABLISHED: 'established', FIN_WAIT: 'fin-wait',
  CLOSE_WAIT: 'close-wait', LAST_ACK: 'last-ack', TIME_WAIT: 'time-wait', CLOSE: 'close', SYN_SENT2: 'syn-sent2',
};

function entryOf(r: ConntrackResult | undefined, what: string): ConntrackEntry {
  assert.ok(r && 'entry' in r, `${what}: expected an entry, got ${JSON.stringify(r)}`);
  return r.entry;
}

/** Our entry against the tool's: addresses, ports, state, mark, counters, the flags the tool shows. */
function assertSameAsTool(e: ConntrackEntry, ref: ToolEntry, what: string): void {
  assert.deepEqual(e.addrOrig, { srcIP: ref.orig.src, srcPort: ref.orig.sport, dstIP: ref.orig.dst, dstPort: ref.orig.dport }, `${what}: addrOrig`);
  assert.deepEqual(e.addrReply, { srcIP: ref.reply.src, srcPort: ref.reply.sport, dstIP: ref.reply.dst, dstPort: ref.reply.dport }, `${what}: addrReply`);
  assert.equal(e.mark, ref.mark, `${what}: mark`);
  assert.equal(e.packetsSent, ref.orig.packets, `${what}: packetsSent`);
  assert.equal(e.bytesSent, ref.orig.bytes, `${what}: bytesSent`);
  assert.equal(e.packetsRecv, ref.reply.packets, `${what}: packetsRecv`);
  assert.equal(e.bytesRecv, ref.reply.bytes, `${what}: bytesRecv`);
  const status = e.status.split('|');
  assert.equal(status.includes('assured'), ref.flags.includes('ASSURED'), `${what}: assured vs ${ref.flags}`);
  assert.equal(status.includes('seen-reply'), !ref.flags.includes('UNREPLIED'), `${what}: seen-reply vs ${ref.flags}`);
  if (ref.state && TOOL_STATES[ref.state]) assert.equal(e.tcpState, TOOL_STATES[ref.state], `${what}: tcpState`);
}

test('client conntrack: NAT\'ed TCP and UDP entries match conntrack -L; not found and no privileges are clear errors', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const pair = await createNetnsPair(scope);
  const dir = await scope.tempDir();

  // the client end of the veth becomes this namespace's link to the server namespace
  const hostIf = pair.client.ifname;
  const subnet = pair.client.ip4.split('.').slice(0, 3).join('.');
  const hostIp = pair.client.ip4;
  const snatIp = `${subnet}.3`;
  const vip = `${subnet}.100`;
  const serverIp = pair.server.ip4;
  await runOk('ip', ['netns', 'exec', pair.client.ns, 'ip', 'link', 'set', hostIf, 'netns', String(process.pid)]);
  await runOk('ip', ['addr', 'add', `${hostIp}/24`, 'dev', hostIf]);
  await runOk('ip', ['addr', 'add', `${snatIp}/24`, 'dev', hostIf]);
  await runOk('ip', ['link', 'set', hostIf, 'up']);

  const acctPath = '/proc/sys/net/netfilter/nf_conntrack_acct';
  const oldAcct = readFileSync(acctPath, 'latin1').trim();
  scope.defer('restore nf_conntrack_acct', () => writeFile(acctPath, `${oldAcct}\n`));
  await writeFile(acctPath, '1\n');

  // inbound: the server namespace connects to port 81 here, DNAT'ed to this listener (the reply-tuple lookup)
  let accepted: net.Socket | undefined;
  const listener = net.createServer((s) => { accepted = s; s.on('error', () => {}); s.on('data', (d) => s.write(d)); });
  await new Promise<void>((resolve) => listener.listen(0, hostIp, () => resolve()));
  t.after(() => { accepted?.destroy(); listener.close(); });
  const inboundPort = (listener.address() as net.AddressInfo).port;

  const table = `wl_ct_${randomBytes(3).toString('hex')}`;
  const rules = `
table ip ${table} {
  chain out { type nat hook output priority -100;
    ip daddr ${vip} tcp dport 80 dnat to ${serverIp}:8080
    ip daddr ${vip} udp dport 53 dnat to ${serverIp}:5353
  }
  chain pre { type nat hook prerouting priority -100;
    ip daddr ${hostIp} tcp dport 81 dnat to ${hostIp}:${inboundPort}
  }
  chain post { type nat hook postrouting priority 100;
    oifname "${hostIf}" ip saddr ${hostIp} snat to ${snatIp}
  }
  chain setmark { type filter hook output priority 0;
    ip daddr ${serverIp} ct mark set 42
  }
}`;
  const rulesFile = path.join(dir, 'nat.nft');
  await writeFile(rulesFile, rules);
  scope.defer(`nft delete table ip ${table}`, async () => { await run('nft', ['delete', 'table', 'ip', table]); });
  await runOk('nft', ['-f', rulesFile]);

  const server = scope.spawn('node', ['-e', ECHO_SERVER], { netns: pair.server.ns });
  await server.waitForLine('stdout', /ready/, 15_000);

  // TCP 1: a whole exchange, closed (TIME_WAIT on our side: counters no longer move)
  const tcpClosed = await new Promise<ConntrackQuery>((resolve, reject) => {
    const s = net.connect({ host: vip, port: 80, localAddress: hostIp }, () => s.end('hello conntrack'));
    let q: ConntrackQuery | undefined;
    s.on('connect', () => { q = { proto: 'tcp', tuple: { srcIP: s.localAddress!, srcPort: s.localPort!, dstIP: vip, dstPort: 80 } }; });
    s.on('data', () => {});
    s.on('error', reject);
    s.on('close', () => (q ? resolve(q) : reject(new Error('no tuple'))));
  });
  // TCP 2: open and idle
  const open = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: vip, port: 80, localAddress: hostIp });
    s.once('data', () => resolve(s));
    s.on('connect', () => s.write('ping'));
    s.on('error', reject);
  });
  t.after(() => open.destroy());
  const tcpOpen: ConntrackQuery = { proto: 'tcp', tuple: { srcIP: open.localAddress!, srcPort: open.localPort!, dstIP: vip, dstPort: 80 } };
  // UDP: a request and its echo
  const udp = dgram.createSocket('udp4');
  t.after(() => udp.close());
  await new Promise<void>((resolve) => udp.bind(0, hostIp, () => resolve()));
  await new Promise<void>((resolve, reject) => udp.connect(53, vip, (e?: Error) => (e ? reject(e) : resolve())));
  const echoed = new Promise<void>((resolve) => udp.once('message', () => resolve()));
  udp.send(Buffer.from('hello udp'));
  await echoed;
  const udpQ: ConntrackQuery = { proto: 'udp', tuple: { srcIP: hostIp, srcPort: udp.address().port, dstIP: vip, dstPort: 53 } };
  const missing: ConntrackQuery = { proto: 'tcp', tuple: { srcIP: hostIp, srcPort: 1, dstIP: vip, dstPort: 81 } };

  const peer = scope.spawn('node', ['-e', `const s = require('node:net').connect(81, '${hostIp}', () => s.write('in'));
s.on('data', () => console.log('echoed'));`], { netns: pair.server.ns });
  await peer.waitForLine('stdout', /echoed/, 15_000);
  const inbound: ConntrackQuery = { proto: 'tcp', tuple: { srcIP: hostIp, srcPort: inboundPort, dstIP: accepted!.remoteAddress!, dstPort: accepted!.remotePort! } };

  // the open connection's last ACK may still be on its way: wait until the tool sees it established
  await waitFor('open connection established in conntrack', async () => (await toolEntry(tcpOpen)).state === 'ESTABLISHED');

  const before = Date.now();
  const results = await lookupConntrack([tcpClosed, tcpOpen, udpQ, missing, inbound], sensorPath);
  assert.equal(results.length, 5);

  const closed = entryOf(results[0], 'closed TCP');
  const opened = entryOf(results[1], 'open TCP');
  const udpE = entryOf(results[2], 'UDP');
  assert.ok(closed.capturedAt >= before - 1 && closed.capturedAt <= Date.now() + 1, 'capturedAt is now');

  // independently of the tool: the NAT we configured
  for (const [e, q, port] of [[closed, tcpClosed, 8080], [opened, tcpOpen, 8080], [udpE, udpQ, 5353]] as const) {
    assert.deepEqual(e.addrOrig, q.tuple, 'addrOrig is the socket\'s view');
    assert.equal(e.addrReply.srcIP, serverIp, 'reply from the DNAT target');
    assert.equal(e.addrReply.srcPort, port);
    assert.equal(e.addrReply.dstIP, snatIp, 'reply to the SNAT address');
    const status = e.status.split('|');
    for (const f of ['src-nat', 'dst-nat', 'src-nat-done', 'dst-nat-done', 'confirmed', 'seen-reply']) {
      assert.ok(status.includes(f), `${q.proto}: status ${e.status} lacks ${f}`);
    }
    assert.equal(e.mark, 42);
    assert.ok(e.packetsSent >= 1 && e.packetsRecv >= 1, `${q.proto}: counters on (acct=1)`);
  }
  assert.equal(closed.tcpState, 'time-wait');
  assert.equal(opened.tcpState, 'established');
  assert.equal(udpE.tcpState, undefined, 'no tcpState for UDP');
  // UDP: one datagram each way; bytes are IP lengths (20 + 8 + 9)
  assert.equal(udpE.packetsSent, 1);
  assert.equal(udpE.packetsRecv, 1);
  assert.equal(udpE.bytesSent, 37);

  // the conntrack tool's view of the same entries
  assertSameAsTool(closed, await toolEntry(tcpClosed), 'closed TCP');
  assertSameAsTool(opened, await toolEntry(tcpOpen), 'open TCP');
  assertSameAsTool(udpE, await toolEntry(udpQ), 'UDP');

  // inbound, found by its reply tuple: sent/recv from our side (reply direction = what we sent)
  const inE = entryOf(results[4], 'inbound TCP');
  assert.deepEqual(inE.addrReply, inbound.tuple, 'addrReply is the accepted socket\'s view');
  assert.deepEqual(inE.addrOrig, { srcIP: serverIp, srcPort: inbound.tuple.dstPort, dstIP: hostIp, dstPort: 81 });
  assert.ok(inE.status.split('|').includes('dst-nat'), inE.status);
  assert.equal(inE.tcpState, 'established');
  const inRef = parseToolLine((await runOk('conntrack', ['-L', '-o', 'extended', '-p', 'tcp', '--reply-src', hostIp,
    '--reply-port-src', String(inboundPort)])).stdout.split('\n')[0]!);
  assert.equal(inE.packetsSent, inRef.reply.packets);
  assert.equal(inE.bytesSent, inRef.reply.bytes);
  assert.equal(inE.packetsRecv, inRef.orig.packets);
  assert.equal(inE.bytesRecv, inRef.orig.bytes);
  assert.equal(inE.addrOrig.srcPort, inRef.orig.sport);

  assert.deepEqual(results[3], { error: `no conntrack entry for tcp ${hostIp}:1 -> ${vip}:81` });

  // without CAP_NET_ADMIN: every query gets the same clear error
  const wrapper = path.join(dir, 'sensor-nobody.sh');
  await writeFile(wrapper, `#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all ${sensorPath} "$@"\n`);
  await chmod(wrapper, 0o755);
  const unpriv = await lookupConntrack([tcpOpen, udpQ], wrapper);
  for (const r of unpriv) {
    assert.ok('error' in r, JSON.stringify(r));
    assert.match(r.error, /^conntrack needs CAP_NET_ADMIN: /);
  }

  // a missing sensor binary: one error per query, no throw
  const nobin = await lookupConntrack([tcpOpen], path.join(dir, 'no-such-sensor'));
  assert.ok('error' in nobin[0]! && /sensor binary not found/.test(nobin[0].error), JSON.stringify(nobin));
});
