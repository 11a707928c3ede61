/**
 * `wirelog trace -p PID` against real servers started here: nginx (worker traced; TLS HTTP/1.1 + HTTP/2, h2c prior
 * knowledge), h2o (TLS HTTP/1.1 + HTTP/2, h2c), and a Node `https` + `http2.createSecureServer` server (OpenSSL
 * linked statically into node). Clients are curl with `-v`: its `> ` lines are the reference for the request
 * headers, its `< ` lines for the response headers, its `-w %{json}` for the client port; the servers' access logs
 * are the reference for what was served (h2o's also for HTTP/2 stream ids). Each test runs two `wirelog trace` at
 * once on the same pid: the default h2olog lines (with the default redaction) and `--format jsonl --headers values`.
 * Traffic stays on loopback. Needs root (BPF, tracepoints, uprobes).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Scope, Spawned, run, runOk, sleep, waitFor } from '../helpers/proc.js';
import { requirePrivileges } from '../helpers/privileged.js';
import { cliPath, sensorPath } from '../helpers/paths.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import { startNginxTls } from '../helpers/nginx-tls.js';
import { startH2o } from '../helpers/h2o.js';

const scope = new Scope();
after(() => scope.close());

let pkiP: Promise<TestPki> | undefined;
const pki = (): Promise<TestPki> => (pkiP ??= makeTestPki(scope));

// ---------------------------------------------------------------------------------------------------------------
// wirelog trace

function cliEnv(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WIRELOG_')) e[k] = v;
  return { ...e, WIRELOG_SENSOR: sensorPath };
}

interface Tracer {
  proc: Spawned;
  tracingLine: string;
  stop(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

async function startTracer(args: string[]): Promise<Tracer> {
  const proc = scope.spawn(process.execPath, [cliPath, 'trace', ...args], { env: cliEnv() });
  const tracingLine = await proc.waitForLine('stderr', /^wirelog: tracing/, 30_000);
  return {
    proc, tracingLine,
    stop: async () => {
      const e = await proc.stop('SIGINT', 15_000);
      return { code: e.code, stdout: proc.stdout, stderr: proc.stderr };
    },
  };
}

/** One request as the h2olog lines show it (server or client view). */
interface H2Request {
  conn: number;
  req: number;
  protocol?: string;
  /** request headers, pseudo-headers first (RxHeader for a server, TxHeader for a client) */
  reqHeaders: Array<[string, string]>;
  status?: number;
  resHeaders: Array<[string, string]>;
  /** line names in order, for the shape check */
  names: string[];
}

const NAMES = new Set(['RxProtocol', 'RxHeader', 'TxStatus', 'TxHeader', 'TxProtocol', 'RxStatus']);
const H2LINE = /^(\d+) (\d+) (.{10}) (.*)$/;

/** Parse h2olog lines; `role` picks which names carry the request. Throws on a line that does not have the shape. */
function parseH2olog(text: string, role: 'server' | 'client' = 'server'): H2Request[] {
  const byKey = new Map<string, H2Request>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = H2LINE.exec(line);
    assert.ok(m, `not an h2olog line: ${JSON.stringify(line)}`);
    const name = m[3]!.trimEnd();
    assert.ok(NAMES.has(name) && m[3] === name.padEnd(10), `bad line name ${JSON.stringify(m[3])} in ${JSON.stringify(line)}`);
    const key = `${m[1]} ${m[2]}`;
    let r = byKey.get(key);
    if (!r) byKey.set(key, r = { conn: Number(m[1]), req: Number(m[2]), reqHeaders: [], resHeaders: [], names: [] });
    r.names.push(name);
    const value = m[4]!;
    const header = (): [string, string] => {
      const sp = value.indexOf(' ', value.startsWith(':') ? 1 : 0);
      return sp < 0 ? [value, ''] : [value.slice(0, sp), value.slice(sp + 1)];
    };
    const reqProto = role === 'server' ? 'RxProtocol' : 'TxProtocol';
    const reqHdr = role === 'server' ? 'RxHeader' : 'TxHeader';
    const status = role === 'server' ? 'TxStatus' : 'RxStatus';
    const resHdr = role === 'server' ? 'TxHeader' : 'RxHeader';
    if (name === reqProto) r.protocol = value;
    else if (name === status) r.status = Number(value);
    else if (name === reqHdr && r.status === undefined) r.reqHeaders.push(header());
    else if (name === resHdr) r.resHeaders.push(header());
    else assert.fail(`unexpected ${name} for a traced ${role}: ${line}`);
  }
  return [...byKey.values()];
}

