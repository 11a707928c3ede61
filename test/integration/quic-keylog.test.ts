/**
 * `wirelog quic -r FILE --keylog KEYS` on HTTP/3 traffic between Debian's ngtcp2 example programs, recorded with
 * tcpdump on lo, with the TLS secrets GnuTLS writes to SSLKEYLOGFILE in gtlsclient:
 * - connection "multi": three requests on one connection (AES-128-GCM, the default);
 * - connection "chacha": one request, ChaCha20-Poly1305 only (ChaCha20 header protection);
 * - connection "update": AES-256-GCM, a 600 kB download and `--key-update=1ms` (key updates, UDP GSO buffers).
 * References, all independent of wirelog: each client's qlog and the server's (every packet either side logged:
 * type, number, frame types, stream IDs), tshark with the same key log (packet numbers, types, frame types, stream
 * IDs and Key Phase of every packet it decrypts; SNI; the server's ALPN; HTTP/3 HEADERS frames from the client), the
 * client command lines (paths) and the served files (sizes). Then a key log of another connection (decrypt-failed
 * with the reason, Initial events as without keys), bad key-log lines, a missing key-log file.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { privilegeProblem, requirePrivileges } from '../helpers/privileged.js';
import { Scope, runOk } from '../helpers/proc.js';
import { makeTestPki } from '../helpers/tls.js';
import { startTcpdump } from '../helpers/tshark.js';
import { runWirelog } from '../helpers/wirelog.js';
import { readQlog, readQlogDir, runGtlsClient, startGtlsServer, type Qlog, type QlogFrame } from '../helpers/ngtcp2.js';

interface Ev { [k: string]: any }
type RunName = 'multi' | 'chacha' | 'update' | 'resume' | 'early';

const scope = new Scope();
let dir = '';
let file = '';
let keys = '';
let port = 0;
let htdocs = '';
let setupError: Error | undefined;
const keyFiles: Partial<Record<RunName, string>> = {};
const clientQlogs: Partial<Record<RunName, Qlog>> = {};
let serverQlogs: Qlog[] = [];
let events: Ev[] = [];
let stderr = '';

// resume then early: the first stores a session ticket and the server's transport parameters, the second sends its
// request in 0-RTT packets with them (CLIENT_EARLY_TRAFFIC_SECRET)
const RUNS: Array<{ name: RunName; paths: string[]; args: string[]; suite: string; zeroRtt?: boolean }> = [
  { name: 'multi', paths: ['/index.html', '/data.bin', '/small.txt'], args: [], suite: '0x1301' },
  { name: 'chacha', paths: ['/index.html'], args: ['--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305'], suite: '0x1303' },
  { name: 'update', paths: ['/big.bin'], args: ['--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM', '--key-update=1ms'], suite: '0x1302' },
  { name: 'resume', paths: ['/small.txt'], args: ['--session-file=SESSION', '--tp-file=TP'], suite: '0x1301' },
  { name: 'early', paths: ['/index.html'], args: ['--session-file=SESSION', '--tp-file=TP'], suite: '0x1301', zeroRtt: true },
];

const lines = (s: string): Ev[] => s.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Ev);

before(async () => {
  if (privilegeProblem(false)) return;
  try {
    dir = await scope.tempDir('wirelog-quic-keylog-');
    const pki = await makeTestPki(scope);
    const srv = await startGtlsServer(scope, pki);
    port = srv.port;
    htdocs = srv.htdocs;
    writeFileSync(path.join(htdocs, 'small.txt'), 'small\n');
    // random bytes: nothing in the body can look like a connection ID by design
    writeFileSync(path.join(htdocs, 'big.bin'), Buffer.from(Array.from({ length: 600_000 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff)));
    file = path.join(dir, 'quic.pcap');
    const d = await startTcpdump(scope, { iface: 'lo', file, filter: `udp port ${port}` });
    for (const r of RUNS) {
      keyFiles[r.name] = path.join(dir, `keys-${r.name}.txt`);
      const q = path.join(dir, `${r.name}.qlog`);
      const args = r.args.map((a) => a.replace('SESSION', path.join(dir, 'session')).replace('TP', path.join(dir, 'tp')));
      const res = await runGtlsClient(port, 'localhost', r.paths, q, args, { ...process.env, SSLKEYLOGFILE: keyFiles[r.name] });
      assert.equal(res.code, 0, `gtlsclient ${r.name}: ${res.stderr.slice(-500)}`);
      clientQlogs[r.name] = readQlog(q);
    }
    const st = await d.stop();
    assert.equal(st.droppedByKernel, 0, 'tcpdump dropped nothing');
    serverQlogs = readQlogDir(srv.qlogDir);
    keys = path.join(dir, 'keys.txt');
    writeFileSync(keys, RUNS.map((r) => readFileSync(keyFiles[r.name]!, 'utf8')).join(''));
    const w = await runWirelog(['quic', '-r', file, '--port', String(port), '--keylog', keys]);
    assert.equal(w.code, 0, w.stderr);
    stderr = w.stderr;
    events = lines(w.stdout);
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

function connOf(name: RunName, evs: Ev[] = events): number {
  const a = evs.find((e) => e.type === 'accept' && e.dcid === clientQlogs[name]!.groupId);
  assert.ok(a, `an accept for ${name}`);
  return a!.conn as number;
}

const byConn = (conn: number, type?: string, evs: Ev[] = events): Ev[] => evs.filter((e) => e.conn === conn && (type === undefined || e.type === type));

/** "c>s 1rtt 3: ack, stream 0, padding" — direction from the client's point of view */
function ourPackets(conn: number): string[] {
  return byConn(conn).filter((e) => (e.type === 'packet-received' || e.type === 'packet-sent') && e.pn !== undefined)
    .map((e) => `${e.type === 'packet-received' ? 'c>s' : 's>c'} ${e.packet_type} ${e.pn}: ${(e.frames as Ev[]).map((f) => (f.type === 'stream' ? `stream ${f.stream_id}` : f.type)).join(', ')}`);
}

