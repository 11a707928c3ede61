/**
 * Network logs end to end (docs/netlog.md): `wirelog capture --netns all --format jsonl --l4` on the topology of
 * test/helpers/topology.ts. Each request, sent by curl in the client namespace to nginx in the server namespace
 * (directly, and through the host's DNAT), must be one L7 record whose hops are exactly the devices the test built,
 * in path order with non-decreasing req_ts; each hop must have an L4 packet holding req_seq; the records must agree
 * with nginx's access log (nothing missing, nothing twice) and the DNAT'd one with `conntrack -L`; and a namespace
 * created after the capture started must be watched and logged the same way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requirePrivileges } from '../helpers/privileged.js';
import nodePath from 'node:path';
import { Scope, runOk } from '../helpers/proc.js';
import { startTcpdump } from '../helpers/tshark.js';
import { createTopology, type TopoNs, type Topology } from '../helpers/topology.js';
import { curl, startNginx, type AccessEntry } from '../helpers/nginx.js';
import { parseJsonLines, runWirelog, startWirelogLive, type JsonRecord } from '../helpers/wirelog.js';

interface L4Rec {
  record: 'l4';
  ifname: string | null;
  ifindex: number;
  netns: number | null;
  netns_name: string | null;
  conn_trace_id: string | null;
  client_ip: string;
  client_port: number;
  packets: Array<[number, 'tx' | 'rx', string | null, number | null, number | null, number, number | null]>;
}

interface Hop { ifname: string | null; ifindex: number; netns: number | null; netns_name: string | null; req_ts: string | null; resp_ts: string | null }

/** The devices a request from `from` to the server crosses, in order: [netns, ifindex, ifname, netns_name]. */
function expectedPath(t: Topology, from: TopoNs): Array<[number, number, string, string | null]> {
  return [
    [from.inode, from.ifindex, from.dev, from.name],
    [t.hostNetns, from.hostIfindex, from.hostDev, null],
    [t.hostNetns, t.clientBridge.ifindex, t.clientBridge.name, null],
    [t.hostNetns, t.serverBridge.ifindex, t.serverBridge.name, null],
    [t.hostNetns, t.server.hostIfindex, t.server.hostDev, null],
    [t.server.inode, t.server.ifindex, t.server.dev, t.server.name],
  ];
}

const tsUs = (iso: string): number => Date.parse(iso.slice(0, 23) + 'Z') * 1000 + Number(iso.slice(23, 26));

/** Does a packet of `l4` (a record of that device and connection) carry the byte at seq `want`? */
function carries(l4: L4Rec[], hop: Hop, connTraceId: string, want: number): boolean {
  return l4.some((r) => r.netns === hop.netns && r.ifindex === hop.ifindex && r.conn_trace_id === connTraceId &&
    r.packets.some(([, , , seq, , len]) => seq !== null && len > 0 && ((want - seq) >>> 0) < len));
}

function checkRecord(t: Topology, from: TopoNs, rec: JsonRecord, l4: L4Rec[], what: string): void {
  const hops = rec.hops as Hop[];
  assert.ok(Array.isArray(hops), `${what}: hops`);
  assert.deepEqual(hops.map((h) => [h.netns, h.ifindex, h.ifname, h.netns_name]), expectedPath(t, from), `${what}: the devices, in path order`);
  const times = hops.map((h) => tsUs(h.req_ts!));
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!, `${what}: req_ts non-decreasing at hop ${i}: ${hops.map((h) => h.req_ts).join(' ')}`);
  // the response goes back the same way: it reaches the server's device first
  const back = hops.map((h) => tsUs(h.resp_ts!));
  for (let i = 1; i < back.length; i++) assert.ok(back[i]! <= back[i - 1]!, `${what}: resp_ts non-increasing along the request path at hop ${i}`);
  assert.equal(typeof rec.req_seq, 'number', `${what}: req_seq`);
  assert.equal(rec.l7_trace_id, `${rec.req_seq}_${rec.resp_seq}`);
  assert.ok(rec.conn_trace_id !== null, `${what}: conn_trace_id`);
  for (const h of hops) {
    assert.ok(carries(l4, h, rec.conn_trace_id!, rec.req_seq!), `${what}: an L4 packet on ${h.ifname} holds req_seq ${rec.req_seq}`);
    assert.ok(carries(l4, h, rec.conn_trace_id!, rec.resp_seq!), `${what}: an L4 packet on ${h.ifname} holds resp_seq ${rec.resp_seq}`);
  }
  // the record is the first device's view: the client's veth, in the client's namespace
  assert.equal(rec.netns, from.inode);
  assert.equal(rec.ifname, from.dev);
  assert.equal(rec.netns_name, from.name);
}

