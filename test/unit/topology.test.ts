/**
 * `wirelog topology`: hand-built capture records (the HTTP record of docs/schema.md plus `hops`, and L4 records)
 * through the real line reader and graph builder; hop times and percentiles checked against values worked out by
 * hand; the three output formats (dot rendered by Graphviz when it is installed, and always checked by a small
 * parser of the DOT subset we write); the CLI's exit codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { percentile } from '../../src/views/percentile.js';
import { isoToUs, parseTopoLine, type TopoHop } from '../../src/views/topology-input.js';
import { OUTSIDE_ID, type TopologyGraph, type TopoEdge } from '../../src/views/topology-graph.js';
import { topologyOfStream, type TopologyResult } from '../../src/pipelines/topology.js';
import { topologyText } from '../../src/sinks/topology-text.js';
import { topologyJsonValue } from '../../src/sinks/topology-json.js';
import { topologyDot } from '../../src/sinks/topology-dot.js';
import { cliPath } from '../helpers/paths.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0) * 1000; // µs
const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString().replace('Z', `${String(us % 1000).padStart(3, '0')}Z`);

interface Rec {
  kind: 'CQ' | 'SQ';
  src: [string, number];
  dst: [string, number];
  ifname: string | null;
  netns: number | null;
  trace?: string | null;
  hops?: TopoHop[];
  method?: string;
  status?: number;
}

/** An HTTP record as `capture --format jsonl` writes it (every schema field), plus `hops` when given. */
function l7(r: Rec): string {
  const rec: Record<string, unknown> = {
    ts: iso(T0), kind: r.kind, conn_id: 1, req_id: 1, src_ip: r.src[0], src_port: r.src[1], dst_ip: r.dst[0], dst_port: r.dst[1],
    method: r.method ?? 'GET', uri: '/', version: 'HTTP/1.1', host: 'x', user_agent: 'curl/7.88.1', status: r.status ?? 200,
    reason: 'OK', content_length: 2, content_type: 'text/plain', latency_ms: 1, ifname: r.ifname, netns: r.netns, pid: null,
    comm: null, res_ts: iso(T0 + 1000), res_version: 'HTTP/1.1', req_content_length: null, req_content_type: null,
    req_body_bytes: 0, res_body_bytes: 2, interim: [], gap_bytes: 0, incomplete: null, anomalies: [], req_seq: 1,
    resp_seq: 2, l7_trace_id: r.trace ?? null, conn_trace_id: null,
  };
  if (r.hops !== undefined) rec.hops = r.hops;
  return JSON.stringify(rec);
}

function l4(src: string, connSide: string, netns: number | null): string {
  return JSON.stringify({ record: 'l4', ts: iso(T0), l4_proto: 'tcp', src_ip: src, conn_side: connSide, netns, packets: [] });
}

/** A hop at a device; req/resp as µs offsets from T0 (null: not seen). */
function hop(netns: number, netnsName: string | null, ifindex: number, ifname: string, req: number | null, resp: number | null): TopoHop {
  return { ifname, ifindex, netns, netns_name: netnsName, req_ts: req === null ? null : iso(T0 + req), resp_ts: resp === null ? null : iso(T0 + resp) };
}

async function graphOf(lines: string[], localAddrs?: string[]): Promise<TopologyResult> {
  return topologyOfStream(Readable.from(lines.map((l) => l + '\n')), localAddrs);
}

function edgeOf(g: TopologyGraph, from: string, to: string): TopoEdge {
  const e = g.edges.find((x) => x.from === from && x.to === to);
  assert.ok(e, `edge ${from} → ${to} in ${JSON.stringify(g.edges.map((x) => `${x.from} → ${x.to}`))}`);
  return e;
}

test('percentile: nearest rank, by hand', () => {
  assert.equal(percentile([], 50), null);
  assert.equal(percentile([7], 50), 7);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([4, 1, 3, 2], 50), 2, 'rank ceil(0.5 × 4) = 2');
  assert.equal(percentile([4, 1, 3, 2], 99), 4, 'rank ceil(0.99 × 4) = 4');
  assert.equal(percentile([4, 1, 3, 2], 0), 1);
  assert.equal(percentile([4, 1, 3, 2], 100), 4);
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1
  assert.equal(percentile(hundred, 50), 50);
  assert.equal(percentile(hundred, 99), 99, 'rank 99 of 100, not 100 (no float drift in 0.99 × 100)');
  const twoHundred = Array.from({ length: 200 }, (_, i) => i + 1);
  assert.equal(percentile(twoHundred, 99), 198, 'rank ceil(0.99 × 200) = 198');
  assert.equal(percentile(twoHundred, 50), 100);
  assert.deepEqual(hundred.slice(0, 2), [100, 99], 'the input is not reordered');
});