function qlogPackets(q: Qlog): string[] {
  const clientSide = q.vantage === 'client';
  return q.events.filter((e) => (e.name === 'transport:packet_sent' || e.name === 'transport:packet_received') && e.data.frames !== undefined)
    .map((e) => {
      const byClient = (e.name === 'transport:packet_sent') === clientSide;
      const type = e.data.header!.packet_type.toLowerCase(); // ngtcp2 writes 0RTT and 1RTT
      return `${byClient ? 'c>s' : 's>c'} ${type} ${e.data.header!.packet_number}: ${e.data.frames!.map((f: QlogFrame) => (f.frame_type === 'stream' ? `stream ${f.stream_id as number}` : f.frame_type)).join(', ')}`;
    });
}

test('every packet either side\'s qlog logged is decrypted, with its number, type, frames and stream IDs', (t) => {
  if (!ready(t)) return;
  assert.equal(serverQlogs.length, RUNS.length);
  let checked = 0;
  for (const r of RUNS) {
    const conn = connOf(r.name);
    const ours = new Set(ourPackets(conn));
    const sq = serverQlogs.find((q) => q.groupId === clientQlogs[r.name]!.groupId);
    assert.ok(sq, `${r.name}: the server's qlog of the connection`);
    for (const q of [clientQlogs[r.name]!, sq!]) {
      const theirs = qlogPackets(q);
      assert.ok(theirs.filter((p) => p.includes(' 1rtt ')).length >= 2, `${r.name}: 1-RTT packets in the ${q.vantage}'s qlog`);
      for (const p of theirs) assert.ok(ours.has(p), `${r.name}: ${q.vantage} qlog packet "${p}" in wirelog's output`);
      checked += theirs.length;
    }
    const s = byConn(conn, 'conn-summary')[0]!;
    assert.deepEqual(s.undecrypted, {}, `${r.name}: every packet decrypted`);
    assert.equal(s.cipher_suite, r.suite);
    assert.equal(s.alpn_selected, 'h3');
    assert.equal(byConn(conn, 'decrypt-failed').length, 0);
    const cd = byConn(conn, 'crypto-decrypt').map((e) => `${e.by} ${e.packet_type}`).sort();
    assert.deepEqual(cd, [...(r.zeroRtt ? ['client 0rtt'] : []), 'client 1rtt', 'client handshake', 'server 1rtt', 'server handshake']);
    if (r.zeroRtt) {
      const early = clientQlogs[r.name]!.events.filter((e) => e.name === 'transport:packet_sent' && e.data.header?.packet_type === '0RTT');
      assert.ok(early.length >= 1, 'the client sent 0-RTT packets (its qlog)');
      assert.ok(byConn(conn, 'packet-received').some((e) => e.packet_type === '0rtt' && e.pn !== undefined && (e.frames as Ev[]).some((f) => f.type === 'stream' && f.stream_id === 0)), 'the request in a decrypted 0-RTT packet');
    }
  }
  assert.doesNotMatch(stderr, /dropped:/);
  t.diagnostic(`${checked} qlog packets matched; ${stderr.trim()}`);
});

