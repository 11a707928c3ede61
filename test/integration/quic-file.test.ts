/**
 * `wirelog quic -r FILE` on HTTP/3 traffic between Debian's ngtcp2 example programs, recorded with tcpdump on lo:
 * - gtlsserver on port A, gtlsclient making three requests on one connection (SNI localhost, ALPN h3);
 * - gtlsserver -V (address validation: every connection gets a Retry) on port B, one request;
 * - gtlsclient -v 0x1a2a3a4a --preferred-versions v1 on port A: a version the server does not speak, so a Version
 *   Negotiation, then a new v1 connection;
 * - gtlsclient -v v2draft on port A: a QUIC v2 (draft, 0x709a50c4) connection.
 * Neither port is 443: the connections are found by content detection. References, all independent of wirelog:
 * the qlog each gtlsclient wrote (original DCID, both sides' initial_source_connection_id, the Retry's SCID, the
 * packet numbers and frames of every Initial packet sent and received), the servers' qlogs (the Initial packets
 * they logged), tshark's QUIC dissector (version, DCID, SCID, packet number of every v1 Initial it decrypts, SNI,
 * ALPN, the Version Negotiation's versions) and the client command lines (SNI from the URL, ALPN h3).
 * Then -t (both spellings), -w, --filter, --vantage client, usage errors, and a capture cut inside a record.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { privilegeProblem, requirePrivileges } from '../helpers/privileged.js';
import { Scope, runOk } from '../helpers/proc.js';
import { makeTestPki } from '../helpers/tls.js';
import { startTcpdump, pcapRecords, toPcapng } from '../helpers/tshark.js';
import { runWirelog } from '../helpers/wirelog.js';
import { readQlog, readQlogDir, qlogParameters, runGtlsClient, startGtlsServer, type Qlog, type QlogFrame } from '../helpers/ngtcp2.js';

const scope = new Scope();
let file = '';
let dir = '';
let portA = 0, portB = 0;
let setupError: Error | undefined;
const clientQlogs: Record<'plain' | 'retry' | 'vn' | 'v2', Qlog | undefined> = { plain: undefined, retry: undefined, vn: undefined, v2: undefined };
let serverQlogs: Qlog[] = [];
let events: Array<Record<string, any>> = [];
let stderr = '';

interface Ev { [k: string]: any }

before(async () => {
  if (privilegeProblem(false)) return;
  try {
    dir = await scope.tempDir('wirelog-quic-');
    const pki = await makeTestPki(scope);
    const a = await startGtlsServer(scope, pki);
    const b = await startGtlsServer(scope, pki, ['-V']);
    portA = a.port;
    portB = b.port;
    file = path.join(dir, 'quic.pcap');
    const d = await startTcpdump(scope, { iface: 'lo', file, filter: `udp port ${portA} or udp port ${portB}` });
    const q = (n: string): string => path.join(dir, `${n}.qlog`);
    const runs: Array<[keyof typeof clientQlogs, number, string[], string[]]> = [
      ['plain', portA, ['/index.html', '/data.bin', '/index.html'], []],
      ['retry', portB, ['/index.html'], []],
      ['vn', portA, ['/index.html'], ['-v', '0x1a2a3a4a', '--preferred-versions', 'v1']],
      ['v2', portA, ['/index.html'], ['-v', 'v2draft']],
    ];
    for (const [name, port, paths, extra] of runs) {
      const r = await runGtlsClient(port, 'localhost', paths, q(name), extra);
      assert.equal(r.code, 0, `gtlsclient ${name}: ${r.stderr.slice(-500)}`);
    }
    await d.stop();
    for (const [name] of runs) clientQlogs[name] = readQlog(q(name));
    serverQlogs = [...readQlogDir(a.qlogDir), ...readQlogDir(b.qlogDir)];
    const w = await runWirelog(['quic', '-r', file]);
    assert.equal(w.code, 0, w.stderr);
    stderr = w.stderr;
    events = w.stdout.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Ev);
  } catch (e) {
    setupError = e as Error;
  }
});

after(() => scope.close());

function ready(t: import('node:test').TestContext): boolean {
  if (!requirePrivileges(t, false)) return false;
  if (setupError) throw setupError;
  return true;
}

function acceptFor(odcid: string): Ev {
  const a = events.find((e) => e.type === 'accept' && e.dcid === odcid);
  assert.ok(a, `an accept for the connection with original DCID ${odcid}`);
  return a!;
}

function connEvents(conn: number, type?: string): Ev[] {
  return events.filter((e) => e.conn === conn && (type === undefined || e.type === type));
}

/** qlog frame → the fields both sides show: type, crypto offset/length, ack ranges as [low, high] */
function qlogFrame(f: QlogFrame): string {
  if (f.frame_type === 'crypto') return `crypto ${f.offset as number}+${f.length as number}`;
  if (f.frame_type === 'ack') return `ack ${JSON.stringify((f.acked_ranges as number[][]).map((r) => [r[0], r[r.length - 1]]))}`;
  if (f.frame_type === 'connection_close') return `connection_close ${f.error_code as number}`;
  return f.frame_type;
}

