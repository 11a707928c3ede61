/**
 * L4 records from a real capture: curl ↔ nginx on lo recorded with tcpdump, read back with
 * `wirelog capture -r FILE --format jsonl --l4`, and every record's packet series compared with tshark's fields of
 * the same connection (and tcpdump's own flag letters): same packets, same order, same seq/ack/len/win/flags,
 * times to the µs; conn_trace_id and tcp_3whs_us from tshark's SYN, SYN-ACK and handshake ACK.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, runOk } from '../helpers/proc.js';
import { startNginx, curl } from '../helpers/nginx.js';
import { startTcpdump } from '../helpers/tshark.js';
import { runWirelog, parseJsonLines, parseSummary } from '../helpers/wirelog.js';

const scope = new Scope();
after(() => scope.close());

interface RefPacket {
  /** epoch ns, as text: tshark's frame.time_epoch without its dot */
  ns: string;
  us: bigint;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  flagBits: number;
  /** tcpdump's letters */
  letters: string;
  seq: number;
  ack: number;
  len: number;
  win: number;
}

const key = (a: string, ap: number, b: string, bp: number): string =>
  a < b || (a === b && ap <= bp) ? `${a} ${ap} ${b} ${bp}` : `${b} ${bp} ${a} ${ap}`;

/** tshark's fields of every TCP packet of the file, with tcpdump's flag letters of the same frame. */
async function reference(file: string): Promise<RefPacket[]> {
  const ts = await runOk('tshark', ['-r', file, '-n', '-T', 'fields', '-E', 'separator=|', '-Y', 'tcp',
    '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'ipv6.dst',
    '-e', 'tcp.dstport', '-e', 'tcp.flags', '-e', 'tcp.seq_raw', '-e', 'tcp.ack_raw', '-e', 'tcp.len',
    '-e', 'tcp.window_size_value', '-o', 'tcp.relative_sequence_numbers:FALSE']);
  const td = await runOk('tcpdump', ['-r', file, '-n', '-S', '-tt', 'tcp']);
  const tdLines = td.stdout.split('\n').filter((l) => l.length > 0);
  const rows = ts.stdout.split('\n').filter((l) => l.length > 0);
  assert.equal(rows.length, tdLines.length, 'tshark and tcpdump see the same packets');
  return rows.map((row, i) => {
    const f = row.split('|');
    const [sec, frac] = f[0]!.split('.');
    const ns = (sec! + frac!.padEnd(9, '0')).replace(/^0+/, '');
    const m = /^(\d+)\.(\d{6}) .* Flags \[([^\]]+)\]/.exec(tdLines[i]!);
    assert.ok(m, `tcpdump line: ${tdLines[i]}`);
    assert.equal(`${m[1]}${m[2]}`, ns.slice(0, -3), 'tcpdump and tshark lines are the same frame');
    return {
      ns, us: BigInt(ns) / 1000n, src: f[1] || f[2]!, sport: Number(f[3]), dst: f[4] || f[5]!, dport: Number(f[6]),
      flagBits: Number(f[7]), letters: m[3]!, seq: Number(f[8]), ack: Number(f[9]), len: Number(f[10]), win: Number(f[11]),
    };
  });
}