test('ISO times to µs, exactly', () => {
  assert.equal(isoToUs('2026-11-23T10:00:00.123456Z'), T0 + 123456);
  assert.equal(isoToUs('2026-11-23T10:00:00Z'), T0);
  assert.equal(isoToUs('2026-11-23T10:00:00.5Z'), T0 + 500000);
  assert.equal(isoToUs('yesterday'), null);
  assert.equal(isoToUs(null), null);
});

// A client container (netns 101, "c1") talks to a server container (netns 102, "s1") through the host (netns 100):
// c1 eth0 → host veth-c1 → br0 → br1 → veth-s1 → s1 eth0: six hops, two bridges.
const C1 = 101, HOST = 100, S1 = 102;
function sixHops(base: number, d: number[], r: number[]): TopoHop[] {
  // d: request time of each hop after the previous one; r: response time of each hop after the next one
  // (the response goes s1 eth0 → … → c1 eth0)
  const req: number[] = [], resp: number[] = [];
  let t = base;
  for (let i = 0; i < 6; i++) req.push((t += d[i]!));
  t = base + 5000;
  for (let i = 5; i >= 0; i--) resp[i] = (t += r[5 - i]!);
  return [
    hop(C1, 'c1', 2, 'eth0', req[0]!, resp[0]!),
    hop(HOST, null, 7, 'veth-c1', req[1]!, resp[1]!),
    hop(HOST, null, 3, 'br0', req[2]!, resp[2]!),
    hop(HOST, null, 4, 'br1', req[3]!, resp[3]!),
    hop(HOST, null, 8, 'veth-s1', req[4]!, resp[4]!),
    hop(S1, 's1', 2, 'eth0', req[5]!, resp[5]!),
  ];
}

