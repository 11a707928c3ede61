import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { parseQuery, compilePredicate, compileSql, registerQueryFunctions } from '../../src/query/index.js';

/** The columns of the test table: the record fields the generators use (lists as JSON text). */
const COLS = ['method', 'host', 'uri', 'status', 'latency_ms', 'src_ip', 'dst_ip', 'src_port', 'incomplete', 'anomalies', 'interim', 'netns_name', 'ts'];

const nullable = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 4, arbitrary: a });
const smallText = fc.string({ unit: fc.constantFrom('a', 'B', 'é', '/', '?', ':', '.', '1', '-', 'x'), maxLength: 6 });

const record = fc.record({
  method: nullable(fc.oneof(fc.constantFrom('GET', 'get', 'POST', 'Put', 'DELETE', 'pOsT'), smallText)),
  host: nullable(fc.oneof(fc.constantFrom('a', 'A', 'a:80', 'A:8080', 'a:', 'a:x', 'b', 'img.Example.com', 'img.example.com:443', '[::1]:80', '[::1]'), smallText)),
  uri: nullable(fc.oneof(fc.constantFrom('/api', '/api/', '/api/v1?x=1', '/b?', '/api?z', '?q', '/'), smallText)),
  status: nullable(fc.oneof(fc.constantFrom(200, 204, 301, 404, 499, 500, 503), fc.integer({ min: 100, max: 599 }))),
  latency_ms: nullable(fc.oneof(fc.constantFrom(0, 250, 250.5), fc.double({ min: 0, max: 1000, noNaN: true }))),
  src_ip: nullable(fc.constantFrom('10.0.0.1', '10.255.1.2', '192.168.1.9', '::1', 'fd00::5', '2001:db8::1', '::ffff:10.0.0.1', 'x')),
  dst_ip: nullable(fc.oneof(fc.constantFrom('10.0.0.1', '11.0.0.1', '172.16.3.4', 'fe80::1', '::1', 'garbage'), fc.ipV4(), fc.ipV6())),
  src_port: nullable(fc.integer({ min: 0, max: 65535 })),
  incomplete: nullable(fc.constantFrom('gap', 'timeout', 'no-response')),
  anomalies: nullable(fc.array(fc.constantFrom('bad_version', 'unexpected_body', 'x'), { maxLength: 3 })),
  interim: nullable(fc.array(fc.constantFrom(100, 103), { maxLength: 2 })),
  netns_name: nullable(fc.constantFrom('web', 'db', 'Web', '')),
  ts: fc.constantFrom('2026-11-23T10:00:00.000000Z', '2026-11-23T10:00:01.500000Z', '2026-12-01T00:00:00.000000Z'),
}, { requiredKeys: ['ts'] });

const q = (s: string): string => JSON.stringify(s);
const cmpOp = fc.constantFrom('=', '!=', '<', '<=', '>', '>=');
const strOp = fc.constantFrom('=', '!=', '<', '<=', '>', '>=', '^=');
const strVal = fc.oneof(fc.constantFrom('GET', 'post', 'a', 'A', 'a:80', 'img.example.com', '/api', '/api/', '/b', '', 'web', 'gap'), smallText).map(q);

