/**
 * ClickHouse as the store of many hosts (docs/clickhouse.md), against clickhouse-server processes (Debian's 18.16)
 * the tests start with configs of their own:
 * a. two agents in two network namespaces (two "hosts", each with nginx) ship to one server: every request nginx
 *    logged is one l7 row with the right agent (read with clickhouse-client), and `wirelog query --store
 *    clickhouse://…` gives back exactly the JSON lines the captures wrote (l7 and l4);
 * b. two servers as two shards behind `Distributed` tables in a database `wirelog_all`: agents ship to different
 *    shards, `wirelog query --store clickhouse://…/wirelog_all` returns the union, filtered as the JS predicate
 *    filters the captures' lines;
 * c. spool: an agent started while the server is down spools batches to disk; once the server runs the rows arrive
 *    and the spool empties; with a tiny --spool-size the overflow is counted in the summary and in wirelog_stats;
 * d. a bad URL, an unreachable server, a refused schema: one clear line, non-zero exit, no password printed;
 * e. `trace --store clickhouse://…`: the traced transactions (after --filter), read back as the JSON lines.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, run, runOk, sleep, waitFor } from '../helpers/proc.js';
import { startNginx, curl, freePort, type Nginx } from '../helpers/nginx.js';
import { startTcpdump } from '../helpers/tshark.js';
import { runWirelog, parseSummary, startWirelogLive } from '../helpers/wirelog.js';
import { addBridgedNs, type TopoNs } from '../helpers/topology.js';
import { clickHouseProblem, startClickHouse } from '../helpers/clickhouse.js';
import { compilePredicate, parseQuery } from '../../src/query/index.js';
import { startUi } from '../../src/pipelines/ui.js';
import { repoRoot } from '../helpers/paths.js';

const scope = new Scope();
after(() => scope.close());

/** root (namespaces, the sensor) and clickhouse-server; under CI=true a test that cannot run fails. */
function canRun(t: { skip(m: string): void }, needSensor = true): boolean {
  const ch = clickHouseProblem();
  if (ch !== undefined) {
    if (process.env.CI === 'true') throw new Error(`ClickHouse test cannot run under CI: ${ch}`);
    t.skip(ch);
    return false;
  }
  return requirePrivileges(t as Parameters<typeof requirePrivileges>[0], needSensor);
}

/** A bridge in the host namespace with an address, and namespaces on it (each a "host"). */
async function hostsOnBridge(n: number): Promise<{ bridgeIp: string; hosts: TopoNs[] }> {
  const tag = randomBytes(3).toString('hex');
  const net = `10.214.${1 + (randomBytes(1)[0]! % 250)}`;
  const br = `wlb${tag}k`;
  scope.defer(`delete bridge ${br}`, async () => { await run('ip', ['link', 'del', br], { timeoutMs: 10_000 }); });
  await runOk('ip', ['link', 'add', br, 'type', 'bridge']);
  await runOk('ip', ['addr', 'add', `${net}.1/24`, 'dev', br]);
  await runOk('ip', ['link', 'set', br, 'up']);
  const hosts: TopoNs[] = [];
  for (let i = 0; i < n; i++) hosts.push(await addBridgedNs(scope, { tag, letter: 'abcdefgh'[i]!, bridge: br, ip: `${net}.${2 + i}`, gateway: `${net}.1`, offloadsOff: true }));
  return { bridgeIp: `${net}.1`, hosts };
}

const jsonLines = (stdout: string): string[] => stdout.split('\n').filter((l) => l.startsWith('{'));
const ofRecord = (lines: string[], rec: string): string[] => lines.filter((l) => l.includes(`"record":"${rec}"`));
const sorted = (a: string[]): string[] => [...a].sort();

async function query(args: string[]): Promise<string[]> {
  const r = await runWirelog(['query', ...args]);
  assert.equal(r.code, 0, `wirelog query ${args.join(' ')}: ${r.stderr}`);
  return jsonLines(r.stdout);
}

