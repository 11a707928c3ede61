/**
 * `wirelog query` on a store written by `wirelog capture -r FILE --store` from a real curl ↔ nginx recording. Each
 * query's answer is checked against the JSON lines the same capture wrote, selected by predicates written out here
 * by hand (not by the filter language under test), and against nginx's access log; then the time range, the limit,
 * CSV, and the errors (a bad filter with its column, a missing store, a store from a newer wirelog).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope } from '../helpers/proc.js';
import { startNginx, curl } from '../helpers/nginx.js';
import { startTcpdump } from '../helpers/tshark.js';
import { runWirelog } from '../helpers/wirelog.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';

type Rec = Record<string, unknown>;

test('wirelog query: filters, time range, limit and formats agree with the capture\'s own JSON lines', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const nginx = await startNginx(scope);
  const dir = await scope.tempDir('wirelog-query-');
  const file = path.join(dir, 'http.pcap');
  const db = path.join(dir, 'store.db');
  const dump = await startTcpdump(scope, { iface: 'lo', file, filter: `tcp port ${nginx.port}` });
  const base = `http://127.0.0.1:${nginx.port}`;
  await curl(scope, [`${base}/index.html`, `${base}/small.txt?a=1`, `${base}/missing`, `${base}/data.json`]);
  await curl(scope, [`${base}/missing?again`, `${base}/small.txt`]);
  await curl(scope, [`http://[::1]:${nginx.port}/index.html?v6`]);
  await dump.stop();

  const cap = await runWirelog(['capture', '-r', file, '--format', 'jsonl', '--l4', '--store', db]);
  assert.equal(cap.code, 0, cap.stderr);
  const lines = cap.stdout.split('\n').filter((l) => l.length > 0);
  const l7Lines = lines.filter((l) => l.endsWith('"record":"l7"}'));
  const l4Lines = lines.filter((l) => l.startsWith('{"record":"l4"'));
  const l7 = l7Lines.map((l) => JSON.parse(l) as Rec);
  assert.equal(l7.length, 7);
  const access = await nginx.readAccessLog();
  assert.deepEqual(l7.map((r) => r.uri).sort(), access.map((a) => a.request_uri).sort(), 'the capture has every request nginx served');

  const query = async (args: string[]) => runWirelog(['query', '--store', db, ...args]);
  const expectLines = async (args: string[], want: (r: Rec) => boolean, what: string): Promise<void> => {
    const q = await query(args);
    assert.equal(q.code, 0, q.stderr);
    const expected = l7Lines.filter((_, i) => want(l7[i]!));
    assert.ok(expected.length > 0 && expected.length < l7.length, `${what}: a query that selects some, not all`);
    assert.deepEqual(q.stdout.split('\n').filter(Boolean), expected, what);
  };
  await expectLines(['--filter', 'status = 404'], (r) => r.status === 404, 'status = 404');
  await expectLines(['--filter', 'status = 2xx and path ^= "/small"'], (r) => (r.status as number) >= 200 && (r.status as number) < 300 && String(r.uri).startsWith('/small'), 'class and prefix');
  await expectLines(['--filter', 'not (uri = "/missing" or uri = "/index.html")'], (r) => r.uri !== '/missing' && r.uri !== '/index.html', 'not / or');
  await expectLines(['--filter', 'src_ip in ::/0'], (r) => String(r.src_ip).includes(':'), 'IPv6 CIDR');
  await expectLines(['--filter', 'uri ~ "\\\\?"'], (r) => String(r.uri).includes('?'), 'regex');
  await expectLines(['--filter', `content_type = "text/html"`], (r) => r.content_type === 'text/html', 'content type');

  // L4 records: one per connection chunk, read back as the capture wrote them
  const l4q = await query(['--record', 'l4', '--filter', `server_port = ${nginx.port}`]);
  assert.equal(l4q.code, 0, l4q.stderr);
  assert.deepEqual(l4q.stdout.split('\n').filter(Boolean), l4Lines);

  // time range: from the fourth record's time (inclusive) to the sixth's (exclusive)
  const sorted = [...l7].sort((a, b) => String(a.ts).localeCompare(String(b.ts)));
  const from = sorted[3]!.ts as string, to = sorted[5]!.ts as string;
  const ranged = await query(['--from', from, '--to', to, '--format', 'text']);
  assert.equal(ranged.code, 0, ranged.stderr);
  assert.deepEqual(ranged.stdout.split('\n').filter(Boolean).map((l) => l.split(' ')[0]), [from, sorted[4]!.ts]);

  // limit: the first two, and a line saying more matched; --desc the last one first
  const lim = await query(['--limit', '2']);
  assert.deepEqual(lim.stdout.split('\n').filter(Boolean), [...l7Lines].sort((a, b) => (JSON.parse(a).ts as string).localeCompare(JSON.parse(b).ts)).slice(0, 2));
  assert.match(lim.stderr, /^wirelog: 2 records shown; more match \(--limit\)$/m);
  const last = await query(['--limit', '1', '--desc', '--format', 'text']);
  assert.equal(last.stdout.split(' ')[0], sorted[sorted.length - 1]!.ts);

  // CSV: a header of the record's fields, one row per record, quoted where it must be
  const csv = await query(['--format', 'csv', '--filter', 'status = 200']);
  const rows = csv.stdout.split('\n').filter(Boolean);
  assert.equal(rows[0]!.split(',')[0], 'ts');
  assert.ok(rows[0]!.split(',').includes('l7_trace_id'));
  assert.equal(rows.length - 1, l7.filter((r) => r.status === 200).length);
  const col = rows[0]!.split(',').indexOf('uri');
  assert.deepEqual(rows.slice(1).map((r) => r.split(',')[col]).sort(), l7.filter((r) => r.status === 200).map((r) => r.uri).sort());

  // errors: a bad filter names its column (exit 2); a missing store, a newer store: one line, exit 1
  const bad = await query(['--filter', 'status = 200 and hots = "x"']);
  assert.equal(bad.code, 2);
  const errLines = bad.stderr.split('\n').filter(Boolean);
  assert.match(errLines[0]!, /^wirelog: error: --filter: unknown field 'hots'/);
  assert.equal(errLines[1], '  status = 200 and hots = "x"');
  assert.equal(errLines[2]!.indexOf('^'), 2 + 'status = 200 and '.length, 'the pointer is under the bad field');
  const missing = await runWirelog(['query', '--store', path.join(dir, 'nope.db')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^wirelog: error: store .*nope\.db: /);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  const newer = path.join(dir, 'newer.db');
  fs.copyFileSync(db, newer);
  const w = new Database(newer);
  w.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
  w.close();
  const nq = await runWirelog(['query', '--store', newer]);
  assert.equal(nq.code, 1);
  assert.match(nq.stderr, new RegExp(`schema version 99 is newer than this wirelog's \\(${SCHEMA_VERSION}\\)`));
  // the store is read-only for query: its file did not change
  const before = fs.statSync(db).mtimeMs;
  await query(['--filter', 'status = 404']);
  assert.equal(fs.statSync(db).mtimeMs, before);
});
