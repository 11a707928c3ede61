/**
 * Lenient, malformed and hostile HTTP/1 (docs/http1.md, issue 8): the corpus of test/helpers/lenient-cases.ts sent
 * by a raw client to nginx, h2o (plaintext) and a Node `http` server, and fixed odd responses sent by a raw server to
 * curl, recorded once with tcpdump on lo and read back with `wirelog capture -r FILE --format jsonl`.
 *
 * Each connection is checked record by record, field by field, against what docs/http1.md says wirelog logs for
 * those bytes, paired with what the client received; requests a server understood are also checked against that
 * server's access log, and every message tshark dissects against tshark. The references themselves are checked
 * first (the servers still do what the case table and test/fixtures/lenient-cases-report.md say), so the other
 * tests fail only on wirelog's output.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { privilegeProblem, requirePrivileges } from '../helpers/privileged.js';
import { Scope } from '../helpers/proc.js';
import { repoRoot } from '../helpers/paths.js';
import { runWirelog, parseSummary, JSON_FIELDS, type JsonRecord, type Summary } from '../helpers/wirelog.js';
import { recordLenient, type Conversation, type LenientRecording } from '../helpers/lenient-record.js';
import {
  expectConversation, expectResponseRun, loggedRequests, NOT_HTTP_SKIP_LIMIT, type ConnExpectation, type ExpectedRecord, type Pair,
} from '../helpers/lenient-expect.js';
import { ANOMALIES, SERVER_KINDS, lenientCases, responseCaseBodyBytes, type Http1ErrorCode, type ServerKind } from '../helpers/lenient-cases.js';
import type { TsharkRequest, TsharkResponse } from '../helpers/tshark.js';

const scope = new Scope();
let rec: LenientRecording | undefined;
let conns: ConnExpectation[] = [];
let setupError: Error | undefined;
/** wirelog's run over the recording: exit, stderr, records (or why stdout is not JSON lines) */
let wl: { code: number | null; stderr: string; records: JsonRecord[]; parseError?: string } | undefined;

before(async () => {
  if (privilegeProblem(false)) return;
  try {
    const dir = await scope.tempDir('wirelog-lenient-');
    rec = await recordLenient(scope, dir);
    const r0 = rec;
    conns = rec.conversations.map((c) => expectConversation(c, r0.ends.get(`${c.conv.localAddress}#${c.conv.localPort}`)));
    const ports = [...SERVER_KINDS.map((k) => r0.ports[k]), r0.rawPort].join(',');
    const r = await runWirelog(['capture', '-r', rec.file, '--format', 'jsonl', '-p', ports], { timeoutMs: 30_000 });
    const records: JsonRecord[] = [];
    let parseError: string | undefined;
    for (const line of r.stdout.split('\n')) {
      if (!line) continue;
      try { records.push(JSON.parse(line) as JsonRecord); } catch { parseError ??= `not a JSON line: ${JSON.stringify(line.slice(0, 200))}`; }
    }
    wl = { code: r.code, stderr: r.stderr, records, parseError };
  } catch (e) {
    setupError = e as Error;
  }
});
after(() => scope.close());

function ready(t: TestContext): boolean {
  if (!requirePrivileges(t, false)) return false;
  if (setupError) throw setupError;
  assert.ok(rec && wl, 'recording missing');
  return true;
}

/** wirelog's records for one client connection, in request order. */
function recordsOf(clientPort: number, serverPort: number): JsonRecord[] {
  return wl!.records.filter((r) => r.src_port === clientPort && r.dst_port === serverPort)
    .sort((a, b) => (a.req_id ?? 0) - (b.req_id ?? 0) || Date.parse(a.ts) - Date.parse(b.ts));
}

/** The fields of `got` that `want` sets (undefined ones are not compared: see lenient-expect.ts), plus the connection's. */
function pick(got: JsonRecord | undefined, want: ExpectedRecord): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  if (got === undefined) return undefined;
  for (const [k, v] of Object.entries(want)) if (k !== 'message' && v !== undefined) out[k] = got[k];
  out.kind = got.kind;
  return out;
}
function wanted(want: ExpectedRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(want)) if (k !== 'message' && v !== undefined) out[k] = v;
  out.kind = 'CQ';
  return out;
}