interface TsharkPacket { clientPort: number; fromClient: boolean; type: string; pn: number; frames: string; keyPhase?: number }

/** Every QUIC packet tshark decrypted with the key log; tshark shows a GSO buffer as one packet it cannot open. */
async function tsharkPackets(keylog: string): Promise<{ packets: TsharkPacket[]; snis: string[]; serverAlpn: string[]; clientHeaders: Map<number, number>; clientBidi: Map<number, Set<number>> }> {
  const r = await runOk('tshark', ['-r', file, '-n', '-o', `tls.keylog_file:${keylog}`, '-d', `udp.port==${port},quic`, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a',
    '-E', 'aggregator=;', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'quic.header_form', '-e', 'quic.long.packet_type', '-e', 'quic.packet_number',
    '-e', 'quic.frame_type', '-e', 'quic.stream.stream_id', '-e', 'quic.key_phase', '-e', 'tls.handshake.extensions_server_name', '-e', 'tls.handshake.extensions_alpn_str',
    '-e', 'http3.frame_type'], { timeoutMs: 120_000 });
  const packets: TsharkPacket[] = [];
  const snis: string[] = [];
  const serverAlpn: string[] = [];
  const clientHeaders = new Map<number, number>();
  const clientBidi = new Map<number, Set<number>>();
  const LONG: Record<string, string> = { 0: 'initial', 1: '0rtt', 2: 'handshake', 3: 'retry' };
  const NAMES: Record<number, string> = {
    0: 'padding', 1: 'ping', 2: 'ack', 3: 'ack', 4: 'reset_stream', 5: 'stop_sending', 6: 'crypto', 7: 'new_token', 0x10: 'max_data', 0x11: 'max_stream_data',
    0x12: 'max_streams', 0x13: 'max_streams', 0x14: 'data_blocked', 0x15: 'stream_data_blocked', 0x16: 'streams_blocked', 0x17: 'streams_blocked',
    0x18: 'new_connection_id', 0x19: 'retire_connection_id', 0x1a: 'path_challenge', 0x1b: 'path_response', 0x1c: 'connection_close', 0x1d: 'connection_close', 0x1e: 'handshake_done',
  };
  for (const line of r.stdout.split('\n').filter((l) => l.length > 0)) {
    const [sp, dp, forms, longTypes, pns, ftypes, sids, kps, sni, alpn, h3] = line.split('\t').map((v) => v.split(';').filter((x) => x !== ''));
    const fromClient = Number(sp![0]) !== port;
    const clientPort = fromClient ? Number(sp![0]) : Number(dp![0]);
    if (sni!.length > 0) snis.push(...sni!);
    if (!fromClient && alpn!.length > 0) serverAlpn.push(...alpn!);
    if (fromClient) {
      clientHeaders.set(clientPort, (clientHeaders.get(clientPort) ?? 0) + h3!.filter((x) => x === '1').length);
      const bidi = clientBidi.get(clientPort) ?? new Set<number>();
      for (const id of sids!.map(Number)) if (id % 4 === 0) bidi.add(id);
      clientBidi.set(clientPort, bidi);
    }
    // frame types come per datagram: coalesced packets are only taken when they can be told apart (splitFrames)
    let li = 0, si = 0, ki = 0;
    const perPacket = splitFrames(ftypes!.map(Number), forms!.length);
    if (perPacket === undefined) continue;
    for (let i = 0; i < forms!.length && i < pns!.length; i++) {
      const long = forms![i] === '1';
      const type = long ? LONG[longTypes![li++]!]! : '1rtt';
      const fr = perPacket[i]!.map((ft) => (ft >= 8 && ft <= 15 ? `stream ${sids![si++]}` : NAMES[ft] ?? `0x${ft.toString(16)}`));
      packets.push({ clientPort, fromClient, type, pn: Number(pns![i]), frames: fr.join(', '), keyPhase: long ? undefined : Number(kps![ki++]) });
    }
  }
  return { packets, snis, serverAlpn, clientHeaders, clientBidi };
}

/**
 * tshark lists a datagram's frame types together; coalesced packets (Initial + Handshake + 1-RTT) are split where a
 * packet's frames end — padding ends a packet, and only one-packet datagrams are otherwise unambiguous.
 */
