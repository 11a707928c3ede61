/**
 * The ClickHouse store without a server: the URL (password never shown), literal escaping, float literals by their
 * bits, the schema's DDL (types 18.16 has), the settings of capture (flags, config file) and trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseClickHouseUrl, ClickHouseUrlError, createTableSql, columnType, allColumns } from '../../src/store/clickhouse-client.js';
import { chString, chNumber, compileClickHouse } from '../../src/query/clickhouse-sql.js';
import { parseQuery } from '../../src/query/index.js';
import { STORE_TABLES, TABLE_COLUMNS } from '../../src/store/schema.js';
import { resolveCapture } from '../../src/cli/config.js';
import { resolveTrace } from '../../src/cli/trace.js';
import { UsageError } from '../../src/cli/args.js';

test('clickhouse:// URLs: host, port (default 8123), database, user and password; the password never shown', () => {
  assert.deepEqual(parseClickHouseUrl('clickhouse://10.0.0.5:8123/wirelog'), { host: '10.0.0.5', port: 8123, database: 'wirelog', display: 'clickhouse://10.0.0.5:8123/wirelog' });
  assert.deepEqual(parseClickHouseUrl('clickhouse://ch.example/wl_1'), { host: 'ch.example', port: 8123, database: 'wl_1', display: 'clickhouse://ch.example:8123/wl_1' });
  assert.deepEqual(parseClickHouseUrl('clickhouse://[fd00::1]:9123/db/'), { host: 'fd00::1', port: 9123, database: 'db', display: 'clickhouse://[fd00::1]:9123/db' });
  const u = parseClickHouseUrl('clickhouse://writer:p%40ss:w0rd@h:1/db');
  assert.equal(u.user, 'writer');
  assert.equal(u.password, 'p@ss:w0rd', 'percent-decoded; a password may hold ":"');
  assert.equal(u.display, 'clickhouse://writer@h:1/db');
  for (const bad of ['clickhouse://', 'clickhouse://h:1', 'clickhouse://h:0/db', 'clickhouse://h:70000/db', 'clickhouse://h/1db', 'clickhouse://h/a-b', 'clickhouse://h/a/b', 'clickhouse://u:secret@h:x/db']) {
    assert.throws(() => parseClickHouseUrl(bad), (e: unknown) => e instanceof ClickHouseUrlError && !(e as Error).message.includes('secret'), bad);
  }
});

test('string literals: quotes and backslashes escaped, NUL as \\0, everything else as is', () => {
  assert.equal(chString("it's"), "'it\\'s'");
  assert.equal(chString('a\\b'), "'a\\\\b'");
  assert.equal(chString("\\'"), "'\\\\\\''");
  assert.equal(chString('\0'), "'\\0'");
  assert.equal(chString('é 中 😀\n'), "'é 中 😀\n'");
  // the SQL around a hostile value stays one literal
  const sql = compileClickHouse(parseQuery(`uri = "x' OR 1=1 --"`));
  assert.match(sql, /= 'x\\' OR 1=1 --'\)$/);
});

test('numbers: safe integers as written, other numbers as their IEEE bits (exact, denormals included)', () => {
  assert.equal(chNumber(404), '404');
  assert.equal(chNumber(-3), '-3');
  assert.equal(chNumber(0.1), "reinterpretAsFloat64(unhex('9a9999999999b93f'))");
  assert.equal(chNumber(5e-324), "reinterpretAsFloat64(unhex('0100000000000000'))");
  assert.throws(() => chNumber(Infinity));
});

test('DDL: every store column, types 18.16 has, partitions by day, ordered by time and server', () => {
  for (const t of STORE_TABLES) {
    const sql = createTableSql('wirelog', t);
    assert.match(sql, new RegExp(`^CREATE TABLE IF NOT EXISTS wirelog\\.${t} \\(`));
    assert.doesNotMatch(sql, /DateTime64|LowCardinality|TTL/);
    assert.match(sql, /ENGINE = MergeTree PARTITION BY toYYYYMMDD\(date\) ORDER BY \(ts_us, /);
    for (const c of allColumns(t)) assert.match(sql, new RegExp(`\\n  ${c} `), `${t}.${c}`);
    assert.equal(allColumns(t).length, 3 + TABLE_COLUMNS[t].length);
  }
  assert.match(createTableSql('wirelog', 'l7'), /ORDER BY \(ts_us, ifNull\(dst_ip, ''\), ifNull\(dst_port, 0\)\)/);
  assert.match(createTableSql('wirelog', 'l4'), /ORDER BY \(ts_us, ifNull\(server_ip, ''\), ifNull\(server_port, 0\)\)/);
  assert.equal(columnType('l7', 'ts_us'), 'Int64');
  assert.equal(columnType('l7', 'res_ts_us'), 'Nullable(Int64)');
  assert.equal(columnType('l7', 'latency_ms'), 'Nullable(Float64)');
  assert.equal(columnType('l7', 'anomalies'), 'Nullable(String)');
  assert.equal(columnType('l4', 'packets'), 'String');
  assert.equal(columnType('l4', 'chunk_syn'), 'UInt8');
});

test('capture: --store clickhouse://… and its options from flags, environment and the config file', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirelog-chconf-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'wirelog.conf');
  fs.writeFileSync(file, 'store = clickhouse://10.1.2.3:8123/wirelog\nagent = web-1\nspool-dir = /tmp/sp\nspool-size = 64M\nspool-if-down = true\n');
  const cmd = resolveCapture(['--config', file], {}, {});
  assert.equal(cmd.action, 'run');
  if (cmd.action !== 'run') return;
  assert.equal(cmd.settings.store, 'clickhouse://10.1.2.3:8123/wirelog');
  assert.equal(cmd.settings.agent, 'web-1');
  assert.equal(cmd.settings.spoolDir, '/tmp/sp');
  assert.equal(cmd.settings.spoolBytes, 64 * 1024 ** 2);
  assert.equal(cmd.settings.spoolIfDown, true);
  const flags = resolveCapture(['--store', 'clickhouse://h:1/db', '--agent', 'x', '--spool-size', '1k'], { WIRELOG_AGENT: 'from-env' }, { defaultConfigFile: '' });
  assert.ok(flags.action === 'run' && flags.settings.agent === 'x' && flags.settings.spoolBytes === 1024 && !flags.settings.spoolIfDown);
  assert.throws(() => resolveCapture(['--spool-size', 'lots'], {}, { defaultConfigFile: '' }), (e: unknown) => e instanceof UsageError && /--spool-size: want a size/.test((e as Error).message));
  assert.throws(() => resolveCapture(['--agent', ''], {}, { defaultConfigFile: '' }), UsageError);
});

test('trace: --store clickhouse://… with --agent, --spool-dir, --spool-size, --spool-if-down', () => {
  const s = resolveTrace(['-p', '1', '--store', 'clickhouse://h:1/db', '--agent', 'a1', '--spool-dir', '/x', '--spool-size', '2M', '--spool-if-down']) as Exclude<ReturnType<typeof resolveTrace>, 'help'>;
  assert.equal(s.store, 'clickhouse://h:1/db');
  assert.deepEqual(s.clickhouse, { agent: 'a1', spoolDir: '/x', spoolBytes: 2 * 1024 ** 2 });
  assert.equal(s.spoolIfDown, true);
});
