/**
 * The traced client's resolver against real nameservers on loopback: dnsmasq on 127.0.0.53:53 (and .54) answering
 * configured records and NXDOMAIN under .test, a silent UDP socket on 127.0.0.55:53 that reads and never answers,
 * and a UDP server on 127.0.0.56:53 answering garbage. The references are dnsmasq's configuration and its query
 * log (who asked what, from which port, over UDP or TCP) and the datagrams the test's own sockets received.
 * Binding port 53 needs root.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { Scope, waitFor, sleep } from '../helpers/proc.js';
import { requirePrivileges } from '../helpers/privileged.js';
import { startDnsmasq, type Dnsmasq, type DnsmasqQuery } from '../helpers/dnsmasq.js';
import { Resolver } from '../../src/client/resolver.js';
import { TraceRecorder, newTraceId, nowMs, type DialTrace } from '../../src/client/trace.js';
import { ClientError, type HTTPClientConfig } from '../../src/client/options.js';

const scope = new Scope();
after(() => scope.close());

const NS1 = '127.0.0.53';
const NS2 = '127.0.0.54';
const SILENT = '127.0.0.55';
const GARBAGE = '127.0.0.56';
const MANY = Array.from({ length: 100 }, (_, i) => `10.1.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`);

const records: Array<[string, ...string[]]> = [
  ['both.test', '10.0.0.1', 'fd00::1'],
  ['v4only.test', '10.0.0.2'],
  ['web.other.test', '10.0.0.3'],
  ...MANY.map((a): [string, string] => ['many.test', a]),
];

let servers: Promise<{ ns1: Dnsmasq; ns2: Dnsmasq }> | undefined;
/** dnsmasq on NS1 and NS2, started once for the file. */
function dnsServers(): Promise<{ ns1: Dnsmasq; ns2: Dnsmasq }> {
  servers ??= (async () => {
    const common = { hostRecords: records, localDomains: ['test'], extraArgs: ['--txt-record=txtonly.test,hello'] };
    const [ns1, ns2] = await Promise.all([
      startDnsmasq(scope, { address: NS1, ...common }),
      startDnsmasq(scope, { address: NS2, ...common }),
    ]);
    return { ns1, ns2 };
  })();
  return servers;
}

/** A UDP socket on ADDR:53 that reads queries and answers each with `reply(query)` datagrams (none: silent). */
async function udpServer(addr: string, reply: (q: Buffer) => Buffer[] = () => []): Promise<{ got: Buffer[] }> {
  const sock = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (msg, rinfo) => {
    got.push(msg);
    for (const r of reply(msg)) sock.send(r, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(53, addr, () => resolve());
  });
  scope.defer(`close udp ${addr}:53`, () => new Promise<void>((r) => sock.close(() => r())));
  return { got };
}

let silent: Promise<{ got: Buffer[] }> | undefined;
function silentServer(): Promise<{ got: Buffer[] }> {
  silent ??= udpServer(SILENT);
  return silent;
}

interface Setup {
  resolver: Resolver;
  rec: TraceRecorder;
  dial: DialTrace;
}

async function setup(resolvConf: string, config: Partial<HTTPClientConfig> = {}, hosts = ''): Promise<Setup> {
  const dir = await scope.tempDir('wirelog-resolv-');
  const resolvConfPath = path.join(dir, 'resolv.conf');
  const hostsPath = path.join(dir, 'hosts');
  await writeFile(resolvConfPath, resolvConf);
  await writeFile(hostsPath, hosts);
  const rec = new TraceRecorder();
  const resolver = new Resolver({
    rec, opts: { conntrack: false, sockTrace: true, dnsQueryTrace: true }, config: { resolvConfPath, hostsPath, ...config },
  });
  const dial: DialTrace = { traceID: newTraceId(), dialBeginAt: nowMs(), dstAddress: 'x:80', resolverDials: [], skippedNameservers: [] };
  rec.dials.push(dial);
  return { resolver, rec, dial };
}

/** dnsmasq's query log lines for `name`, once `n` of them are there (the log is written asynchronously). */
async function logged(d: Dnsmasq, name: string, n: number): Promise<DnsmasqQuery[]> {
  return waitFor(`${n} queries for ${name} in ${d.logPath}`, async () => {
    const q = (await d.queries()).filter((x) => x.name === name);
    return q.length >= n ? q : undefined;
  }, 5000);
}