/** The fields that differ between two lists of records, one line each (node's own diff is cut on long records). */
function fieldDiff(got: Array<Record<string, unknown> | undefined>, want: Array<Record<string, unknown> | undefined>): string {
  const out: string[] = [];
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    const g = got[i];
    const w = want[i];
    if (g === undefined || w === undefined) { out.push(`  [${i}] ${g === undefined ? 'no record, want' : 'extra'}: ${JSON.stringify(g ?? w)}`); continue; }
    for (const k of new Set([...Object.keys(w), ...Object.keys(g)])) {
      if (!isDeepStrictEqual(g[k], w[k])) out.push(`  [${i}] ${k}: got ${JSON.stringify(g[k])}, want ${JSON.stringify(w[k])}`);
    }
  }
  return out.join('\n');
}

const label = (c: Conversation): string => `case ${c.case.id} on ${c.server} (client port ${c.conv.localPort})`;
const show = (rs: JsonRecord[]): string => rs.map((r) => JSON.stringify(r)).join('\n') || '(no records)';

// ---------------------------------------------------------------------------------------------------------------

test('references: each server still answers each case as the case table and the report say', async (t) => {
  if (!ready(t)) return;
  const r = rec!;
  // every difference is listed (not just the first): they are what to update in the table and the report
  const problems: string[] = [];
  const check = (ok: boolean, what: string): void => { if (!ok) problems.push(what); };
  for (const x of conns) {
    const c = x.conv;
    const table = c.case.servers[c.server];
    const got = x.pairs.map((p) => p.verdict);
    check(table.length === x.pairs.length && isDeepStrictEqual(got, table.map((v) => v.verdict)),
      `${label(c)}: verdicts ${got.join(',')} (answers: ${c.responses.map((p) => p.status ?? p.version).join(', ') || 'none'}), table: ${table.map((v) => v.verdict).join(',')}`);
    // what the server logged as understood is what it answered, one entry per accepted message
    const logged = loggedRequests(r, c);
    const accepted = x.pairs.filter((p) => p.verdict === 'accept');
    check(logged.length === accepted.length, `${label(c)}: ${logged.length} log entries for ${accepted.length} accepted messages`);
    accepted.forEach((p, i) => {
      const exc = table[p.index]?.logs;
      const status = exc && 'status' in exc ? exc.status : p.response!.status;
      check(logged[i]?.status === status, `${label(c)}: logged status ${logged[i]?.status}, the client received ${status}`);
      if (exc) {
        for (const f of ['method', 'uri', 'version', 'host', 'status'] as const) {
          if (f in exc) check(logged[i]?.[f] === exc[f], `${label(c)}: logged ${f} ${JSON.stringify(logged[i]?.[f])}, the table says ${JSON.stringify(exc[f])}`);
        }
      }
    });
    if (x.notHttp) {
      const end = r.ends.get(`${c.conv.localAddress}#${c.conv.localPort}`);
      check(end !== undefined && end.clientBytesBeforeServerData > NOT_HTTP_SKIP_LIMIT,
        `${label(c)}: the server answered after only ${end?.clientBytesBeforeServerData} bytes: not the not-HTTP case the table means`);
    }
    // tshark dissects what the table says it does, as it says
    if (!x.notHttp) {
      const shown = tsharkShown(x).length;
      const tr = tsharkResponsesOf(c).length;
      check(tr === shown, `${label(c)}: tshark shows ${tr} responses, the client received ${shown} that it would show`);
    }
    const tq = r.tshark.requests.filter((q) => q.srcPort === c.conv.localPort && q.dstPort === c.port);
    const dissected = dissectedIndexes(x);
    check(tq.length === dissected.length, `${label(c)}: tshark dissects ${tq.length} requests (${tq.map((q) => q.uri).join(' ')}), the table says ${dissected.length}`);
    for (const [j, i] of dissected.entries()) {
      const d = c.case.tshark?.differs?.[i];
      check(x.pairs[i]!.message.kind === 'request' || d !== undefined, `${label(c)}: tshark dissects skipped message ${i}: the table must say what it shows`);
      if (d && tq[j]) {
        check(tq[j]!.uri === d.uri && tq[j]!.version === d.version,
          `${label(c)}: tshark shows ${tq[j]!.uri} ${tq[j]!.version} for message ${i}, the table says ${d.uri} ${d.version}`);
      }
    }
  }
  for (const run of r.responseRuns) {
    const k = run.case;
    check(run.curl.exitcode === 0, `response case ${k.id}: curl failed: ${run.curl.errormsg}`);
    check(run.curl.http_code === k.expect.status, `response case ${k.id}: curl's status ${run.curl.http_code}`);
    const body = k.curlBodyBytes?.value ?? responseCaseBodyBytes(k);
    check(run.curl.size_download === body, `response case ${k.id}: curl's body bytes ${run.curl.size_download}, the table says ${body}`);
    const tr = r.tshark.responses.filter((x) => x.dstPort === run.curl.local_port).map((x) => [x.version, x.status]);
    const wantTr = k.tshark?.responses ?? [[k.expect.resVersion, k.expect.status]];
    check(isDeepStrictEqual(tr, wantTr), `response case ${k.id}: tshark's responses ${JSON.stringify(tr)}, the table says ${JSON.stringify(wantTr)}`);
  }
  // every anomaly the table uses is one docs/http1.md defines, and the doc names every one of ANOMALIES
  const doc = await readFile(path.join(repoRoot, 'docs', 'http1.md'), 'utf8');
  for (const a of ANOMALIES) check(doc.includes(`\`${a}\``), `docs/http1.md does not define ${a}`);
  for (const k of lenientCases()) {
    for (const m of k.parts.flat()) {
      if (m.kind !== 'not-http') for (const a of m.anomalies) check(ANOMALIES.includes(a), `case ${k.id}: unknown anomaly ${a}`);
    }
  }
  assert.deepEqual(problems, [], 'the references changed: update test/helpers/lenient-cases.ts and test/fixtures/lenient-cases-report.md\n' +
    problems.join('\n'));
});