test('a. two agents in two namespaces ship to one server: one row per request with its agent; query gives the captures\' lines', async (t) => {
  if (!canRun(t)) return;
  const { bridgeIp, hosts } = await hostsOnBridge(2);
  const ch = await startClickHouse(scope, { host: bridgeIp });
  const url = ch.url('wirelog');
  const agents = ['hostA', 'hostB'];
  const nginxes: Nginx[] = [];
  const captures = [];
  for (let i = 0; i < 2; i++) {
    const h = hosts[i]!;
    nginxes.push(await startNginx(scope, { netns: h.name, listen: [h.ip], port: 80, bigBytes: 256 * 1024 }));
    const spool = await scope.tempDir('wirelog-spool-');
    captures.push(await startWirelogLive(scope, ['-i', h.dev, '-p', '80', '--format', 'jsonl', '--l4', '--store', url, '--agent', agents[i]!, '--spool-dir', spool], { netns: h.name }));
  }
  // different traffic to each host: A gets 12 requests, B 7 (a 404 and the big file among them)
  await curl(scope, Array.from({ length: 11 }, (_, i) => `http://${hosts[0]!.ip}/small.txt?a=${i}`).concat(`http://${hosts[0]!.ip}/missing-a`));
  await curl(scope, Array.from({ length: 5 }, (_, i) => `http://${hosts[1]!.ip}/index.html?b=${i}`).concat(`http://${hosts[1]!.ip}/big.bin`, `http://${hosts[1]!.ip}/nope`));
  const entries = [await nginxes[0]!.waitForEntries(12), await nginxes[1]!.waitForEntries(7)];
  await sleep(500); // the sensor's last packets
  const out = [];
  for (const c of captures) {
    const s = await c.stop();
    assert.equal(s.code, 0, s.stderr);
    out.push(s);
  }

  for (let i = 0; i < 2; i++) {
    // clickhouse-client's view: this agent's requests are nginx's, one row each
    const rows = await ch.rows<{ uri: string; status: number; method: string }>(`SELECT uri, status, method FROM wirelog.l7 WHERE agent = '${agents[i]}'`);
    assert.deepEqual(sorted(rows.map((r) => `${r.method} ${r.uri} ${r.status}`)), sorted(entries[i]!.map((e) => `${e.request_method} ${e.request_uri} ${e.status}`)), `${agents[i]}: one row per nginx request; capture said: ${out[i]!.stderr}`);
    const lines = jsonLines(out[i]!.stdout);
    assert.equal(ofRecord(lines, 'l7').length, entries[i]!.length, `${agents[i]}: its capture wrote a line per request`);
    const summary = parseSummary(out[i]!.stderr);
    assert.ok(summary?.stored, out[i]!.stderr);
    assert.deepEqual(summary.stored, { rows: lines.length, dropped: 0 }, `${agents[i]} summary`);
    assert.match(out[i]!.stderr, new RegExp(`store ${url.replace(/[.]/g, '\\.')} \\(agent ${agents[i]}\\): written l7 ${entries[i]!.length}, l4 ${ofRecord(lines, 'l4').length},`));
  }
  const all = jsonLines(out[0]!.stdout).concat(jsonLines(out[1]!.stdout));
  // the store read back through wirelog query: the very lines the captures wrote (L4 packet series included)
  assert.deepEqual(sorted(await query(['--store', url, '-n', '100000'])), sorted(ofRecord(all, 'l7')), 'l7 lines');
  assert.deepEqual(sorted(await query(['--store', url, '--record', 'l4', '-n', '100000'])), sorted(ofRecord(all, 'l4')), 'l4 lines');
  // a filter: the same lines as the JS predicate picks from the captures' output
  const f = 'status = 4xx or path ^= "/index"';
  const pred = compilePredicate(parseQuery(f));
  const want = ofRecord(all, 'l7').filter((l) => pred(JSON.parse(l) as Record<string, unknown>));
  assert.equal(want.length, 2 + 5);
  assert.deepEqual(sorted(await query(['--store', url, '--filter', f])), sorted(want), f);
  // wirelog_stats: what each agent wrote
  const stats = await ch.rows<{ agent: string; tbl: string; w: number; d: number }>(`SELECT agent, tbl, sum(written) AS w, sum(dropped) AS d FROM wirelog.wirelog_stats GROUP BY agent, tbl ORDER BY agent, tbl`);
  for (let i = 0; i < 2; i++) {
    const l7 = stats.find((s) => s.agent === agents[i] && s.tbl === 'l7');
    assert.deepEqual(l7, { agent: agents[i], tbl: 'l7', w: entries[i]!.length, d: 0 }, `${agents[i]} stats`);
  }
});

