import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  lex, parseQuery, parseFilter, isLegacyFilter, legacyToQuery, compilePredicate, compileSql, QueryError, formatQueryError,
  parseIp, parseCidr, normaliseTime, recordFields, fieldTypeOf, type QueryAst,
} from '../../src/query/index.js';
import { HTTP_RECORD_FIELDS, TLS_RECORD_FIELDS } from '../../src/sinks/schema.js';
import { L4_RECORD_FIELDS } from '../../src/sinks/l4-jsonl.js';

const rec = (o: Record<string, unknown> = {}): Record<string, unknown> => ({
  ts: '2026-11-23T10:00:00.000000Z', kind: 'CQ', conn_id: 1, req_id: 1, src_ip: '10.0.0.5', src_port: 41000,
  dst_ip: '10.0.0.1', dst_port: 8080, method: 'GET', uri: '/api/v1/items?x=1', version: 'HTTP/1.1', host: 'Example.com:8080',
  user_agent: 'curl/8', status: 404, reason: 'Not Found', content_length: 10, content_type: 'text/plain', latency_ms: 12.5,
  ifname: 'eth0', netns: 4026531840, pid: null, comm: null, res_ts: null, res_version: 'HTTP/1.1', req_content_length: null,
  req_content_type: null, req_body_bytes: 0, res_body_bytes: 10, interim: [100], gap_bytes: 0, incomplete: null,
  anomalies: ['unexpected_body'], req_seq: 1, resp_seq: 2, l7_trace_id: '1_2', conn_trace_id: null, netns_name: 'web',
  container_id: null, pod_uid: null, hops: [], record: 'l7', ...o,
});
const m = (expr: string, r = rec()): boolean => compilePredicate(parseQuery(expr)).call(undefined, r);

/** The AST without columns, for shape comparisons. */
const shape = (a: QueryAst): string => {
  switch (a.k) {
    case 'all': return 'all';
    case 'and': case 'or': return `(${shape(a.a)} ${a.k} ${shape(a.b)})`;
    case 'not': return `(not ${shape(a.a)})`;
    case 'cmp': return `${a.field}${a.op}${String(a.value)}`;
    case 'class': return `${a.field}${a.neg ? '!=' : '='}${a.lo / 100}xx`;
    case 'cidr': return `${a.field}${a.neg ? '!=' : '@'}${a.text}`;
  }
};
const p = (e: string): string => shape(parseQuery(e));

test('lexer: words, quoted strings with escapes, operators, columns', () => {
  const t = lex(`host ~ "^img\\." and uri^="/a \\"b\\"" or(x!=1,'y')`);
  assert.deepEqual(t.map((x) => [x.type, x.text, x.col]), [
    ['word', 'host', 0], ['op', '~', 5], ['string', '^img\\.', 7], ['word', 'and', 16], ['word', 'uri', 20], ['op', '^=', 23],
    ['string', '/a "b"', 25], ['word', 'or', 36], ['(', '(', 38], ['word', 'x', 39], ['op', '!=', 40], ['word', '1', 42],
    [',', ',', 43], ['string', 'y', 44], [')', ')', 47], ['eof', '', 48],
  ]);
  assert.deepEqual(lex('dst_ip in fe80::/10').map((x) => x.text), ['dst_ip', 'in', 'fe80::/10', '']);
});