/**
 * The pairs whose response tshark dissects: every response with a status line, except a close-delimited one whose
 * connection ended in a RST (its body never ends for tshark); an HTTP/0.9 answer has no status line.
 */
function tsharkShown(x: ConnExpectation): Pair[] {
  const c = x.conv;
  const end = rec!.ends.get(`${c.conv.localAddress}#${c.conv.localPort}`);
  const reset = end !== undefined && end.reset && !end.resetAfterBothFins;
  return x.pairs.filter((p) => p.response && p.response.status !== null && !(p.response.framing === 'close' && reset));
}
function tsharkResponsesOf(c: Conversation): TsharkResponse[] {
  return rec!.tshark.responses.filter((s) => s.dstPort === c.conv.localPort && s.srcPort === c.port);
}

/** Indexes of the messages tshark dissects as requests on this connection (sent ones only, in order): the case
 * table's list, else every request. */
function dissectedIndexes(x: ConnExpectation): number[] {
  const sent = sentMessages(x.conv);
  const declared = x.conv.case.tshark?.requests;
  return x.pairs.filter((p) => p.index < sent && (declared ? declared.includes(p.index) : p.message.kind === 'request')).map((p) => p.index);
}
function sentMessages(c: Conversation): number {
  return c.case.parts.slice(0, c.conv.partsSent).reduce((n, p) => n + p.length, 0);
}

test('wirelog reads the recording: exit 0, JSON lines in the documented field order, anomalies a list of known names', (t) => {
  if (!ready(t)) return;
  assert.equal(wl!.code, 0, `wirelog capture -r: ${wl!.stderr}`);
  assert.equal(wl!.parseError, undefined, wl!.parseError);
  assert.ok(wl!.records.length > 0, 'no records at all');
  for (const r of wl!.records) {
    assert.deepEqual(Object.keys(r), [...JSON_FIELDS], `fields not in docs/schema.md's order: ${JSON.stringify(r)}`);
    assert.ok(Array.isArray(r.anomalies), `anomalies is not an array: ${JSON.stringify(r)}`);
    const list = r.anomalies as unknown[];
    assert.equal(new Set(list).size, list.length, `an anomaly twice: ${JSON.stringify(r)}`);
    for (const a of list) assert.ok(typeof a === 'string' && ANOMALIES.includes(a), `unknown anomaly ${String(a)}: ${JSON.stringify(r)}`);
  }
  // nothing on a connection the recording does not know
  const known = new Set([...conns.map((x) => x.conv.conv.localPort), ...rec!.responseRuns.map((x) => x.curl.local_port)]);
  for (const r of wl!.records) assert.ok(known.has(r.src_port), `a record for a connection no case made: ${JSON.stringify(r)}`);
});