test('a six-hop path through two bridges: devices, edges, request counts, hop times p50/p99 by hand', async () => {
  const lines: string[] = [];
  // three requests; per hop, request delays (µs) and response delays (µs)
  const reqDelays = [[0, 10, 5, 5, 7, 20], [0, 20, 6, 5, 7, 40], [0, 30, 7, 5, 7, 60]];
  const respDelays = [[0, 11, 3, 3, 3, 13], [0, 12, 3, 3, 3, 14], [0, 90, 3, 3, 3, 15]];
  for (let i = 0; i < 3; i++) {
    const hops = sixHops(i * 1_000_000, reqDelays[i]!, respDelays[i]!);
    const trace = `${100 + i}_${200 + i}`;
    // the request's record at each end (one per device that logged it): counted once
    lines.push(l7({ kind: 'SQ', src: ['10.1.0.2', 40000 + i], dst: ['10.2.0.2', 80], ifname: 'eth0', netns: C1, trace, hops }));
    lines.push(l7({ kind: 'CQ', src: ['10.1.0.2', 40000 + i], dst: ['10.2.0.2', 80], ifname: 'eth0', netns: S1, trace, hops }));
  }
  const { graph: g, input } = await graphOf(lines);
  assert.deepEqual(input, { l7_records: 6, requests: 3, l4_records: 0, skipped_lines: 0, bad_lines: 0 });
  assert.deepEqual(g.namespaces.map((n) => [n.id, n.netnsName]), [['ns:100', null], ['ns:101', 'c1'], ['ns:102', 's1']]);
  const ids = ['dev:101:2:eth0', 'dev:100:7:veth-c1', 'dev:100:3:br0', 'dev:100:4:br1', 'dev:100:8:veth-s1', 'dev:102:2:eth0'];
  assert.deepEqual(g.devices.map((d) => d.id).sort(), [...ids].sort());
  for (const d of g.devices) assert.equal(d.requests, 3, d.id);
  assert.equal(g.outside, false, 'both ends are in watched namespaces (SQ: client, CQ: server)');
  assert.equal(g.edges.length, 5);
  // edge i → i+1: request delays reqDelays[*][i+1] µs; response delays respDelays[*][5-i] µs (the response
  // reaches hop i+1 first, hop i that much later). Nearest rank of 3 values: the 2nd for p50, the 3rd for p99.
  const want: Array<[number, number, number, number]> = [
    // req p50, req p99, resp p50, resp p99 (ms)
    [0.020, 0.030, 0.014, 0.015],
    [0.006, 0.007, 0.003, 0.003],
    [0.005, 0.005, 0.003, 0.003],
    [0.007, 0.007, 0.003, 0.003],
    [0.040, 0.060, 0.012, 0.090],
  ];
  for (let i = 0; i < 5; i++) {
    const e = edgeOf(g, ids[i]!, ids[i + 1]!);
    assert.equal(e.requests, 3);
    assert.deepEqual([e.req.samples, e.resp.samples], [3, 3]);
    assert.deepEqual([e.req.p50, e.req.p99, e.resp.p50, e.resp.p99], want[i], `edge ${i}`);
  }
  const c1 = g.devices.find((d) => d.id === 'dev:101:2:eth0')!;
  assert.deepEqual(c1.addrs, ['10.1.0.2:40000 → 10.2.0.2:80', '10.1.0.2:40001 → 10.2.0.2:80', '10.1.0.2:40002 → 10.2.0.2:80']);
  assert.equal(c1.netnsName, 'c1');
  assert.deepEqual(g.devices.find((d) => d.id === 'dev:100:3:br0')!.addrs, [], 'no record was written at the bridge');

  const text = topologyText(g);
  assert.match(text, /^host\n  netns 100\n    br0 ifindex 3: 3 requests\n/);
  assert.match(text, /\n  netns 101 \(c1\)\n    eth0 ifindex 2: 3 requests\n      10\.1\.0\.2:40000 → 10\.2\.0\.2:80\n/);
  assert.match(text, /\n  eth0@c1 → veth-c1@100: 3 requests; request p50 0\.020 ms p99 0\.030 ms \(3 samples\); response p50 0\.014 ms p99 0\.015 ms \(3 samples\)\n/);
  assert.doesNotMatch(text, /N\/A/);
});

