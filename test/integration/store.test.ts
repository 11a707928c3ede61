/**
 * The embedded store (--store) against real traffic:
 * 1. `capture -r FILE --format jsonl --l4 --store DB` on a tcpdump recording of curl ↔ nginx: every JSON line has
 *    exactly its row in the store, field by field (each row read back with better-sqlite3 gives the very same line).
 * 2. kill -9: a live capture storing curl's requests is SIGKILLed mid-stream: the database passes
 *    `PRAGMA integrity_check`, and the stored requests are a prefix in time of those nginx served, missing at most
 *    the last second before the kill.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, sleep } from '../helpers/proc.js';
import { startNginx, curl } from '../helpers/nginx.js';
import { startTcpdump } from '../helpers/tshark.js';
import { runWirelog, parseSummary, startWirelogLive } from '../helpers/wirelog.js';
import { fixturesDir } from '../helpers/paths.js';
import { rowToLine } from '../../src/store/read.js';
import { STORE_TABLES } from '../../src/store/schema.js';

const scope = new Scope();
after(() => scope.close());

test('capture -r --format jsonl --l4 --store: every JSON line is exactly one row of the store', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const dir = await scope.tempDir('wirelog-store-');
  const nginx = await startNginx(scope, { bigBytes: 1 << 20 });
  const file = path.join(dir, 'lo.pcap');
  const dump = await startTcpdump(scope, { iface: 'lo', file, filter: `tcp port ${nginx.port}` });
  await curl(scope, Array.from({ length: 130 }, (_, i) => `http://127.0.0.1:${nginx.port}/small.txt?i=${i}`));
  await curl(scope, [`http://127.0.0.1:${nginx.port}/big.bin`, `http://127.0.0.1:${nginx.port}/missing`]);
  await curl(scope, [`http://[::1]:${nginx.port}/index.html`], { headers: ['Expect: 100-continue'], method: 'POST', extra: ['--data-binary', 'abc'] });
  assert.equal((await dump.stop()).droppedByKernel, 0, 'tcpdump dropped packets');

  const db = path.join(dir, 'sub', 'wirelog.db'); // the directory is created
  const r = await runWirelog(['capture', '-r', file, '--format', 'jsonl', '--l4', '--store', db]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.length > 0);
  const byTable = { l7: [] as string[], l4: [] as string[], tls: [] as string[], netns: [] as string[] };
  for (const l of lines) {
    const rec = /"record":"(l7|l4|tls|netns)"/.exec(l)?.[1] as keyof typeof byTable | undefined;
    assert.ok(rec, `a record line: ${l.slice(0, 120)}`);
    byTable[rec].push(l);
  }
  assert.equal(byTable.l7.length, 133);
  assert.ok(byTable.l4.length >= 3);
  const summary = parseSummary(r.stderr);
  assert.ok(summary, r.stderr);
  assert.deepEqual(summary.stored, { rows: lines.length, dropped: 0 });

  const d = new Database(db, { readonly: true });
  try {
    for (const table of STORE_TABLES) {
      const rows = d.prepare(`SELECT * FROM ${table} ORDER BY id`).all() as Array<Record<string, unknown>>;
      assert.equal(rows.length, byTable[table].length, `${table}: one row per line`);
      rows.forEach((row, i) => assert.equal(rowToLine(table, row), byTable[table][i], `${table} row ${i + 1}`));
      const st = d.prepare('SELECT written, dropped, removed FROM store_stats WHERE tbl = ?').get(table);
      assert.deepEqual(st, { written: rows.length, dropped: 0, removed: 0 }, `${table} stats`);
    }
    // field by field too, through the record objects: the time columns agree with the ISO text
    for (const row of d.prepare('SELECT ts, ts_us, res_ts, res_ts_us FROM l7').all() as Array<{ ts: string; ts_us: number; res_ts: string | null; res_ts_us: number | null }>) {
      assert.equal(Date.parse(row.ts) * 1000 + Number(row.ts.slice(23, 26)), row.ts_us);
      if (row.res_ts !== null) assert.equal(Date.parse(row.res_ts) * 1000 + Number(row.res_ts.slice(23, 26)), row.res_ts_us);
    }
  } finally {
    d.close();
  }

  // a second run into the same store appends, and the totals add up
  const again = await runWirelog(['capture', '-r', file, '--format', 'jsonl', '--store', db]);
  assert.equal(again.code, 0, again.stderr);
  const d2 = new Database(db, { readonly: true });
  assert.equal((d2.prepare('SELECT count(*) AS n FROM l7').get() as { n: number }).n, 266);
  assert.equal((d2.prepare("SELECT written FROM store_stats WHERE tbl = 'l7'").get() as { written: number }).written, 266);
  d2.close();
});

test('kill -9 mid-stream: the store is intact and holds a prefix in time of the requests, missing at most the last second', async (t) => {
  if (!requirePrivileges(t)) return;
  const dir = await scope.tempDir('wirelog-store-kill-');
  const nginx = await startNginx(scope, { listen: ['127.0.0.1'] });
  const db = path.join(dir, 'wirelog.db');
  const live = await startWirelogLive(scope, ['-i', 'lo', '-p', String(nginx.port), '--store', db]);
  const n = 1200;
  // one connection, requests paced by curl at 400/s: about 3 s of traffic
  const traffic = curl(scope, Array.from({ length: n }, (_, i) => `http://127.0.0.1:${nginx.port}/small.txt?i=${i}`),
    { extra: ['--rate', '400/s'], timeoutMs: 60_000 });
  await sleep(1800);
  const killedAt = Date.now();
  live.proc.child.kill('SIGKILL');
  const exit = await live.proc.exited;
  assert.equal(exit.signal, 'SIGKILL');
  await traffic;
  const served = await nginx.waitForEntries(n);

  const d = new Database(db);
  try {
    assert.equal(d.pragma('integrity_check', { simple: true }), 'ok');
    const stored = (d.prepare("SELECT uri FROM l7 ORDER BY ts_us, id").all() as Array<{ uri: string }>).map((r) => r.uri);
    const order = served.filter((e) => e.request_uri.startsWith('/small.txt?i=')).sort((a, b) => a.msec - b.msec || a.connection_requests - b.connection_requests);
    assert.ok(stored.length > 0, 'something was stored before the kill');
    assert.ok(stored.length < n, 'the kill came mid-stream');
    // a prefix in time: the first K requests nginx served, in order, none skipped
    assert.deepEqual(stored, order.slice(0, stored.length).map((e) => e.request_uri), 'stored rows are a prefix of what was served');
    // missing at most the last second: every request served more than 1 s before the kill is stored
    const firstMissing = order[stored.length]!;
    const lostMs = killedAt - firstMissing.msec * 1000;
    t.diagnostic(`${stored.length} of ${n} stored; the first missing one was served ${lostMs.toFixed(0)} ms before the kill`);
    assert.ok(lostMs <= 1000, `requests served ${lostMs.toFixed(0)} ms before the kill are missing`);
  } finally {
    d.close();
  }
});

test('TLS records: capture -r of ClientHellos --store gives one tls row per line, identical when read back', async () => {
  const dir = await scope.tempDir('wirelog-store-tls-');
  const db = path.join(dir, 'wirelog.db');
  const r = await runWirelog(['capture', '-r', path.join(fixturesDir, 'tls-hello.pcap'), '--format', 'jsonl', '--store', db]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{"record":"tls"'));
  assert.ok(lines.length > 0);
  const d = new Database(db, { readonly: true });
  const rows = d.prepare('SELECT * FROM tls ORDER BY id').all() as Array<Record<string, unknown>>;
  d.close();
  assert.deepEqual(rows.map((row) => rowToLine('tls', row)), lines);
});
