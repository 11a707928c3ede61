/**
 * `wirelog ui` in a real browser (Debian's Chromium driven by playwright-core) on a store of real traffic:
 * `wirelog capture --netns all --l4 --store DB` on the topology of test/helpers/topology.ts while curl asks nginx
 * (200s, 404s, one request through the host's DNAT). Then `wirelog ui --store DB --listen 127.0.0.1:0`, and each
 * page is compared with an independent reference: the list with the store's rows (openStoreReader) and nginx's
 * access log, the filtered list with the 404s, the request page with its record and hops, the ladder with that
 * device's L4 packets, the topology with `wirelog topology --format json` of `wirelog query`'s lines, and an edge's
 * list with the records whose hops cross it. Also: no token → 401 (page and API), the cookie → 200, a bad filter
 * → the error with its caret. Screenshots: test-artifacts/ui/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import Database from 'better-sqlite3';
import { requirePrivileges } from '../helpers/privileged.js';
import { repoRoot } from '../helpers/paths.js';
import { Scope, sleep } from '../helpers/proc.js';
import { createTopology } from '../helpers/topology.js';
import { curl, startNginx } from '../helpers/nginx.js';
import { runWirelog, startWirelogLive } from '../helpers/wirelog.js';
import { cliPath, sensorPath } from '../helpers/paths.js';
import { openStoreReader } from '../../src/store/reader.js';
import { rowToRecord } from '../../src/store/read.js';
import { nsText, tcpFlagLetters } from '../../src/sinks/l4-jsonl.js';
import { formatQueryError, parseQuery, QueryError } from '../../src/query/index.js';
import type { L4Packet } from '../../src/records.js';
import { insertSql, l7StoredOfRow, TABLE_COLUMNS, type Row } from '../../src/store/schema.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = path.join(repoRoot, 'test-artifacts', 'ui');

interface Hop { ifname: string | null; ifindex: number; netns: number | null; netns_name: string | null; req_ts: string | null; resp_ts: string | null }
type Rec = Record<string, unknown> & { id: number; ts_us?: number; uri: string | null; method: string | null; status: number | null; hops: Hop[] | null; conn_trace_id: string | null; l7_trace_id: string | null; req_seq: number | null };

async function launch(scope: Scope): Promise<BrowserContext> {
  const profile = await scope.tempDir('wirelog-chromium-');
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 1000 },
  });
  scope.defer('close chromium', () => ctx.close());
  return ctx;
}

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The rows the list shows: id and the method/uri/status cells, in order. */
async function shownRows(page: Page): Promise<Array<{ id: number; method: string; uri: string; status: string }>> {
  return page.$$eval('[data-testid=l7-row]', (els) => els.map((el) => ({
    id: Number(el.getAttribute('data-id')),
    method: el.querySelector('[data-col=method]')?.textContent ?? '',
    uri: el.querySelector('[data-col=uri]')?.textContent ?? '',
    status: el.querySelector('[data-col=status]')?.textContent ?? '',
  })));
}

async function waitForTotal(page: Page, n: number): Promise<void> {
  await page.waitForSelector(`[data-testid=row-count][data-total="${n}"][data-loaded="${n}"]`);
  await page.waitForFunction((k) => document.querySelectorAll('[data-testid=l7-row]').length === k, n);
}

const crossesEdge = (r: Rec, from: string, to: string): boolean => {
  const ids = (r.hops ?? []).map((h) => `dev:${h.netns ?? '-'}:${h.ifindex}:${h.ifname ?? '-'}`);
  for (let i = 0; i + 1 < ids.length; i++) if (ids[i] === from && ids[i + 1] === to) return true;
  return false;
};

