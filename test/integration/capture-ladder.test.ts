/**
 * The packet ladder from a real capture: curl ↔ nginx on lo recorded with tcpdump, read back with
 * `wirelog capture -r FILE --format ladder`, and every ladder line compared with tshark's fields of the same frame
 * (tcp.flags.str, tcp.seq_raw, tcp.ack_raw, tcp.len, tcp.window_size_value, frame.time_epoch): packet for packet,
 * per connection, in order, with the arrow by the SYN's sender and Δ from the frame times; and one HTTP marker per
 * request (tshark's method, URI and status) under the frame that carries it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, runOk } from '../helpers/proc.js';
import { startNginx, curl } from '../helpers/nginx.js';
import { startTcpdump } from '../helpers/tshark.js';
import { runWirelog, parseSummary } from '../helpers/wirelog.js';

const scope = new Scope();
after(() => scope.close());

interface Ref {
  us: bigint;
  src: string;
  dst: string;
  flags: string;
  seq: number;
  ack: number;
  len: number;
  win: number;
  method: string;
  uri: string;
  status: string;
}

/** tshark's tcp.flags.str (`·······AP···`: reserved×3 N C E U A P R S F) as tcpdump's letters (F S R P U E W .) */
function letters(str: string): string {
  const ch = [...str];
  assert.equal(ch.length, 12, `tcp.flags.str: ${str}`);
  const on = (i: number, c: string): boolean => ch[i] === c;
  let s = '';
  if (on(11, 'F')) s += 'F';
  if (on(10, 'S')) s += 'S';
  if (on(9, 'R')) s += 'R';
  if (on(8, 'P')) s += 'P';
  if (on(6, 'U')) s += 'U';
  if (on(5, 'E')) s += 'E';
  if (on(4, 'C')) s += 'W';
  if (on(7, 'A')) s += '.';
  return s === '' ? 'none' : s;
}

const ep = (ip: string, port: string): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