function ourFrame(f: Ev): string {
  if (f.type === 'crypto') return `crypto ${f.offset}+${f.length}`;
  if (f.type === 'ack') return `ack ${JSON.stringify(f.acked_ranges)}`;
  if (f.type === 'connection_close') return `connection_close ${f.error_code}`;
  return f.type;
}

/** Initial packets as "direction pn: frames", direction from the client's point of view. */
function qlogInitials(q: Qlog): string[] {
  const clientSide = q.vantage === 'client';
  return q.events
    .filter((e) => (e.name === 'transport:packet_sent' || e.name === 'transport:packet_received') && e.data.header?.packet_type === 'initial' && e.data.frames !== undefined)
    .map((e) => {
      const sentByClient = (e.name === 'transport:packet_sent') === clientSide;
      return `${sentByClient ? 'c>s' : 's>c'} ${e.data.header!.packet_number}: ${e.data.frames!.map(qlogFrame).join(', ')}`;
    });
}

function ourInitials(conn: number): string[] {
  // server vantage: packet-received is what the client sent
  return connEvents(conn).filter((e) => (e.type === 'packet-received' || e.type === 'packet-sent') && e.packet_type === 'initial' && e.pn !== undefined)
    .map((e) => `${e.type === 'packet-received' ? 'c>s' : 's>c'} ${e.pn}: ${(e.frames as Ev[]).map(ourFrame).join(', ')}`);
}

test('every connection: IDs, version, SNI, ALPN and Initial packets match the client\'s qlog', (t) => {
  if (!ready(t)) return;
  const expectVersion: Record<string, string> = { plain: 'v1', retry: 'v1', vn: 'v1', v2: 'v2-draft' };
  for (const [name, q] of Object.entries(clientQlogs)) {
    const a = acceptFor(q!.groupId);
    assert.equal(a.version, expectVersion[name], name);
    assert.equal(a.scid, qlogParameters(q!, 'local')!.initial_source_connection_id, `${name}: client SCID`);
    assert.equal(a.sni, 'localhost', `${name}: SNI from the URL`);
    assert.deepEqual(a.alpn, ['h3'], `${name}: ALPN`);
    assert.equal(a.transport_parameters.initial_source_connection_id, a.scid);
    const summary = connEvents(a.conn, 'conn-summary')[0]!;
    assert.ok(summary, 'a conn-summary');
    assert.equal(summary.server_scid, qlogParameters(q!, 'remote')!.initial_source_connection_id, `${name}: server SCID`);
    assert.ok(qlogInitials(q!).length >= 2, `${name}: the client's qlog has Initial packets both ways`);
    assert.deepEqual(ourInitials(a.conn), qlogInitials(q!), `${name}: Initial packets (numbers and frames)`);
    // the later spaces: counted, reported once each as not decryptable, never with made-up packet numbers
    const failed = connEvents(a.conn, 'decrypt-failed').map((e) => e.space).sort();
    assert.deepEqual(failed, ['application', 'handshake'], name);
    for (const e of connEvents(a.conn).filter((x) => x.packet_type === 'handshake' || x.packet_type === '1rtt')) {
      if (e.type === 'decrypt-failed') continue;
      assert.equal(e.pn, undefined);
      assert.equal(e.decrypted, false);
    }
    assert.ok(summary.undecrypted.handshake > 0 && summary.undecrypted['1rtt'] > 0, `${name}: undecrypted counts`);
    assert.equal(summary.alpn_selected, null);
    // the accept is the connection's first line
    assert.equal(events.find((e) => e.conn === a.conn)!.type, 'accept');
  }
});