test('wirelog ui: list, filter, request, hops, ladder and topology in Chromium equal the store, the access log and wirelog topology', async (t) => {
  if (!requirePrivileges(t)) return;
  if (!fs.existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing (apt-get install chromium; scripts/setup.sh)`);
    t.skip(`${CHROMIUM} is missing`);
    return;
  }
  assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'web', 'index.html')), 'dist/web is built (npm run build)');
  const scope = new Scope();
  t.after(() => scope.close());

  // ---- a store of real traffic
  const topo = await createTopology(scope);
  const nginx = await startNginx(scope, { netns: topo.server.name, listen: [topo.server.ip], port: 80 });
  const dir = await scope.tempDir('wirelog-ui-');
  const db = path.join(dir, 'store.db');
  const wl = await startWirelogLive(scope, ['--netns', 'all', '--format', 'jsonl', '--l4', '-p', `80,${topo.dnatPort}`, '--store', db]);
  const s = `http://${topo.server.ip}`;
  await curl(scope, [`${s}/index.html`, `${s}/small.txt`, `${s}/data.json`], { netns: topo.client.name });
  await curl(scope, [`${s}/missing-one`, `${s}/missing-two?x=1`], { netns: topo.client.name });
  await curl(scope, [`${s}/small.txt?again`], { netns: topo.client.name });
  await curl(scope, [`http://${topo.clientBridge.ip}:${topo.dnatPort}/data.json?dnat`], { netns: topo.client.name });
  const access = await nginx.waitForEntries(7);
  await sleep(1500); // the hop hold (1 s) and the last L4 chunks
  const stopped = await wl.stop();
  assert.equal(stopped.code, 0, stopped.stderr);

  // ---- the references: the store's rows (through the reader the explorer uses too) and the access log
  const reader = await openStoreReader(db);
  const rows = (await reader.rows({ table: 'l7', orderBy: 'ts_us', desc: true, limit: 10_000 })).map((r) => ({ id: r.id as number, ts_us: r.ts_us as number, ...rowToRecord('l7', r) }) as Rec);
  const ours = rows.filter((r) => r.dst_ip === topo.server.ip || r.dst_ip === topo.clientBridge.ip);
  assert.deepEqual(ours.map((r) => `${r.uri} ${r.status}`).sort(), access.map((a) => `${a.request_uri} ${a.status}`).sort(), 'the store holds the requests nginx served');
  const notFound = rows.filter((r) => r.status === 404);
  assert.equal(notFound.length, access.filter((a) => a.status === 404).length);

  // ---- the explorer
  const ui = scope.spawn(process.execPath, [cliPath, 'ui', '--store', db, '--listen', '127.0.0.1:0'], { env: { ...process.env, WIRELOG_SENSOR: sensorPath } });
  const line = await ui.waitForLine('stderr', /^wirelog: explorer at /, 15_000);
  const m = /^wirelog: explorer at (http:\/\/127\.0\.0\.1:(\d+)\/)\?token=([0-9a-f]{32})$/.exec(line);
  assert.ok(m, line);
  const [, base, port, token] = m;
  assert.notEqual(Number(port), 0, 'the real port is printed');

  // no token: 401, page and API; the Bearer token: 200
  for (const p of ['', 'api/l7', 'api/stats', 'app.js']) {
    const r = await fetch(base + p);
    assert.equal(r.status, 401, `${p || '/'} without the token`);
    assert.match(await r.text(), /unauthorized/);
  }
  assert.equal((await fetch(base + 'api/l7', { headers: { Authorization: 'Bearer ' + 'f'.repeat(32) } })).status, 401, 'a wrong token');
  const bearer = await fetch(base + 'api/stats', { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(bearer.status, 200);
  assert.equal(((await bearer.json()) as { rows: { l7: number } }).rows.l7, rows.length);

  const ctx = await launch(scope);
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const first = await page.goto(`${base}?token=${token}`);
  assert.equal(first?.status(), 200);
  assert.match(first!.headers()['content-security-policy'] ?? '', /default-src 'self'/);
  assert.equal(first!.headers()['x-content-type-options'], 'nosniff');
  const cookie = (await ctx.cookies(base)).find((c) => c.name === 'wirelog_token');
  assert.ok(cookie && cookie.value === token && cookie.httpOnly && cookie.sameSite === 'Strict', JSON.stringify(cookie));
  // later requests: the cookie alone
  assert.equal((await page.request.get(base + 'api/stats')).status(), 200, 'the cookie authenticates');
  assert.equal((await page.request.get(base + 'app.js')).headers()['content-type'], 'text/javascript; charset=utf-8');

  // the list: every row of the store, newest first, method/uri/status as stored
  await waitForTotal(page, rows.length);
  assert.ok(!page.url().includes('token='), 'the token left the address bar');
  assert.deepEqual(await shownRows(page), rows.map((r) => ({ id: r.id, method: r.method ?? '', uri: r.uri ?? '', status: r.status === null ? '' : String(r.status) })));
  await shot(page, '1-list');

  // a filter: exactly the 404s
  await page.fill('[data-testid=filter]', 'status = 404');
  await page.press('[data-testid=filter]', 'Enter');
  await waitForTotal(page, notFound.length);
  assert.deepEqual((await shownRows(page)).map((r) => r.id), notFound.map((r) => r.id));
  assert.ok((await shownRows(page)).every((r) => r.status === '404'));
  await shot(page, '2-list-404');

  // a bad filter: the message under the box with the caret at its column, as formatQueryError draws it
  const bad = 'status = 404 and stauts = 1';
  let want = '';
  try {
    parseQuery(bad);
  } catch (e) {
    want = formatQueryError(bad, e as QueryError);
  }
  assert.ok(want.includes('^'));
  await page.fill('[data-testid=filter]', bad);
  await page.press('[data-testid=filter]', 'Enter');
  await page.waitForSelector('[data-testid=filter-error]');
  assert.equal(await page.textContent('[data-testid=filter-error] pre'), want);
  assert.equal(await page.getAttribute('[data-testid=filter-error]', 'data-column'), String(bad.indexOf('stauts')));
  await shot(page, '3-filter-error');

  // a request: the DNAT'd one (six hops); its fields and one bar per hop, in path order
  const rec = ours.find((r) => r.uri === '/data.json?dnat')!;
  assert.ok(rec.hops !== null && rec.hops.length >= 2, 'the DNAT record has hops');
  await page.fill('[data-testid=filter]', '');
  await page.press('[data-testid=filter]', 'Enter');
  await waitForTotal(page, rows.length);
  await page.click(`[data-testid=l7-row][data-id="${rec.id}"]`);
  await page.waitForSelector(`[data-testid=request-page][data-id="${rec.id}"]`);
  for (const f of ['method', 'uri', 'status', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'host', 'user_agent', 'l7_trace_id', 'conn_trace_id', 'req_seq', 'resp_seq', 'ts', 'res_ts', 'latency_ms']) {
    assert.equal(await page.textContent(`[data-testid=field-${f}]`), rec[f] === null ? '' : String(rec[f]), f);
  }
  const bars = await page.$$eval('[data-testid=hop-bar]', (els) => els.map((e) => ({ ifname: e.getAttribute('data-ifname'), ifindex: Number(e.getAttribute('data-ifindex')), netns: e.getAttribute('data-netns') })));
  assert.deepEqual(bars, rec.hops!.map((h) => ({ ifname: h.ifname ?? '', ifindex: h.ifindex, netns: h.netns === null ? '' : String(h.netns) })), 'one bar per hop, in order');
  // each bar spans the hop's request and response times, relative to the first hop's request
  const isoUs = (iso: string): number => Date.parse(iso.slice(0, 19) + 'Z') * 1000 + Number(iso.slice(20, 26));
  const t0 = isoUs(rec.hops![0]!.req_ts!);
  const spans = await page.$$eval('[data-testid=hop-bar]', (els) => els.map((e) => [Number(e.getAttribute('data-req-us')), Number(e.getAttribute('data-resp-us'))]));
  assert.deepEqual(spans, rec.hops!.map((h) => [isoUs(h.req_ts!) - t0, isoUs(h.resp_ts!) - t0]));
  // related: the connection's L4 series, and a ladder link per device that has packets of it
  const series = await reader.rows({ table: 'l4', equals: { conn_trace_id: rec.conn_trace_id }, limit: 10_000 });
  assert.equal(await page.locator('[data-testid=related-l4] tbody tr').count(), series.length);
  const devs = new Set(series.map((r) => `${r.netns}:${r.ifindex}`));
  const links = await page.$$eval('[data-testid=device-link]', (els) => els.map((e) => `${e.getAttribute('data-netns')}:${e.getAttribute('data-ifindex')}`));
  assert.deepEqual(links.slice().sort(), [...devs].sort(), 'one ladder link per device with packets');
  for (const h of rec.hops!) assert.ok(devs.has(`${h.netns}:${h.ifindex}`), `L4 packets on hop ${h.ifname}`);
  await shot(page, '4-request');

  // its ladder on the server's veth: the arrows are that device's L4 packets of the connection
  const devLink = `[data-testid=device-link][data-netns="${topo.server.inode}"][data-ifindex="${topo.server.ifindex}"]`;
  await page.click(devLink);
  await page.waitForSelector('[data-testid=ladder-packet]');
  const l4 = await reader.rows({ table: 'l4', equals: { conn_trace_id: rec.conn_trace_id, netns: topo.server.inode, ifindex: topo.server.ifindex }, limit: 1000 });
  const packets = l4.flatMap((r) => rowToRecord('l4', r).packets as L4Packet[]).sort((a, b) => a.tsUs - b.tsUs || a.nsRem - b.nsRem);
  assert.ok(packets.length >= 8, `the server veth's packets: ${packets.length}`);
  const arrows = await page.$$eval('[data-testid=ladder-packet]', (els) => els.map((e) => ({
    flags: e.getAttribute('data-flags'), seq: e.getAttribute('data-seq'), len: Number(e.getAttribute('data-len')),
    fromClient: e.getAttribute('data-from-client') === '1', reqOf: e.getAttribute('data-req-of'),
  })));
  // on the server's device the client's packets are received (rx)
  assert.deepEqual(arrows.map(({ reqOf: _r, ...a }) => a), packets.map((p) => ({ flags: tcpFlagLetters(p.flags), seq: String(p.seq), len: p.len, fromClient: !p.tx })));
  const marked = arrows.filter((a) => a.reqOf!.split(',').includes(String(rec.id)));
  assert.equal(marked.length, 1, 'the request is marked on one packet');
  assert.ok(((rec.req_seq! - Number(marked[0]!.seq)) >>> 0) < marked[0]!.len, 'the marked packet holds req_seq');
  // search by seq: the packet holding req_seq + 1 (a byte inside the request) is highlighted
  await page.fill('[data-testid=seq-search]', String((rec.req_seq! + 1) >>> 0));
  await page.waitForSelector('[data-testid=ladder-packet][data-hit="1"]');
  const hits = await page.$$eval('[data-testid=ladder-packet][data-hit="1"]', (els) => els.map((e) => Number(e.getAttribute('data-seq'))));
  assert.deepEqual(hits, [Number(marked[0]!.seq)]);
  // times: relative to the first packet, or absolute (ISO, ns), equal to the packet time of the L4 record
  assert.equal(await page.textContent('[data-testid=ladder-packet] .lt'), '+0.000 ms');
  await page.check('[data-testid=absolute]');
  await page.waitForFunction(() => document.querySelector('[data-testid=ladder-packet] .lt')?.textContent?.endsWith('Z') === true);
  const shownTimes = await page.$$eval('[data-testid=ladder-packet] .lt', (els) => els.map((e) => e.textContent ?? ''));
  const isoNs = (iso: string): bigint => BigInt(Date.parse(iso.slice(0, 19) + 'Z')) * 1_000_000n + BigInt(iso.slice(20, 29));
  assert.deepEqual(shownTimes.map(isoNs), packets.map((p) => BigInt(nsText(p.tsUs, p.nsRem))));
  await page.uncheck('[data-testid=absolute]');
  await shot(page, '5-ladder');

  // the topology: nodes and edges equal `wirelog topology --format json` of the same records
  const q7 = await runWirelog(['query', '--store', db, '--limit', '100000']);
  const q4 = await runWirelog(['query', '--store', db, '--record', 'l4', '--limit', '100000']);
  assert.equal(q7.code, 0, q7.stderr);
  const topoRun = await runWirelog(['topology', '--format', 'json'], { stdin: q7.stdout + q4.stdout });
  assert.equal(topoRun.code, 0, topoRun.stderr);
  const ref = JSON.parse(topoRun.stdout) as { nodes: Array<{ id: string; parent?: string }>; edges: Array<{ from: string; to: string; requests: number; req_ms: { p50: number | null; p99: number | null } }> };
  await page.click('[data-testid=nav-topology]');
  await page.waitForSelector('[data-testid=topology-graph][data-nodes]');
  await page.waitForFunction(() => (window as unknown as { wirelogCy?: unknown }).wirelogCy !== undefined);
  const drawn = await page.evaluate(() => {
    const cy = (window as unknown as { wirelogCy: { nodes(): Array<{ id(): string; data(k: string): unknown }>; edges(): Array<{ data(k: string): unknown }> } }).wirelogCy;
    return {
      nodes: cy.nodes().map((n) => ({ id: n.id(), parent: (n.data('parent') as string | undefined) ?? null })),
      edges: cy.edges().map((e) => ({ from: e.data('source') as string, to: e.data('target') as string, requests: e.data('requests') as number, label: e.data('label') as string })),
    };
  });
  assert.deepEqual(drawn.nodes.map((n) => `${n.id} < ${n.parent}`).sort(), ref.nodes.map((n) => `${n.id} < ${n.parent ?? null}`).sort(), 'the nodes');
  assert.deepEqual(drawn.edges.map((e) => `${e.from} → ${e.to} ${e.requests}`).sort(), ref.edges.map((e) => `${e.from} → ${e.to} ${e.requests}`).sort(), 'the edges and their request counts');
  for (const e of ref.edges) {
    const d = drawn.edges.find((x) => x.from === e.from && x.to === e.to)!;
    const ms = (v: number | null): string => (v === null ? '–' : `${v.toFixed(3)}ms`);
    assert.ok(d.label.includes(`p50 ${ms(e.req_ms.p50)} p99 ${ms(e.req_ms.p99)}`), `${d.label} has the hop times of ${JSON.stringify(e.req_ms)}`);
  }
  await shot(page, '6-topology');

  // an edge clicked: the list of the records whose hops cross it
  const from = `dev:${topo.hostNetns}:${topo.clientBridge.ifindex}:${topo.clientBridge.name}`;
  const to = `dev:${topo.hostNetns}:${topo.serverBridge.ifindex}:${topo.serverBridge.name}`;
  const crossing = rows.filter((r) => crossesEdge(r, from, to));
  assert.ok(crossing.length >= ours.length, 'every request crosses the bridges');
  await page.evaluate(([f, tt]) => {
    const cy = (window as unknown as { wirelogCy: { edges(): Array<{ data(k: string): unknown; emit(ev: string): void }> } }).wirelogCy;
    cy.edges().find((e) => e.data('source') === f && e.data('target') === tt)!.emit('tap');
  }, [from, to]);
  await page.waitForSelector('.list-page');
  await waitForTotal(page, crossing.length);
  assert.deepEqual((await shownRows(page)).map((r) => r.id), crossing.map((r) => r.id));
  assert.notEqual(await page.inputValue('[data-testid=filter]'), '', 'the filter box says what was selected');
  await shot(page, '7-edge-list');

  // a node clicked (the server's namespace): the records whose hops pass one of its devices
  await page.click('[data-testid=nav-topology]');
  await page.waitForFunction(() => (window as unknown as { wirelogCy?: unknown }).wirelogCy !== undefined);
  await page.evaluate((id) => {
    const cy = (window as unknown as { wirelogCy: { getElementById(id: string): { emit(ev: string): void } } }).wirelogCy;
    cy.getElementById(id).emit('tap');
  }, `ns:${topo.server.inode}`);
  await page.waitForSelector('.list-page');
  const inServerNs = rows.filter((r) => (r.hops ?? []).some((h) => h.netns === topo.server.inode));
  await waitForTotal(page, inServerNs.length);
  assert.deepEqual((await shownRows(page)).map((r) => r.id), inServerNs.map((r) => r.id));

  // the L4 page: the server veth's series, in the L4 filter language; a row opens its ladder
  const l4Filter = `netns = ${topo.server.inode} and server_port = 80`;
  const l4Want = await reader.rows({ table: 'l4', filter: parseQuery(l4Filter, { record: 'l4' }), orderBy: 'ts_us', desc: true, limit: 10_000 });
  assert.ok(l4Want.length >= new Set(ours.map((r) => r.conn_trace_id)).size, `an L4 series per connection on the server veth: ${l4Want.length}`);
  await page.click('[data-testid=nav-l4]');
  await page.waitForSelector('[data-testid=l4-page]');
  await page.fill('[data-testid=filter]', l4Filter);
  await page.press('[data-testid=filter]', 'Enter');
  await page.waitForSelector(`[data-testid=row-count][data-total="${l4Want.length}"][data-loaded="${l4Want.length}"]`);
  await page.waitForFunction((k) => document.querySelectorAll('[data-testid=l4-row]').length === k, l4Want.length);
  assert.deepEqual(await page.$$eval('[data-testid=l4-row]', (els) => els.map((e) => Number(e.getAttribute('data-id')))), l4Want.map((r) => r.id));
  await shot(page, '8-l4');
  const firstL4 = l4Want[0]!;
  await page.click(`[data-testid=l4-row][data-id="${firstL4.id}"]`);
  await page.waitForSelector('[data-testid=ladder-packet]');
  const sameDev = await reader.rows({ table: 'l4', equals: { conn_trace_id: firstL4.conn_trace_id as string, netns: topo.server.inode, ifindex: topo.server.ifindex }, limit: 1000 });
  const devPackets = sameDev.flatMap((r) => rowToRecord('l4', r).packets as L4Packet[]).sort((a, b) => a.tsUs - b.tsUs || a.nsRem - b.nsRem);
  assert.deepEqual(await page.$$eval('[data-testid=ladder-packet]', (els) => els.map((e) => `${e.getAttribute('data-flags')} ${e.getAttribute('data-seq')}`)),
    devPackets.map((p) => `${tcpFlagLetters(p.flags)} ${p.seq}`));

  // the list's own controls: a saved filter (kept across a reload), sort by a header, resize a column, choose columns (remembered across a reload)
  await page.goto(`${base}#/`);
  await waitForTotal(page, rows.length);
  await page.fill('[data-testid=filter]', 'status = 404');
  await page.click('[data-testid=filter-save]');
  await page.reload();
  await waitForTotal(page, rows.length);
  await page.selectOption('[data-testid=saved-filters]', 'status = 404');
  await waitForTotal(page, notFound.length);
  assert.deepEqual((await shownRows(page)).map((r) => r.id), notFound.map((r) => r.id), 'the saved filter applied');
  await page.goto(`${base}#/`);
  await waitForTotal(page, rows.length);
  await page.click('.th[data-col=status]');
  await page.waitForSelector('.th.sorted[data-col=status]');
  const byStatus = [...rows].sort((a, b) => (a.status ?? -1) - (b.status ?? -1) || a.id - b.id);
  await page.waitForFunction((first) => document.querySelector('[data-testid=l7-row]')?.getAttribute('data-id') === String(first), byStatus[0]!.id);
  assert.deepEqual((await shownRows(page)).map((r) => r.id), byStatus.map((r) => r.id), 'sorted by status, ascending');
  const uriWidth = async (): Promise<number> => (await page.locator('.th[data-col=uri]').boundingBox())!.width;
  const w0 = await uriWidth();
  const grip = (await page.locator('[data-testid=resize-uri]').boundingBox())!;
  await page.mouse.move(grip.x + grip.width / 2, grip.y + grip.height / 2);
  await page.mouse.down();
  await page.mouse.move(grip.x + grip.width / 2 + 120, grip.y + grip.height / 2, { steps: 5 });
  await page.mouse.up();
  assert.equal(Math.round(await uriWidth()), Math.round(w0 + 120), 'the uri column is 120 px wider');
  await page.click('[data-testid=columns-button]');
  await page.uncheck('[data-testid=columns-menu] input[data-col=host]');
  await page.check('[data-testid=columns-menu] input[data-col=l7_trace_id]');
  assert.equal(await page.locator('.th[data-col=host]').count(), 0);
  await page.reload();
  await waitForTotal(page, rows.length);
  assert.equal(await page.locator('.th[data-col=host]').count(), 0, 'the chosen columns survive a reload');
  assert.equal(await page.locator('.th[data-col=l7_trace_id]').count(), 1);
  assert.equal(Math.round(await uriWidth()), Math.round(w0 + 120), 'and the widths');
  const traceCells = await page.$$eval('[data-testid=l7-row] [data-col=l7_trace_id]', (els) => els.map((e) => e.textContent));
  assert.deepEqual(traceCells, byStatus.map((r) => r.l7_trace_id ?? ''));

  // the live tail: a row written to the store now (a copy of a real one, as a running capture would add it)
  // appears at the top of the newest-first list
  await page.goto(`${base}#/`);
  await waitForTotal(page, rows.length);
  await page.check('[data-testid=live]');
  const writer = new Database(db);
  const copy = writer.prepare('SELECT * FROM l7 WHERE id = ?').get(rec.id) as Record<string, unknown>;
  // rows go in as the writer stores them (l7 is a view over l7_data: docs/store.md)
  const storedCopy = (tsUs: number): Row => l7StoredOfRow(TABLE_COLUMNS.l7.map((c) => (c === 'ts_us' ? tsUs : (copy[c] ?? null))) as Row);
  const newId = Number(writer.prepare(insertSql('l7')).run(...storedCopy((rows[0]!.ts_us as number) + 1)).lastInsertRowid);
  writer.close();
  await page.waitForSelector(`[data-testid=row-count][data-total="${rows.length + 1}"]`);
  assert.equal(await page.getAttribute('[data-testid=l7-row]', 'data-id'), String(newId), 'the new row on top');
  await shot(page, '9-live-tail');

  // thousands of rows: the list keeps a few dozen in the page (virtual rows) and loads pages as it is scrolled
  const many = 3000;
  const w2 = new Database(db);
  const oldest = Math.min(...rows.map((r) => r.ts_us!));
  const ins = w2.prepare(insertSql('l7'));
  const manyIds: number[] = [];
  w2.transaction(() => {
    for (let i = 1; i <= many; i++) manyIds.push(Number(ins.run(...storedCopy(oldest - i)).lastInsertRowid));
  })();
  w2.close();
  const bigTotal = rows.length + 1 + many;
  await page.uncheck('[data-testid=live]');
  await page.reload();
  await page.waitForSelector(`[data-testid=row-count][data-total="${bigTotal}"]`);
  const inDom = await page.locator('[data-testid=l7-row]').count();
  assert.ok(inDom > 10 && inDom < 150, `rows in the page: ${inDom} of ${bigTotal}`);
  // scroll to the end, again after each page that arrives, until every row is loaded
  await page.waitForFunction(() => {
    const t = document.querySelector('[data-testid=l7-table]')!;
    t.scrollTop = t.scrollHeight;
    const c = document.querySelector('[data-testid=row-count]') as HTMLElement;
    return c.dataset.loaded === c.dataset.total;
  }, undefined, { polling: 100 });
  await page.waitForSelector(`[data-testid=l7-row][data-id="${manyIds[many - 1]}"]`);
  assert.ok((await page.locator('[data-testid=l7-row]').count()) < 150, 'still only the visible rows in the page');
  await shot(page, '10-many-rows-end');

  assert.deepEqual(pageErrors, [], 'no script errors');
  await reader.close();
  await ui.stop('SIGINT', 5000);
  assert.equal(ui.exitInfo?.code, 0, ui.stderr);
});
