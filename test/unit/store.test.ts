/**
 * The embedded store (src/store): schema creation and version, migration refusal, the L4 packet BLOB, retention by
 * age and by size, drops counted when the queue is full, and rows read back as the JSON lines.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import type { ConnInfo, HttpTransaction, L4Chunk, L4Packet } from '../../src/records.js';
import {
  decodePackets, encodePackets, insertSqlV1, l4Row, l7Row, l7RowOfRecord, l7ColumnsRow, l7StoredOfRow, l7StoredRow, L7_REST_FIELDS, L7_STORED_COLUMNS, migrate, newL7Columns, pushL7Stored,
  PACKET_ENTRY_BYTES, PACKET_HEADER_BYTES, schemaStatementsV1, SCHEMA_VERSION, STORE_TABLES, StoreSchemaError, TABLE_COLUMNS,
} from '../../src/store/schema.js';
import { openDatabase, StoreDb, parseDurationUs, parseSize } from '../../src/store/db.js';
import { SqliteStoreWriter } from '../../src/store/sqlite-writer.js';
import { rowToLine } from '../../src/store/read.js';
import { runQuery } from '../../src/pipelines/query.js';
import { IsoTimeFormatter } from '../../src/sinks/local-time.js';
import { serializeTransaction } from '../../src/sinks/schema.js';
import { serializeL4 } from '../../src/sinks/l4-jsonl.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wirelog-store-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const dbPath = (): string => path.join(tmp, `s${++n}`, 'wirelog.db');

const conn: ConnInfo = {
  connId: 7, clientIp: '10.0.0.5', clientPort: 41000, serverIp: '10.0.0.1', serverPort: 8080, family: 4, kind: 'CQ',
  ifname: 'lo', netns: 4026531840, decidedBy: 'syn', connTraceId: '1_2',
};

function tx(tsUs: number, i = 0): HttpTransaction {
  return {
    conn, reqId: i + 1,
    req: { tsUs, method: 'GET', uri: `/p/${i}?q="x"`, version: 'HTTP/1.1', headers: [], host: 'example.test', userAgent: 'curl/7.88.1 \u00e9',
      chunked: false, headLen: 80, seq: 1000 + i },
    res: { tsUs: tsUs + 1500, version: 'HTTP/1.1', status: 200 + (i % 5), reason: 'OK', headers: [], contentLength: 2, contentType: 'text/plain',
      chunked: false, headLen: 60, seq: 5000 + i },
    interim: [], gapBytes: 0, reqBodyBytes: 0, resBodyBytes: 2,
    hops: [{ ifindex: 1, ifname: 'lo', reqTsUs: tsUs, respTsUs: tsUs + 1500 }],
  };
}

function chunk(tsUs: number, packets: L4Packet[]): L4Chunk {
  return {
    proto: 'tcp', clientIp: '10.0.0.5', clientPort: 41000, serverIp: '10.0.0.1', serverPort: 8080,
    srcIp: '10.0.0.1', srcPort: 8080, dstIp: '10.0.0.5', dstPort: 41000, connSide: 'server', ifname: 'eth0', ifindex: 2,
    netns: 4026531840, chunkId: 1, chunkSyn: true, chunkFin: false, packets: packets.length > 0 ? packets : [{ tsUs, nsRem: 0, tx: false, flags: 2, seq: 1, ack: 0, len: 0, win: 64240 }],
    txPackets: 0, rxPackets: 1, txBytes: 0, rxBytes: 0, txRetrans: 0, rxRetrans: 0,
    txSeqMin: null, txSeqMax: null, rxSeqMin: 1, rxSeqMax: 1, rttUs: null, handshakeUs: null, closeUs: null,
    connTraceId: null, innerTraceId: '5f0c2b8e9d1a4c3b8e7f6a5b4c3d2e1f',
  };
}

const NOW = Date.now() * 1000;

test('schema: a new store has version 2, the tables, the stats rows and the indexes', () => {
  const db = openDatabase(dbPath());
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('synchronous', { simple: true }), 1); // NORMAL
  assert.equal((db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value, String(SCHEMA_VERSION));
  for (const t of STORE_TABLES) {
    // table_xinfo: the generated columns too
    const cols = (db.prepare(`PRAGMA table_xinfo(${t})`).all() as Array<{ name: string }>).map((c) => c.name);
    assert.deepEqual(cols, ['id', ...TABLE_COLUMNS[t]], t); // l7: the view over l7_data
  }
  assert.deepEqual((db.prepare('SELECT tbl FROM store_stats ORDER BY tbl').all() as Array<{ tbl: string }>).map((r) => r.tbl), ['l4', 'l7', 'netns', 'tls']);
  const idx = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'l7_data'").all() as Array<{ name: string }>).map((r) => r.name);
  assert.deepEqual(idx.sort(), ['l7_status', 'l7_ts']);
  assert.equal(db.pragma('page_size', { simple: true }), 16384);
  // rows have exactly the columns
  const iso = new IsoTimeFormatter();
  assert.equal(l7Row(tx(NOW), iso).length, TABLE_COLUMNS.l7.length);
  assert.equal(l4Row(chunk(NOW, []), iso).length, TABLE_COLUMNS.l4.length);
  // opening again is a no-op
  assert.equal(migrate(db), SCHEMA_VERSION);
  db.close();
});

test('migration: a newer schema version is refused with one clear error; a foreign database too', () => {
  const file = dbPath();
  const db = openDatabase(file);
  db.prepare("UPDATE meta SET value = '3' WHERE key = 'schema_version'").run();
  db.close();
  assert.throws(() => openDatabase(file), (e: Error) =>
    e instanceof StoreSchemaError && /schema version 3 is newer than this wirelog's \(2\)/.test(e.message));
  const other = dbPath();
  fs.mkdirSync(path.dirname(other), { recursive: true });
  const o = new Database(other);
  o.exec('CREATE TABLE x (a)');
  o.close();
  assert.throws(() => openDatabase(other), (e: Error) => e instanceof StoreSchemaError && /not a wirelog store/.test(e.message));
});

test('packet BLOB: 12-byte header + 24 bytes a packet, round trip exact (TCP and UDP)', () => {
  const packet = fc.record({
    dt: fc.integer({ min: -1_000_000, max: 30_000_000 }), nsRem: fc.integer({ min: 0, max: 999 }), tx: fc.boolean(),
    udp: fc.boolean(), flags: fc.integer({ min: 0, max: 255 }), seq: fc.integer({ min: 0, max: 0xffffffff }),
    ack: fc.integer({ min: 0, max: 0xffffffff }), len: fc.integer({ min: 0, max: 0x10000 }), win: fc.integer({ min: 0, max: 0xffff }),
  });
  fc.assert(fc.property(fc.array(packet, { maxLength: 300 }), (ps) => {
    const base = 1795428000100000;
    const packets: L4Packet[] = ps.map((p, i) => ({
      tsUs: i === 0 ? base : base + p.dt, nsRem: p.nsRem, tx: p.tx,
      flags: p.udp ? -1 : p.flags, seq: p.udp ? 0 : p.seq, ack: p.udp ? 0 : p.ack, len: p.len, win: p.udp ? 0 : p.win,
    }));
    const blob = encodePackets(packets);
    assert.equal(blob.length, PACKET_HEADER_BYTES + PACKET_ENTRY_BYTES * packets.length);
    assert.deepEqual(decodePackets(blob), packets);
  }));
  assert.throws(() => encodePackets([{ tsUs: 0, nsRem: 0, tx: true, flags: 2, seq: 0, ack: 0, len: 0, win: 0 },
    { tsUs: 3e9, nsRem: 0, tx: true, flags: 2, seq: 0, ack: 0, len: 0, win: 0 }]), RangeError);
});

test('rows read back as the exact JSON lines (l7 and l4)', () => {
  const s = new StoreDb(dbPath(), { maxBytes: 0, maxAgeUs: 0 });
  const iso = new IsoTimeFormatter();
  const t = tx(NOW, 3);
  const c = chunk(NOW, [{ tsUs: NOW, nsRem: 123, tx: true, flags: 0x12, seq: 4294967295, ack: 1, len: 0, win: 65535 },
    { tsUs: NOW + 5, nsRem: 0, tx: false, flags: -1, seq: 0, ack: 0, len: 512, win: 0 }]);
  s.write({ l7: [l7Row(t, iso)], l4: [l4Row(c, iso)], tls: [], netns: [] });
  assert.equal(rowToLine('l7', s.db.prepare('SELECT * FROM l7').get() as Record<string, unknown>), serializeTransaction(t, iso));
  assert.equal(rowToLine('l4', s.db.prepare('SELECT * FROM l4').get() as Record<string, unknown>), serializeL4(c, iso));
  s.close();
});

test('l7Row (built field by field) equals the row made from the record object', () => {
  const iso = new IsoTimeFormatter();
  const variants: HttpTransaction[] = [
    tx(NOW, 1),
    { ...tx(NOW, 2), res: undefined, incomplete: 'no-response', hops: undefined },
    { ...tx(NOW, 3), req: undefined, incomplete: 'no-request', anomalies: 0b101, hops: [] },
    { ...tx(NOW, 4), interim: [{ tsUs: NOW + 10, version: 'HTTP/1.1', status: 100, reason: 'Continue', headers: [], chunked: false, headLen: 25 }], latencyMs: 0.25,
      conn: { ...conn, place: { netnsName: 'web', containerId: 'c'.repeat(64), podUid: null } } },
  ];
  for (const v of variants) assert.deepEqual(l7Row(v, iso), l7RowOfRecord(v, iso));
});

const l7Variants = (iso: IsoTimeFormatter): HttpTransaction[] => [
  tx(NOW, 1),
  { ...tx(NOW, 2), res: undefined, incomplete: 'no-response' as const, hops: undefined },
  { ...tx(NOW, 3), req: undefined, incomplete: 'no-request' as const, anomalies: 0b101, hops: [] },
  { ...tx(NOW, 4), interim: [{ tsUs: NOW + 10, version: 'HTTP/1.1', status: 100, reason: 'Continue', headers: [], chunked: false, headLen: 25 }], latencyMs: 0.25,
    conn: { ...conn, place: { netnsName: 'web \u2028"\\', containerId: 'c'.repeat(64), podUid: null } } },
  { ...tx(NOW + 0.5, 5), res: { ...tx(NOW, 5).res!, status: 0, reason: '', contentLength: Number.NaN, contentType: 'a\tb\u0001' }, gapBytes: 12 },
  { ...tx(999_999, 6), conn: { ...conn, ifname: undefined, netns: undefined, connTraceId: undefined } },
  { ...tx(NOW, 7), hops: [{ ifindex: 3, ifname: 'veth\u00e9"\\\n', netns: 4026532000, netnsName: 'ns \u2028', reqTsUs: NOW, respTsUs: null }, { ifindex: 1, ifname: 'lo', reqTsUs: null, respTsUs: NOW + 7 }] },
].map((v) => (void iso, v));

test('v2 stored l7 row: built directly (pushL7Stored) equals the one converted from l7Row; read back as the same row and line', () => {
  const iso = new IsoTimeFormatter();
  const s = new StoreDb(dbPath(), { maxBytes: 0, maxAgeUs: 0 });
  const vs = l7Variants(iso);
  for (const v of vs) {
    const stored = l7StoredRow(v, iso);
    assert.equal(stored.length, L7_STORED_COLUMNS.length);
    assert.deepEqual(stored, l7StoredOfRow(l7Row(v, iso)));
  }
  // half through the logical rows, half through the stored columns (what SqliteStoreWriter posts)
  const cols = newL7Columns();
  for (const v of vs.slice(3)) pushL7Stored(v, iso, cols);
  assert.deepEqual(l7ColumnsRow(cols, 1), l7StoredRow(vs[4]!, iso));
  s.write({ l7: vs.slice(0, 3).map((v) => l7Row(v, iso)), l7Stored: cols, l4: [], tls: [], netns: [] });
  const rows = s.db.prepare('SELECT * FROM l7 ORDER BY id').all() as Array<Record<string, unknown>>;
  assert.equal(rows.length, vs.length);
  rows.forEach((r, i) => {
    const want = l7Row(vs[i]!, iso);
    // every column of version 1, same value and SQL type (NaN and non-finite numbers are NULL in both)
    TABLE_COLUMNS.l7.forEach((c, k) => assert.deepEqual(r[c], want[k] === undefined || (typeof want[k] === 'number' && !Number.isFinite(want[k])) ? null : want[k], `${c} of row ${i}`));
    assert.equal(rowToLine('l7', r), serializeTransaction(vs[i]!, iso));
  });
  assert.equal(L7_REST_FIELDS.length + L7_STORED_COLUMNS.length - 1 + 2, TABLE_COLUMNS.l7.length);
  s.close();
});

test('migration 1 → 2: a store made by version 1 is upgraded in place, its rows kept and read back unchanged (also by wirelog query)', async () => {
  const file = dbPath();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const iso = new IsoTimeFormatter();
  const old = new Database(file);
  old.pragma('journal_mode = WAL');
  for (const st of schemaStatementsV1()) old.exec(st);
  const vs = l7Variants(iso);
  const ins = old.prepare(insertSqlV1('l7'));
  const ins4 = old.prepare(insertSqlV1('l4'));
  const c = chunk(NOW, []);
  old.transaction(() => {
    for (const v of vs) ins.run(l7Row(v, iso));
    ins4.run(l4Row(c, iso));
    old.prepare("UPDATE store_stats SET written = ? WHERE tbl = 'l7'").run(vs.length);
  })();
  const before = old.prepare('SELECT * FROM l7 ORDER BY id').all() as Array<Record<string, unknown>>;
  old.close();

  const s = new StoreDb(file, { maxBytes: 0, maxAgeUs: 0 });
  assert.equal((s.db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value, '2');
  const after = s.db.prepare('SELECT * FROM l7 ORDER BY id').all() as Array<Record<string, unknown>>;
  assert.equal(after.length, before.length);
  after.forEach((r, i) => {
    for (const col of ['id', ...TABLE_COLUMNS.l7]) assert.deepEqual(r[col], before[i]![col], `${col} of row ${i}`);
    assert.equal(rowToLine('l7', r), serializeTransaction(vs[i]!, iso));
  });
  assert.equal(rowToLine('l4', s.db.prepare('SELECT * FROM l4').get() as Record<string, unknown>), serializeL4(c, iso));
  const idx = (s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'l7_data'").all() as Array<{ name: string }>).map((r) => r.name);
  assert.deepEqual(idx.sort(), ['l7_status', 'l7_ts']);
  assert.equal(s.stats().written.l7, vs.length);
  // new rows go on after the old ones
  s.write({ l7: [l7Row(tx(NOW + 1e6, 9), iso)], l4: [], tls: [], netns: [] });
  assert.equal((s.db.prepare('SELECT max(id) AS m FROM l7').get() as { m: number }).m, vs.length + 1);
  s.close();
  // wirelog query reads the upgraded store: every line, oldest first, and a filter on a rest_json field
  const lines: string[] = [];
  const r = await runQuery({ store: file, record: 'l7', filter: '', limit: 100, newestFirst: false, format: 'jsonl', out: (l) => lines.push(l) });
  assert.equal(r.records, vs.length + 1);
  const want = [...vs, tx(NOW + 1e6, 9)].map((v) => serializeTransaction(v, iso));
  assert.deepEqual([...lines].sort(), [...want].sort());
  const some: string[] = [];
  await runQuery({ store: file, record: 'l7', filter: 'incomplete = "no-response"', limit: 100, newestFirst: true, format: 'jsonl', out: (l) => some.push(l) });
  assert.deepEqual(some, [serializeTransaction(vs[1]!, iso)]);
});

test('retention by age: rows older than the age go, counted in store_stats', () => {
  const s = new StoreDb(dbPath(), { maxBytes: 0, maxAgeUs: 3600e6 });
  const iso = new IsoTimeFormatter();
  const old = [0, 1, 2].map((i) => l7Row(tx(NOW - 7200e6 + i), iso));
  const fresh = [0, 1].map((i) => l7Row(tx(NOW - 60e6 + i), iso));
  s.write({ l7: [...old, ...fresh], l4: [l4Row(chunk(NOW - 7200e6, []), iso)], tls: [], netns: [] });
  const removed = s.applyRetention(NOW);
  assert.deepEqual(removed, { l7: 3, l4: 1, tls: 0, netns: 0 });
  assert.equal((s.db.prepare('SELECT count(*) AS n FROM l7').get() as { n: number }).n, 2);
  const st = s.stats();
  assert.equal(st.written.l7, 5);
  assert.equal(st.removed.l7, 3);
  assert.equal(st.removed.l4, 1);
  s.close();
});

test('retention by age: a store of an old recording is measured against its newest row', () => {
  const s = new StoreDb(dbPath(), { maxBytes: 0, maxAgeUs: 3600e6 });
  const iso = new IsoTimeFormatter();
  const then = NOW - 30 * 86400e6;
  s.write({ l7: [l7Row(tx(then - 7200e6), iso), l7Row(tx(then), iso)], l4: [], tls: [], netns: [] });
  assert.deepEqual(s.applyRetention(NOW), { l7: 1, l4: 0, tls: 0, netns: 0 });
  s.close();
});

test('retention by size: the oldest rows go until the used pages fit', () => {
  const limit = 512 * 1024;
  const s = new StoreDb(dbPath(), { maxBytes: limit, maxAgeUs: 0 });
  const iso = new IsoTimeFormatter();
  const total = 8000;
  for (let b = 0; b < total / 1000; b++)
    s.write({ l7: Array.from({ length: 1000 }, (_, i) => l7Row(tx(NOW + (b * 1000 + i) * 1000, b * 1000 + i), iso)), l4: [], tls: [], netns: [] });
  assert.ok(s.usedBytes() > limit, 'the test fills more than the limit');
  const removed = s.applyRetention(NOW);
  assert.ok(removed.l7 > 0);
  assert.ok(s.usedBytes() <= limit, `used ${s.usedBytes()} <= ${limit}`);
  const left = s.db.prepare('SELECT count(*) AS n, min(ts_us) AS lo, max(ts_us) AS hi FROM l7').get() as { n: number; lo: number; hi: number };
  assert.equal(left.n + removed.l7, total);
  assert.equal(left.hi, NOW + (total - 1) * 1000, 'the newest row stays');
  assert.equal(left.lo, NOW + removed.l7 * 1000, 'exactly the oldest rows went');
  assert.equal(s.stats().removed.l7, removed.l7);
  s.close();
});

test('a tiny queue: rows that do not fit are dropped and counted, never waited for; the rest are written', async () => {
  const file = dbPath();
  const w = new SqliteStoreWriter({ file, maxQueueRows: 5, batchRows: 2, retention: { maxBytes: 0, maxAgeUs: 0 } });
  const sent = 5000;
  const t0 = performance.now();
  for (let i = 0; i < sent; i++) w.transaction(tx(NOW + i, i));
  const pushMs = performance.now() - t0;
  const r = await w.close();
  assert.equal(r.error, undefined);
  assert.ok(r.dropped > 0, 'some rows were dropped');
  assert.equal(r.written + r.dropped, sent);
  assert.equal(r.droppedByTable.l7, r.dropped);
  const db = new Database(file, { readonly: true });
  assert.equal((db.prepare('SELECT count(*) AS n FROM l7').get() as { n: number }).n, r.written);
  const st = db.prepare("SELECT written, dropped FROM store_stats WHERE tbl = 'l7'").get() as { written: number; dropped: number };
  assert.deepEqual(st, { written: r.written, dropped: r.dropped });
  db.close();
  assert.ok(pushMs < 5000, `pushing took ${pushMs} ms`);
});

test('blockWhenFull (capture files): nothing is dropped with a tiny queue', async () => {
  const file = dbPath();
  const w = new SqliteStoreWriter({ file, maxQueueRows: 5, batchRows: 2, blockWhenFull: true, retention: { maxBytes: 0, maxAgeUs: 0 } });
  for (let i = 0; i < 500; i++) w.transaction(tx(NOW + i, i));
  const r = await w.close();
  assert.deepEqual([r.written, r.dropped], [500, 0]);
});

test('sizes and durations', () => {
  assert.equal(parseSize('1G'), 1024 ** 3);
  assert.equal(parseSize('512MiB'), 512 * 1024 ** 2);
  assert.equal(parseSize('100k'), 102400);
  assert.equal(parseSize('0'), 0);
  assert.equal(parseSize('1x'), undefined);
  assert.equal(parseDurationUs('7d'), 7 * 86400e6);
  assert.equal(parseDurationUs('90'), 90e6);
  assert.equal(parseDurationUs('30m'), 1800e6);
  assert.equal(parseDurationUs('soon'), undefined);
});

test('config: --store [PATH], retention flags, the environment and the config file', async () => {
  const { resolveCapture } = await import('../../src/cli/config.js');
  const settings = (argv: string[], env: NodeJS.ProcessEnv = {}, file?: string) => {
    const opts = file === undefined ? { defaultConfigFile: '' } : { readFile: () => file, defaultConfigFile: '/x.conf' };
    const r = resolveCapture(file === undefined ? argv : [...argv, '--config', '/x.conf'], env, opts);
    assert.equal(r.action, 'run');
    return (r as { settings: import('../../src/cli/config.js').CaptureSettings }).settings;
  };
  assert.equal(settings([]).store, undefined);
  assert.equal(settings(['--store']).store, '/var/lib/wirelog/wirelog.db');
  assert.equal(settings(['--store', '-r', 'x.pcap']).store, '/var/lib/wirelog/wirelog.db');
  assert.equal(settings(['--store', '/tmp/a.db', '-r', 'x.pcap']).store, '/tmp/a.db');
  assert.equal(settings(['--store=/tmp/b.db']).store, '/tmp/b.db');
  assert.equal(settings([], { WIRELOG_STORE: '/tmp/c.db' }).store, '/tmp/c.db');
  assert.equal(settings([], { WIRELOG_STORE: 'yes' }).store, '/var/lib/wirelog/wirelog.db');
  assert.equal(settings([], {}, 'store\n').store, '/var/lib/wirelog/wirelog.db');
  assert.equal(settings([], {}, 'store = /tmp/d.db\nretention-size = 10G\nretention-age = 30d\n').store, '/tmp/d.db');
  assert.equal(settings(['--store', 'off'], {}, 'store = /tmp/d.db\n').store, undefined);
  const s = settings(['--store', '--retention-size', '500M', '--retention-age', '12h']);
  assert.deepEqual([s.retentionBytes, s.retentionAgeUs], [500 * 1024 ** 2, 12 * 3600e6]);
  const d = settings(['--store']);
  assert.deepEqual([d.retentionBytes, d.retentionAgeUs], [1024 ** 3, 7 * 86400e6]);
  const e = settings([], { WIRELOG_STORE: '/tmp/e.db', WIRELOG_STORE_RETENTION_SIZE: '0', WIRELOG_STORE_RETENTION_AGE: '0' });
  assert.deepEqual([e.retentionBytes, e.retentionAgeUs], [0, 0]);
  assert.throws(() => settings(['--store', '--retention-size', 'big']), /--retention-size: want a size/);
  assert.throws(() => settings(['--retention-age', 'soon']), /--retention-age: want a duration/);
  // --l4 with text output is allowed when the store takes the L4 records
  assert.equal(settings(['--store', '--l4']).l4, true);
  assert.throws(() => settings(['--l4']), /--l4 needs --format jsonl/);
});
