/**
 * Run the wirelog CLI (live, with wait-for-ready, or on a file), parse what it prints, and compare it with
 * the references (nginx's access log, curl's own view, tshark), field by field.
 */
import assert from 'node:assert/strict';
import { cliPath, sensorPath } from './paths.js';
import { Scope, Spawned, run, type RunResult, type ExitInfo } from './proc.js';
import { parseResponseStream, type AccessEntry, type CurlHead, type CurlTransfer, type MixResult } from './nginx.js';

// ---------------------------------------------------------------------------------------------------------------
// Running

export interface WirelogRunOptions {
  netns?: string;
  env?: NodeJS.ProcessEnv;
  stdin?: string | Buffer;
  timeoutMs?: number;
  /** run as this user via setpriv (e.g. 'nobody' for the not-root checks) */
  asUser?: string;
}

function command(args: string[], o: WirelogRunOptions): [string, string[]] {
  const base = [cliPath, ...args];
  if (o.asUser) {
    return ['setpriv', ['--reuid', o.asUser, '--regid', o.asUser === 'nobody' ? 'nogroup' : o.asUser, '--clear-groups',
      '--inh-caps=-all', process.execPath, ...base]];
  }
  return [process.execPath, base];
}

function env(o: WirelogRunOptions): NodeJS.ProcessEnv {
  // a stray WIRELOG_* in the caller's environment must not change what a test runs
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WIRELOG_')) e[k] = v;
  return { ...e, WIRELOG_SENSOR: sensorPath, ...o.env };
}

/** `wirelog ARGS` to completion (e.g. `capture -r FILE`). */
export async function runWirelog(args: string[], o: WirelogRunOptions = {}): Promise<RunResult> {
  const [cmd, a] = command(args, o);
  return run(cmd, a, { netns: o.netns, env: env(o), stdin: o.stdin, timeoutMs: o.timeoutMs ?? 120_000 });
}

export interface WirelogStopped extends ExitInfo {
  stdout: string;
  stderr: string;
  lines: TextLine[];
  summary: Summary | undefined;
}

export interface LiveWirelog {
  proc: Spawned;
  listeningLine: string;
  /** SIGINT (default), wait for exit, parse the output. */
  stop(sig?: NodeJS.Signals): Promise<WirelogStopped>;
}