test('grammar: precedence not > and > or, left associative, parentheses, keywords in any case', () => {
  assert.equal(p('status = 1 or status = 2 and status = 3'), '(status=1 or (status=2 and status=3))');
  assert.equal(p('status = 1 and status = 2 or status = 3'), '((status=1 and status=2) or status=3)');
  assert.equal(p('not status = 1 and status = 2'), '((not status=1) and status=2)');
  assert.equal(p('not not status = 1'), '(not (not status=1))');
  assert.equal(p('(status = 1 or status = 2) and status = 3'), '((status=1 or status=2) and status=3)');
  assert.equal(p('status = 1 AND status = 2 Or NOT status = 3'), '((status=1 and status=2) or (not status=3))');
  assert.equal(p('status = 1 or status = 2 or status = 3'), '((status=1 or status=2) or status=3)');
  assert.equal(p(''), 'all');
  assert.equal(p('   '), 'all');
  assert.equal(p('method in (GET, "post")'), '(method=GET or method=POST)');
  assert.equal(p('status not in (5xx, 404)'), '(not (status=5xx or status=404))');
  assert.equal(p('dst_ip in 10.0.0.0/8'), 'dst_ip@10.0.0.0/8');
  assert.equal(p('incomplete != null'), 'incomplete!=null');
  assert.equal(p('uri = "null"'), 'uri=null'); // a quoted "null" is the text
  assert.equal((parseQuery('uri = "null"') as { value: unknown }).value, 'null');
});

test('operators: = != < <= > >= on numbers and strings, ^= prefix, ~ regex, in, classes, null', () => {
  assert.ok(m('status = 404') && !m('status = 200') && m('status != 200') && !m('status != 404'));
  assert.ok(m('status >= 400') && m('status > 403') && !m('status > 404') && m('status <= 404') && m('status < 405') && !m('status < 404'));
  assert.ok(m('status = 4xx') && !m('status = 5xx') && m('status != 5xx') && !m('status != 4xx'));
  assert.ok(m('latency_ms > 12') && !m('latency_ms > 12.5') && m('latency_ms >= 1.25e1'));
  assert.ok(m('status = "404"')); // a quoted number on a number field
  assert.ok(m('ts >= "2026-11-23T10:00:00Z"') && m('ts < "2026-11-24"') && !m('ts > "2026-11-23T10:00:00.1"'));
  assert.ok(m('ts = "2026-11-23 10:00"') && m('ts = "2026-11-23T11:00:00+01:00"') && m('ts ^= 2026-11-23T10') && m('ts > 2026-11-23') && !m('ts > 2026-11-23T10:00'));
  assert.equal(normaliseTime('2026-11-23T10:00:00.5-0130'), '2026-11-23T11:30:00.500000Z');
  assert.ok(m('uri ^= "/api/"') && !m('uri ^= "/API"') && m('uri ^= /api/v1/items?x'));
  assert.ok(m('path = /api/v1/items') && m('path ^= "/api"') && !m('path ~ "x=1"') && m('uri ~ "x=1$"'));
  assert.ok(m('path = null', rec({ uri: null })) && m('path = "/a"', rec({ uri: '/a' })) && m('path = ""', rec({ uri: '?q' })));
  assert.ok(m('user_agent ~ "^curl/"') && !m('user_agent ~ "^Curl/"'));
  assert.ok(m('method in (POST, get)') && !m('method in (POST, PUT)'));
  assert.ok(m('status in (2xx, 404)') && !m('status in (2xx, 5xx)') && m('status not in (2xx, 5xx)'));
  assert.ok(m('incomplete = null') && !m('incomplete != null') && m('incomplete != null', rec({ incomplete: 'gap' })));
  assert.ok(m('incomplete = gap', rec({ incomplete: 'gap' })) && !m('incomplete = gap'));
  assert.ok(m('netns_name = "web"') && !m('netns_name = "Web"'));
  assert.ok(m('anomalies = unexpected_body') && !m('anomalies = x') && m('anomalies != x') && m('interim = 100') && !m('interim = 103'));
  assert.ok(m('comm = null') && m('pid = null') && !m('pid != null'));
});