function splitFrames(types: number[], packets: number): number[][] | undefined {
  if (packets === 1) return [types];
  const out: number[][] = [];
  let cur: number[] = [];
  for (const t of types) {
    cur.push(t);
    if (t === 0) { out.push(cur); cur = []; }
  }
  if (cur.length > 0) out.push(cur);
  return out.length === packets ? out : undefined;
}

test('tshark with the same key log: every packet it decrypts has the same number, type, frames, stream IDs and Key Phase; SNI; ALPN', async (t) => {
  if (!ready(t)) return;
  const ts = await tsharkPackets(keys);
  assert.ok(ts.packets.length > 20, `tshark decrypted ${ts.packets.length} packets`);
  const ports = new Map<number, number>();
  for (const a of events.filter((e) => e.type === 'accept')) ports.set(Number(String(a.client).split(':').pop()), a.conn);
  let compared = 0;
  for (const p of ts.packets) {
    if (p.frames === '') continue; // not decrypted by tshark (a GSO buffer seen whole)
    const conn = ports.get(p.clientPort);
    assert.ok(conn !== undefined, `a connection for client port ${p.clientPort}`);
    const ev = byConn(conn!, p.fromClient ? 'packet-received' : 'packet-sent').find((e) => e.pn === p.pn && e.packet_type === p.type);
    assert.ok(ev, `tshark's ${p.fromClient ? 'c>s' : 's>c'} ${p.type} ${p.pn}`);
    const ours = (ev!.frames as Ev[]).map((f) => (f.type === 'stream' ? `stream ${f.stream_id}` : f.type)).join(', ');
    assert.equal(ours, p.frames, `${p.type} ${p.pn} frames`);
    if (p.keyPhase !== undefined) assert.equal(ev!.key_phase, p.keyPhase, `${p.type} ${p.pn} key phase`);
    compared++;
  }
  assert.ok(compared > 20);
  t.diagnostic(`${compared} packets compared with tshark (${ts.packets.length - compared} tshark could not open or split)`);
  assert.deepEqual([...new Set(ts.snis)], ['localhost']);
  assert.deepEqual(events.filter((e) => e.type === 'accept').map((e) => e.sni), RUNS.map(() => 'localhost'));
  assert.ok(ts.serverAlpn.includes('h3'));
  assert.deepEqual(events.filter((e) => e.type === 'crypto-handshake' && e.message === 'encrypted_extensions').map((e) => e.alpn), RUNS.map(() => 'h3'));
  // the client's bidirectional streams tshark saw data on are wirelog's requests (tshark 4.0 decodes HTTP/3 frame
  // types but not QPACK, and not in 0-RTT packets)
  for (const [clientPort, bidi] of ts.clientBidi) {
    assert.deepEqual(byConn(ports.get(clientPort)!, 'http-request').map((e) => e.stream_id).sort(), [...bidi].sort(), `requests of client port ${clientPort}`);
  }
  assert.equal(ts.clientBidi.size, RUNS.length);
  assert.ok([...ts.clientHeaders.values()].reduce((a, b) => a + b, 0) >= RUNS.length, 'tshark saw the clients\' HEADERS frames');
});

test('key updates: each one tshark sees as a Key Phase change is a key-update event; both sides\' qlogs agree on the packets', (t) => {
  if (!ready(t)) return;
  const conn = connOf('update');
  const phases = byConn(conn).filter((e) => e.packet_type === '1rtt' && e.pn !== undefined);
  for (const by of ['client', 'server'] as const) {
    const sent = phases.filter((e) => (e.type === 'packet-received') === (by === 'client'));
    let changes = 0;
    for (let i = 1; i < sent.length; i++) if (sent[i]!.key_phase !== sent[i - 1]!.key_phase && sent[i]!.pn > sent[i - 1]!.pn) changes++;
    const updates = byConn(conn, 'key-update').filter((e) => e.by === by);
    assert.ok(updates.length >= 1, `${by}: the --key-update connection updated its keys`);
    assert.ok(updates.length <= changes, `${by}: ${updates.length} key-update events, ${changes} phase changes`);
    assert.deepEqual(updates.map((e) => e.generation), updates.map((_, i) => i + 1));
  }
  const s = byConn(conn, 'conn-summary')[0]!;
  assert.ok(s.key_updates.client >= 1 && s.key_updates.server >= 1);
  assert.match(stderr, /GSO buffers split/);
});