const leaf: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(cmpOp, fc.constantFrom(200, 404, 499, 500, 0, 599)).map(([o, v]) => `status ${o} ${v}`),
  fc.tuple(fc.constantFrom('=', '!='), fc.integer({ min: 1, max: 5 })).map(([o, c]) => `status ${o} ${c}xx`),
  fc.constantFrom('status = null', 'status != null', 'status in (2xx, 404)', 'status not in (5xx, 200)', 'latency_ms > 250', 'latency_ms <= 250.5'),
  fc.tuple(cmpOp, fc.double({ min: 0, max: 1000, noNaN: true })).map(([o, v]) => `latency_ms ${o} ${v}`),
  fc.tuple(fc.constantFrom('method', 'host', 'uri', 'path', 'netns_name', 'incomplete'), strOp, strVal).map(([f, o, v]) => `${f} ${o} ${v}`),
  fc.tuple(fc.constantFrom('method', 'host', 'uri', 'path', 'netns_name'), fc.constantFrom('^img\\.', 'A', '^/api(/|$)', '[0-9]+$', '^$', 'é')).map(([f, r]) => `${f} ~ ${q(r)}`),
  fc.constantFrom('method in (GET, post)', 'host in (a, "b")', 'incomplete != null', 'incomplete = null', 'uri = null', 'path = null', 'ts >= "2026-11-23T10:00:01Z"', 'ts < 2026-11-23T10:00:01.5', 'ts = "2026-12-01"', 'ts ^= 2026-11', 'ts != "2026-11-23 10:00"'),
  fc.tuple(fc.constantFrom('src_ip', 'dst_ip'), fc.constantFrom('10.0.0.0/8', '10.0.0.1/32', '0.0.0.0/0', '::/0', '::1/128', 'fd00::/8', 'fe80::/10', '192.168.0.0/16', '10.0.0.1', '::ffff:0:0/96')).map(([f, c]) => `${f} in ${c}`),
  fc.tuple(fc.constantFrom('src_ip', 'dst_ip'), fc.constantFrom('=', '!='), fc.constantFrom('10.0.0.1', '::1', '0:0::1', 'fe80::1')).map(([f, o, a]) => `${f} ${o} ${a}`),
  fc.constantFrom('dst_ip in (10.0.0.0/8, fe80::/10)', 'dst_ip ^= "10."', 'src_ip ~ ":"'),
  fc.tuple(fc.constantFrom('=', '!='), fc.constantFrom('bad_version', 'x', 'nope')).map(([o, v]) => `anomalies ${o} ${v}`),
  fc.tuple(fc.constantFrom('=', '!='), fc.constantFrom(100, 103, 101)).map(([o, v]) => `interim ${o} ${v}`),
  fc.tuple(cmpOp, fc.integer({ min: 0, max: 65535 })).map(([o, v]) => `src_port ${o} ${v}`),
);

const { expr } = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.tuple(tie('expr'), fc.constantFrom('and', 'or', 'AND'), tie('expr')).map(([a, o, b]) => `(${a}) ${o} (${b})`),
    tie('expr').map((a) => `not (${a})`),
    fc.tuple(tie('expr'), tie('expr'), tie('expr')).map(([a, b, c]) => `${a.includes(' ') ? `(${a})` : a} or (${b}) and not (${c})`),
  ),
}));

test('property: the JS predicate and the SQLite WHERE clause select the same records', () => {
  const db = new Database(':memory:');
  registerQueryFunctions(db);
  db.exec(`CREATE TABLE l7 (id INTEGER PRIMARY KEY, ${COLS.map((c) => `"${c}"`).join(', ')})`);
  const ins = db.prepare(`INSERT INTO l7 (id, ${COLS.map((c) => `"${c}"`).join(', ')}) VALUES (?, ${COLS.map(() => '?').join(', ')})`);
  /** expressions that selected some records but not all: the test is not vacuous */
  let mixed = 0;
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 25 }), fc.array(expr, { minLength: 1, maxLength: 4 }), (recs, exprs) => {
      db.exec('DELETE FROM l7');
      recs.forEach((r, i) => ins.run(i, ...COLS.map((c) => {
        const v = (r as Record<string, unknown>)[c];
        return v === undefined || v === null ? null : Array.isArray(v) ? JSON.stringify(v) : v;
      })));
      for (const e of exprs) {
        const ast = parseQuery(e);
        const pred = compilePredicate(ast);
        const js = recs.flatMap((r, i) => (pred(r as Record<string, unknown>) ? [i] : []));
        const { where, params } = compileSql(ast);
        const sql = (db.prepare(`SELECT id FROM l7 WHERE ${where} ORDER BY id`).all(...params) as { id: number }[]).map((x) => x.id);
        assert.deepEqual(sql, js, `${e}\n${where}\n${JSON.stringify(params)}`);
        if (js.length > 0 && js.length < recs.length) mixed++;
      }
    }),
    { numRuns: 400 },
  );
  assert.ok(mixed > 200, `only ${mixed} expressions split their records`);
  db.close();
});