async function reference(file: string, port: number): Promise<Ref[]> {
  const r = await runOk('tshark', ['-r', file, '-n', '-T', 'fields', '-E', 'separator=|', '-Y', 'tcp', '-d', `tcp.port==${port},http`,
    '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'ipv6.dst',
    '-e', 'tcp.dstport', '-e', 'tcp.flags.str', '-e', 'tcp.seq_raw', '-e', 'tcp.ack_raw', '-e', 'tcp.len',
    '-e', 'tcp.window_size_value', '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'http.response.code'],
  { timeoutMs: 120_000 });
  return r.stdout.split('\n').filter((l) => l.length > 0).map((row) => {
    const f = row.split('|');
    const [sec, frac] = f[0]!.split('.');
    return {
      us: BigInt(sec! + frac!.padEnd(9, '0').slice(0, 6)),
      src: ep(f[1] || f[2]!, f[3]!), dst: ep(f[4] || f[5]!, f[6]!), flags: letters(f[7]!),
      seq: Number(f[8]), ack: Number(f[9]), len: Number(f[10]), win: Number(f[11]),
      method: f[12]!, uri: f[13]!, status: f[14]!,
    };
  });
}

interface Block {
  header: RegExpExecArray;
  client: string;
  server: string;
  lines: Array<{ delta: string; ifname: string; fromClient: boolean; flags: string; seq: number; ack: number; len: number; win: number; markers: string[] }>;
}

const HEADER = /^# (\S+) tcp (\S+) → (\S+) ifname=(\S+) netns=(\S+) conn_trace_id=(\S+) chunk_id=(\d+) packets=(\d+)$/;
const PACKET = /^ *([+-]\d+\.\d{3}) (\S+) (\S+) ([→←]) (\S+) (\S+) seq=(\d+) ack=(\d+) len=(\d+) win=(\d+)$/;
const MARKER = /^ {13}↳ (.*)$/;

function parseLadder(text: string): Block[] {
  const blocks: Block[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const h = HEADER.exec(line);
    if (h) {
      blocks.push({ header: h, client: h[2]!, server: h[3]!, lines: [] });
      continue;
    }
    const b = blocks[blocks.length - 1];
    assert.ok(b, `a line before any header: ${line}`);
    const m = MARKER.exec(line);
    if (m) {
      assert.ok(b.lines.length > 0, 'a marker under a packet');
      b.lines[b.lines.length - 1]!.markers.push(m[1]!);
      continue;
    }
    const p = PACKET.exec(line);
    assert.ok(p, `ladder line: ${JSON.stringify(line)}`);
    assert.equal(p[3], b.client);
    assert.equal(p[5], b.server);
    b.lines.push({
      delta: p[1]!, ifname: p[2]!, fromClient: p[4] === '→', flags: p[6]!, seq: Number(p[7]), ack: Number(p[8]),
      len: Number(p[9]), win: Number(p[10]), markers: [],
    });
  }
  return blocks;
}

const deltaText = (d: bigint): string => `+${d / 1000n}.${String(d % 1000n).padStart(3, '0')}`;
const isoUs = (us: bigint): string => new Date(Number(us / 1000n)).toISOString().replace('Z', `${String(us % 1000n).padStart(3, '0')}Z`);

test('capture -r --format ladder: every packet line as tshark sees the frame, HTTP markers under the requests', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const dir = await scope.tempDir('wirelog-ladder-');
  const nginx = await startNginx(scope, { bigBytes: 1 << 20 });
  const file = path.join(dir, 'lo.pcap');
  const dump = await startTcpdump(scope, { iface: 'lo', file, filter: `tcp port ${nginx.port}` });
  // 130 requests on one connection (more than 256 packets: several chunks), a 1 MiB body, one over IPv6
  await curl(scope, Array.from({ length: 130 }, (_, i) => `http://127.0.0.1:${nginx.port}/small.txt?i=${i}`));
  await curl(scope, [`http://127.0.0.1:${nginx.port}/big.bin`]);
  await curl(scope, [`http://[::1]:${nginx.port}/index.html`]);
  assert.equal((await dump.stop()).droppedByKernel, 0, 'tcpdump dropped packets');

  const r = await runWirelog(['capture', '-r', file, '--format', 'ladder']);
  assert.equal(r.code, 0, r.stderr);
  const summary = parseSummary(r.stderr);
  assert.ok(summary, r.stderr);
  const blocks = parseLadder(r.stdout);
  assert.equal(summary.l4Records, blocks.length, 'one block per L4 record');

  const ref = await reference(file, nginx.port);
  // tshark's packets per connection, keyed client → server (the SYN's sender is the client)
  const conns = new Map<string, Ref[]>();
  const keyOf = new Map<string, string>();
  for (const p of ref) {
    if (p.flags === 'S') keyOf.set(`${p.src} ${p.dst}`, `${p.src} ${p.dst}`).set(`${p.dst} ${p.src}`, `${p.src} ${p.dst}`);
    const k = keyOf.get(`${p.src} ${p.dst}`);
    assert.ok(k, `a packet before its connection's SYN: ${p.src} > ${p.dst}`);
    conns.set(k, [...(conns.get(k) ?? []), p]);
  }
  assert.equal(conns.size, 3);
  const byConn = new Map<string, Block[]>();
  for (const b of blocks) byConn.set(`${b.client} ${b.server}`, [...(byConn.get(`${b.client} ${b.server}`) ?? []), b]);
  assert.deepEqual([...byConn.keys()].sort(), [...conns.keys()].sort(), 'one series of blocks per connection');

  let markers = 0;
  for (const [k, pkts] of conns) {
    const chunks = byConn.get(k)!;
    const client = k.split(' ')[0]!;
    // requests and responses in order: the n-th request is answered by the n-th response
    const reqIdx = pkts.flatMap((p, i) => (p.method !== '' ? [i] : []));
    const resIdx = pkts.flatMap((p, i) => (p.status !== '' ? [i] : []));
    assert.equal(reqIdx.length, resIdx.length, `${k}: tshark pairs every request`);
    let i = 0;
    for (const [n, c] of chunks.entries()) {
      const h = c.header;
      assert.equal(Number(h[7]), n + 1, `${k}: chunk ids`);
      assert.equal(Number(h[8]), c.lines.length, `${k}: packets= counts the lines`);
      assert.equal(h[1], isoUs(pkts[i]!.us), `${k}: header time is the chunk's first packet's`);
      assert.equal(h[4], '-', 'pcap: no interface name');
      const syn = pkts.find((p) => p.flags === 'S')!, synAck = pkts.find((p) => p.flags === 'S.')!;
      assert.equal(h[6], `${syn.seq}_${synAck.seq}`);
      const chunkEnd = i + c.lines.length;
      for (const [j, l] of c.lines.entries()) {
        const p = pkts[i]!;
        const where = `${k} packet ${i + 1} (chunk ${n + 1} line ${j + 1})`;
        assert.deepEqual(
          [l.fromClient, l.flags, l.seq, l.ack, l.len, l.win],
          [p.src === client, p.flags, p.seq, p.ack, p.len, p.win], where);
        assert.equal(l.delta, j === 0 ? '+0.000' : deltaText(p.us - pkts[i - 1]!.us), `${where}: Δ`);
        const q = reqIdx.indexOf(i);
        if (q < 0) assert.deepEqual(l.markers, [], `${where}: no marker`);
        else {
          // the status is known when the response head's first packet (the server's next data packet; tshark names
          // the response at the frame that completes its body) is in this chunk, else it shows as ?
          const first = pkts.findIndex((x, y) => y > i && x.src !== client && x.len > 0);
          const status = first >= 0 && first < chunkEnd ? pkts[resIdx[q]!]!.status : '?';
          assert.deepEqual(l.markers, [`${p.method} ${p.uri} → ${status}`], `${where}: marker`);
          markers++;
        }
        i++;
      }
    }
    assert.equal(i, pkts.length, `${k}: every packet is in the ladder`);
  }
  assert.equal(markers, 132, 'one marker per request');
  assert.ok(byConn.get([...conns.keys()].find((k) => conns.get(k)!.length > 256)!)!.length >= 2, 'the long connection spans chunks');

  // the same file as JSON lines, through `wirelog topology`: one device (a pcap has no interface names), 132
  // requests, no hops (capture files carry none), both ends on this host (the CQ records' server is 127.0.0.1 / ::1)
  const jsonl = await runWirelog(['capture', '-r', file, '--format', 'jsonl', '--l4']);
  assert.equal(jsonl.code, 0, jsonl.stderr);
  const topo = await runWirelog(['topology', '--format', 'json'], { stdin: jsonl.stdout });
  assert.equal(topo.code, 0, topo.stderr);
  const g = JSON.parse(topo.stdout) as { nodes: Array<Record<string, unknown>>; edges: unknown[]; input: Record<string, number> };
  assert.deepEqual(g.input, { l7_records: 132, requests: 132, l4_records: summary.l4Records, skipped_lines: 0, bad_lines: 0 });
  const devs = g.nodes.filter((n) => n.type === 'device');
  assert.deepEqual(devs.map((d) => [d.id, d.requests, d.addrs_more]), [['dev:-:0:-', 132, 0]]);
  assert.equal((devs[0]!.addrs as string[]).length, 3, 'one address pair per connection');
  assert.deepEqual(g.edges, []);
  const dot = await runWirelog(['topology', '--format', 'dot'], { stdin: jsonl.stdout });
  assert.equal(dot.code, 0);
  const svg = await runOk('dot', ['-Tsvg'], { stdin: dot.stdout });
  assert.match(svg.stdout, /<svg/);
});