test('a DNAT path: later hops see the translated server; the outside client is N/A', async () => {
  // 203.0.113.7 → host eth0 (192.0.2.10:80) → DNAT → docker0 → veth → container eth0 (172.17.0.2:8080)
  const hops = [
    hop(HOST, null, 2, 'eth0', 0, 900), hop(HOST, null, 3, 'docker0', 40, 850),
    hop(HOST, null, 9, 'veth9', 45, 845), hop(103, 'web', 2, 'eth0', 50, 840),
  ];
  const lines = [
    l7({ kind: 'CQ', src: ['203.0.113.7', 50000], dst: ['192.0.2.10', 80], ifname: 'eth0', netns: HOST, trace: '1_2', hops }),
    l7({ kind: 'CQ', src: ['203.0.113.7', 50000], dst: ['172.17.0.2', 8080], ifname: 'eth0', netns: 103, trace: '1_2', hops }),
  ];
  const { graph: g } = await graphOf(lines);
  assert.equal(g.counts.requests, 1);
  assert.deepEqual(g.devices.find((d) => d.id === 'dev:100:2:eth0')!.addrs, ['203.0.113.7:50000 → 192.0.2.10:80']);
  assert.deepEqual(g.devices.find((d) => d.id === 'dev:103:2:eth0')!.addrs, ['203.0.113.7:50000 → 172.17.0.2:8080']);
  assert.equal(g.outside, true);
  const outside = edgeOf(g, OUTSIDE_ID, 'dev:100:2:eth0');
  assert.equal(outside.requests, 1);
  assert.deepEqual([outside.req.samples, outside.req.p50, outside.resp.p99], [0, null, null], 'no times to the outside');
  assert.ok(!g.edges.some((e) => e.to === OUTSIDE_ID), 'the server (after DNAT) is inside: no N/A after the last hop');
  const first = edgeOf(g, 'dev:100:2:eth0', 'dev:100:3:docker0');
  assert.deepEqual([first.req.p50, first.resp.p50], [0.04, 0.05]);
  assert.match(topologyText(g), /\nN\/A \(outside[^\n]*\n[\s\S]*\n  N\/A → eth0@100: 1 request\n/);
});

test('N/A after the last hop: a remote server; --local-addr moves an address inside', async () => {
  const hops = [hop(HOST, null, 2, 'eth0', 0, 100)];
  const lines = [l7({ kind: 'SQ', src: ['10.0.0.5', 41000], dst: ['93.184.216.34', 443], ifname: 'eth0', netns: HOST, trace: '5_6', hops })];
  const { graph: g } = await graphOf(lines);
  assert.deepEqual(g.edges.map((e) => [e.from, e.to, e.requests]), [['dev:100:2:eth0', OUTSIDE_ID, 1]]);
  const { graph: g2 } = await graphOf(lines, ['93.184.216.34']);
  assert.deepEqual(g2.edges, []);
  assert.equal(g2.outside, false);
  // neither end known to be inside: N/A on both sides; an L4 record's local end (conn_side known) is inside
  const far = [l7({ kind: 'SQ', src: ['10.0.0.9', 41000], dst: ['10.9.9.9', 80], ifname: 'eth0', netns: HOST, trace: '7_8', hops })
    .replace('"kind":"SQ"', '"kind":null')];
  const { graph: g3 } = await graphOf(far);
  assert.deepEqual(g3.edges.map((e) => [e.from, e.to]).sort(), [['N/A', 'dev:100:2:eth0'], ['dev:100:2:eth0', 'N/A']]);
  const { graph: g4 } = await graphOf([...far, l4('10.0.0.9', 'client', HOST), l4('10.9.9.9', 'unknown', HOST)]);
  assert.deepEqual(g4.edges.map((e) => [e.from, e.to]), [['dev:100:2:eth0', 'N/A']]);
});

test('records without hops: one hop at their own ifname/netns, merged with a device the hops name', async () => {
  const lines = [
    // old records (no hops field; one with hops: null): device netns + ifname, ifindex unknown
    l7({ kind: 'CQ', src: ['127.0.0.1', 40000], dst: ['127.0.0.1', 8080], ifname: 'lo', netns: null }),
    l7({ kind: 'CQ', src: ['127.0.0.1', 40001], dst: ['127.0.0.1', 8080], ifname: 'lo', netns: null }).replace(/}$/, ',"hops":null}'),
    // same netns + ifname as a hop device with an ifindex: the same device
    l7({ kind: 'CQ', src: ['10.0.0.5', 41000], dst: ['10.0.0.1', 80], ifname: 'eth0', netns: HOST }),
    l7({ kind: 'CQ', src: ['10.0.0.5', 41001], dst: ['10.0.0.1', 80], ifname: 'eth0', netns: HOST, trace: '9_9', hops: [hop(HOST, 'root', 2, 'eth0', 0, 10)] }),
    // a record with hops but no l7_trace_id: its own request
    l7({ kind: 'CQ', src: ['10.0.0.5', 41002], dst: ['10.0.0.1', 80], ifname: 'eth0', netns: HOST, trace: null, hops: [hop(HOST, 'root', 2, 'eth0', 0, 10)] }),
  ];
  const { graph: g, input } = await graphOf(lines);
  assert.equal(input.requests, 5);
  assert.deepEqual(g.devices.map((d) => [d.id, d.requests, d.addrs.length]), [
    ['dev:-:-:lo', 2, 2],
    ['dev:100:2:eth0', 3, 3],
  ]);
  assert.equal(g.devices[1]!.netnsName, 'root', 'the namespace name from the hops');
  // single hops: no device → device edges; the clients of eth0 (10.0.0.5, CQ records) are not known to be inside,
  // the loopback client is (127.0.0.1 is a server address of a CQ record)
  assert.deepEqual(g.edges.map((e) => [e.from, e.to, e.requests]), [[OUTSIDE_ID, 'dev:100:2:eth0', 3]]);
  assert.match(topologyText(g), /\n  netns unknown\n    lo: 2 requests\n/);
});

