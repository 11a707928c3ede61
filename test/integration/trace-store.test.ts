/**
 * `wirelog trace -p PID --store DB`: nginx traced while curl sends requests; the store's L7 rows must be the JSON
 * lines the same run wrote (`--format jsonl -w FILE`), field for field of docs/schema.md, the requests nginx's access
 * log has; `--filter` applies to the store as to the output; `wirelog query` reads them back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, run, sleep } from '../helpers/proc.js';
import { startNginx, curl } from '../helpers/nginx.js';
import { cliPath, sensorPath } from '../helpers/paths.js';
import { runWirelog } from '../helpers/wirelog.js';
import { rowToRecord } from '../../src/store/read.js';
import { HTTP_RECORD_FIELDS } from '../../src/sinks/schema.js';

test('trace --store: one row per traced transaction (after --filter), equal to the JSON line', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const nginx = await startNginx(scope);
  const dir = await scope.tempDir('wirelog-trace-store-');
  const db = path.join(dir, 'trace.db');
  const out = path.join(dir, 'trace.jsonl');
  // nginx's worker serves the requests: trace it and the master (--follow not needed: one worker, already forked)
  const master = String(nginx.proc.pid);
  const pids = [master, ...(await run('pgrep', ['-P', master])).stdout.split(/\s+/).filter(Boolean)];
  assert.ok(pids.length >= 2, `nginx master and worker: ${pids.join(' ')}`);
  const wl = scope.spawn(process.execPath, [cliPath, 'trace', '-p', pids.join(','), '--format', 'jsonl', '-w', out,
    '--store', db, '--filter', 'status != 404'], { env: { ...process.env, WIRELOG_SENSOR: sensorPath } });
  await wl.waitForLine('stderr', /^wirelog: tracing/, 30_000);
  const base = `http://127.0.0.1:${nginx.port}`;
  await curl(scope, [`${base}/index.html`, `${base}/missing`, `${base}/small.txt?x=1`, `${base}/data.json`]);
  await nginx.waitForEntries(4);
  await sleep(500);
  await wl.stop('SIGINT', 30_000);
  assert.match(wl.stderr, /; 3 rows stored \(0 dropped\)$/m, wl.stderr);

  const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((r) => r.uri).sort(), ['/data.json', '/index.html', '/small.txt?x=1'], 'the filter kept the three non-404 requests');
  const sqlite = new Database(db, { readonly: true });
  const rows = (sqlite.prepare('SELECT * FROM l7 ORDER BY ts_us').all() as Array<Record<string, unknown>>).map((r) => rowToRecord('l7', r));
  sqlite.close();
  assert.equal(rows.length, 3);
  for (const line of lines) {
    const row = rows.find((r) => r.uri === line.uri)!;
    for (const f of HTTP_RECORD_FIELDS) assert.deepEqual(row[f], line[f], `${line.uri}: ${f}`);
  }
  assert.ok(rows.every((r) => typeof r.pid === 'number' && r.comm === 'nginx'), 'pid and comm of the traced process');

  const q = await runWirelog(['query', '--store', db, '--filter', 'path = "/small.txt"', '--format', 'text']);
  assert.equal(q.code, 0, q.stderr);
  assert.match(q.stdout, / GET \/small\.txt\?x=1 200 /);
  assert.equal(q.stdout.trim().split('\n').length, 1);
});