for (const server of SERVER_KINDS) {
  test(`${server}: every case logged as docs/http1.md says, and as ${server} understood it`, async (t) => {
    if (!ready(t)) return;
    for (const x of conns.filter((y) => y.conv.server === server)) {
      await t.test(`${x.conv.case.id}: ${x.conv.case.title}`, () => checkConnection(x, server));
    }
  });
}

function checkConnection(x: ConnExpectation, server: ServerKind): void {
  const c = x.conv;
  const got = recordsOf(c.conv.localPort, c.port);
  if (x.notHttp) {
    assert.deepEqual(got, [], `${label(c)}: a connection judged not HTTP is not logged:\n${show(got)}`);
    return;
  }
  // 1. docs/http1.md + what the client received: every record, field by field
  const gotP = x.records.map((w, i) => pick(got[i], w));
  const wantP = x.records.map(wanted);
  assert.deepEqual(gotP, wantP, `${label(c)}: records differ from docs/http1.md + the answers received:\n${fieldDiff(gotP, wantP)}\nwirelog wrote:\n${show(got)}`);
  assert.equal(got.length, x.records.length, `${label(c)}: ${got.length} records, want ${x.records.length}\n${show(got)}`);
  for (const r of got) {
    assert.equal(r.src_ip, c.conv.localAddress, 'src_ip');
    assert.equal(r.dst_ip, '127.0.0.1', 'dst_ip');
  }
  assert.ok(got.every((r) => r.conn_id === got[0]!.conn_id), `${label(c)}: one connection, several conn_id`);
  // 2. the server's own log: what it understood is what wirelog logs (explained exceptions in the case table)
  const logged = loggedRequests(rec!, c);
  const accepted = x.pairs.filter((p) => p.verdict === 'accept');
  accepted.forEach((p, i) => {
    const j = x.records.findIndex((w) => w.message === p.index);
    const r = got[j];
    assert.ok(r, `${label(c)}: no record for message ${p.index}, which ${server} answered and logged`);
    const l = logged[i]!;
    const exc = c.case.servers[server][p.index]!.logs;
    const fields = ['method', 'uri', 'version', 'host', 'status'] as const;
    // fields the server logs differently for a documented reason are compared with docs/http1.md (step 1) only
    const same = fields.filter((f) => !(exc && f in exc));
    const g = Object.fromEntries(same.map((f) => [f, r[f]]));
    const w = Object.fromEntries(same.map((f) => [f, l[f]]));
    assert.deepEqual(g, w, `${label(c)}: message ${p.index} vs ${server}'s log${exc ? ` (except ${fields.filter((f) => f in exc).join(', ')}: ${exc.why})` : ''}:\n` +
      `${fieldDiff([g], [w])}\nwirelog wrote:\n${show(got)}`);
  });
}

test('tshark: every request and response tshark dissects has wirelog\'s fields', async (t) => {
  if (!ready(t)) return;
  const r = rec!;
  for (const x of conns) {
    if (x.notHttp) continue;
    await t.test(`${x.conv.server} ${x.conv.case.id}`, () => {
      const c = x.conv;
      const got = recordsOf(c.conv.localPort, c.port);
      const tq: TsharkRequest[] = r.tshark.requests.filter((q) => q.srcPort === c.conv.localPort && q.dstPort === c.port);
      const idx = dissectedIndexes(x);
      const recFor = (i: number): JsonRecord | undefined => got[x.records.findIndex((w) => w.message === i)];
      const wantQ: Array<Record<string, unknown> | undefined> = [];
      const gotQ: Array<Record<string, unknown> | undefined> = [];
      idx.forEach((i, j) => {
        // where tshark reads the request line differently (case table `differs`, checked in the references test),
        // wirelog is compared with the servers and docs/http1.md instead
        if (c.case.tshark?.differs?.[i] || x.pairs[i]!.message.kind !== 'request') return;
        const q = tq[j];
        const w = recFor(i);
        gotQ.push(w ? { method: w.method, uri: w.uri, version: w.version, host: w.host, user_agent: w.user_agent } : undefined);
        // (the references test has checked that tshark dissects as many requests as the table says)
        wantQ.push(q ? { method: q.method, uri: q.uri, version: q.version, host: q.host || null, user_agent: q.userAgent || null } : undefined);
      });
      assert.deepEqual(gotQ, wantQ, `${label(c)}: requests vs tshark:\n${fieldDiff(gotQ, wantQ)}\nwirelog wrote:\n${show(got)}`);
      // responses (the references test has checked that tshark shows the ones tsharkShown() says)
      const tr: TsharkResponse[] = tsharkResponsesOf(c);
      const shown = tsharkShown(x);
      const gotR = shown.map((p) => {
        const w = recFor(p.index);
        return w ? { version: w.res_version, status: w.status } : undefined;
      });
      const wantR = tr.map((s) => ({ version: s.version, status: s.status }));
      assert.deepEqual(gotR, wantR, `${label(c)}: responses vs tshark:\n${fieldDiff(gotR, wantR)}\nwirelog wrote:\n${show(got)}`);
    });
  }
});