test('HTTP/3: each client\'s requests (method, scheme, authority, path) and responses (status, body length = file size)', (t) => {
  if (!ready(t)) return;
  for (const r of RUNS) {
    const conn = connOf(r.name);
    const reqs = byConn(conn, 'http-request').sort((a, b) => a.stream_id - b.stream_id);
    assert.deepEqual(reqs.map((e) => [e.method, e.scheme, e.authority, e.path, e.complete]), r.paths.map((p) => ['GET', 'https', `localhost:${port}`, p, true]), r.name);
    assert.deepEqual(reqs.map((e) => e.stream_id), r.paths.map((_, i) => 4 * i), 'client bidirectional streams 0, 4, 8');
    for (const q of reqs) assert.ok(Array.isArray(q.headers) && q.headers.some(([n]: [string]) => n === 'user-agent'));
    const resps = byConn(conn, 'http-response').sort((a, b) => a.stream_id - b.stream_id);
    assert.equal(resps.length, r.paths.length);
    for (const [i, p] of r.paths.entries()) {
      const size = statSync(path.join(htdocs, p)).size;
      assert.equal(resps[i]!.status, 200);
      assert.equal(resps[i]!.body_length, size, `${r.name} ${p}: body bytes`);
      assert.equal(resps[i]!.complete, true);
      assert.ok(resps[i]!.headers.some(([n, v]: [string, string]) => n === 'content-length' && Number(v) === size));
    }
    const opened = byConn(conn, 'stream-open').map((e) => e.stream_id);
    for (const q of reqs) {
      assert.ok(opened.includes(q.stream_id));
      assert.equal(byConn(conn, 'stream-close').filter((e) => e.stream_id === q.stream_id && e.how === 'fin').length, 1);
    }
    // HTTP/3's control and QPACK streams: unidirectional, opened by each side
    assert.ok(byConn(conn, 'stream-open').some((e) => e.stream_type === 'unidirectional' && e.by === 'server'));
    const close = byConn(conn, 'close');
    assert.equal(close.length, 1);
    assert.equal(close[0]!.by, 'client');
    assert.equal(close[0]!.error_space, 'application');
    assert.equal(close[0]!.error_code, 0x100, 'H3_NO_ERROR');
  }
});

test('HTTP/3 SETTINGS of both sides, as tshark decodes them with the key log', async (t) => {
  if (!ready(t)) return;
  const r = await runOk('tshark', ['-r', file, '-n', '-o', `tls.keylog_file:${keys}`, '-d', `udp.port==${port},quic`, '-Y', 'http3.settings', '-T', 'fields',
    '-E', 'separator=/t', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'http3.settings.qpack.max_table_capacity', '-e', 'http3.settings.qpack.blocked_streams'], { timeoutMs: 120_000 });
  const seen = new Map<string, [number, number]>();
  for (const l of r.stdout.split('\n').filter((x) => x.length > 0)) {
    const [sp, dp, cap, blocked] = l.split('\t');
    const fromClient = Number(sp) !== port;
    seen.set(`${fromClient ? sp : dp} ${fromClient ? 'client' : 'server'}`, [Number(cap), Number(blocked)]);
  }
  assert.ok(seen.size >= 2, `tshark decoded SETTINGS: ${r.stdout}`);
  for (const [k, [cap, blocked]] of seen) {
    const [clientPort, side] = k.split(' ') as [string, 'client' | 'server'];
    const a = events.find((e) => e.type === 'accept' && String(e.client).endsWith(`:${clientPort}`))!;
    const s = byConn(a.conn, 'conn-summary')[0]!;
    assert.equal(s.http3.settings[side].qpack_max_table_capacity, cap, k);
    assert.equal(s.http3.settings[side].qpack_blocked_streams, blocked, k);
  }
});