test('a missing or null field fails every comparison but = null; not negates', () => {
  const r = rec({ status: null, method: undefined });
  for (const e of ['status = 404', 'status != 404', 'status < 1000', 'status = 4xx', 'status != 4xx', 'method = GET', 'method != GET', 'method ^= ""', 'method ~ ""', 'status in (404, 200)']) {
    assert.equal(m(e, r), false, e);
    assert.equal(m(`not (${e})`, r), true, e);
  }
  assert.ok(m('status = null', r) && m('method = null', r) && !m('method != null', r));
  assert.ok(!m('dst_ip in 0.0.0.0/0', rec({ dst_ip: null })) && !m('dst_ip != 1.2.3.4', rec({ dst_ip: null })));
});

test('case: method upper-cased, host lower-cased (a port in Host ignored unless named), other strings exact', () => {
  assert.ok(m('method = get') && m('method = "GeT"') && m('method ~ "^GE"') && !m('method ~ "^ge"'));
  assert.ok(m('host = example.com') && m('host = EXAMPLE.COM') && m('host = "example.com:8080"') && !m('host = "example.com:80"'));
  assert.ok(!m('host = example') && m('host ^= EXAM') && m('host ~ "^example\\.com:"') && m('host != other.com') && !m('host != example.com'));
  assert.ok(!m('host = a', rec({ host: 'a:x' })) && !m('host = a', rec({ host: 'a:' })) && m('host = "[::1]"', rec({ host: '[::1]:80' })));
  assert.ok(m('version = HTTP/1.1') && !m('version = http/1.1'));
});

test('addresses: CIDR (IPv4 and IPv6), lists, an address compared as a number', () => {
  assert.ok(m('dst_ip in 10.0.0.0/8') && !m('dst_ip in 11.0.0.0/8') && m('dst_ip in 10.0.0.1/32') && m('dst_ip in 10.9.9.9/8'));
  assert.ok(m('dst_ip in (192.168.0.0/16, 10.0.0.0/24)') && m('dst_ip in 0.0.0.0/0') && !m('dst_ip in ::/0'));
  assert.ok(m('src_ip in fd00::/8', rec({ src_ip: 'fd00::5' })) && !m('src_ip in fd00::/8', rec({ src_ip: 'fe80::1' })));
  assert.ok(m('src_ip = "0:0::1"', rec({ src_ip: '::1' })) && m('src_ip != ::2', rec({ src_ip: '::1' })));
  assert.ok(m('src_ip in ::ffff:0:0/96', rec({ src_ip: '::ffff:10.0.0.1' })) && !m('src_ip in 10.0.0.0/8', rec({ src_ip: '::ffff:10.0.0.1' })));
  assert.ok(m('dst_ip ^= "10."') && m('dst_ip = 10.0.0.1') && !m('dst_ip in 10.0.0.0/8', rec({ dst_ip: 'junk' })));
  assert.deepEqual(parseIp('2001:db8::1')?.n, 0x20010db8000000000000000000000001n);
  assert.deepEqual(parseIp('::ffff:1.2.3.4')?.n, 0xffff01020304n);
  assert.equal(parseIp('1.2.3'), null);
  assert.equal(parseIp('1::2::3'), null);
  assert.equal(parseIp('1:2:3:4:5:6:7:8:9'), null);
  assert.deepEqual(parseCidr('10.1.2.3/8'), { v6: false, net: 0x0a000000n, prefix: 8 });
  assert.equal(parseCidr('10.0.0.0/33'), null);
});

test('fields: every record field has a type; L4 and TLS names when asked; unknown names are errors', () => {
  for (const f of HTTP_RECORD_FIELDS) assert.ok(recordFields('l7').has(f), f);
  for (const f of L4_RECORD_FIELDS) assert.ok(recordFields('l4').has(f), f);
  for (const f of TLS_RECORD_FIELDS) assert.ok(recordFields('tls').has(f), f);
  assert.equal(fieldTypeOf('status'), 'number');
  assert.equal(fieldTypeOf('dst_ip'), 'addr');
  assert.equal(fieldTypeOf('hops'), 'none');
  const l4 = { record: 'l4', tx_retrans: 2, chunk_syn: true, server_ip: '10.0.0.1', l4_proto: 'tcp' };
  const pl4 = (e: string): boolean => compilePredicate(parseQuery(e, { record: 'l4' }))(l4);
  assert.ok(pl4('tx_retrans > 0 and chunk_syn = true and server_ip in 10.0.0.0/8 and l4_proto = tcp') && !pl4('chunk_syn = false'));
  assert.throws(() => parseQuery('tx_retrans > 0'), QueryError);
  assert.throws(() => parseQuery('method = GET', { record: 'l4' }), QueryError);
  assert.ok(compilePredicate(parseQuery('sni ~ "example" and alpn = h2', { record: 'tls' }))({ sni: 'www.example.com', alpn: ['h2'] }));
});