test('--netns all: one L7 record per request with its hops, joined to L4 records on every device; DNAT joined; a namespace added later', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const topo = await createTopology(scope);
  const nginx = await startNginx(scope, { netns: topo.server.name, listen: [topo.server.ip], port: 80 });

  // the independent view of one device: tcpdump on the server's veth, inside its namespace
  const dumpDir = await scope.tempDir('wirelog-netlog-');
  const dump = await startTcpdump(scope, { iface: topo.server.dev, netns: topo.server.name, file: nodePath.join(dumpDir, 'server.pcap'), filter: 'tcp port 80' });
  // --user root: the netns records name root's processes (nginx, tcpdump), whose /proc/PID/ns/net only root may
  // follow; dropped to another user, those are counted as unreadable instead (docs/privileges.md)
  const wl = await startWirelogLive(scope, ['--netns', 'all', '--format', 'jsonl', '--l4', '-p', `80,${topo.dnatPort}`, '--verbose', '--user', 'root']);

  // direct: three requests on one connection, and one on its own
  const direct = await curl(scope, [`http://${topo.server.ip}/index.html`, `http://${topo.server.ip}/small.txt`, `http://${topo.server.ip}/data.json`], { netns: topo.client.name });
  const single = await curl(scope, [`http://${topo.server.ip}/small.txt?single`], { netns: topo.client.name });
  // through the DNAT: the client asks its bridge's address, port 8080
  const natted = await curl(scope, [`http://${topo.clientBridge.ip}:${topo.dnatPort}/data.json?dnat`], { netns: topo.client.name });
  const ct = await runOk('conntrack', ['-L', '-p', 'tcp', '--orig-dst', topo.clientBridge.ip, '--orig-port-dst', String(topo.dnatPort)]);

  // a namespace created now: watched within the sensor's scan interval, then logged as the first one
  const late = await topo.addClient('l');
  await wl.proc.waitForLine('stderr', new RegExp(`^wirelog: netns ${late.inode} watched`), 5000);
  await new Promise((r) => setTimeout(r, 300)); // its devices are announced at the same scan
  const fromLate = await curl(scope, [`http://${topo.server.ip}/index.html?late`], { netns: late.name });

  const access = await nginx.waitForEntries(6);
  const serverPids = (await runOk('ip', ['netns', 'pids', topo.server.name])).stdout.split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
  await new Promise((r) => setTimeout(r, 1500)); // the hop hold (1 s) and the L4 chunks
  const out = await wl.stop();
  assert.equal(out.code, 0, out.stderr);
  assert.equal((await dump.stop()).droppedByKernel, 0, 'tcpdump dropped packets');

  const all = parseJsonLines(out.stdout);
  const l7 = all.filter((r) => r.record === 'l7');
  const l4 = all.filter((r) => r.record === 'l4') as unknown as L4Rec[];
  const ours = (r: JsonRecord): boolean => r.dst_ip === topo.server.ip || r.dst_ip === topo.clientBridge.ip;
  const mine = l7.filter(ours);

  // nothing missing, nothing twice: the access log's requests, each once
  const uris = mine.map((r) => r.uri).sort();
  for (const r of mine) if (r.uri === null) t.diagnostic(`odd record: ${JSON.stringify(r)}`);
  assert.deepEqual(uris, access.map((a: AccessEntry) => a.request_uri).sort(), 'one L7 record per request nginx served');
  assert.equal(new Set(mine.map((r) => r.l7_trace_id)).size, mine.length, 'l7_trace_ids are distinct');

  const byUri = (u: string): JsonRecord => mine.find((r) => r.uri === u)!;
  for (const x of [...direct, ...single]) {
    const u = new URL(x.url);
    const rec = byUri(u.pathname + u.search);
    assert.equal(rec.status, x.http_code);
    assert.equal(rec.src_port, x.local_port, 'the client port curl used');
    checkRecord(topo, topo.client, rec, l4, `direct ${rec.uri}`);
  }
  // one connection: one conn_trace_id for the three keep-alive requests
  assert.equal(new Set(['/index.html', '/small.txt', '/data.json'].map((u) => byUri(u).conn_trace_id)).size, 1);

  const nat = byUri('/data.json?dnat');
  assert.equal(nat.status, natted[0]!.http_code);
  // the record is the client's view (pre-NAT); the server's devices saw the translated addresses
  assert.equal(nat.dst_ip, topo.clientBridge.ip);
  assert.equal(nat.dst_port, topo.dnatPort);
  checkRecord(topo, topo.client, nat, l4, 'DNAT');
  const natAccess = access.find((a: AccessEntry) => a.request_uri === '/data.json?dnat')!;
  assert.equal(natAccess.remote_port, nat.src_port, 'nginx saw the client port the record names');
  // conntrack agrees: the entry of that client port was translated to the server
  const entry = ct.stdout.split('\n').find((l) => l.includes(`sport=${nat.src_port} `));
  assert.ok(entry, `conntrack -L has the client port ${nat.src_port}: ${ct.stdout}`);
  assert.match(entry, new RegExp(`src=${topo.server.ip.replace(/\./g, '\\.')} dst=${topo.client.ip.replace(/\./g, '\\.')} sport=80 dport=${nat.src_port}`));
  const serverSide = l4.filter((r) => r.conn_trace_id === nat.conn_trace_id && r.netns === topo.server.inode);
  assert.ok(serverSide.length > 0 && serverSide.every((r) => r.client_port === nat.src_port), 'the server namespace has the DNAT connection under the same conn_trace_id');

  const lateRec = byUri('/index.html?late');
  assert.equal(lateRec.status, fromLate[0]!.http_code);
  checkRecord(topo, late, lateRec, l4, 'late namespace');

  // every device of the path has exactly one L4 series per connection (nothing logged twice at L4 either)
  for (const rec of mine) {
    for (const h of rec.hops as Hop[]) {
      const series = l4.filter((r) => r.netns === h.netns && r.ifindex === h.ifindex && r.conn_trace_id === rec.conn_trace_id);
      // one series per 5-tuple: with br_netfilter a bridge sees a DNAT'd request after the DNAT and its reply before
      // the reverse translation, two tuples of one connection on one device
      const x = series as unknown as Array<{ inner_trace_id: string; server_ip: string; server_port: number }>;
      const tuples = new Set(x.map((r) => `${r.server_ip}:${r.server_port}`));
      assert.equal(new Set(x.map((r) => r.inner_trace_id)).size, tuples.size, `${rec.uri} on ${h.ifname}: one inner_trace_id per tuple`);
      assert.ok(tuples.size === 1 || (rec.uri === '/data.json?dnat' && tuples.size === 2), `${rec.uri} on ${h.ifname}: ${[...tuples].join(' ')}`);
    }
  }
  // live L4 on the server's veth: every packet tcpdump saw there, header for header (pure ACKs included)
  const ts = await runOk('tshark', ['-r', dump.file, '-n', '-T', 'fields', '-E', 'separator=|', '-Y', 'tcp', '-e', 'frame.time_epoch',
    '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tcp.seq_raw', '-e', 'tcp.ack_raw', '-e', 'tcp.len', '-e', 'tcp.window_size_value']);
  const want = ts.stdout.trim().split('\n').map((l) => l.split('|')).map(([, sp, dp, seq, ack, len, win]) => `${sp}>${dp} ${seq} ${ack} ${len} ${win}`).sort();
  const got: string[] = [];
  for (const r of l4.filter((x) => x.netns === topo.server.inode && x.ifindex === topo.server.ifindex)) {
    const rr = r as unknown as { client_port: number; server_port: number };
    for (const [, dir, , seq, ack, len, win] of r.packets) {
      // on the server's device, rx packets come from the client
      const [sp, dp] = dir === 'rx' ? [rr.client_port, rr.server_port] : [rr.server_port, rr.client_port];
      got.push(`${sp}>${dp} ${seq} ${ack} ${len} ${win}`);
    }
  }
  assert.ok(want.length > 30, `tcpdump saw the server's traffic: ${want.length} packets`);
  assert.deepEqual(got.sort(), want, 'the L4 records of the server veth hold exactly the packets tcpdump saw there');

  // who is behind the namespaces: one netns record each, the server's naming nginx's processes as `ip netns pids` does
  const nsRecs = all.filter((r) => r.record === 'netns') as unknown as Array<{ netns: number; netns_name: string | null; processes: Array<{ pid: number; comm: string }>; process_count: number }>;
  for (const ns of [topo.client, topo.server, late]) {
    const recs = nsRecs.filter((r) => r.netns === ns.inode);
    assert.equal(recs.length, 1, `one netns record for ${ns.name}`);
    assert.equal(recs[0]!.netns_name, ns.name);
  }
  const srv = nsRecs.find((r) => r.netns === topo.server.inode)!;
  assert.deepEqual(srv.processes.map((p) => p.pid), serverPids, 'the server namespace\'s processes');
  // nginx's master and worker, and the test's tcpdump on the server veth
  assert.deepEqual([...new Set(srv.processes.map((p) => p.comm))].sort(), ['nginx', 'tcpdump'], JSON.stringify(srv.processes));
  assert.equal(srv.process_count, serverPids.length);

  // the topology view of the same lines: the client's path as edges, each counted once per request crossing it
  const ourLines = out.stdout.split('\n').filter((l) => l.length > 0 && (!l.includes('"record":"l7"') || ours(JSON.parse(l) as JsonRecord)));
  const topoRun = await runWirelog(['topology', '--format', 'json'], { stdin: ourLines.join('\n') + '\n' });
  assert.equal(topoRun.code, 0, topoRun.stderr);
  const g = JSON.parse(topoRun.stdout) as { edges: Array<{ from: string; to: string; requests: number; req_ms: { p50: number | null } }> };
  const dev = (netns: number, ifindex: number, ifname: string): string => `dev:${netns}:${ifindex}:${ifname}`;
  const path = expectedPath(topo, topo.client).map(([ns, idx, name]) => dev(ns, idx, name));
  for (let i = 0; i + 1 < path.length; i++) {
    const e = g.edges.find((x) => x.from === path[i] && x.to === path[i + 1]);
    assert.ok(e, `topology edge ${path[i]} → ${path[i + 1]}: ${topoRun.stdout}`);
    // the first client's five requests; from its bridge on, the late client's one as well
    assert.equal(e.requests, i < 2 ? 5 : 6, `requests over ${path[i]} → ${path[i + 1]}`);
    assert.ok(e.req_ms.p50 !== null && e.req_ms.p50 >= 0, 'a hop time');
  }
  assert.match(out.stderr, /wirelog: .* dropped by kernel/);
  assert.doesNotMatch(out.stderr, /dropped by device/, 'no device lost events');
});