test('bad lines are counted, other records skipped, blank lines ignored', async () => {
  const good = l7({ kind: 'CQ', src: ['10.0.0.5', 41000], dst: ['10.0.0.1', 80], ifname: 'eth0', netns: HOST });
  const lines = [
    good,
    '{"record":"l7",' + good.slice(1),
    '',
    'not json',
    '{"ts": "truncated',
    '[1,2,3]',
    '"a string"',
    '{"kind":"CQ"}',
    good.replace('"src_port":41000', '"src_port":"41000"'),
    l7({ kind: 'CQ', src: ['10.0.0.5', 41000], dst: ['10.0.0.1', 80], ifname: 'eth0', netns: HOST, trace: '1_1', hops: [hop(HOST, null, 2, 'eth0', 0, 1)] })
      .replace('"ifindex":2', '"ifindex":"2"'),
    good.replace(/}$/, ',"hops":{"ifname":"eth0"}}'),
    '{"record":"l4","src_ip":"10.0.0.1"}',
    '{"record":"stats","packets":12}',
    l4('10.0.0.1', 'server', HOST),
  ];
  const { input } = await graphOf(lines);
  assert.deepEqual(input, { l7_records: 2, requests: 2, l4_records: 1, skipped_lines: 1, bad_lines: 9 });
  assert.equal(parseTopoLine('   ').type, 'skip');
});

/** A parser of the DOT subset topologyDot writes: statements, nested subgraphs, attribute lists, quoted ids. */
function checkDot(text: string): { nodes: Set<string>; edges: Array<[string, string]>; clusters: string[] } {
  const tokens: string[] = [];
  const re = /\s*(?:("(?:[^"\\]|\\.)*")|([A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?)|(->|[{}[\];=,]))/y;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(text);
    assert.ok(m, `DOT: cannot read at ${JSON.stringify(text.slice(pos, pos + 30))}`);
    tokens.push(m[0].trim());
    pos = re.lastIndex;
  }
  let i = 0;
  const nodes = new Set<string>(), edges: Array<[string, string]> = [], clusters: string[] = [];
  const peek = (): string | undefined => tokens[i];
  const take = (want?: string): string => {
    const t = tokens[i++];
    assert.ok(t !== undefined, 'DOT: unexpected end');
    if (want !== undefined) assert.equal(t, want, `DOT: token ${i}`);
    return t;
  };
  const isId = (t: string | undefined): boolean => t !== undefined && /^("|[A-Za-z_0-9-])/.test(t) && t !== '->';
  const unq = (t: string): string => (t.startsWith('"') ? (JSON.parse(t) as string) : t);
  const attrs = (): void => {
    take('[');
    while (peek() !== ']') {
      assert.ok(isId(take()), 'attribute name');
      take('=');
      assert.ok(isId(take()), 'attribute value');
      if (peek() === ',' || peek() === ';') take();
    }
    take(']');
  };
  const body = (): void => {
    take('{');
    while (peek() !== '}') {
      const t = take();
      if (t === 'subgraph') {
        clusters.push(unq(take()));
        body();
      } else if (t === 'node' || t === 'edge' || t === 'graph') attrs();
      else {
        assert.ok(isId(t), `DOT: statement starts with ${t}`);
        if (peek() === '=') {
          take();
          assert.ok(isId(take()));
        } else if (peek() === '->') {
          take();
          const to = take();
          assert.ok(isId(to));
          edges.push([unq(t), unq(to)]);
          if (peek() === '[') attrs();
        } else {
          nodes.add(unq(t));
          if (peek() === '[') attrs();
        }
      }
      if (peek() === ';') take();
    }
    take('}');
  };
  take('digraph');
  assert.ok(isId(take()));
  body();
  assert.equal(i, tokens.length, 'DOT: nothing after the graph');
  return { nodes, edges, clusters };
}

