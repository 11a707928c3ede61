/**
 * The explorer's HTTP API (src/pipelines/ui.ts, src/explorer/*) over a small store of real rows: the recordings of
 * test/fixtures (curl ↔ nginx, HTTP/1.1 and h2c, a TLS ClientHello) stored by `wirelog capture -r … --l4 --store`
 * (StoreDb). Checked against the store read back independently (better-sqlite3) and `wirelog topology`'s builder:
 * auth (401 / cookie / Bearer), paging and sorting, filter errors with their column, a record and its relations,
 * the ladder, the tail, the topology, and a store that breaks under it (500, the server goes on).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { startUi, type UiServer } from '../../src/pipelines/ui.js';
import { rowToLine, rowToRecord } from '../../src/store/read.js';
import { decodePackets } from '../../src/store/schema.js';
import { formatQueryError, parseQuery, QueryError } from '../../src/query/index.js';
import { topologyOfStream } from '../../src/pipelines/topology.js';
import { topologyJsonValue } from '../../src/sinks/topology-json.js';
import { fixturesDir, cliPath, repoRoot } from '../helpers/paths.js';

const TOKEN = '0123456789abcdef0123456789abcdef';
const FIXTURES = ['http-lo4.pcap', 'http-lo6.pcap', 'http-any-sll.pcap', 'http-any-sll2.pcap', 'http-lo6-ns.pcap', 'http-two-iface.pcapng', 'h2c.pcap', 'tls-hello.pcap'];

let dir: string;
let db: string;
let ui: UiServer;
let rows: Array<Record<string, unknown>>;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirelog-explorer-'));
  db = path.join(dir, 'store.db');
  for (const f of FIXTURES) execFileSync(process.execPath, [cliPath, 'capture', '-r', path.join(fixturesDir, f), '--l4', '--store', db, '--retention-age', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const sq = new Database(db, { readonly: true });
  rows = sq.prepare('SELECT * FROM l7 ORDER BY ts_us DESC, id DESC').all() as Array<Record<string, unknown>>;
  sq.close();
  assert.ok(rows.length >= 8, `real rows: ${rows.length}`);
  ui = await startUi({ store: db, host: '127.0.0.1', port: 0, token: TOKEN, webDir: path.join(repoRoot, 'dist', 'web') });
});
after(async () => {
  await ui?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const get = (p: string, headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }): Promise<Response> => fetch(ui.url + p.replace(/^\//, ''), { headers });
async function api<T = Record<string, unknown>>(p: string): Promise<T> {
  const r = await get(p);
  assert.equal(r.status, 200, `${p}: ${r.status}`);
  return (await r.json()) as T;
}

test('auth: no token is 401 (text for the page, JSON for the API); ?token= sets an HttpOnly SameSite=Strict cookie; the cookie and Bearer pass', async () => {
  for (const p of ['/', '/index.html', '/app.js', '/api/l7', '/api/stats', '/api/l7/1']) {
    const r = await get(p, {});
    assert.equal(r.status, 401, p);
    assert.match(await r.text(), /unauthorized/);
  }
  assert.equal((await get('/api/l7', { Authorization: 'Bearer ' + 'x'.repeat(32) })).status, 401);
  assert.equal((await get('/api/l7', { Cookie: 'wirelog_token=nope' })).status, 401);
  assert.equal((await get('/?token=wrong', {})).status, 401);
  const first = await get(`/?token=${TOKEN}`, {});
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('set-cookie'), `wirelog_token=${TOKEN}; HttpOnly; SameSite=Strict; Path=/`);
  assert.match(first.headers.get('content-security-policy')!, /^default-src 'self'/);
  assert.equal(first.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(first.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal((await get('/api/stats', { Cookie: `other=1; wirelog_token=${TOKEN}` })).status, 200);
  const js = await get('/app.js');
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal((await get('/app.css')).headers.get('content-type'), 'text/css; charset=utf-8');
  assert.equal((await get('/nope.js')).status, 404);
  const head = await fetch(ui.url, { method: 'HEAD', headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(head.status, 200);
  assert.ok(Number(head.headers.get('content-length')) > 0);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  const post = await fetch(ui.url + 'api/l7', { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(post.status, 405, 'read-only');
});

test('/api/l7: every row newest first, pages that add up to the whole, sorting by a column, the total', async () => {
  const all = await api<{ total: number; rows: Array<Record<string, unknown>> }>('/api/l7?limit=10000'); // newest first by default
  assert.equal(all.total, rows.length);
  assert.deepEqual(all.rows.map((r) => r.id), rows.map((r) => r.id));
  // a row is the record as `wirelog query` gives it, plus its id and µs times
  for (const [i, r] of all.rows.entries()) {
    const { id, ts_us, res_ts_us, ...rec } = r;
    assert.deepEqual(rec, rowToRecord('l7', rows[i]!));
    assert.equal(ts_us, rows[i]!.ts_us);
    assert.equal(res_ts_us, rows[i]!.res_ts_us);
    assert.equal(id, rows[i]!.id);
  }
  const paged: unknown[] = [];
  for (let off = 0; off < rows.length; off += 3) {
    const p = await api<{ total: number; rows: Array<{ id: number }>; offset: number }>(`/api/l7?limit=3&offset=${off}`);
    assert.equal(p.total, rows.length);
    assert.equal(p.offset, off);
    assert.ok(p.rows.length <= 3);
    paged.push(...p.rows.map((r) => r.id));
  }
  assert.deepEqual(paged, rows.map((r) => r.id));
  const asc = await api<{ rows: Array<{ id: number }> }>('/api/l7?desc=0');
  assert.deepEqual(asc.rows.map((r) => r.id), [...rows].reverse().map((r) => r.id));
  const byUri = await api<{ rows: Array<{ uri: string | null; id: number }> }>('/api/l7?sort=uri&desc=0');
  const sorted = [...rows].sort((a, b) => (a.uri === b.uri ? (a.id as number) - (b.id as number) : a.uri === null ? -1 : b.uri === null ? 1 : (a.uri as string) < (b.uri as string) ? -1 : 1));
  assert.deepEqual(byUri.rows.map((r) => r.id), sorted.map((r) => r.id));
  // a time range: from the second-newest row's ts on
  const from = rows[1]!.ts_us as number;
  const ranged = await api<{ total: number }>(`/api/l7?from=${from}`);
  assert.equal(ranged.total, rows.filter((r) => (r.ts_us as number) >= from).length);
  for (const [p, msg] of [['/api/l7?sort=nope', /sort: no column 'nope'/], ['/api/l7?limit=0', /limit/], ['/api/l7?limit=x', /limit/], ['/api/l7?from=yesterday', /from: not a time/]] as const) {
    const r = await get(p);
    assert.equal(r.status, 400, p);
    assert.match(((await r.json()) as { error: string }).error, msg);
  }
});

test('/api/l7 filter: the matching rows; a bad filter is 400 with the message, the column and the caret drawing', async () => {
  const f = await api<{ total: number; rows: Array<{ id: number }> }>(`/api/l7?filter=${encodeURIComponent('status = 404 or ifname = lo')}`);
  const want = rows.filter((r) => r.status === 404 || r.ifname === 'lo');
  assert.ok(want.length > 0 && want.length < rows.length);
  assert.deepEqual(f.rows.map((r) => r.id), want.map((r) => r.id));
  assert.equal(f.total, want.length);
  for (const bad of ['status >= 5xx', 'method = GET and stauts = 404', 'host ~ "("', '(status = 200']) {
    const r = await get(`/api/l7?filter=${encodeURIComponent(bad)}`);
    assert.equal(r.status, 400, bad);
    const body = (await r.json()) as { error: string; column: number; caret: string };
    let err: QueryError | undefined;
    try {
      parseQuery(bad);
    } catch (e) {
      err = e as QueryError;
    }
    assert.ok(err instanceof QueryError, bad);
    assert.equal(body.error, err.message);
    assert.equal(body.column, err.column);
    assert.equal(body.caret, formatQueryError(bad, err));
  }
});

test('/api/l7/:id: the record, the same request on other devices, the L4 series of its connection per device', async () => {
  const sq = new Database(db, { readonly: true });
  try {
    const withConn = rows.find((r) => r.conn_trace_id !== null && (sq.prepare('SELECT count(*) AS n FROM l4 WHERE conn_trace_id = ?').get(r.conn_trace_id) as { n: number }).n > 0)!;
    assert.ok(withConn, 'a record with L4 series');
    const d = await api<{ record: Record<string, unknown>; related: { same_trace: Array<{ id: number }>; same_connection: Array<{ id: number }>; l4: Array<Record<string, unknown>>; devices: Array<{ ifname: string; packets: number }> } }>(`/api/l7/${withConn.id}`);
    assert.deepEqual(d.record.hops, JSON.parse(withConn.hops as string));
    const l4 = sq.prepare('SELECT * FROM l4 WHERE conn_trace_id = ? ORDER BY ts_us, id').all(withConn.conn_trace_id) as Array<Record<string, unknown>>;
    assert.deepEqual(d.related.l4.map((s) => s.id), l4.map((r) => r.id));
    assert.deepEqual(d.related.l4.map((s) => s.packet_count), l4.map((r) => decodePackets(r.packets as Buffer).length));
    const sameTrace = sq.prepare('SELECT id FROM l7 WHERE l7_trace_id = ? AND id != ? ORDER BY ts_us, id').all(withConn.l7_trace_id, withConn.id) as Array<{ id: number }>;
    assert.deepEqual(d.related.same_trace.map((r) => r.id).sort(), sameTrace.map((r) => r.id).sort());
    const total = d.related.devices.reduce((s, x) => s + x.packets, 0);
    assert.equal(total, l4.reduce((s, r) => s + decodePackets(r.packets as Buffer).length, 0));

    // the ladder of the first device: its packets, in time order; the request marked where req_seq is
    const dev = l4[0]!;
    const lad = await api<{ packets: Array<{ seq: number; len: number; flags: string; req_of: number[]; resp_of: number[]; from_client: boolean }> }>(
      `/api/l4?conn_trace_id=${withConn.conn_trace_id}&netns=${dev.netns ?? '-'}&ifindex=${dev.ifindex ?? '-'}&ifname=${dev.ifname ?? '-'}`);
    const want = l4.filter((r) => r.netns === dev.netns && r.ifindex === dev.ifindex && r.ifname === dev.ifname).flatMap((r) => decodePackets(r.packets as Buffer));
    assert.deepEqual(lad.packets.map((p) => [p.seq, p.len]), want.map((p) => [p.seq, p.len]));
    const marked = lad.packets.filter((p) => p.req_of.includes(withConn.id as number));
    assert.equal(marked.length, 1);
    assert.ok(marked[0]!.from_client && ((withConn.req_seq as number) - marked[0]!.seq) >>> 0 < marked[0]!.len);
    const resp = lad.packets.filter((p) => p.resp_of.includes(withConn.id as number));
    assert.equal(resp.length, 1);
    assert.ok(!resp[0]!.from_client && ((withConn.resp_seq as number) - resp[0]!.seq) >>> 0 < resp[0]!.len);
  } finally {
    sq.close();
  }
  assert.equal((await get('/api/l7/999999')).status, 404);
  assert.equal((await get('/api/l7/abc')).status, 400);
  assert.equal((await get('/api/l4')).status, 400, 'conn_trace_id is required');
});

test('/api/l4/list and /api/tls/list: pages of L4 series (no packets) and TLS records, in their own filter language; a ladder by l4_id', async () => {
  const sq = new Database(db, { readonly: true });
  try {
    const l4 = sq.prepare('SELECT * FROM l4 ORDER BY ts_us DESC, id DESC').all() as Array<Record<string, unknown>>;
    const tls = sq.prepare('SELECT * FROM tls ORDER BY ts_us DESC, id DESC').all() as Array<Record<string, unknown>>;
    assert.ok(l4.length > 0 && tls.length > 0, `${l4.length} L4, ${tls.length} TLS rows`);
    const all = await api<{ total: number; rows: Array<Record<string, unknown>> }>('/api/l4/list');
    assert.equal(all.total, l4.length);
    assert.deepEqual(all.rows.map((r) => r.id), l4.map((r) => r.id));
    assert.deepEqual(all.rows.map((r) => r.packet_count), l4.map((r) => decodePackets(r.packets as Buffer).length));
    assert.ok(all.rows.every((r) => !('packets' in r)));
    const port = l4[0]!.server_port as number;
    const f = await api<{ total: number; rows: Array<{ id: number }> }>(`/api/l4/list?filter=${encodeURIComponent(`server_port = ${port} and chunk_syn = true`)}`);
    assert.deepEqual(f.rows.map((r) => r.id), l4.filter((r) => r.server_port === port && r.chunk_syn === 1).map((r) => r.id));
    const bad = await get(`/api/l4/list?filter=${encodeURIComponent('status = 200')}`);
    assert.equal(bad.status, 400, 'status is not an L4 field');
    assert.equal(((await bad.json()) as { column: number }).column, 0);
    const t = await api<{ total: number; rows: Array<Record<string, unknown>> }>('/api/tls/list');
    assert.equal(t.total, tls.length);
    assert.deepEqual(t.rows.map((r) => r.sni), tls.map((r) => r.sni));
    // the ladder of one L4 row: that device's packets of its connection
    const one = l4.find((r) => r.conn_trace_id !== null)!;
    const lad = await api<{ packets: unknown[] }>(`/api/l4?l4_id=${one.id}`);
    const same = l4.filter((r) => r.conn_trace_id === one.conn_trace_id && r.netns === one.netns && r.ifindex === one.ifindex && r.ifname === one.ifname);
    assert.equal(lad.packets.length, same.reduce((n, r) => n + decodePackets(r.packets as Buffer).length, 0));
    assert.equal((await get('/api/l4?l4_id=999999')).status, 404);
  } finally {
    sq.close();
  }
});

test('/api/tail: rows written after an id, oldest first; /api/stats: rows per table', async () => {
  const ids = rows.map((r) => r.id as number).sort((a, b) => a - b);
  const all = await api<{ rows: Array<{ id: number }>; max_id: number; more: boolean }>('/api/tail?after=0');
  assert.deepEqual(all.rows.map((r) => r.id), ids);
  assert.equal(all.max_id, ids[ids.length - 1]);
  const some = await api<{ rows: Array<{ id: number }> }>(`/api/tail?after=${ids[ids.length - 3]}`);
  assert.deepEqual(some.rows.map((r) => r.id), ids.slice(-2));
  const capped = await api<{ rows: Array<{ id: number }>; more: boolean }>('/api/tail?after=0&limit=2');
  assert.deepEqual(capped.rows.map((r) => r.id), ids.slice(-2));
  assert.equal(capped.more, true);
  const none = await api<{ rows: unknown[] }>(`/api/tail?after=${ids[ids.length - 1]}`);
  assert.equal(none.rows.length, 0);
  const st = await api<{ rows: Record<string, number> }>('/api/stats');
  assert.equal(st.rows.l7, rows.length);
});

test('/api/topology: the graph `wirelog topology` builds from the same L7 and L4 lines, with a filter per node and edge', async () => {
  const sq = new Database(db, { readonly: true });
  const lines = [
    ...(sq.prepare('SELECT * FROM l7 ORDER BY ts_us, id').all() as Array<Record<string, unknown>>).map((r) => rowToLine('l7', r)),
    ...(sq.prepare('SELECT * FROM l4 ORDER BY ts_us, id').all() as Array<Record<string, unknown>>).map((r) => rowToLine('l4', r)),
  ];
  sq.close();
  const ref = await topologyOfStream(Readable.from([lines.join('\n') + '\n']));
  const want = topologyJsonValue(ref.graph, ref.input) as { nodes: Array<Record<string, unknown>>; edges: Array<Record<string, unknown>> };
  const got = await api<{ nodes: Array<Record<string, unknown>>; edges: Array<Record<string, unknown>> }>('/api/topology');
  const strip = (xs: Array<Record<string, unknown>>): unknown[] => xs.map(({ filter: _f, ...x }) => x);
  assert.deepEqual(strip(got.nodes), want.nodes);
  assert.deepEqual(strip(got.edges), want.edges);
  // each device's filter selects the records that crossed it
  for (const n of got.nodes.filter((x) => x.type === 'device' && x.filter !== undefined)) {
    const r = await api<{ total: number }>(`/api/l7?filter=${encodeURIComponent(n.filter as string)}`);
    assert.ok(r.total > 0, `${n.id}: ${n.filter}`);
  }
  const bad = await get(`/api/topology?filter=${encodeURIComponent('nope = 1')}`);
  assert.equal(bad.status, 400);
});

test('a store that breaks under the server: 500 with one line, and the server keeps serving', async () => {
  const copy = path.join(dir, 'broken.db');
  fs.copyFileSync(db, copy);
  const s = await startUi({ store: copy, host: '127.0.0.1', port: 0, token: TOKEN, webDir: path.join(repoRoot, 'dist', 'web') });
  const logged: string[] = [];
  try {
    assert.equal((await fetch(s.url + 'api/stats', { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 200);
    fs.writeFileSync(copy, Buffer.alloc(fs.statSync(copy).size, 0x41)); // no longer a database
    const r = await fetch(s.url + 'api/l7', { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 500);
    const body = (await r.json()) as { error: string };
    assert.ok(body.error.length > 0 && !body.error.includes('\n'), body.error);
    const page = await fetch(s.url + `?token=${TOKEN}`);
    assert.equal(page.status, 200, 'still serving');
  } finally {
    await s.close().catch((e: unknown) => logged.push(String(e)));
  }
});