async function rejectsWith(p: Promise<unknown>, code: string, msg: RegExp): Promise<ClientError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ClientError, `expected a ClientError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, msg);
    return e;
  }
  assert.fail(`expected ${code}`);
}

test('IP literals and hosts-file names resolve without asking any nameserver (nothing recorded)', async () => {
  const { resolver, rec, dial } = await setup(`nameserver ${SILENT}\n`, {},
    '10.0.0.7 fromhosts.test alias.test\nfd00::7 FromHosts.Test\n# 10.9.9.9 commented.test\n');
  assert.deepEqual(await resolver.lookup('10.1.2.3', dial), ['10.1.2.3']);
  assert.deepEqual(await resolver.lookup('[::1]', dial), ['::1']);
  assert.deepEqual(await resolver.lookup('fromhosts.test', dial), ['10.0.0.7', 'fd00::7']);
  assert.deepEqual(await resolver.lookup('ALIAS.test.', dial), ['10.0.0.7']);
  assert.deepEqual(dial.resolverDials, []);
  assert.deepEqual(rec.udpConns, []);
  assert.deepEqual(rec.dnsQueries, []);
});

test('A and AAAA in parallel, each on its own connected UDP socket, every message recorded', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const { ns1 } = await dnsServers();
  const { resolver, rec, dial } = await setup(`nameserver ${NS1}\nsearch .\n`);
  assert.deepEqual(await resolver.lookup('both.test', dial), ['10.0.0.1', 'fd00::1']);

  // one resolver dial per socket, each naming its UDP connection
  assert.equal(dial.resolverDials.length, 2);
  assert.equal(rec.udpConns.length, 2);
  assert.deepEqual(dial.resolverDials.map((d) => d.nameserver), [`${NS1}:53`, `${NS1}:53`]);
  assert.deepEqual(new Set(dial.resolverDials.map((d) => d.establishedConn)), new Set(rec.udpConns.map((c) => c.traceID)));
  for (const d of dial.resolverDials) assert.equal(d.dialErr, undefined);
  // in parallel: the second socket was created before the first was closed
  const [c1, c2] = rec.udpConns;
  assert.ok(c2.socketCreateAt < c1.connCloseAt! && c1.socketCreateAt < c2.connCloseAt!);

  const log = await logged(ns1, 'both.test', 2);
  assert.deepEqual(log.map((q) => q.type).sort(), ['A', 'AAAA']);
  assert.deepEqual(new Set(log.map((q) => q.clientPort)), new Set(rec.udpConns.map((c) => c.addrTuple.srcPort)));
  assert.ok(log.every((q) => q.pid === ns1.pid), 'UDP queries are served by the main dnsmasq process');

  assert.equal(rec.dnsQueries.length, 2);
  for (const conn of rec.udpConns) {
    assert.equal(conn.fromDial, dial.traceID);
    assert.equal(conn.fromResolver, true);
    assert.deepEqual({ ...conn.addrTuple, srcPort: 0 }, { srcIP: '127.0.0.1', srcPort: 0, dstIP: NS1, dstPort: 53 });
    assert.ok(conn.connCloseAt !== undefined);
    const q = rec.dnsQueries.find((x) => x.connection === conn.traceID)!;
    assert.ok(q, `a dnsQuery for ${conn.traceID}`);
    assert.equal(q.fromDial, dial.traceID);
    assert.equal(q.dnsQueryMsgs.length, 1);
    assert.equal(q.dnsReplyMsgs.length, 1);
    const [qm] = q.dnsQueryMsgs;
    const [rm] = q.dnsReplyMsgs;
    const type = qm.questions[0].type;
    assert.deepEqual(qm.questions, [{ name: 'both.test.', type, class: 1 }]);
    assert.equal(qm.recursionDesired, true);
    assert.equal(qm.optUDPPayloadSize, 1232);
    assert.equal(rm.id, qm.id);
    assert.equal(rm.rCode, 'no-error');
    assert.equal(rm.truncated, false);
    assert.deepEqual(rm.answers, [{ name: 'both.test.', type, class: 1, ttl: 60, resolvedVal: type === 'A' ? '10.0.0.1' : 'fd00::1' }]);
    // sizes, totals and socket operations agree: one write of the query, one read of the reply
    assert.equal(conn.totalSentBytes, qm.size);
    assert.equal(conn.totalRecvBytes, rm.size);
    assert.deepEqual(conn.socketOps!.map((o) => [o.type, o.dataLen, o.returnErr]), [['write', qm.size, undefined], ['read', rm.size, undefined]]);
  }
  // and the JSON trace carries them
  const json = rec.snapshot('lookup both.test');
  assert.equal(json.udpConns.length, 2);
  assert.equal(json.dnsQueries.length, 2);
  assert.equal(json.dials[0].resolverDials!.length, 2);
});

test('NXDOMAIN is final: rCode non-existent-domain in the trace, WL_ERR_DNS_NXDOMAIN naming host and nameserver', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const { ns1, ns2 } = await dnsServers();
  const { resolver, rec, dial } = await setup(`nameserver ${NS1}\nnameserver ${NS2}\nsearch .\n`);
  await rejectsWith(resolver.lookup('nope.test', dial), 'WL_ERR_DNS_NXDOMAIN',
    /^lookup nope\.test: non-existent-domain \(nameserver 127\.0\.0\.53:53\)$/);
  assert.deepEqual(rec.dnsQueries.map((q) => q.dnsReplyMsgs.map((r) => r.rCode)), [['non-existent-domain'], ['non-existent-domain']]);
  // the second nameserver was not asked (Go stops on NXDOMAIN)
  assert.deepEqual(dial.resolverDials.map((d) => d.nameserver), [`${NS1}:53`, `${NS1}:53`]);
  assert.equal((await logged(ns1, 'nope.test', 2)).length, 2);
  assert.equal((await ns2.queries()).filter((q) => q.name === 'nope.test').length, 0);
});

test('a name without A or AAAA records: WL_ERR_DNS_NO_ANSWER; AAAA-less names still resolve', async (t) => {
  if (!requirePrivileges(t, false)) return;
  await dnsServers();
  const { resolver, rec, dial } = await setup(`nameserver ${NS1}\nsearch .\n`);
  await rejectsWith(resolver.lookup('txtonly.test', dial), 'WL_ERR_DNS_NO_ANSWER', /^lookup txtonly\.test: no A or AAAA records \(nameserver 127\.0\.0\.53:53\)$/);
  assert.ok(rec.dnsQueries.every((q) => q.dnsReplyMsgs[0].rCode === 'no-error' && q.dnsReplyMsgs[0].answers.length === 0));
  assert.deepEqual(await resolver.lookup('v4only.test', dial), ['10.0.0.2']);
});

test('a nameserver that does not answer in time → the next one; the timed-out read is in the trace', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const { ns1 } = await dnsServers();
  const quiet = await silentServer();
  const before = quiet.got.length;
  const { resolver, rec, dial } = await setup(`nameserver ${SILENT}\nnameserver ${NS1}\nsearch .\noptions timeout:1 attempts:1\n`);
  assert.deepEqual(await resolver.lookup('both.test', dial), ['10.0.0.1', 'fd00::1']);

  // both questions went to the silent server first, then to dnsmasq
  const asked = dial.resolverDials.map((d) => d.nameserver);
  assert.deepEqual(asked, [`${SILENT}:53`, `${SILENT}:53`, `${NS1}:53`, `${NS1}:53`]);
  const got = quiet.got.slice(before).map((b) => dnsPacket.decode(b));
  assert.deepEqual(got.map((p) => p.questions![0].type).sort(), ['A', 'AAAA']);

  const silentConns = rec.udpConns.filter((c) => c.addrTuple.dstIP === SILENT);
  assert.equal(silentConns.length, 2);
  for (const c of silentConns) {
    const ops = c.socketOps!;
    assert.deepEqual(ops.map((o) => o.type), ['write', 'read']);
    assert.match(ops[1].returnErr!, new RegExp(`^read udp 127\\.0\\.0\\.1:${c.addrTuple.srcPort}->127\\.0\\.0\\.55:53: i/o timeout$`));
    assert.equal(ops[1].dataLen, 0);
    assert.equal(c.totalRecvBytes, 0);
    const q = rec.dnsQueries.find((x) => x.connection === c.traceID)!;
    assert.equal(q.dnsReplyMsgs.length, 0);
    // the query the silent server received is the one recorded (same id)
    assert.ok(got.some((p) => p.id === q.dnsQueryMsgs[0].id));
  }
  assert.equal((await logged(ns1, 'both.test', 2)).length >= 2, true);
});

test('every nameserver silent: WL_ERR_DNS_TIMEOUT naming the nameservers, after `attempts` rounds', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const quiet = await silentServer();
  const before = quiet.got.length;
  const { resolver, dial } = await setup(`nameserver ${SILENT}\nsearch .\noptions timeout:1 attempts:2\n`);
  await rejectsWith(resolver.lookup('both.test', dial), 'WL_ERR_DNS_TIMEOUT', /^lookup both\.test: i\/o timeout \(nameserver 127\.0\.0\.55:53\)$/);
  assert.equal(dial.resolverDials.length, 4);
  assert.equal(quiet.got.length - before, 4);
});

test('a truncated UDP reply is retried over TCP to the same nameserver (TC in the trace, TCP in dnsmasq\'s log)', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const { ns1 } = await dnsServers();
  const { resolver, rec, dial } = await setup(`nameserver ${NS1}\nsearch .\n`);
  const addrs = await resolver.lookup('many.test', dial);
  assert.deepEqual([...addrs].sort(), [...MANY].sort());

  // the A reply over UDP did not fit in 1232 bytes: TC set, partial answers
  const udpA = rec.dnsQueries.find((q) => q.dnsQueryMsgs[0].questions[0].type === 'A' && rec.udpConns.some((c) => c.traceID === q.connection))!;
  assert.equal(udpA.dnsReplyMsgs[0].truncated, true);
  assert.ok(udpA.dnsReplyMsgs[0].answers.length < 100);
  // then one TCP connection from the resolver, with its own resolver dial and DNS query trace
  assert.equal(rec.tcpConns.length, 1);
  const tcp = rec.tcpConns[0];
  assert.equal(tcp.fromResolver, true);
  assert.equal(tcp.fromDial, dial.traceID);
  assert.equal(tcp.connected, true);
  assert.ok(tcp.handshakeEndAt !== undefined && tcp.connCloseAt !== undefined);
  assert.deepEqual([tcp.addrTuple.dstIP, tcp.addrTuple.dstPort], [NS1, 53]);
  assert.equal(dial.resolverDials.length, 3);
  assert.equal(dial.resolverDials.filter((d) => d.establishedConn === tcp.traceID).length, 1);
  const tq = rec.dnsQueries.find((q) => q.connection === tcp.traceID)!;
  assert.equal(tq.dnsQueryMsgs[0].id, udpA.dnsQueryMsgs[0].id);
  assert.equal(tq.dnsReplyMsgs[0].truncated, false);
  assert.equal(tq.dnsReplyMsgs[0].answers.length, 100);
  // TCP framing: 2 length bytes on each message
  assert.equal(tcp.totalSentBytes, tq.dnsQueryMsgs[0].size + 2);
  assert.equal(tcp.totalRecvBytes, tq.dnsReplyMsgs[0].size + 2);
  assert.equal(tcp.socketOps![0].type, 'write');

  // dnsmasq: the A question twice, over UDP from the main process and over TCP from a forked child at the TCP port
  const log = (await logged(ns1, 'many.test', 3)).filter((q) => q.type === 'A');
  const viaTcp = log.filter((q) => q.pid !== ns1.pid);
  assert.equal(viaTcp.length, 1, JSON.stringify(log));
  assert.equal(viaTcp[0].clientPort, tcp.addrTuple.srcPort);
  assert.ok(log.some((q) => q.pid === ns1.pid && rec.udpConns.some((c) => c.addrTuple.srcPort === q.clientPort)));
});

test('skipNameserver: a skipped nameserver is listed once on the dial and never asked', async (t) => {
  if (!requirePrivileges(t, false)) return;
  await dnsServers();
  const quiet = await silentServer();
  const before = quiet.got.length;
  const consulted: string[] = [];
  const { resolver, rec, dial } = await setup(`nameserver ${SILENT}\nnameserver ${NS1}\nsearch .\noptions timeout:1\n`, {
    skipNameserver: (ip, port) => {
      consulted.push(`${ip}:${port}`);
      return { skip: ip === SILENT, reason: 'test says so' };
    },
  });
  assert.deepEqual(await resolver.lookup('both.test', dial), ['10.0.0.1', 'fd00::1']);
  assert.deepEqual(dial.skippedNameservers, [`${SILENT}:53`]);
  assert.ok(consulted.filter((c) => c === `${SILENT}:53`).length >= 2, 'consulted for each question');
  assert.deepEqual(dial.resolverDials.map((d) => d.nameserver), [`${NS1}:53`, `${NS1}:53`]);
  assert.ok(rec.udpConns.every((c) => c.addrTuple.dstIP === NS1));
  await sleep(100);
  assert.equal(quiet.got.length, before);

  const all = await setup(`nameserver ${SILENT}\nsearch .\n`, { skipNameserver: () => true });
  await rejectsWith(all.resolver.lookup('both.test', all.dial), 'WL_ERR_DNS_NO_NAMESERVERS', /^lookup both\.test: every nameserver skipped \(127\.0\.0\.55:53\)$/);
  assert.deepEqual(all.dial.skippedNameservers, [`${SILENT}:53`]);
});

test('sourceIP: resolver sockets are bound to it (addrTuple and dnsmasq\'s log agree)', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const { ns2 } = await dnsServers();
  const { resolver, rec, dial } = await setup(`nameserver ${NS2}\nsearch .\n`, { sourceIP: '127.0.0.9' });
  assert.deepEqual(await resolver.lookup('v4only.test', dial), ['10.0.0.2']);
  assert.deepEqual(rec.udpConns.map((c) => c.addrTuple.srcIP), ['127.0.0.9', '127.0.0.9']);
  const log = await logged(ns2, 'v4only.test', 2);
  for (const c of rec.udpConns) assert.ok(log.some((q) => q.clientIP === '127.0.0.9' && q.clientPort === c.addrTuple.srcPort), JSON.stringify(log));
});

test('search domains: tried in order per ndots until one answers', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const { ns1 } = await dnsServers();
  const { resolver, rec, dial } = await setup(`nameserver ${NS1}\nsearch corp.test other.test\noptions ndots:1\n`);
  assert.deepEqual(await resolver.lookup('web', dial), ['10.0.0.3']);
  const names = rec.dnsQueries.map((q) => q.dnsQueryMsgs[0].questions[0].name);
  assert.deepEqual(names, ['web.corp.test.', 'web.corp.test.', 'web.other.test.', 'web.other.test.']);
  assert.deepEqual(rec.dnsQueries.slice(0, 2).map((q) => q.dnsReplyMsgs[0].rCode), ['non-existent-domain', 'non-existent-domain']);
  assert.equal((await logged(ns1, 'web.corp.test', 2)).length, 2);
  assert.equal((await logged(ns1, 'web.other.test', 2)).length, 2);
  assert.equal((await ns1.queries()).filter((q) => q.name === 'web').length, 0, 'the bare name was not needed');
  // nothing found anywhere: the error is about the name as given (tried last, as it has fewer than ndots dots):
  // dnsmasq refuses `nothere.` (outside its local domain, no upstream) while the suffixed names were NXDOMAIN
  await rejectsWith(resolver.lookup('nothere', dial), 'WL_ERR_DNS_REFUSED', /^lookup nothere: query-refused \(nameserver 127\.0\.0\.53:53\)$/);
});

test('malformed and mismatched replies are recorded, ignored, and never crash the resolver', async (t) => {
  if (!requirePrivileges(t, false)) return;
  await dnsServers();
  const bad = await udpServer(GARBAGE, (q) => {
    const id = q.readUInt16BE(0);
    const cut = Buffer.from(q.subarray(0, 16));
    cut[2] |= 0x80; // a response header with the right id, question cut short
    const wrongId = dnsPacket.encode({
      type: 'response', id: (id + 1) & 0xffff, questions: dnsPacket.decode(q).questions,
      answers: [{ type: 'A', name: 'both.test', ttl: 1, data: '10.6.6.6' }],
    });
    return [Buffer.from('garbage'), cut, wrongId];
  });
  const { resolver, rec, dial } = await setup(`nameserver ${GARBAGE}\nnameserver ${NS1}\nsearch .\noptions timeout:1 attempts:1\n`);
  assert.deepEqual(await resolver.lookup('both.test', dial), ['10.0.0.1', 'fd00::1']);
  assert.equal(bad.got.length, 2);
  const badConns = rec.udpConns.filter((c) => c.addrTuple.dstIP === GARBAGE);
  assert.equal(badConns.length, 2);
  for (const c of badConns) {
    const q = rec.dnsQueries.find((x) => x.connection === c.traceID)!;
    const id = q.dnsQueryMsgs[0].id;
    await waitFor('three replies recorded', () => q.dnsReplyMsgs.length === 3);
    const [garbage, cut, wrong] = q.dnsReplyMsgs as Array<(typeof q.dnsReplyMsgs)[0] & { parseErr?: string }>;
    assert.deepEqual([garbage.size, garbage.id, garbage.rCode, garbage.answers], [7, 0, 'unrecognized-rcode', []]);
    assert.match(garbage.parseErr!, /shorter than a DNS header/);
    assert.equal(cut.id, id);
    assert.match(cut.parseErr!, /question section/);
    assert.equal(wrong.id, (id + 1) & 0xffff);
    assert.equal(wrong.parseErr, undefined);
    // all three were read; then the read timed out
    const ops = c.socketOps!;
    assert.deepEqual(ops.map((o) => o.type), ['write', 'read', 'read', 'read', 'read']);
    assert.match(ops[4].returnErr!, /i\/o timeout$/);
  }
});

test('abort: the lookup rejects with WL_ERR_DNS_ABORTED and its sockets are closed', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const quiet = await silentServer();
  const before = quiet.got.length;
  const { resolver, rec, dial } = await setup(`nameserver ${SILENT}\nsearch .\noptions timeout:30\n`);
  const ac = new AbortController();
  const p = resolver.lookup('both.test', dial, ac.signal);
  await waitFor('both queries at the silent server', () => quiet.got.length - before >= 2);
  ac.abort(new Error('caller gave up'));
  const err = await rejectsWith(p, 'WL_ERR_DNS_ABORTED', /^lookup both\.test: aborted$/);
  assert.equal((err.cause as Error).message, 'caller gave up');
  await waitFor('sockets closed', () => rec.udpConns.every((c) => c.connCloseAt !== undefined));
  assert.equal(rec.udpConns.length, 2);
  // an already aborted signal: nothing is asked
  const again = await setup(`nameserver ${SILENT}\n`);
  await rejectsWith(again.resolver.lookup('both.test', again.dial, AbortSignal.abort()), 'WL_ERR_DNS_ABORTED', /aborted/);
  assert.equal(again.dial.resolverDials.length, 0);
});

test('an unreachable nameserver (ICMP port unreachable) → the next one; all unreachable → WL_ERR_DNS_NETWORK', async (t) => {
  if (!requirePrivileges(t, false)) return;
  await dnsServers();
  // nothing listens on 127.0.0.57:53 / 127.0.0.58:53: the connected UDP socket gets ECONNREFUSED
  const { resolver, rec, dial } = await setup(`nameserver 127.0.0.57\nnameserver ${NS1}\nsearch .\noptions timeout:5\n`);
  assert.deepEqual(await resolver.lookup('v4only.test', dial), ['10.0.0.2']);
  const refused = rec.udpConns.filter((c) => c.addrTuple.dstIP === '127.0.0.57');
  assert.equal(refused.length, 2);
  for (const c of refused) assert.match(c.socketOps!.at(-1)!.returnErr!, /ECONNREFUSED/);
  const none = await setup('nameserver 127.0.0.57\nnameserver 127.0.0.58\nsearch .\n');
  await rejectsWith(none.resolver.lookup('v4only.test', none.dial), 'WL_ERR_DNS_NETWORK',
    /^lookup v4only\.test: .*ECONNREFUSED \(nameservers 127\.0\.0\.57:53, 127\.0\.0\.58:53\)$/);
  // attempts (2) × nameservers (2) × questions (2)
  assert.equal(none.dial.resolverDials.length, 8);
});

test('options use-vc: both questions over TCP, no UDP', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const { ns2 } = await dnsServers();
  const { resolver, rec, dial } = await setup(`nameserver ${NS2}\nsearch .\noptions use-vc\n`);
  assert.deepEqual(await resolver.lookup('both.test', dial), ['10.0.0.1', 'fd00::1']);
  assert.equal(rec.udpConns.length, 0);
  assert.equal(rec.tcpConns.length, 2);
  assert.ok(rec.tcpConns.every((c) => c.connected && c.fromResolver && c.connCloseAt !== undefined));
  const log = await logged(ns2, 'both.test', 2);
  assert.deepEqual(new Set(log.map((q) => q.clientPort)), new Set(rec.tcpConns.map((c) => c.addrTuple.srcPort)));
  assert.ok(log.every((q) => q.pid !== ns2.pid), 'served by forked TCP children');
});