test('the servers\' qlogs: every Initial they logged is in wirelog\'s output with the same number and frames', (t) => {
  if (!ready(t)) return;
  assert.equal(serverQlogs.length, 4, 'four server-side connections (the VN attempt made none)');
  for (const q of serverQlogs) {
    // with a Retry the server's qlog starts at the validated Initial; its group id is the Retry's SCID
    const params = qlogParameters(q, 'local')!;
    const odcid = params.original_destination_connection_id as string;
    const a = acceptFor(odcid);
    assert.equal(connEvents(a.conn, 'conn-summary')[0]!.server_scid, params.initial_source_connection_id);
    const ours = new Set(ourInitials(a.conn));
    assert.ok(qlogInitials(q).length >= 2);
    for (const p of qlogInitials(q)) assert.ok(ours.has(p), `server qlog packet ${p} in ${[...ours].join(' | ')}`);
  }
});

test('Retry: the client\'s qlog saw it; wirelog verified its integrity tag and followed the new IDs', (t) => {
  if (!ready(t)) return;
  const q = clientQlogs.retry!;
  const a = acceptFor(q.groupId);
  const r = connEvents(a.conn, 'retry');
  assert.equal(r.length, 1);
  assert.equal(r[0]!.integrity, 'ok');
  assert.equal(r[0]!.scid, qlogParameters(q, 'remote')!.retry_source_connection_id);
  assert.ok(q.events.some((e) => e.name === 'transport:packet_received' && e.data.header?.packet_type === 'retry'));
  const summary = connEvents(a.conn, 'conn-summary')[0]!;
  assert.equal(summary.retries, 1);
});

test('Version Negotiation: the attempt with an unknown version, the server\'s versions, then the v1 connection', (t) => {
  if (!ready(t)) return;
  const vn = events.filter((e) => e.type === 'version-negotiation');
  assert.equal(vn.length, 1);
  assert.equal(vn[0]!.offered_version, 'grease-1a2a3a4a', 'the version on the client command line');
  assert.ok(vn[0]!.supported_versions.includes('v1'));
  const attempt = connEvents(vn[0]!.conn, 'accept')[0]!;
  assert.equal(attempt.version, 'grease-1a2a3a4a');
  // its Initial is protected like draft-29 (ngtcp2's choice for versions it does not speak): its ClientHello is read
  assert.equal(attempt.sni, 'localhost');
  const first = connEvents(vn[0]!.conn, 'packet-received')[0]!;
  assert.equal(first.protected_as, 'draft-29');
  assert.equal(first.pn, 0);
});

interface TsharkInitial { version: string; dcid: string; scid: string; pn: number }

async function tsharkQuic(): Promise<{ initials: TsharkInitial[]; snis: string[]; alpns: string[]; vnVersions: string[] }> {
  const args = ['-r', file, '-n', '-d', `udp.port==${portA},quic`, '-d', `udp.port==${portB},quic`, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a',
    '-E', 'aggregator=,', '-e', 'quic.version', '-e', 'quic.long.packet_type', '-e', 'quic.dcid', '-e', 'quic.scid', '-e', 'quic.packet_number',
    '-e', 'tls.handshake.extensions_server_name', '-e', 'tls.handshake.extensions_alpn_str', '-e', 'quic.supported_version'];
  const r = await runOk('tshark', args, { timeoutMs: 120_000 });
  const out = { initials: [] as TsharkInitial[], snis: [] as string[], alpns: [] as string[], vnVersions: [] as string[] };
  for (const line of r.stdout.split('\n')) {
    if (line.length === 0) continue;
    const [ver, type, dcid, scid, pn, sni, alpn, vn] = line.split('\t').map((v) => v.split(','));
    // coalesced packets are in encryption-level order: an Initial is the first packet of its datagram
    if ((ver![0] === '0x00000001' || ver![0] === '0x1a2a3a4a') && type![0] === '0' && pn![0] !== '' && pn![0] !== undefined) {
      out.initials.push({ version: ver![0]!, dcid: dcid![0]!, scid: scid![0]!, pn: Number(pn![0]) });
    }
    if (sni![0]) out.snis.push(...sni!);
    if (alpn![0]) out.alpns.push(...alpn!);
    if (vn![0]) out.vnVersions.push(...vn!);
  }
  return out;
}