test('a key log of another connection: decrypt-failed with the reason, Initial events as without keys; bad lines counted', async (t) => {
  if (!ready(t)) return;
  const other = path.join(dir, 'keys-other.txt');
  writeFileSync(other, readFileSync(keyFiles.chacha!, 'utf8'));
  appendFileSync(other, 'not a key log line\n');
  const w = await runWirelog(['quic', '-r', file, '--port', String(port), '--keylog', other]);
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stderr, /key log: 1 connections, 1 bad lines/);
  const evs = lines(w.stdout);
  const plain = await runWirelog(['quic', '-r', file, '--port', String(port)]);
  const noKeys = lines(plain.stdout);
  for (const name of ['multi', 'update'] as const) {
    const conn = connOf(name, evs);
    const failed = byConn(conn, 'decrypt-failed', evs);
    assert.deepEqual(failed.map((e) => e.space).sort(), ['application', 'handshake']);
    for (const f of failed) assert.match(f.reason, /the key log has no secrets for this connection's client random [0-9a-f]{64}/);
    // the Initial packets and the accept are what they are without any key
    const initials = (x: Ev[]): string[] => byConn(connOf(name, x), undefined, x).filter((e) => e.packet_type === 'initial').map((e) => JSON.stringify(e));
    assert.deepEqual(initials(evs), initials(noKeys));
    assert.equal(byConn(conn, 'accept', evs)[0]!.sni, 'localhost');
    assert.equal(byConn(conn, 'http-request', evs).length, 0);
  }
  assert.equal(byConn(connOf('chacha', evs), 'http-request', evs).length, 1, 'the connection whose secrets are there is decrypted');
});

test('a missing key log file: one error line, exit 1', async (t) => {
  if (!ready(t)) return;
  const w = await runWirelog(['quic', '-r', file, '--keylog', path.join(dir, 'nope.txt')]);
  assert.equal(w.code, 1);
  assert.equal(w.stdout, '');
  assert.deepEqual(w.stderr.trim().split('\n'), [`wirelog: error: --keylog ${path.join(dir, 'nope.txt')}: no such file`]);
});

test('pcapng with the key log in a Decryption Secrets Block (editcap --inject-secrets): the same lines as --keylog', async (t) => {
  if (!ready(t)) return;
  const ng = path.join(dir, 'with-secrets.pcapng');
  await runOk('editcap', ['--inject-secrets', `tls,${keys}`, file, ng]);
  const w = await runWirelog(['quic', '-r', ng, '--port', String(port)]);
  assert.equal(w.code, 0, w.stderr);
  assert.deepEqual(lines(w.stdout), events);
  assert.match(w.stderr, new RegExp(`key log: ${RUNS.length} connections`));
});

/** pcapng blocks (little-endian, as editcap writes): [type, bytes] in file order */
function pcapngBlocks(b: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  for (let at = 0; at < b.length;) {
    const len = b.readUInt32LE(at + 4);
    out.push([b.readUInt32LE(at), b.subarray(at, at + len)]);
    at += len;
  }
  return out;
}

test('secrets that come late (a Decryption Secrets Block after the first packets): decrypted from then on', async (t) => {
  if (!ready(t)) return;
  const ng = path.join(dir, 'with-secrets.pcapng');
  await runOk('editcap', ['--inject-secrets', `tls,${keys}`, file, ng]);
  const blocks = pcapngBlocks(readFileSync(ng));
  const DSB = 0x0a, EPB = 0x06;
  const dsb = blocks.find(([type]) => type === DSB)!;
  assert.ok(dsb, 'editcap wrote a Decryption Secrets Block');
  // move it after the 4th packet: the first connection's Initials and the server's first Handshake flight come before
  const rest = blocks.filter((x) => x !== dsb);
  let packets = 0;
  const at = rest.findIndex(([type]) => type === EPB && ++packets === 4);
  const late = path.join(dir, 'late-secrets.pcapng');
  writeFileSync(late, Buffer.concat([...rest.slice(0, at + 1), dsb, ...rest.slice(at + 1)].map(([, b]) => b)));
  const w = await runWirelog(['quic', '-r', late, '--port', String(port)]);
  assert.equal(w.code, 0, w.stderr);
  const evs = lines(w.stdout);
  const first = connOf('multi', evs);
  const s = byConn(first, 'conn-summary', evs)[0]!;
  assert.ok(Object.values(s.undecrypted as Record<string, number>).reduce((a, b) => a + b, 0) > 0, 'packets before the secrets: not decrypted');
  assert.ok(byConn(first, 'decrypt-failed', evs).length > 0);
  assert.ok(byConn(first, 'packet-sent', evs).some((e) => e.packet_type === '1rtt' && e.pn !== undefined), 'later 1-RTT packets decrypted');
  // the connections after the block: exactly as with --keylog
  for (const name of ['chacha', 'update'] as const) {
    const strip = (x: Ev[], c: number): string[] => byConn(c, undefined, x).map((e) => JSON.stringify({ ...e, conn: 0 }));
    assert.deepEqual(strip(evs, connOf(name, evs)), strip(events, connOf(name)), name);
  }
});