/** The ns times of each line's packets, from the text (a double cannot hold them exactly). */
function rawNs(line: string): string[] {
  return [...line.matchAll(/\[(\d+),"(?:tx|rx)"/g)].map((m) => m[1]!);
}

test('capture -r --l4: every packet of every connection, as tshark and tcpdump see them', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const dir = await scope.tempDir('wirelog-l4-');
  const nginx = await startNginx(scope, { bigBytes: 1 << 20 });
  const file = path.join(dir, 'lo.pcap');
  const dump = await startTcpdump(scope, { iface: 'lo', file, filter: `tcp port ${nginx.port}` });
  // one connection of 130 requests (more than 256 packets: chunks), one with a 1 MiB body, one over IPv6
  await curl(scope, Array.from({ length: 130 }, (_, i) => `http://127.0.0.1:${nginx.port}/small.txt?i=${i}`));
  await curl(scope, [`http://127.0.0.1:${nginx.port}/big.bin`]);
  await curl(scope, [`http://[::1]:${nginx.port}/index.html`]);
  assert.equal((await dump.stop()).droppedByKernel, 0, 'tcpdump dropped packets');

  const r = await runWirelog(['capture', '-r', file, '--format', 'jsonl', '--l4']);
  assert.equal(r.code, 0, r.stderr);
  const rawLines = r.stdout.split('\n').filter((l) => l.length > 0);
  const all = parseJsonLines(r.stdout);
  const l4Lines = rawLines.filter((l) => l.startsWith('{"record":"l4",'));
  const l4 = all.filter((x) => x.record === 'l4');
  const l7 = all.filter((x) => x.record === 'l7');
  assert.equal(l4.length, l4Lines.length);
  assert.equal(l4.length + l7.length, all.length, 'every line is an L4 or an L7 record');
  assert.equal(l7.length, 132, 'the HTTP records are still written');
  const summary = parseSummary(r.stderr);
  assert.ok(summary, r.stderr);
  assert.equal(summary.l4Records, l4.length, 'summary: L4 records');
  assert.equal(summary.transactions, 132);

  const ref = await reference(file);
  const byConn = new Map<string, RefPacket[]>();
  for (const p of ref) {
    const k = key(p.src, p.sport, p.dst, p.dport);
    byConn.set(k, [...(byConn.get(k) ?? []), p]);
  }
  assert.equal(byConn.size, 3, 'three connections in the reference');

  // the records of each connection, in chunk order
  const recs = new Map<string, Array<{ rec: (typeof l4)[number]; raw: string }>>();
  l4.forEach((rec, i) => {
    const k = key(rec.client_ip as string, rec.client_port as number, rec.server_ip as string, rec.server_port as number);
    recs.set(k, [...(recs.get(k) ?? []), { rec, raw: l4Lines[i]! }]);
  });
  assert.deepEqual([...recs.keys()].sort(), [...byConn.keys()].sort(), 'one series per connection');

  for (const [k, pkts] of byConn) {
    const chunks = recs.get(k)!;
    assert.deepEqual(chunks.map((c) => c.rec.chunk_id), chunks.map((_, i) => i + 1), `chunk ids of ${k}`);
    const syn = pkts.find((p) => p.flagBits === 0x002)!;
    const synAck = pkts.find((p) => p.flagBits === 0x012)!;
    assert.ok(syn && synAck, `handshake of ${k} in the reference`);
    const hsAck = pkts.find((p) => p.src === syn.src && p.sport === syn.sport && (p.flagBits & 0x002) === 0 &&
      (p.flagBits & 0x010) !== 0 && p.ack === ((synAck.seq + 1) >>> 0))!;
    const client = { ip: syn.src, port: syn.sport };
    const fromClient = (p: RefPacket): boolean => p.src === client.ip && p.sport === client.port;
    // loopback captures carry no direction and both ends are this host's: the first packet's sender (the SYN's,
    // the client) is the local end, so the client's packets are tx
    const want = pkts.map((p) => [fromClient(p) ? 'tx' : 'rx', p.letters, p.seq, p.ack, p.len, p.win]);
    const got = chunks.flatMap((c) => (c.rec.packets as unknown[][]).map((q) => q.slice(1)));
    assert.deepEqual(got, want, `packets of ${k}`);
    assert.deepEqual(chunks.flatMap((c) => rawNs(c.raw)), pkts.map((p) => p.ns), `packet times of ${k}`);
    for (const [i, c] of chunks.entries()) {
      const n = (c.rec.packets as unknown[]).length;
      const last = i === chunks.length - 1;
      assert.ok(last ? n >= 1 && n <= 256 : n === 256, `chunk ${i + 1} of ${k}: ${n} packets`);
      const first = chunks.slice(0, i).reduce((a, x) => a + (x.rec.packets as unknown[]).length, 0);
      const mine = pkts.slice(first, first + n);
      const us = mine[0]!.us;
      assert.equal(c.rec.ts, new Date(Number(us / 1000n)).toISOString().replace('Z', `${String(us % 1000n).padStart(3, '0')}Z`));
      assert.equal(c.rec.chunk_syn, mine.some((p) => (p.flagBits & 0x002) !== 0));
      assert.equal(c.rec.chunk_fin, mine.some((p) => (p.flagBits & 0x005) !== 0));
      const tx = mine.filter(fromClient), rx = mine.filter((p) => !fromClient(p));
      assert.deepEqual(
        [c.rec.tx_packets, c.rec.rx_packets, c.rec.tx_bytes, c.rec.rx_bytes],
        [tx.length, rx.length, tx.reduce((a, p) => a + p.len, 0), rx.reduce((a, p) => a + p.len, 0)], `counters of ${k}`);
      assert.deepEqual(
        [c.rec.client_ip, c.rec.client_port, c.rec.src_ip, c.rec.src_port, c.rec.direction, c.rec.conn_side, c.rec.ifname],
        [client.ip, client.port, client.ip, client.port, 'outgoing', 'client', null]);
      assert.equal(c.rec.conn_trace_id, `${syn.seq}_${synAck.seq}`);
      assert.equal(c.rec.tcp_3whs_us, Number(hsAck.us - syn.us));
      assert.equal(c.rec.tcp_rtt_us, Number(synAck.us - syn.us));
      assert.equal(c.rec.inner_trace_id, chunks[0]!.rec.inner_trace_id);
    }
    // the connection's end: FIN/FIN/ACK from curl and nginx (or a RST): the last chunk carries it
    assert.equal(chunks[chunks.length - 1]!.rec.chunk_fin, true);
  }
  assert.ok((recs.get(key(ref[0]!.src, ref[0]!.sport, ref[0]!.dst, ref[0]!.dport)) ?? []).length >= 2,
    'the 130-request connection spans several chunks');
});