test('errors: QueryError WL_ERR_QUERY with the column of the offending token and what was expected', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['stats = 404', 0, /unknown field 'stats': expected a record field of docs\/schema.md \(did you mean 'status'\?\)/],
    ['Method = GET', 0, /did you mean 'method'/],
    ['zzzzzz = 1', 0, /unknown field 'zzzzzz': expected a record field of docs\/schema.md$/],
    ['status = 404 and colour = red', 17, /unknown field 'colour'/],
    ['status', 6, /expected an operator after 'status'/],
    ['status 404', 7, /expected an operator/],
    ['status =', 8, /expected a value after '='/],
    ['status = 404 status = 500', 13, /expected 'and', 'or' or the end/],
    ['(status = 404', 13, /expected '\)' to close the '\(' at column 0/],
    ['status = 404)', 12, /expected 'and', 'or' or the end, not '\)'/],
    ['status = abc', 9, /expected a number or a status class/],
    ['status >= 5xx', 10, /status class \(5xx\) only compares with = or !=/],
    ['latency_ms = 4xx', 13, /expected a number for 'latency_ms'/],
    ['status ~ "4"', 7, /'~' works on text/],
    ['status ^= 4', 7, /'\^=' works on text/],
    ['host ~ "("', 7, /expected a regular expression/],
    ['host = "abc', 7, /expected a closing "/],
    ['dst_ip in 10.0.0.0/33', 10, /expected a CIDR block/],
    ['dst_ip != 10.0.0.0/8', 7, /a CIDR block goes with 'in'/],
    ['dst_ip in', 9, /expected a CIDR block, a value or '\(' after 'in'/],
    ['method in (GET POST)', 15, /expected ',' or '\)' in the list/],
    ['method in (GET,)', 15, /expected a value in the list/],
    ['incomplete > null', 11, /null only compares with = or !=/],
    ['and status = 1', 0, /expected a field name, 'not' or '\('/],
    ['status = 1 and', 14, /expected a field name/],
    ['hops = 1', 0, /cannot be filtered on/],
    ['anomalies > x', 10, /is a list/],
    ['ts > yesterday', 5, /expected an ISO 8601 time for 'ts'/],
    ['status ! 1', 7, /expected an operator/],
    ['status = 1 or ^x', 14, /expected an operator/],
  ];
  for (const [e, col, re] of cases) {
    assert.throws(() => parseQuery(e), (err: unknown) => {
      assert.ok(err instanceof QueryError, e);
      assert.equal(err.code, 'WL_ERR_QUERY');
      assert.equal(err.column, col, `${e}: ${err.message}`);
      assert.match(err.message, re, e);
      return true;
    }, e);
  }
  const e = 'status >= 5xx';
  try {
    parseQuery(e);
    assert.fail('no error');
  } catch (err) {
    assert.equal(formatQueryError(e, err as QueryError), 'status >= 5xx\n          ^ a status class (5xx) only compares with = or !=');
    assert.equal(formatQueryError(e, err as QueryError, 4).split('\n')[1], '              ^ a status class (5xx) only compares with = or !=');
  }
});

