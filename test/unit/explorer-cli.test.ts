/** `wirelog ui`'s command line: --listen forms, usage errors (exit 2), a missing store (exit 1), the address line,
 *  the warning for a non-loopback address, the token it prints being the one it wants. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseListen } from '../../src/cli/ui.js';
import { isLoopback } from '../../src/pipelines/ui.js';
import { UsageError } from '../../src/cli/args.js';
import { Scope } from '../helpers/proc.js';
import { cliPath, fixturesDir } from '../helpers/paths.js';
import { runWirelog } from '../helpers/wirelog.js';

const scope = new Scope();
after(() => scope.close());

test('--listen: HOST:PORT, [V6]:PORT, :PORT (loopback); loopback or not', () => {
  assert.deepEqual(parseListen('127.0.0.1:7480'), { host: '127.0.0.1', port: 7480 });
  assert.deepEqual(parseListen(':0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListen('[::1]:8000'), { host: '::1', port: 8000 });
  assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  for (const bad of ['7480', '127.0.0.1', '127.0.0.1:99999', 'host:port', '::1:80', '']) assert.throws(() => parseListen(bad), UsageError, bad);
  assert.ok(isLoopback('127.0.0.1') && isLoopback('127.1.2.3') && isLoopback('::1') && isLoopback('localhost'));
  assert.ok(!isLoopback('0.0.0.0') && !isLoopback('10.0.0.1') && !isLoopback('::'));
});

test('wirelog ui: usage errors exit 2 with one line; a missing store exits 1', async () => {
  for (const [args, msg] of [
    [['--listen', 'nope'], /^wirelog: error: --listen: not HOST:PORT: 'nope'$/m],
    [['--token', 'short'], /^wirelog: error: --token: want 8 to 128/m],
    [['extra'], /^wirelog: error: unexpected argument 'extra'/m],
    [['--bogus'], /^wirelog: error: /m],
  ] as const) {
    const r = await runWirelog(['ui', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
  const dir = await scope.tempDir('wirelog-ui-cli-');
  const missing = await runWirelog(['ui', '--store', path.join(dir, 'none.db'), '--listen', '127.0.0.1:0']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^wirelog: error: store .*none\.db: /);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  const help = await runWirelog(['ui', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--listen HOST:PORT/);
});

test('wirelog ui: the printed address and token work; --token is used; a non-loopback address warns', async () => {
  const dir = await scope.tempDir('wirelog-ui-cli-');
  const db = path.join(dir, 'store.db');
  const cap = await runWirelog(['capture', '-r', path.join(fixturesDir, 'http-lo4.pcap'), '--store', db, '--retention-age', '0']);
  assert.equal(cap.code, 0, cap.stderr);
  assert.ok(fs.existsSync(db));

  const p = scope.spawn(process.execPath, [cliPath, 'ui', '--store', db, '--listen', '127.0.0.1:0']);
  const line = await p.waitForLine('stderr', /^wirelog: explorer at /, 10_000);
  const m = /^wirelog: explorer at (http:\/\/127\.0\.0\.1:\d+\/)\?token=([0-9a-f]{32})$/.exec(line);
  assert.ok(m, line);
  assert.equal((await fetch(m[1]! + `api/stats?token=${m[2]}`)).status, 200);
  assert.equal((await fetch(m[1]! + 'api/stats')).status, 401);
  assert.doesNotMatch(p.stderr, /warning/);
  await p.stop('SIGINT', 5000);
  assert.equal(p.exitInfo?.code, 0, p.stderr);

  const q = scope.spawn(process.execPath, [cliPath, 'ui', '--store', db, '--listen', '0.0.0.0:0', '--token', 'my-token-123']);
  const l2 = await q.waitForLine('stderr', /^wirelog: explorer at /, 10_000);
  assert.match(q.stderr, /^wirelog: warning: serving on 0\.0\.0\.0, not loopback/m);
  const m2 = /^wirelog: explorer at (http:\/\/0\.0\.0\.0:(\d+)\/)\?token=my-token-123$/.exec(l2);
  assert.ok(m2, l2);
  const r = await fetch(`http://127.0.0.1:${m2[2]}/api/stats`, { headers: { Authorization: 'Bearer my-token-123' } });
  assert.equal(r.status, 200);
  await q.stop('SIGTERM', 5000);
  assert.equal(q.exitInfo?.code, 0, q.stderr);
});