test('tshark: every v1 Initial it decrypts (version, DCID, SCID, packet number), SNI, ALPN, VN versions', async (t) => {
  if (!ready(t)) return;
  const ts = await tsharkQuic();
  const key = (v: { dcid: string; scid: string; pn: number }): string => `${v.dcid}/${v.scid}/${v.pn}`;
  // v1, and the unknown version's Initial that ngtcp2 protects like draft-29 (tshark decrypts it too); tshark does
  // not decrypt v2-draft
  const ours = events.filter((e) => (e.type === 'packet-received' || e.type === 'packet-sent') && e.packet_type === 'initial' &&
    (e.version === 'v1' || e.version === 'grease-1a2a3a4a'))
    .map((e) => key(e as { dcid: string; scid: string; pn: number })).sort();
  const theirs = ts.initials.map(key).sort();
  assert.deepEqual(ours, theirs);
  assert.ok(ours.length >= 7);
  const accepts = events.filter((e) => e.type === 'accept' && e.sni !== null);
  // tshark names the SNI and ALPN of every ClientHello it decrypted (v1 and the v1-protected attempt)
  assert.deepEqual([...new Set(ts.snis)], ['localhost']);
  assert.deepEqual([...new Set(ts.alpns)], ['h3']);
  assert.ok(accepts.every((a) => a.sni === 'localhost'));
  const vn = events.find((e) => e.type === 'version-negotiation')!;
  const names: Record<string, string> = { '0x00000001': 'v1', '0x709a50c4': 'v2-draft' };
  assert.deepEqual(vn.supported_versions, ts.vnVersions.map((v) => names[v] ?? (/^0x.a.a.a.a$/.test(v) ? `grease-${v.slice(2)}` : v.slice(2))));
});

test('the summary line, -t (both spellings), -w, --port, --filter, --vantage client', async (t) => {
  if (!ready(t)) return;
  assert.match(stderr, /^wirelog: quic: \d+ frames, \d+ datagrams, \d+ packets \(\d+ decrypted, \d+ without keys\), 5 connections, \d+ events/m);
  const a1 = await runWirelog(['quic', '-r', file, '-t', 'accept']);
  const a2 = await runWirelog(['quic', '-r', file, '-t', 'quicly:accept']);
  assert.equal(a1.code, 0);
  assert.equal(a1.stdout, a2.stdout);
  const acc = a1.stdout.trim().split('\n').map((l) => JSON.parse(l) as Ev);
  assert.deepEqual(acc.map((e) => e.type), ['accept', 'accept', 'accept', 'accept', 'accept']);
  assert.deepEqual(acc, events.filter((e) => e.type === 'accept'));
  const out = path.join(dir, 'out.jsonl');
  const w = await runWirelog(['quic', '-r', file, '-w', out, '--port', `${portA},${portB}`]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(w.stdout, '');
  assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l)), events);
  const f = await runWirelog(['quic', '-r', file, '-t', 'accept', '--filter', `dst_port = ${portB}`]);
  assert.equal(f.code, 0, f.stderr);
  const fa = f.stdout.trim().split('\n').map((l) => JSON.parse(l) as Ev);
  assert.deepEqual(fa.map((e) => e.dcid), [acceptFor(clientQlogs.retry!.groupId).dcid]);
  const c = await runWirelog(['quic', '-r', file, '--vantage', 'client', '-t', 'connect,packet-sent']);
  const ce = c.stdout.trim().split('\n').map((l) => JSON.parse(l) as Ev);
  assert.equal(ce.filter((e) => e.type === 'connect').length, 5);
  // from the client's side, packet-sent is what the client sent: its first Initial has the CRYPTO(ClientHello) at 0
  const firstSent = ce.find((e) => e.type === 'packet-sent' && e.packet_type === 'initial' && e.conn === acc[0]!.conn)!;
  assert.equal(firstSent.frames[0].type, 'crypto');
  assert.equal(firstSent.frames[0].offset, 0);
});