test('legacy trace form: comma is and, | is or, path a prefix of the request target; docs/trace.md examples', () => {
  assert.ok(isLegacyFilter('method=GET,host=example.com,path=/api,status=2xx|404'));
  assert.ok(isLegacyFilter('METHOD=get') && isLegacyFilter('status=2xx|404'));
  // the first form trimmed terms and values: blanks around separators, when there is more than one term or choice
  assert.ok(isLegacyFilter(' method = GET , path=/api ') && isLegacyFilter('status = 2xx | 404') && !isLegacyFilter('path = /api'));
  assert.equal(legacyToQuery(' method = GET , path=/api '), 'method = "GET" and uri ^= "/api"');
  assert.throws(() => parseFilter('method=GET,  status = 20 | 404'), (err: unknown) => err instanceof QueryError && err.column === 22);
  for (const e of ['method = GET', 'status>=500', 'dst_ip=10.0.0.1', 'method=GET and host=a', 'path="/a"', 'path=', 'method']) assert.ok(!isLegacyFilter(e), e);
  assert.equal(legacyToQuery('method=GET|head,path=/api'), '(method = "GET" or method = "head") and uri ^= "/api"');
  assert.equal(legacyToQuery('status=2xx|404'), '(status = 2xx or status = 404)');
  const f = (e: string, r = rec()): boolean => compilePredicate(parseFilter(e))(r);
  // docs/trace.md: method=GET|HEAD (case-insensitive), host (case-insensitive, port ignored unless given), path prefix, status class or code
  assert.ok(f('method=GET|HEAD') && f('method=get') && !f('method=POST'));
  assert.ok(f('host=example.com') && f('host=EXAMPLE.com') && f('host=example.com:8080') && !f('host=example.com:80') && !f('host=other.com'));
  assert.ok(f('path=/api') && f('path=/api/v1/items?x') && !f('path=/apx'));
  assert.ok(f('status=2xx|404') && f('status=4xx') && !f('status=2xx|500') && !f('status=404', rec({ status: null })));
  assert.ok(f('method=GET,host=example.com,path=/api,status=2xx|404') && !f('method=GET,host=example.com,path=/api,status=2xx'));
  assert.throws(() => parseFilter('status=20'), (err: unknown) => err instanceof QueryError && err.column === 7);
  for (const bad of ['color=red', 'method', 'path=']) assert.throws(() => parseFilter(bad), QueryError, bad);
  // the new language with spaces keeps path an equality
  assert.ok(!f('path = /api') && f('path = /api/v1/items'));
});

test('SQL: parameterised WHERE, values never in the text, two-valued comparisons', () => {
  const s = compileSql(parseQuery(`method = POST and path ^= "/api/" and host ~ "^img\\." and status = 4xx and dst_ip in 10.0.0.0/8 and netns_name = "x'); DROP TABLE l7; --"`));
  assert.ok(!s.where.includes('DROP') && !s.where.includes('POST') && !s.where.includes('/api/'));
  assert.deepEqual(s.params, ['POST', 5, '/api/', '^img\\.', 400, 500, '10.0.0.0/8', "x'); DROP TABLE l7; --"]);
  assert.match(s.where, /upper\("method"\) = \?/);
  assert.match(s.where, /substr\(\(CASE WHEN instr\("uri", '\?'\) > 0/);
  assert.match(s.where, /regexp\(\?, lower\("host"\)\)/);
  assert.match(s.where, /cidr_contains\(\?, "dst_ip"\)/);
  assert.deepEqual(compileSql(parseQuery('')), { where: '1', params: [] });
  assert.deepEqual(compileSql(parseQuery('incomplete = null')), { where: '("incomplete" IS NULL)', params: [] });
  assert.equal(compileSql(parseQuery('status = 1'), { column: (f) => `t.${f}` }).where, '(t.status IS NOT NULL AND t.status = ?)');
  assert.deepEqual(compileSql(parseQuery('chunk_syn = true', { record: 'l4' })).params, [1]);
});