test('json and dot: every node and edge; dot renders with Graphviz when installed', async () => {
  const hops = [hop(HOST, null, 2, 'eth0', 0, 900), hop(103, 'we"b', 2, 'eth0', 50, 840)];
  const lines = [
    l7({ kind: 'CQ', src: ['203.0.113.7', 50000], dst: ['172.17.0.2', 8080], ifname: 'eth0', netns: 103, trace: '1_2', hops }),
    l7({ kind: 'CQ', src: ['::1', 50000], dst: ['::1', 80], ifname: 'lo', netns: null }),
    'bad',
  ];
  const { graph: g, input } = await graphOf(lines);
  const j = JSON.parse(JSON.stringify(topologyJsonValue(g, input))) as { nodes: Array<Record<string, unknown>>; edges: Array<Record<string, unknown>>; input: unknown };
  assert.deepEqual(j.nodes.map((n) => [n.id, n.type, n.parent ?? null]), [
    ['host', 'host', null], ['ns:-', 'netns', 'host'], ['ns:100', 'netns', 'host'], ['ns:103', 'netns', 'host'],
    ['dev:-:-:lo', 'device', 'ns:-'], ['dev:100:2:eth0', 'device', 'ns:100'], ['dev:103:2:eth0', 'device', 'ns:103'],
    ['N/A', 'outside', null],
  ]);
  assert.deepEqual(j.nodes[6], {
    id: 'dev:103:2:eth0', type: 'device', parent: 'ns:103', netns: 103, netns_name: 'we"b', ifindex: 2, ifname: 'eth0',
    requests: 1, addrs: ['203.0.113.7:50000 → 172.17.0.2:8080'], addrs_more: 0,
  });
  assert.deepEqual(j.edges, [
    { from: 'N/A', to: 'dev:100:2:eth0', requests: 1, req_ms: { samples: 0, p50: null, p99: null }, resp_ms: { samples: 0, p50: null, p99: null } },
    { from: 'dev:100:2:eth0', to: 'dev:103:2:eth0', requests: 1, req_ms: { samples: 1, p50: 0.05, p99: 0.05 }, resp_ms: { samples: 1, p50: 0.06, p99: 0.06 } },
  ]);
  assert.deepEqual(j.input, { l7_records: 2, requests: 2, l4_records: 0, skipped_lines: 0, bad_lines: 1 });

  const dot = topologyDot(g);
  const parsed = checkDot(dot);
  assert.deepEqual([...parsed.nodes].filter((n) => n.startsWith('dev:') || n === 'N/A').sort(), ['N/A', 'dev:-:-:lo', 'dev:100:2:eth0', 'dev:103:2:eth0']);
  assert.deepEqual(parsed.edges, g.edges.map((e) => [e.from, e.to]));
  assert.deepEqual(parsed.clusters, ['cluster_host', 'cluster_ns:-', 'cluster_ns:100', 'cluster_ns:103']);
  assert.ok(dot.includes('label="netns 103 (we\\"b)"'), 'quotes escaped');
  const which = spawnSync('sh', ['-c', 'command -v dot']);
  if (which.status === 0) {
    const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'no Graphviz warnings');
    assert.match(r.stdout, /<svg/);
    assert.match(r.stdout, /N\/A/);
    assert.match(r.stdout, /203\.0\.113\.7:50000 → 172\.17\.0\.2:8080/);
  }
});

test('CLI: formats, a missing file, a bad --format, stdin', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirelog-topo-'));
  try {
    const file = path.join(dir, 'in.jsonl');
    fs.writeFileSync(file, l7({ kind: 'CQ', src: ['10.0.0.5', 41000], dst: ['10.0.0.1', 80], ifname: 'eth0', netns: null }) + '\nnope\n');
    const run = (args: string[], input?: string) => spawnSync(process.execPath, [cliPath, 'topology', ...args], { encoding: 'utf8', input });
    const text = run([file]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^host\n  netns unknown\n    eth0: 1 request\n/);
    assert.equal(text.stderr, 'wirelog: 1 HTTP records (1 requests), 0 L4 records, 0 other lines skipped, 1 unparsable lines\n');
    const json = run(['--format', 'json', '-'], fs.readFileSync(file, 'utf8'));
    assert.equal(json.status, 0);
    assert.equal((JSON.parse(json.stdout) as { input: { bad_lines: number } }).input.bad_lines, 1);
    const dot = run(['--format=dot'], fs.readFileSync(file, 'utf8'));
    assert.equal(dot.status, 0);
    checkDot(dot.stdout);
    const missing = run([path.join(dir, 'nope.jsonl')]);
    assert.equal(missing.status, 2);
    assert.equal(missing.stderr, `wirelog: error: ${path.join(dir, 'nope.jsonl')}: no such file\n`);
    assert.equal(missing.stdout, '');
    const bad = run(['--format', 'svg', file]);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, "wirelog: error: --format: unknown format 'svg' (want text, json or dot)\n");
    assert.equal(run([dir]).status, 2, 'a directory');
    assert.equal(run(['a', 'b']).status, 2, 'two files');
    const help = run(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--format F/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