test('response side: odd status lines and framing from a raw server, logged as docs/http1.md says and as curl saw them', async (t) => {
  if (!ready(t)) return;
  const r = rec!;
  for (const run of r.responseRuns) {
    await t.test(`${run.case.id}: ${run.case.title}`, () => {
      const got = recordsOf(run.curl.local_port, r.rawPort);
      const want = expectResponseRun(run);
      assert.equal(got.length, 1, `one record for curl's connection\n${show(got)}`);
      const g = pick(got[0], want);
      const w = wanted(want);
      assert.deepEqual(g, w, `records differ from docs/http1.md + curl:\n${fieldDiff([g], [w])}\nwirelog wrote:\n${show(got)}`);
      // curl's own view: the status it reported (its body count differs where the case says why: see references)
      assert.equal(got[0]!.status, run.curl.http_code, 'status vs curl');
      if (!run.case.tshark) {
        const tr = r.tshark.responses.find((s) => s.dstPort === run.curl.local_port);
        assert.deepEqual({ version: got[0]!.res_version, status: got[0]!.status }, { version: tr?.version, status: tr?.status }, 'vs tshark');
      }
    });
  }
});

test('summary line: not-HTTP connections, skipped messages and parse errors as the case table makes them', (t) => {
  if (!ready(t)) return;
  const line = wl!.stderr.split('\n').find((l) => /^wirelog: \d+ packets/.test(l)) ?? '(none)';
  const s: Summary | undefined = parseSummary(wl!.stderr);
  assert.ok(s, `no summary line of a known shape: ${line}`);
  const http = conns.filter((x) => !x.notHttp);
  const notHttp = conns.length - http.length;
  const sum = (f: (x: ConnExpectation) => number): number => http.reduce((n, x) => n + f(x), 0);
  const runs = rec!.responseRuns.length;
  const errors: Partial<Record<Http1ErrorCode, number>> = {};
  for (const x of http) for (const [k, n] of Object.entries(x.errors)) errors[k as Http1ErrorCode] = (errors[k as Http1ErrorCode] ?? 0) + n;
  // give-ups of a connection judged not HTTP are not parse errors (docs/http1.md: held back, then dropped)
  const gotErrors = { ...(s.errors ?? {}) };
  const got = {
    transactions: s.transactions, requests: s.requests, responses: s.responses, gaps: s.gaps,
    notHttp: s.notHttp, skippedMessages: s.messagesSkipped, errors: sortKeys(gotErrors),
  };
  const want = {
    transactions: sum((x) => x.records.length) + runs, requests: sum((x) => x.requests) + runs,
    responses: sum((x) => x.responses) + runs, gaps: 0,
    notHttp, skippedMessages: sum((x) => x.skippedMessages), errors: sortKeys(errors as Record<string, number>),
  };
  assert.deepEqual(got, want, `summary counters (${line}):\n${fieldDiff([got], [want])}`);
  // bytes: at least the skipped messages' (whether a stray CRLF, a resynchronised body or a not-HTTP connection's
  // bytes count too is not fixed by docs/http1.md), and never more than all the bytes the clients sent
  const sentBytes = conns.reduce((n, x) => n + x.conv.case.parts.slice(0, x.conv.conv.partsSent).flat().reduce((m, p) => m + p.bytes.length, 0), 0);
  const least = sum((x) => x.skippedBytesAtLeast);
  assert.ok(s.bytesSkipped >= least && s.bytesSkipped <= sentBytes,
    `bytes skipped ${s.bytesSkipped}: want ${least}..${sentBytes} (${line})`);
});

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b)));
}