test('the same capture as pcapng, and on stdin: the same lines', async (t) => {
  if (!ready(t)) return;
  const ng = path.join(dir, 'quic.pcapng');
  await toPcapng(file, ng);
  const r = await runWirelog(['quic', '-r', ng]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l)), events);
  const s = await runWirelog(['quic', '-r', '-'], { stdin: readFileSync(file) });
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(s.stdout.trim().split('\n').map((l) => JSON.parse(l)), events);
});

test('usage errors exit 2, a missing file exits 1, with one clear line', async (t) => {
  if (!ready(t)) return;
  const noR = await runWirelog(['quic']);
  assert.equal(noR.code, 2);
  assert.match(noR.stderr, /^wirelog: error: -r FILE is needed/m);
  const badT = await runWirelog(['quic', '-r', file, '-t', 'nope']);
  assert.equal(badT.code, 2);
  assert.match(badT.stderr, /unknown event type 'nope'/);
  const live = await runWirelog(['quic', '-p', '1']);
  assert.equal(live.code, 2);
  assert.match(live.stderr, /^wirelog: error: -p: attaching to a process \(-p\) is not in this version/m);
  const missing = await runWirelog(['quic', '-r', path.join(dir, 'none.pcap')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^wirelog: error: .*none\.pcap: no such file$/m);
});

test('a garbled datagram (one ciphertext byte of the first client Initial flipped): one packet-dropped, the rest unchanged', async (t) => {
  if (!ready(t)) return;
  const buf = Buffer.from(readFileSync(file));
  const first = pcapRecords(buf)[0]!;
  buf[first.end - 100] = buf[first.end - 100]! ^ 0xff; // inside the 1200-byte Initial's protected payload
  const garbled = path.join(dir, 'garbled.pcap');
  writeFileSync(garbled, buf);
  const r = await runWirelog(['quic', '-r', garbled]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /dropped: WL_ERR_QUIC_AEAD_FAILED 1$/m);
  const ev = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Ev);
  const dropped = ev.filter((e) => e.type === 'packet-dropped');
  assert.equal(dropped.length, 1);
  assert.equal(dropped[0]!.code, 'WL_ERR_QUIC_AEAD_FAILED');
  assert.equal(dropped[0]!.conn, 1);
  // the first connection lost its ClientHello (no SNI to show); every other connection's lines are as before
  assert.equal(ev.find((e) => e.type === 'accept' && e.conn === 1)!.sni, null);
  const others = (es: Ev[]): string[] => es.filter((e) => e.conn !== 1 && e.conn !== undefined).map((e) => JSON.stringify(e));
  assert.deepEqual(others(ev), others(events));
});

test('a capture cut inside a record: everything before the cut logged, one error line, exit 1', async (t) => {
  if (!ready(t)) return;
  const buf = readFileSync(file);
  const recs = pcapRecords(buf);
  const cutRec = recs[Math.floor(recs.length / 2)]!;
  const cutFile = path.join(dir, 'cut.pcap');
  writeFileSync(cutFile, buf.subarray(0, cutRec.start + 20));
  const r = await runWirelog(['quic', '-r', cutFile]);
  assert.equal(r.code, 1);
  const errLines = r.stderr.split('\n').filter((l) => l.startsWith('wirelog: error:'));
  assert.equal(errLines.length, 1, r.stderr);
  assert.match(errLines[0]!, /truncated/);
  const cut = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Ev);
  const packetLines = (es: Ev[]): string[] => es.filter((e) => e.type.startsWith('packet-') || e.type === 'accept').map((e) => JSON.stringify(e));
  const before = packetLines(cut);
  const full = packetLines(events);
  assert.ok(before.length > 10);
  // the same lines, in the same order, as the whole file gives for those packets
  const fullSet = new Set(full);
  for (const l of before) assert.ok(fullSet.has(l), l);
  assert.ok(cut.some((e) => e.type === 'conn-summary'), 'connections cut short still get their summary');
});