/** Start `wirelog capture ARGS` and wait for its `listening` stderr line. */
export async function startWirelogLive(scope: Scope, args: string[], o: WirelogRunOptions = {}): Promise<LiveWirelog> {
  const [cmd, a] = command(['capture', ...args], o);
  const proc = scope.spawn(cmd, a, { netns: o.netns, env: env(o) });
  const listeningLine = await proc.waitForLine('stderr', /^wirelog: listening on /, o.timeoutMs ?? 30_000);
  return {
    proc, listeningLine,
    stop: async (sig = 'SIGINT') => {
      const e = await proc.stop(sig, 15_000);
      const out = proc.stdout;
      // text lines parsed here; JSON lines (--format jsonl) are left to parseJsonLines
      const lines = out.startsWith('{') ? [] : parseTextLines(out);
      return { ...e, stdout: out, stderr: proc.stderr, lines, summary: parseSummary(proc.stderr) };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

export interface TextLine {
  raw: string;
  /** 'YYYY-MM-DD HH:MM:SS.mmm', local time */
  ts: string;
  /** epoch milliseconds of ts */
  ms: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  kind: 'CQ' | 'CR' | 'SQ' | 'SR';
  // request lines
  method?: string;
  uri?: string;
  host?: string;
  userAgent?: string;
  // both: the request's or the response's version
  version: string;
  // response lines
  status?: number;
  /** everything after the status: `REASON CONTENT_LENGTH CONTENT_TYPE` (the reason and type may hold spaces) */
  tail?: string;
}

const LINE_RE = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (\S+)#(\d+) (\S+)#(\d+) (CQ|CR|SQ|SR) (.*)$/;

function splitAddr(s: string): [string, number] {
  const i = s.lastIndexOf('#');
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

/** Local-time 'YYYY-MM-DD HH:MM:SS.mmm' → epoch ms. */
export function parseLocalTs(ts: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3})$/.exec(ts);
  if (!m) return NaN;
  return new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!).getTime();
}

/** Parse one httplog text line; throws on a line that does not have the shape. */
export function parseTextLine(raw: string): TextLine {
  const m = LINE_RE.exec(raw);
  if (!m) throw new Error(`not a wirelog text line: ${JSON.stringify(raw)}`);
  const kind = m[6] as TextLine['kind'];
  const rest = m[7]!.split(' ');
  const base = { raw, ts: m[1]!, ms: parseLocalTs(m[1]!), src: m[2]!, srcPort: Number(m[3]), dst: m[4]!, dstPort: Number(m[5]), kind };
  if (kind === 'CQ' || kind === 'SQ') {
    return { ...base, method: rest[0], uri: rest[1], version: rest[2] ?? '', host: rest[3], userAgent: rest.slice(4).join(' ') };
  }
  return { ...base, version: rest[0] ?? '', status: Number(rest[1]), tail: rest.slice(2).join(' ') };
}

/** Every non-empty stdout line must be a text line. */
export function parseTextLines(stdout: string): TextLine[] {
  return stdout.split('\n').filter((l) => l.length > 0).map(parseTextLine);
}

export interface JsonRecord {
  ts: string; kind: string; conn_id: number | null; req_id: number | null;
  src_ip: string; src_port: number; dst_ip: string; dst_port: number;
  method: string | null; uri: string | null; version: string | null; host: string | null; user_agent: string | null;
  status: number | null; reason: string | null; content_length: number | null; content_type: string | null;
  latency_ms: number | null; ifname: string | null; netns: number | null; pid: number | null; comm: string | null;
  res_ts: string | null; res_version: string | null; req_content_length: number | null; req_content_type: string | null;
  req_body_bytes: number | null; res_body_bytes: number | null; interim: number[] | null; gap_bytes: number | null;
  incomplete: string | null;
  anomalies: string[];
  req_seq: number | null;
  resp_seq: number | null;
  l7_trace_id: string | null;
  conn_trace_id: string | null;
  netns_name: string | null;
  container_id: string | null;
  pod_uid: string | null;
  hops: Array<{ ifname: string | null; ifindex: number; netns: number | null; netns_name: string | null; req_ts: string | null; resp_ts: string | null }> | null;
  /** 'l7' for HTTP records; other record types share the file (l4, tls) */
  record: string;
  [k: string]: unknown;
}

export const JSON_FIELDS = ['ts', 'kind', 'conn_id', 'req_id', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'method', 'uri',
  'version', 'host', 'user_agent', 'status', 'reason', 'content_length', 'content_type', 'latency_ms', 'ifname', 'netns',
  'pid', 'comm', 'res_ts', 'res_version', 'req_content_length', 'req_content_type', 'req_body_bytes', 'res_body_bytes',
  'interim', 'gap_bytes', 'incomplete', 'anomalies', 'req_seq', 'resp_seq', 'l7_trace_id', 'conn_trace_id',
  'netns_name', 'container_id', 'pod_uid', 'hops', 'record'] as const;

export function parseJsonLines(stdout: string): JsonRecord[] {
  return stdout.split('\n').filter((l) => l.length > 0).map((l) => {
    try { return JSON.parse(l) as JsonRecord; } catch { throw new Error(`not a JSON line: ${JSON.stringify(l)}`); }
  });
}

export interface Summary {
  packets: number; requests: number; responses: number; transactions: number; kernelDrops: number;
  gaps: number; gapBytes: number; notHttp: number; messagesSkipped: number; bytesSkipped: number;
  parseErrors: number;
  /** give-ups by code */
  errors: Record<string, number>;
  /** L4 records written (only with --l4) */
  l4Records?: number;
  /** HTTP/2 (only when there were HTTP/2 connections) */
  h2?: { connections: number; streams: number; framesSkipped: number; unreliable: number };
  /** `--store`: rows stored and dropped */
  stored?: { rows: number; dropped: number };
  /** TLS connections (only when there were any) */
  tls?: { connections: number; notParsed: number };
}

const SUMMARY_RE = /^wirelog: (\d+) packets, (\d+) requests, (\d+) responses, (\d+) transactions, (\d+) dropped by kernel, (\d+) reassembly gaps \((\d+) bytes\), (\d+) not HTTP, (\d+) messages skipped \((\d+) bytes\), (\d+) parse errors(?: \(([A-Z_0-9= ]+)\))?(?:, (\d+) HTTP\/2 connections \((\d+) streams, (\d+) frames skipped, (\d+) header blocks unreliable\))?(?:, (\d+) TLS(?: \((\d+) TLS-like starts not TLS\))?)?(?:, (\d+) L4 records)?(?:, (\d+) rows stored \((\d+) dropped\))?$/m;

export function parseSummary(stderr: string): Summary | undefined {
  const m = SUMMARY_RE.exec(stderr);
  if (!m) return undefined;
  const n = m.slice(1, 12).map(Number);
  const errors: Record<string, number> = {};
  for (const kv of (m[12] ?? '').split(' ').filter((x) => x.length > 0)) {
    const [k, v] = kv.split('=');
    errors[k!] = Number(v);
  }
  const s: Summary = {
    packets: n[0]!, requests: n[1]!, responses: n[2]!, transactions: n[3]!, kernelDrops: n[4]!, gaps: n[5]!, gapBytes: n[6]!,
    notHttp: n[7]!, messagesSkipped: n[8]!, bytesSkipped: n[9]!, parseErrors: n[10]!, errors,
  };
  if (m[13] !== undefined) s.h2 = { connections: +m[13], streams: +m[14]!, framesSkipped: +m[15]!, unreliable: +m[16]! };
  if (m[17] !== undefined) s.tls = { connections: +m[17], notParsed: Number(m[18] ?? 0) };
  if (m[19] !== undefined) s.l4Records = Number(m[19]);
  if (m[20] !== undefined) s.stored = { rows: Number(m[20]), dropped: Number(m[21]) };
  return s;
}

export interface StatsLine { packets: number; requests: number; responses: number; kernelDrops: number; gaps: number }

export function parseStatsLines(stderr: string): StatsLine[] {
  const out: StatsLine[] = [];
  for (const m of stderr.matchAll(/^wirelog: stats packets=(\d+) requests=(\d+) responses=(\d+) kernel_drops=(\d+) gaps=(\d+) not_http=\d+ skipped_messages=\d+ skipped_bytes=\d+ parse_errors=\d+(?: \S+)?$/gm)) {
    out.push({ packets: +m[1]!, requests: +m[2]!, responses: +m[3]!, kernelDrops: +m[4]!, gaps: +m[5]! });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// References → expectations

/** One exchange as the references saw it. */
export interface Expected {
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  method: string;
  uri: string;
  version: string;
  host: string;
  userAgent: string;
  interim: Array<{ version: string; status: number; tail: string }>;
  res: { version: string; status: number; reason: string; contentLength: string; contentType: string; tail: string };
  /** when nginx logged it (end of the request), epoch ms */
  loggedMs?: number;
  /** request body bytes the client sent (curl's size_upload), when known */
  reqBodyBytes?: number;
  /** response body bytes when framed by Content-Length (not chunked, not HEAD) */
  resBodyBytes?: number;
  /** no response body by the rules (HEAD, 1xx, 204, 304) */
  noBody?: boolean;
  /** a head or body larger than a live snaplen (4096) can carry in one loopback segment: gaps are expected */
  big?: boolean;
}

export function responseTail(h: CurlHead): string {
  return `${h.reason} ${h.header('content-length') ?? ''} ${h.header('content-type') ?? ''}`;
}

function resOf(h: CurlHead): Expected['res'] {
  return {
    version: h.version, status: h.status, reason: h.reason, contentLength: h.header('content-length') ?? '',
    contentType: h.header('content-type') ?? '', tail: responseTail(h),
  };
}

/** An expectation from nginx's entry and the heads the client received. */
export function expectedFrom(e: AccessEntry, interim: CurlHead[], head: CurlHead, extra: Partial<Expected> = {}): Expected {
  return {
    client: e.remote_addr, clientPort: e.remote_port, server: e.server_addr, serverPort: e.server_port,
    method: e.request_method, uri: e.request_uri, version: e.server_protocol, host: e.http_host,
    userAgent: e.http_user_agent,
    interim: interim.map((h) => ({ version: h.version, status: h.status, tail: responseTail(h) })),
    res: resOf(head), loggedMs: e.msec * 1000,
    // nginx's body_bytes_sent counts a 100 Continue too: the Content-Length is the reference (absent when chunked)
    resBodyBytes: e.request_method === 'HEAD' || head.header('content-length') === undefined
      ? undefined : Number(head.header('content-length')),
    noBody: e.request_method === 'HEAD' || head.status === 304 || head.status === 204,
    big: e.request_length > 4000 || (e.request_method !== 'HEAD' && e.body_bytes_sent > 4000),
    ...extra,
  };
}

/**
 * Join curl transfers with nginx's entries (by client port, then order on the connection), checking on the way
 * that the two references agree (status, ports, content type). `serverAddr`: what curl connected to.
 */
export function joinCurlNginx(transfers: CurlTransfer[], entries: AccessEntry[]): Expected[] {
  const byPort = new Map<number, AccessEntry[]>();
  for (const e of entries) {
    const l = byPort.get(e.remote_port) ?? [];
    l.push(e);
    byPort.set(e.remote_port, l);
  }
  for (const l of byPort.values()) l.sort((a, b) => a.connection - b.connection || a.connection_requests - b.connection_requests);
  const out: Expected[] = [];
  for (const t of transfers) {
    const e = byPort.get(t.local_port)?.shift();
    assert.ok(e, `nginx has no entry for curl's transfer ${t.url} from port ${t.local_port}`);
    assert.equal(e.status, t.http_code, `nginx and curl disagree on the status of ${t.url}`);
    assert.equal(e.remote_addr, t.local_ip, `nginx and curl disagree on the client address of ${t.url}`);
    assert.equal(e.server_port, t.remote_port, `nginx and curl disagree on the server port of ${t.url}`);
    assert.equal(e.sent_http_content_type || null, t.content_type, `content type of ${t.url}`);
    out.push(expectedFrom(e, t.interim, t.head, { reqBodyBytes: t.size_upload }));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Comparisons

function connKey(a: string, ap: number, b: string, bp: number): string {
  return `${a}#${ap} ${b}#${bp}`;
}

export interface CompareOptions {
  /** 'server': this capture runs where the server is (CQ/CR); 'client': where the client is (SQ/SR) */
  side: 'server' | 'client';
  /** a line must lie within this window, epoch ms (a second's slack is added) */
  window?: [number, number];
  /** lines on connections that have no expectation are an error (default true) */
  strict?: boolean;
  /**
   * live on loopback: segments are up to 64 KiB and the snaplen 4096, so big bodies are captured with holes;
   * for exchanges marked `big` the gap and body counters are not compared (heads still are)
   */
  snaplenGaps?: boolean;
}

/**
 * Check wirelog's text lines against expectations, field by field: every expected request has one request line
 * and its interim and final responses one response line each, in order per connection, with every field equal;
 * timestamps are ordered and inside the window; with `strict`, no other lines.
 */
export function assertTextMatches(lines: TextLine[], expected: Expected[], o: CompareOptions): void {
  const [qKind, rKind] = o.side === 'server' ? ['CQ', 'CR'] : ['SQ', 'SR'];
  const reqs = new Map<string, TextLine[]>();
  const resps = new Map<string, TextLine[]>();
  for (const l of lines) {
    if (l.kind === 'CQ' || l.kind === 'SQ') {
      const k = connKey(l.src, l.srcPort, l.dst, l.dstPort);
      reqs.set(k, [...(reqs.get(k) ?? []), l]);
    } else {
      const k = connKey(l.dst, l.dstPort, l.src, l.srcPort);
      resps.set(k, [...(resps.get(k) ?? []), l]);
    }
  }
  const expByConn = new Map<string, Expected[]>();
  for (const e of expected) {
    const k = connKey(e.client, e.clientPort, e.server, e.serverPort);
    expByConn.set(k, [...(expByConn.get(k) ?? []), e]);
  }
  for (const [k, exps] of expByConn) {
    const gotQ = (reqs.get(k) ?? []).map((l) => ({ kind: l.kind, method: l.method, uri: l.uri, version: l.version, host: l.host, userAgent: l.userAgent }));
    const wantQ = exps.map((e) => ({ kind: qKind, method: e.method, uri: e.uri, version: e.version, host: e.host, userAgent: e.userAgent }));
    assert.deepEqual(gotQ, wantQ, `request lines on ${k}:\n${(reqs.get(k) ?? []).map((l) => l.raw).join('\n')}`);
    const gotR = (resps.get(k) ?? []).map((l) => ({ kind: l.kind, version: l.version, status: l.status, tail: l.tail }));
    const wantR = exps.flatMap((e) => [...e.interim.map((i) => ({ kind: rKind, ...i })),
      { kind: rKind, version: e.res.version, status: e.res.status, tail: e.res.tail }]);
    assert.deepEqual(gotR, wantR, `response lines on ${k}:\n${(resps.get(k) ?? []).map((l) => l.raw).join('\n')}`);
    // time: a request line is not later than its final response line; all inside the window
    const q = reqs.get(k)!;
    const r = (resps.get(k) ?? []).filter((l) => (l.status ?? 0) >= 200);
    for (let i = 0; i < q.length; i++) {
      assert.ok(q[i]!.ms <= r[i]!.ms, `request at ${q[i]!.ts} after its response at ${r[i]!.ts} on ${k}`);
      if (exps[i]!.loggedMs !== undefined) {
        assert.ok(Math.abs(q[i]!.ms - exps[i]!.loggedMs!) < 5000, `request line time ${q[i]!.ts} far from nginx's log time on ${k}`);
      }
    }
  }
  if (o.window) {
    const [from, to] = o.window;
    for (const l of lines) assert.ok(l.ms >= from - 1000 && l.ms <= to + 1000, `line outside the test's time window: ${l.raw}`);
  }
  if (o.strict ?? true) {
    for (const k of new Set([...reqs.keys(), ...resps.keys()])) {
      assert.ok(expByConn.has(k), `lines on a connection no reference knows: ${k}:\n` +
        [...(reqs.get(k) ?? []), ...(resps.get(k) ?? [])].map((l) => l.raw).join('\n'));
    }
  }
}

/** Check JSON records against expectations, field by field (one record per expected transaction). */
export function assertJsonMatches(records: JsonRecord[], expected: Expected[], o: CompareOptions): void {
  for (const r of records) {
    for (const f of JSON_FIELDS) assert.ok(f in r, `JSON record lacks field ${f}: ${JSON.stringify(r)}`);
  }
  const byConn = new Map<string, JsonRecord[]>();
  for (const r of records) {
    const k = connKey(r.src_ip, r.src_port, r.dst_ip, r.dst_port);
    byConn.set(k, [...(byConn.get(k) ?? []), r]);
  }
  const expByConn = new Map<string, Expected[]>();
  for (const e of expected) {
    const k = connKey(e.client, e.clientPort, e.server, e.serverPort);
    expByConn.set(k, [...(expByConn.get(k) ?? []), e]);
  }
  for (const [k, exps] of expByConn) {
    const got = (byConn.get(k) ?? []).slice().sort((a, b) => (a.req_id ?? 0) - (b.req_id ?? 0));
    const counted = (e: Expected): boolean => !(o.snaplenGaps && e.big);
    const pick = (r: JsonRecord, e: Expected) => ({
      kind: r.kind, method: r.method, uri: r.uri, version: r.version, host: r.host, user_agent: r.user_agent,
      status: r.status, reason: r.reason, res_version: r.res_version, content_length: r.content_length,
      content_type: r.content_type, interim: r.interim,
      ...(counted(e) ? { incomplete: r.incomplete, gap_bytes: r.gap_bytes } : {}),
      ...(counted(e) && e.reqBodyBytes !== undefined ? { req_body_bytes: r.req_body_bytes } : {}),
      ...(counted(e) && e.resBodyBytes !== undefined ? { res_body_bytes: r.res_body_bytes } : {}),
    });
    const want = exps.map((e) => ({
      kind: o.side === 'server' ? 'CQ' : 'SQ', method: e.method, uri: e.uri, version: e.version, host: e.host,
      user_agent: e.userAgent, status: e.res.status, reason: e.res.reason, res_version: e.res.version,
      content_length: e.res.contentLength === '' ? null : Number(e.res.contentLength),
      content_type: e.res.contentType === '' ? null : e.res.contentType, interim: e.interim.map((i) => i.status),
      ...(counted(e) ? { incomplete: null, gap_bytes: 0 } : {}),
      ...(counted(e) && e.reqBodyBytes !== undefined ? { req_body_bytes: e.reqBodyBytes } : {}),
      ...(counted(e) && e.resBodyBytes !== undefined ? { res_body_bytes: e.resBodyBytes } : {}),
    }));
    assert.deepEqual(got.map((r, i) => pick(r, exps[i] ?? exps[0]!)), want, `JSON records on ${k}:\n${got.map((r) => JSON.stringify(r)).join('\n')}`);
    for (const r of got) {
      assert.match(r.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, `ts format: ${r.ts}`);
      assert.ok(r.res_ts === null || Date.parse(r.res_ts) >= Date.parse(r.ts), `res_ts ${r.res_ts} before ts ${r.ts}`);
      assert.ok(typeof r.latency_ms === 'number' && r.latency_ms >= 0, `latency_ms: ${r.latency_ms}`);
      if (o.window) {
        const t = Date.parse(r.ts);
        assert.ok(t >= o.window[0] - 1000 && t <= o.window[1] + 1000, `ts outside the test's window: ${r.ts}`);
      }
    }
    const ids = got.map((r) => r.conn_id);
    assert.ok(ids.every((id) => id === ids[0]), `one connection, several conn_id: ${ids.join(',')}`);
  }
  if (o.strict ?? true) {
    for (const k of byConn.keys()) assert.ok(expByConn.has(k), `JSON records on a connection no reference knows: ${k}`);
  }
}

/** Expectations for a whole traffic mix: curl transfers and pipelined raw exchanges, joined with nginx's log. */
export function expectedFromMix(mix: MixResult, entries: AccessEntry[]): Expected[] {
  const rawPorts = new Set(mix.pipelined.map((p) => p.exchange.localPort));
  const out = joinCurlNginx(mix.transfers, entries.filter((e) => !rawPorts.has(e.remote_port)));
  for (const p of mix.pipelined) {
    const es = entries.filter((e) => e.remote_port === p.exchange.localPort && e.remote_addr === p.exchange.localAddress)
      .sort((a, b) => a.connection_requests - b.connection_requests);
    assert.equal(es.length, p.methods.length, `nginx logged ${es.length} of ${p.methods.length} pipelined requests`);
    const heads = parseResponseStream(p.exchange.response, p.methods.map((m) => m === 'HEAD'));
    const finals = heads.filter((h) => h.status >= 200);
    assert.equal(finals.length, es.length, 'pipelined: responses received vs requests');
    es.forEach((e, i) => out.push(expectedFrom(e, [], finals[i]!)));
  }
  return out;
}