test('b. two shards behind Distributed tables: agents ship to different shards, query on wirelog_all gives the union', async (t) => {
  if (!canRun(t, false)) return;
  // two recordings of curl ↔ nginx on loopback, one per agent
  const dir = await scope.tempDir('wirelog-ch-dist-');
  const nginx = await startNginx(scope, { bigBytes: 64 * 1024 });
  const pcaps: string[] = [];
  for (const [k, n] of [['a', 9], ['b', 6]] as const) {
    const file = path.join(dir, `${k}.pcap`);
    const dump = await startTcpdump(scope, { iface: 'lo', file, filter: `tcp port ${nginx.port}` });
    await curl(scope, Array.from({ length: n }, (_, i) => `http://127.0.0.1:${nginx.port}/small.txt?${k}=${i}`).concat(`http://127.0.0.1:${nginx.port}/missing-${k}`));
    assert.equal((await dump.stop()).droppedByKernel, 0);
    pcaps.push(file);
  }
  const s2 = await startClickHouse(scope);
  // the cluster is known to s1, which also holds the Distributed tables
  const p1 = await freePort();
  const cluster = `<wl_cluster>${[p1, s2.tcpPort].map((p) => `<shard><replica><host>127.0.0.1</host><port>${p}</port></replica></shard>`).join('')}</wl_cluster>`;
  const s1b = await startClickHouse(scope, { tcpPort: p1, remoteServers: cluster });
  const out: string[][] = [];
  for (const [i, s] of [[0, s1b], [1, s2]] as const) {
    const r = await runWirelog(['capture', '-r', pcaps[i]!, '--format', 'jsonl', '--l4', '--store', s.url('wirelog'), '--agent', `shard${i + 1}`, '--spool-dir', path.join(dir, `spool${i}`)]);
    assert.equal(r.code, 0, r.stderr);
    out.push(jsonLines(r.stdout));
    assert.deepEqual(parseSummary(r.stderr)?.stored, { rows: out[i]!.length, dropped: 0 }, r.stderr);
  }
  // the DDL of docs/clickhouse.md ("Many servers")
  await s1b.client('CREATE DATABASE IF NOT EXISTS wirelog_all');
  for (const tbl of ['l7', 'l4', 'tls', 'netns']) await s1b.client(`CREATE TABLE wirelog_all.${tbl} AS wirelog.${tbl} ENGINE = Distributed(wl_cluster, wirelog, ${tbl}, rand())`);
  // each shard holds only its agent's rows
  assert.deepEqual(await s2.rows('SELECT DISTINCT agent FROM wirelog.l7'), [{ agent: 'shard2' }]);
  assert.equal(Number((await s2.client('SELECT count() FROM wirelog.l7')).trim()), ofRecord(out[1]!, 'l7').length);
  const all = out[0]!.concat(out[1]!);
  const url = s1b.url('wirelog_all');
  assert.equal(ofRecord(all, 'l7').length, 17);
  assert.deepEqual(sorted(await query(['--store', url, '-n', '100000'])), sorted(ofRecord(all, 'l7')), 'the union of the l7 lines');
  assert.deepEqual(sorted(await query(['--store', url, '--record', 'l4', '-n', '100000'])), sorted(ofRecord(all, 'l4')), 'the union of the l4 lines');
  for (const f of ['status = 404', 'uri ~ "b=[0-3]$"', 'not (path = "/small.txt") or uri ^= "/small.txt?a=1"']) {
    const pred = compilePredicate(parseQuery(f));
    const want = ofRecord(all, 'l7').filter((l) => pred(JSON.parse(l) as Record<string, unknown>));
    assert.ok(want.length > 0 && want.length < 17, `${f}: selects some`);
    assert.deepEqual(sorted(await query(['--store', url, '--filter', f])), sorted(want), f);
  }
  // newest first and a limit: the 3 latest of the union
  const desc = await query(['--store', url, '--desc', '-n', '3']);
  const byTs = ofRecord(all, 'l7').map((l) => JSON.parse(l) as { ts: string }).sort((a, b) => (a.ts < b.ts ? 1 : a.ts > b.ts ? -1 : 0));
  assert.deepEqual(desc.map((l) => (JSON.parse(l) as { ts: string }).ts), byTs.slice(0, 3).map((r) => r.ts));

  // the explorer reads the Distributed tables through the same reader: its list, a request page and a filter
  const token = randomBytes(16).toString('hex');
  const ui = await startUi({ store: url, host: '127.0.0.1', port: 0, token, webDir: path.join(repoRoot, 'dist', 'web') });
  try {
    const api = async (p: string): Promise<Record<string, unknown>> => {
      const r = await fetch(ui.url + p, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200, `${p}: ${r.status} ${await r.clone().text()}`);
      return (await r.json()) as Record<string, unknown>;
    };
    const list = await api('api/l7?limit=1000') as { total: number; rows: Array<Record<string, unknown>> };
    assert.equal(list.total, 17);
    const wantL7 = ofRecord(all, 'l7').map((l) => JSON.parse(l) as Record<string, unknown>);
    const key = (r: Record<string, unknown>): string => `${r.ts} ${r.uri} ${r.status}`;
    assert.deepEqual(list.rows.map(key).sort(), wantL7.map(key).sort(), 'the explorer lists the union');
    const one = await api(`api/l7/${String(list.rows[0]!.id)}`) as { record: Record<string, unknown> };
    assert.equal(key(one.record), key(list.rows[0]!), 'a request page of a row of a shard');
    const f404 = await api('api/l7?filter=' + encodeURIComponent('status = 404')) as { total: number };
    assert.equal(f404.total, wantL7.filter((r) => r.status === 404).length);
    const tail = await fetch(ui.url + 'api/tail?after=0', { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(tail.status, 400, 'no live tail on ClickHouse: ids are not in write order');
    assert.match(await tail.text(), /live tail: not available on a ClickHouse store/);
  } finally {
    await ui.close();
  }
});

const spoolFiles = (dir: string): string[] => {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return [];
  }
};

test('c. spool: started while the server is down, batches spool and arrive once it runs; a tiny spool counts its overflow', async (t) => {
  if (!canRun(t)) return;
  const { bridgeIp, hosts } = await hostsOnBridge(1);
  const h = hosts[0]!;
  const nginx = await startNginx(scope, { netns: h.name, listen: [h.ip], port: 80 });
  const ch = await startClickHouse(scope, { host: bridgeIp, start: false });
  const url = ch.url('wirelog');

  // 1. a spool big enough: 5 requests while down, spooled; the server starts; 3 more; all 8 arrive, the spool empties
  const spool = await scope.tempDir('wirelog-spool-');
  const cap = await startWirelogLive(scope, ['-i', h.dev, '-p', '80', '--format', 'jsonl', '--store', url, '--agent', 'spooler', '--spool-dir', spool, '--spool-if-down'], { netns: h.name });
  await curl(scope, Array.from({ length: 5 }, (_, i) => `http://${h.ip}/small.txt?down=${i}`));
  await waitFor('a batch in the spool', () => spoolFiles(spool).length > 0, 15_000);
  await ch.start();
  await waitFor('the spool sent', async () => spoolFiles(spool).length === 0 && Number((await ch.client('SELECT count() FROM wirelog.l7').catch(() => '0')).trim()) === 5, 60_000, 250);
  await curl(scope, Array.from({ length: 3 }, (_, i) => `http://${h.ip}/small.txt?up=${i}`));
  await nginx.waitForEntries(8);
  await sleep(500);
  const s = await cap.stop();
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(parseSummary(s.stderr)?.stored, { rows: 8, dropped: 0 }, s.stderr);
  const uris = (await ch.rows<{ uri: string }>("SELECT uri FROM wirelog.l7 WHERE agent = 'spooler'")).map((r) => r.uri);
  assert.deepEqual(sorted(uris), sorted((await nginx.readAccessLog()).map((e) => e.request_uri)));
  assert.deepEqual(spoolFiles(spool), []);
  const st1 = await ch.rows<{ w: number; d: number; s: number }>("SELECT sum(written) AS w, sum(dropped) AS d, sum(spooled) AS s FROM wirelog.wirelog_stats WHERE agent = 'spooler' AND tbl = 'l7'");
  assert.equal(st1[0]!.w, 8);
  assert.equal(st1[0]!.d, 0);
  assert.ok(st1[0]!.s >= 5, `spooled ${st1[0]!.s}`);

  // 2. a spool of 100 bytes holds no batch: 4 requests while down are dropped and counted, 3 after arrive
  await ch.stop();
  const tiny = await scope.tempDir('wirelog-spool-');
  const cap2 = await startWirelogLive(scope, ['-i', h.dev, '-p', '80', '--format', 'jsonl', '--store', url, '--agent', 'tiny', '--spool-dir', tiny, '--spool-size', '100', '--spool-if-down'], { netns: h.name });
  await curl(scope, Array.from({ length: 4 }, (_, i) => `http://${h.ip}/small.txt?lost=${i}`));
  await cap2.proc.waitForLine('stderr', /spool .* is full .*dropping batches \(counted\)/, 15_000);
  await ch.start();
  await cap2.proc.waitForLine('stderr', /the server answers; sending the spool/, 60_000);
  await curl(scope, Array.from({ length: 3 }, (_, i) => `http://${h.ip}/small.txt?kept=${i}`));
  await nginx.waitForEntries(15);
  await sleep(500);
  const s2 = await cap2.stop();
  assert.equal(s2.code, 0, s2.stderr);
  assert.deepEqual(parseSummary(s2.stderr)?.stored, { rows: 3, dropped: 4 }, s2.stderr);
  assert.match(s2.stderr, /\(agent tiny\): written l7 3, .*; dropped l7 4,/);
  const kept = (await ch.rows<{ uri: string }>("SELECT uri FROM wirelog.l7 WHERE agent = 'tiny'")).map((r) => r.uri);
  assert.deepEqual(sorted(kept), ['/small.txt?kept=0', '/small.txt?kept=1', '/small.txt?kept=2']);
  const st2 = await ch.rows<{ w: number; d: number }>("SELECT sum(written) AS w, sum(dropped) AS d FROM wirelog.wirelog_stats WHERE agent = 'tiny' AND tbl = 'l7'");
  assert.deepEqual(st2, [{ w: 3, d: 4 }]);
  // the reader's stats(): every agent's counts summed
  const { openStoreReader } = await import('../../src/store/reader.js');
  const reader = await openStoreReader(url);
  try {
    const l7 = (await reader.stats()).find((x) => x.tbl === 'l7');
    assert.deepEqual(l7, { tbl: 'l7', written: 11, dropped: 4, removed: 0 });
  } finally {
    await reader.close();
  }
});

test('d. a bad URL, an unreachable server, a refused schema: one clear line, exit 1, no password shown', async (t) => {
  if (!canRun(t, false)) return;
  const pcap = path.join((await import('../helpers/paths.js')).fixturesDir, 'http-lo4.pcap');
  const dir = await scope.tempDir('wirelog-ch-bad-');
  const one = async (store: string, want: RegExp): Promise<void> => {
    const r = await runWirelog(['capture', '-r', pcap, '--format', 'jsonl', '--store', store, '--spool-dir', path.join(dir, 'spool')]);
    assert.equal(r.code, 1, `${store}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${store}: one line: ${r.stderr}`);
    assert.match(lines[0]!, want);
    assert.ok(!r.stderr.includes('s3cret'), 'the password is never printed');
    assert.equal(r.stdout, '', 'nothing captured');
  };
  await one('clickhouse://nohost', /^wirelog: error: store clickhouse:\/\/nohost: not a ClickHouse URL/);
  await one('clickhouse://127.0.0.1:99999/wirelog', /bad port '99999'/);
  await one('clickhouse://127.0.0.1:8123/bad-name', /database name 'bad-name'/);
  const port = await freePort();
  await one(`clickhouse://me:s3cret@127.0.0.1:${port}/wirelog`, new RegExp(`^wirelog: error: store clickhouse://me@127\\.0\\.0\\.1:${port}/wirelog: cannot reach ClickHouse at 127\\.0\\.0\\.1:${port}: ECONNREFUSED$`));
  await one(`clickhouse://no-such-host.invalid:8123/wirelog`, /cannot reach ClickHouse at no-such-host\.invalid:8123: (ENOTFOUND|EAI_AGAIN)/);
  // a database whose l7 is not wirelog's
  const ch = await startClickHouse(scope);
  await ch.client('CREATE DATABASE other');
  await ch.client('CREATE TABLE other.l7 (x UInt8) ENGINE = Memory');
  await one(ch.url('other'), /table other\.l7 exists without the column 'id': not a wirelog table/);
  // a wrong password: the server says so
  await one(ch.url('wirelog').replace('clickhouse://', 'clickhouse://default:s3cret@'), /answered \d{3}: .*(password|Password)/);
});

test('e. trace --store clickhouse://…: one row per traced transaction (after --filter), read back as the JSON lines', async (t) => {
  if (!canRun(t)) return;
  const { cliPath, sensorPath } = await import('../helpers/paths.js');
  const { readFileSync } = await import('node:fs');
  const ch = await startClickHouse(scope);
  const url = ch.url('wirelog');
  const nginx = await startNginx(scope);
  const dir = await scope.tempDir('wirelog-ch-trace-');
  const out = path.join(dir, 'trace.jsonl');
  const master = String(nginx.proc.pid);
  const pids = [master, ...(await run('pgrep', ['-P', master])).stdout.split(/\s+/).filter(Boolean)];
  const wl = scope.spawn(process.execPath, [cliPath, 'trace', '-p', pids.join(','), '--format', 'jsonl', '-w', out,
    '--store', url, '--agent', 'tracer', '--spool-dir', path.join(dir, 'spool'), '--filter', 'status != 404'], { env: { ...process.env, WIRELOG_SENSOR: sensorPath } });
  await wl.waitForLine('stderr', /^wirelog: tracing/, 30_000);
  const base = `http://127.0.0.1:${nginx.port}`;
  await curl(scope, [`${base}/index.html`, `${base}/missing`, `${base}/small.txt?x=1`, `${base}/data.json`]);
  await nginx.waitForEntries(4);
  await sleep(500);
  await wl.stop('SIGINT', 30_000);
  assert.match(wl.stderr, /; 3 rows stored \(0 dropped\)$/m, wl.stderr);
  const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((r) => r.uri).sort(), ['/data.json', '/index.html', '/small.txt?x=1']);
  const rows = await ch.rows<{ agent: string; uri: string; comm: string; pid: number }>('SELECT agent, uri, comm, pid FROM wirelog.l7 ORDER BY uri');
  assert.deepEqual(rows.map((r) => [r.agent, r.uri, r.comm]), [['tracer', '/data.json', 'nginx'], ['tracer', '/index.html', 'nginx'], ['tracer', '/small.txt?x=1', 'nginx']]);
  // read back: each record's fields equal the trace's JSON line (the trace-only fields have no columns)
  const { HTTP_RECORD_FIELDS } = await import('../../src/sinks/schema.js');
  const back = (await query(['--store', url])).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(back.length, 3);
  for (const line of lines) {
    const rec = back.find((r) => r.uri === line.uri)!;
    for (const f of HTTP_RECORD_FIELDS) if (f !== 'record') assert.deepEqual(rec[f], line[f], `${line.uri}: ${f}`);
  }
});