const hdr = (r: H2Request, name: string): string | undefined => r.reqHeaders.find(([n]) => n === name)?.[1];

interface JsonRecord {
  kind: string; conn_id: number; req_id: number; src_ip: string; src_port: number; dst_ip: string; dst_port: number;
  method: string | null; uri: string | null; version: string | null; host: string | null; status: number | null;
  pid: number | null; comm: string | null; tls: boolean; protocol: string; role: string; stream_id: number | null;
  req_headers: Array<[string, string]> | null; res_headers: Array<[string, string]> | null;
}

function parseJsonl(text: string): JsonRecord[] {
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as JsonRecord);
}

// ---------------------------------------------------------------------------------------------------------------
// curl -v: the reference

interface CurlV {
  url: string;
  path: string;
  localPort: number;
  httpVersion: string;
  /** request line parts and headers as curl printed them (`> `) */
  method: string;
  reqHeaders: Array<[string, string]>;
  status: number;
  /** response headers as curl printed them (`< `), interim responses excluded */
  resHeaders: Array<[string, string]>;
}

function splitHeader(l: string): [string, string] {
  const i = l.indexOf(':');
  return [l.slice(0, i).trim(), l.slice(i + 1).trim()];
}

/** One curl invocation (one connection for several URLs), `-v` parsed. */
async function curlV(urls: string[], extra: string[], o: { headers?: string[] } = {}): Promise<CurlV[]> {
  const args = ['-sS', '-v', '--max-time', '20', '--cacert', (await pki()).caCert, '-w', '%{json}\\n', ...extra];
  for (const h of o.headers ?? []) args.push('-H', h);
  for (const u of urls) args.push('-o', '/dev/null', u);
  const r = await runOk('curl', args, { timeoutMs: 30_000 });
  const vars = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const reqs: Array<{ line: string; headers: Array<[string, string]> }> = [];
  const ress: Array<{ status: number; headers: Array<[string, string]> }> = [];
  for (const raw of r.stderr.split('\n')) {
    const l = raw.replace(/\r$/, '');
    if (l.startsWith('> ')) {
      const body = l.slice(2);
      if (/^[A-Z]+ \S+ HTTP\//.test(body)) reqs.push({ line: body, headers: [] });
      else if (body.trim()) reqs[reqs.length - 1]!.headers.push(splitHeader(body));
    } else if (l.startsWith('< ')) {
      const body = l.slice(2);
      const m = /^HTTP\/[\d.]+ (\d{3})/.exec(body);
      if (m) ress.push({ status: Number(m[1]), headers: [] });
      else if (body.trim()) ress[ress.length - 1]!.headers.push(splitHeader(body));
    }
  }
  const finals = ress.filter((x) => x.status >= 200);
  assert.equal(reqs.length, urls.length, `curl -v: ${reqs.length} requests for ${urls.length} URLs:\n${r.stderr}`);
  assert.equal(finals.length, urls.length, `curl -v: ${finals.length} responses for ${urls.length} URLs`);
  return urls.map((url, i) => {
    const [method, target, version] = reqs[i]!.line.split(' ');
    return {
      url, path: target!, localPort: Number(vars[i]!.local_port), httpVersion: version!, method: method!,
      reqHeaders: reqs[i]!.headers, status: finals[i]!.status, resHeaders: finals[i]!.headers,
    };
  });
}

const SECRET = new Set(['authorization', 'cookie', 'set-cookie', 'proxy-authorization']);

/** What the h2olog lines of a traced server must hold for a curl request (contract: pseudo-headers, then the rest). */
function expectedServerRequest(c: CurlV, scheme: string, redact: boolean): Array<[string, string]> {
  const host = c.reqHeaders.find(([n]) => n.toLowerCase() === 'host')?.[1];
  const rest = c.reqHeaders.filter(([n]) => n.toLowerCase() !== 'host')
    .map(([n, v]): [string, string] => [n.toLowerCase(), redact && SECRET.has(n.toLowerCase()) ? '[redacted]' : v]);
  return [[':authority', host!], [':method', c.method], [':path', c.path], [':scheme', scheme], ...rest];
}

const protoName = (curlVersion: string): string => (curlVersion === 'HTTP/2' ? 'HTTP/2.0' : curlVersion);

/** Every curl request appears in the h2olog output exactly as curl sent it, with the response curl received. */
function checkH2olog(reqs: H2Request[], made: Array<{ c: CurlV; scheme: string }>): void {
  for (const { c, scheme } of made) {
    const found = reqs.filter((r) => hdr(r, ':path') === c.path);
    assert.equal(found.length, 1, `${c.path}: ${found.length} traced requests (want 1); traced paths: ` +
      reqs.map((r) => hdr(r, ':path')).join(' '));
    const r = found[0]!;
    assert.equal(r.protocol, protoName(c.httpVersion), `${c.path}: protocol`);
    assert.deepEqual(r.reqHeaders, expectedServerRequest(c, scheme, true), `${c.path}: request headers vs curl -v`);
    assert.equal(r.status, c.status, `${c.path}: status`);
    assert.deepEqual(r.resHeaders, c.resHeaders.map(([n, v]) => [n.toLowerCase(), v]), `${c.path}: response headers vs curl -v`);
    // the h2olog line order: protocol, request headers, status, response headers
    const order = ['RxProtocol', 'RxHeader', 'TxStatus', 'TxHeader'];
    const idx = r.names.map((n) => order.indexOf(n));
    assert.deepEqual(idx, [...idx].sort((a, b) => a - b), `${c.path}: line order ${r.names.join(',')}`);
    assert.equal(r.names.filter((n) => n === 'RxProtocol').length, 1);
  }
  // nothing else: only the requests made to the traced process
  const want = new Set(made.map((m) => m.c.path));
  const extra = reqs.filter((r) => !want.has(hdr(r, ':path') ?? ''));
  assert.deepEqual(extra.map((r) => hdr(r, ':path')), [], 'requests that were not made to the traced process');
}

/** The jsonl records (with `--headers values`): pid, tls, protocol, ports, unredacted headers. */
function checkJsonl(recs: JsonRecord[], made: Array<{ c: CurlV; scheme: string; port: number }>, pid: number, comm?: string): void {
  for (const { c, scheme, port } of made) {
    const found = recs.filter((r) => r.uri === c.path);
    assert.equal(found.length, 1, `${c.path}: ${found.length} jsonl records; uris: ${recs.map((r) => r.uri).join(' ')}`);
    const r = found[0]!;
    const h2 = c.httpVersion === 'HTTP/2';
    assert.equal(r.kind, 'CQ');
    assert.equal(r.role, 'server');
    assert.equal(r.pid, pid, `${c.path}: pid`);
    if (comm) assert.equal(r.comm, comm, `${c.path}: comm`);
    assert.equal(r.tls, scheme === 'https', `${c.path}: tls`);
    assert.equal(r.protocol, protoName(c.httpVersion), `${c.path}: protocol`);
    assert.equal(r.method, c.method);
    assert.equal(r.status, c.status);
    assert.equal(r.host, c.reqHeaders.find(([n]) => n.toLowerCase() === 'host')![1]);
    assert.equal(r.src_port, c.localPort, `${c.path}: src_port vs curl's local_port`);
    assert.equal(r.dst_port, port, `${c.path}: dst_port`);
    assert.equal(r.src_ip, '127.0.0.1');
    if (h2) assert.ok(typeof r.stream_id === 'number' && r.stream_id % 2 === 1, `${c.path}: stream_id ${r.stream_id}`);
    else assert.equal(r.stream_id, null);
    // --headers values: every header curl sent, secrets included, in order (HTTP/1 Host as :authority or Host)
    const sent = c.reqHeaders.filter(([n]) => n.toLowerCase() !== 'host').map(([n, v]) => [n.toLowerCase(), v]);
    const got = (r.req_headers ?? []).filter(([n]) => !n.startsWith(':') && n.toLowerCase() !== 'host')
      .map(([n, v]) => [n.toLowerCase(), v]);
    assert.deepEqual(got, sent, `${c.path}: jsonl req_headers (--headers values) vs curl -v`);
    const res = (r.res_headers ?? []).map(([n, v]) => [n.toLowerCase(), v]);
    assert.deepEqual(res, c.resHeaders.map(([n, v]) => [n.toLowerCase(), v]), `${c.path}: jsonl res_headers`);
  }
  assert.deepEqual(recs.filter((r) => !made.some((m) => m.c.path === r.uri)).map((r) => r.uri), [],
    'jsonl records of requests not made to the traced process');
}

/** Two tracers on one pid: default h2olog lines and `--format jsonl --headers values`. */
async function traceBoth(pid: number): Promise<{ h2: Tracer; js: Tracer }> {
  const [h2, js] = await Promise.all([startTracer(['-p', String(pid)]),
    startTracer(['-p', String(pid), '--format', 'jsonl', '--headers', 'values'])]);
  assert.match(h2.tracingLine, new RegExp(`^wirelog: tracing pid ${pid}\\b.*\\(tls: \\d+ binar`), h2.tracingLine);
  return { h2, js };
}

/** Wait until both outputs mention every path (lines are printed as heads complete, records at transaction end). */
async function settle(t: { h2: Tracer; js: Tracer }, paths: string[]): Promise<void> {
  try {
    await waitFor('trace output for every request', () => {
      const a = t.h2.proc.stdout;
      const b = t.js.proc.stdout;
      return paths.every((p) => a.includes(` :path ${p}\n`) && b.includes(`"uri":${JSON.stringify(p)}`));
    }, 10_000);
  } catch { /* the assertions say what is missing */ }
  await sleep(300);
}

const AUTH = ['Authorization: Bearer wl-secret-token', 'Cookie: session=wl-cookie-value; theme=dark', 'X-Wirelog-Test: trace-tls'];

// ---------------------------------------------------------------------------------------------------------------

test('wirelog trace -p <nginx worker>: TLS HTTP/1.1, TLS HTTP/2, h2c prior knowledge; another nginx not traced', async (t) => {
  if (!requirePrivileges(t)) return;
  const p = await pki();
  const nginx = await startNginxTls(scope, p);
  const other = await startNginxTls(scope, p);
  const tr = await traceBoth(nginx.workerPid);
  const b = `https://localhost:${nginx.port}`;
  const h1 = await curlV([`${b}/small.txt?n=h1a`, `${b}/data.json?n=h1b`], ['--http1.1'], { headers: AUTH });
  assert.equal(new Set(h1.map((c) => c.localPort)).size, 1, 'precondition: curl reused its HTTP/1.1 connection');
  const h2 = await curlV([`https://127.0.0.1:${nginx.port}/index.html?n=h2a`, `https://127.0.0.1:${nginx.port}/small.txt?n=h2b`],
    ['--http2'], { headers: AUTH });
  assert.ok(h2.every((c) => c.httpVersion === 'HTTP/2'), 'precondition: curl spoke HTTP/2 over TLS');
  const h2c = await curlV([`http://127.0.0.1:${nginx.h2cPort}/data.json?n=h2c`], ['--http2-prior-knowledge'], { headers: AUTH });
  const untraced = await curlV([`https://localhost:${other.port}/small.txt?n=other`], ['--http2']);
  const made = [...h1.map((c) => ({ c, scheme: 'https', port: nginx.port })), ...h2.map((c) => ({ c, scheme: 'https', port: nginx.port })),
    ...h2c.map((c) => ({ c, scheme: 'http', port: nginx.h2cPort }))];
  // the server's own view: it served them all, with the protocols curl reports
  const log = await nginx.waitForEntries(made.length);
  assert.deepEqual(log.map((e) => [e.request_uri, e.server_protocol]), made.map((m) => [m.c.path, protoName(m.c.httpVersion)]));
  assert.equal((await other.waitForEntries(1))[0]!.request_uri, untraced[0]!.path);

  await settle(tr, made.map((m) => m.c.path));
  const [a, j] = [await tr.h2.stop(), await tr.js.stop()];
  assert.equal(a.code, 0, a.stderr);
  assert.equal(j.code, 0, j.stderr);
  const reqs = parseH2olog(a.stdout);
  checkH2olog(reqs, made);
  // redaction by default, values with --headers values (checked in checkJsonl)
  for (const r of reqs) {
    assert.equal(hdr(r, 'authorization'), '[redacted]');
    assert.equal(hdr(r, 'cookie'), '[redacted]');
    assert.equal(hdr(r, 'x-wirelog-test'), 'trace-tls');
  }
  assert.ok(!a.stdout.includes('wl-secret-token') && !a.stdout.includes('wl-cookie-value'), 'secrets leaked in default output');
  // HTTP/1 requests on one connection are numbered 1, 2; HTTP/2 requests by stream id (curl: 1, 3)
  const byPath = (pth: string): H2Request => reqs.find((r) => hdr(r, ':path') === pth)!;
  assert.deepEqual([byPath(h1[0]!.path).req, byPath(h1[1]!.path).req], [1, 2]);
  assert.equal(byPath(h1[0]!.path).conn, byPath(h1[1]!.path).conn);
  assert.deepEqual([byPath(h2[0]!.path).req, byPath(h2[1]!.path).req], [1, 3]);
  assert.equal(new Set([byPath(h1[0]!.path).conn, byPath(h2[0]!.path).conn, byPath(h2c[0]!.path).conn]).size, 3, 'three connections');
  checkJsonl(parseJsonl(j.stdout), made, nginx.workerPid, 'nginx');
  // the contract's summary line (the CLI may add details after a ';')
  assert.match(a.stderr, new RegExp(`^wirelog: ${made.length} requests, ${made.length} responses, \\d+ events, 0 dropped by kernel(;.*)?$`, 'm'));
});

test('wirelog trace -p <h2o>: TLS HTTP/1.1 and HTTP/2, h2c; HTTP/2 output reads like h2olog', async (t) => {
  if (!requirePrivileges(t)) return;
  const p = await pki();
  const h2o = await startH2o(scope, p);
  const other = await startH2o(scope, p);
  const tr = await traceBoth(h2o.pid);
  const b = `https://localhost:${h2o.port}`;
  const h1 = await curlV([`${b}/small.txt?n=h1a`, `${b}/index.html?n=h1b`], ['--http1.1'], { headers: AUTH });
  const h2 = await curlV([`${b}/index.html?n=h2a`, `${b}/data.json?n=h2b`, `${b}/missing.txt?n=h2c404`], ['--http2'], { headers: AUTH });
  assert.ok(h2.every((c) => c.httpVersion === 'HTTP/2'), 'precondition: curl spoke HTTP/2 to h2o');
  assert.equal(h2[2]!.status, 404);
  const h2c = await curlV([`http://127.0.0.1:${h2o.plainPort}/small.txt?n=h2c`], ['--http2-prior-knowledge'], { headers: AUTH });
  await curlV([`${`https://localhost:${other.port}`}/small.txt?n=other`], ['--http2']);
  const made = [...h1.map((c) => ({ c, scheme: 'https', port: h2o.port })), ...h2.map((c) => ({ c, scheme: 'https', port: h2o.port })),
    ...h2c.map((c) => ({ c, scheme: 'http', port: h2o.plainPort }))];
  const log = await h2o.waitForEntries(made.length);
  await settle(tr, made.map((m) => m.c.path));
  const [a, j] = [await tr.h2.stop(), await tr.js.stop()];
  assert.equal(a.code, 0, a.stderr);
  assert.equal(j.code, 0, j.stderr);
  const reqs = parseH2olog(a.stdout);
  checkH2olog(reqs, made);
  // REQID of an HTTP/2 request is its stream id: h2o's own access log says which
  for (const m of made.filter((x) => x.c.httpVersion === 'HTTP/2')) {
    const e = log.find((x) => x.uri === m.c.path)!;
    assert.equal(reqs.find((r) => hdr(r, ':path') === m.c.path)!.req, e.stream_id, `${m.c.path}: REQID vs h2o stream id`);
  }
  // the h2olog sample's shape, line for line: `CONN REQ RxProtocol HTTP/2.0`, the four pseudo-headers in order, ...
  const first = reqs.find((r) => hdr(r, ':path') === h2[0]!.path)!;
  const lines = a.stdout.split('\n').filter((l) => l.startsWith(`${first.conn} ${first.req} `));
  const pre = `${first.conn} ${first.req} `;
  assert.deepEqual(lines.slice(0, 5), [
    `${pre}RxProtocol HTTP/2.0`,
    `${pre}RxHeader   :authority localhost:${h2o.port}`,
    `${pre}RxHeader   :method GET`,
    `${pre}RxHeader   :path ${h2[0]!.path}`,
    `${pre}RxHeader   :scheme https`,
  ]);
  assert.ok(lines.includes(`${pre}TxStatus   200`), lines.join('\n'));
  assert.ok(lines.includes(`${pre}TxHeader   server h2o/2.2.5`), lines.join('\n'));
  checkJsonl(parseJsonl(j.stdout), made, h2o.pid);
});

const NODE_SERVER_JS = `
const https = require('https'), http2 = require('http2'), fs = require('fs');
const key = fs.readFileSync(process.argv[2]), cert = fs.readFileSync(process.argv[3]);
const handler = (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.setHeader('x-served-by', 'node');
  res.end('ok ' + req.url + '\\n');
};
const a = https.createServer({ key, cert }, handler);
const b = http2.createSecureServer({ key, cert }, handler);
a.listen(0, '127.0.0.1', () => b.listen(0, '127.0.0.1', () =>
  console.log(JSON.stringify({ https: a.address().port, h2: b.address().port }))));
process.on('SIGTERM', () => process.exit(0));
`;

async function startNodeServer(): Promise<{ proc: Spawned; https: number; h2: number }> {
  const p = await pki();
  const file = path.join(p.dir, 'server.cjs');
  writeFileSync(file, NODE_SERVER_JS);
  const proc = scope.spawn(process.execPath, [file, p.serverKey, p.serverCert]);
  const line = await proc.waitForLine('stdout', /^\{"https"/, 10_000);
  const ports = JSON.parse(line) as { https: number; h2: number };
  return { proc, ...ports };
}

test('wirelog trace -p <node>: https and http2.createSecureServer (static OpenSSL)', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startNodeServer();
  const tr = await traceBoth(srv.proc.pid!);
  assert.match(tr.h2.tracingLine, /\(tls: [1-9]\d* binar/, 'SSL functions found in the node binary');
  const h1 = await curlV([`https://localhost:${srv.https}/a?n=node-h1a`, `https://localhost:${srv.https}/b?n=node-h1b`], ['--http1.1'], { headers: AUTH });
  const h2 = await curlV([`https://127.0.0.1:${srv.h2}/c?n=node-h2a`, `https://127.0.0.1:${srv.h2}/d?n=node-h2b`], ['--http2'], { headers: AUTH });
  assert.ok(h2.every((c) => c.httpVersion === 'HTTP/2'));
  const made = [...h1.map((c) => ({ c, scheme: 'https', port: srv.https })), ...h2.map((c) => ({ c, scheme: 'https', port: srv.h2 }))];
  await settle(tr, made.map((m) => m.c.path));
  const [a, j] = [await tr.h2.stop(), await tr.js.stop()];
  assert.equal(a.code, 0, a.stderr);
  checkH2olog(parseH2olog(a.stdout), made);
  checkJsonl(parseJsonl(j.stdout), made, srv.proc.pid!);
});

// A client holding keep-alive connections: the first request before tracing starts, the next ones after.
const NODE_CLIENT_JS = `
const https = require('https'), http2 = require('http2'), fs = require('fs');
const [port, ca] = [Number(process.argv[2]), fs.readFileSync(process.argv[3])];
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
const h1 = (p) => new Promise((ok, no) => https.get({ host: '127.0.0.1', servername: 'localhost', port, path: p, agent,
  headers: { 'x-session': 'keep-1' } }, (res) => { const lp = res.socket.localPort; res.resume();
  res.on('end', () => ok({ path: p, status: res.statusCode, port: lp })); }).on('error', no));
const session = http2.connect('https://localhost:' + port, { ca });
const h2 = (p) => new Promise((ok, no) => { const s = session.request({ ':path': p, 'x-session': 'keep-2',
  'user-agent': 'wirelog-keepalive/1.0' }); s.on('response', (h) => { const lp = session.socket.localPort; s.resume();
  s.on('end', () => ok({ path: p, status: h[':status'], stream: s.id, port: lp })); }); s.on('error', no); s.end(); });
let round = 0;
const go = async () => {
  round++;
  const out = [await h1('/small.txt?ka=' + round + '-1'), await h1('/data.json?ka=' + round + '-2'),
    await h2('/index.html?ka2=' + round + '-1'), await h2('/small.txt?ka2=' + round + '-2')];
  console.log(JSON.stringify(out));
};
// the second round on SIGUSR2 (sent once tracing has started), then exit
const keep = setInterval(() => {}, 1000);
go().then(() => process.once('SIGUSR2', () => go().then(() => { clearInterval(keep); session.close(); agent.destroy(); })));
`;

test('wirelog trace: connections opened before tracing started still yield their later requests', async (t) => {
  if (!requirePrivileges(t)) return;
  const p = await pki();
  const nginx = await startNginxTls(scope, p);
  const file = path.join(p.dir, 'client-keepalive.cjs');
  writeFileSync(file, NODE_CLIENT_JS);
  const client = scope.spawn(process.execPath, [file, String(nginx.port), p.caCert]);
  const before = JSON.parse(await client.waitForLine('stdout', /^\[/, 15_000)) as Array<{ path: string; port: number }>;
  const tr = await traceBoth(nginx.workerPid);
  client.signal('SIGUSR2');
  await waitFor('second round', () => client.stdout.split('\n').filter((l) => l.startsWith('[')).length >= 2, 15_000);
  const afterR = JSON.parse(client.stdout.split('\n').filter((l) => l.startsWith('['))[1]!) as
    Array<{ path: string; status: number; port: number; stream?: number }>;
  assert.deepEqual(afterR.map((x) => x.port), before.map((x) => x.port), 'precondition: the client reused its connections');
  await nginx.waitForEntries(8);
  await settle(tr, afterR.map((x) => x.path));
  const [a, j] = [await tr.h2.stop(), await tr.js.stop()];
  assert.equal(a.code, 0, a.stderr);
  const reqs = parseH2olog(a.stdout);
  const paths = reqs.map((r) => hdr(r, ':path'));
  for (const b of before) assert.ok(!paths.includes(b.path), `${b.path} was made before tracing started`);
  // HTTP/1: the later requests, complete
  for (const x of afterR.slice(0, 2)) {
    const r = reqs.find((q) => hdr(q, ':path') === x.path);
    assert.ok(r, `${x.path} (HTTP/1.1 on a connection opened before tracing) missing; traced: ${paths.join(' ')}`);
    assert.equal(r.protocol, 'HTTP/1.1');
    assert.equal(hdr(r, ':method'), 'GET');
    assert.equal(hdr(r, 'x-session'), 'keep-1');
    assert.equal(r.status, x.status);
  }
  // HTTP/2: the requests appear (stream ids as the client saw them); a header is either right or marked, never invented
  const sent: Record<string, string> = { ':method': 'GET', ':scheme': 'https', ':authority': `localhost:${nginx.port}`,
    'x-session': 'keep-2', 'user-agent': 'wirelog-keepalive/1.0' };
  for (const x of afterR.slice(2)) {
    const r = reqs.find((q) => q.protocol === 'HTTP/2.0' && q.req === x.stream);
    assert.ok(r, `HTTP/2 stream ${x.stream} (${x.path}) on a connection opened before tracing missing:\n${a.stdout}`);
    for (const [n, v] of r.reqHeaders) {
      if (n === ':path') assert.equal(v, x.path);
      else if (sent[n] !== undefined && v !== sent[n]) assert.match(v, /missing|unknown|lost|\?|\[/i, `${n}: ${v} invented`);
      else if (sent[n] === undefined) assert.match(`${n} ${v}`, /missing|unknown|lost|\?|\[/i, `header ${n} ${v} never sent`);
    }
    assert.equal(r.status, x.status);
  }
  assert.ok(parseJsonl(j.stdout).some((rec) => rec.uri === afterR[0]!.path && rec.pid === nginx.workerPid));
});

test('wirelog trace: the traced process exits → wirelog reports it and exits 0 with its summary', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startNodeServer();
  const tr = await startTracer(['-p', String(srv.proc.pid)]);
  const c = await curlV([`https://localhost:${srv.https}/bye?n=exit`], ['--http1.1']);
  await waitFor('the request traced', () => tr.proc.stdout.includes(` :path ${c[0]!.path}\n`), 10_000).catch(() => undefined);
  await srv.proc.stop('SIGTERM', 5000);
  const e = await Promise.race([tr.proc.exited, sleep(15_000).then(() => undefined)]);
  assert.ok(e, `wirelog still running 15 s after the traced process exited; stderr: ${tr.proc.stderr}`);
  assert.equal(e.code, 0, tr.proc.stderr);
  const s = /^wirelog: (\d+) requests, (\d+) responses, (\d+) events, (\d+) dropped by kernel(;.*)?$/m.exec(tr.proc.stderr);
  assert.ok(s, `no summary line: ${tr.proc.stderr}`);
  assert.equal(Number(s[1]), 1, 'requests in the summary');
  assert.equal(Number(s[2]), 1, 'responses in the summary');
  const reqs = parseH2olog(tr.proc.stdout);
  assert.deepEqual(reqs.map((r) => [hdr(r, ':path'), r.status]), [[c[0]!.path, c[0]!.status]]);
});

test('wirelog trace -p <no such pid>: clear error, exit 1', async (t) => {
  if (!requirePrivileges(t)) return;
  // a pid not in use: a child we started and reaped
  const gone = await (async () => {
    const s = scope.spawn('sleep', ['0']);
    await s.exited;
    return s.pid!;
  })();
  const r = await run(process.execPath, [cliPath, 'trace', '-p', String(gone)], { env: cliEnv(), timeoutMs: 30_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^wirelog: error: no such process: ${gone}$`, 'm'));
  const u = await run(process.execPath, [cliPath, 'trace', '-p', 'abc'], { env: cliEnv(), timeoutMs: 30_000 });
  assert.equal(u.code, 2, u.stderr);
  assert.match(u.stderr, /-p|--pid/);
});

test('wirelog trace -p <curl>: a traced client, TLS HTTP/2 and HTTP/1.1 out', async (t) => {
  if (!requirePrivileges(t)) return;
  const p = await pki();
  const nginx = await startNginxTls(scope, p);
  // curl opens its config file (a FIFO) before it connects: it blocks there, libssl mapped, until we write the URLs
  const dir = await scope.tempDir('wirelog-client-');
  const err = path.join(dir, 'curl.err');
  const fifo = path.join(dir, 'urls.cfg');
  await runOk('mkfifo', [fifo]);
  const urls = [`https://localhost:${nginx.port}/small.txt?n=cl1`, `https://localhost:${nginx.port}/data.json?n=cl2`,
    `https://localhost:${nginx.port}/index.html?n=cl3`];
  const cl = scope.spawn('curl', ['-sS', '-v', '--stderr', err, '-K', fifo]);
  const tr = await startTracer(['-p', String(cl.pid), '--format', 'jsonl']);
  const tx = await startTracer(['-p', String(cl.pid)]);
  // two URLs over one HTTP/2 connection, then (`next`: options reset) one over HTTP/1.1
  const opt = (u: string): string => `url = "${u}"\noutput = "/dev/null"\n`;
  writeFileSync(fifo, `http2\ncacert = "${p.caCert}"\n${opt(urls[0]!)}${opt(urls[1]!)}next\nhttp1.1\n` +
    `cacert = "${p.caCert}"\n${opt(urls[2]!)}`);
  const ex = await cl.exited;
  assert.equal(ex.code, 0, cl.stderr);
  // curl exited: both tracers end by themselves
  const [a, b] = await Promise.all([Promise.race([tr.proc.exited, sleep(15_000)]), Promise.race([tx.proc.exited, sleep(15_000)])]);
  if (!a) await tr.stop();
  if (!b) await tx.stop();
  assert.ok(a && b, 'wirelog kept running after the traced curl exited');
  const verbose = readFileSync(err, 'utf8');
  const sentPaths = verbose.split('\n').filter((l) => /^> GET /.test(l)).map((l) => l.split(' ')[2]);
  assert.deepEqual(sentPaths, ['/small.txt?n=cl1', '/data.json?n=cl2', '/index.html?n=cl3']);
  const protos = ['HTTP/2.0', 'HTTP/2.0', 'HTTP/1.1'];
  const recs = parseJsonl(tr.proc.stdout);
  assert.deepEqual(recs.map((r) => [r.kind, r.role, r.uri, r.status, r.protocol, r.tls, r.pid]),
    sentPaths.map((pth, i) => ['SQ', 'client', pth, 200, protos[i], true, cl.pid]));
  // the server's view of the client ports: nginx's access log
  const log = await nginx.waitForEntries(3);
  assert.deepEqual(recs.map((r) => [r.uri, r.src_port, r.dst_port]), log.map((e) => [e.request_uri, e.remote_port, nginx.port]));
  const reqs = parseH2olog(tx.proc.stdout, 'client');
  assert.deepEqual(reqs.map((r) => [r.protocol, hdr(r, ':path'), hdr(r, ':authority'), r.status]),
    sentPaths.map((pth, i) => [protos[i], pth, `localhost:${nginx.port}`, 200]));
  assert.ok(tx.proc.stdout.split('\n').every((l) => !l || / (TxProtocol|TxHeader  |RxStatus  |RxHeader  ) /.test(l)),
    'a traced client prints TxProtocol/TxHeader/RxStatus/RxHeader only');
  await nginx.stop();
});
