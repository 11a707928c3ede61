/**
 * `wirelog trace -p` and the h2c upgrade (RFC 7540 3.2): `curl --http2 http://...` sends its first request in
 * HTTP/1.1 with `Upgrade: h2c` + `HTTP2-Settings`; h2o (plaintext listener, test/helpers/h2o.ts) answers `101
 * Switching Protocols` and the connection goes on in HTTP/2: the upgrade request is stream 1 (its response comes
 * as HTTP/2), curl's next URLs are streams 3, 5 on the same connection. References: curl's `-v` (`> ` lines: what it
 * sent, in HTTP/1.1 for stream 1; `< ` lines: the 101 and each final response) and h2o's access log (protocol
 * HTTP/2, stream ids, status, connection id). Traced twice: h2o as the server, and a curl process as the client of
 * an upgrade. Traffic stays on 127.0.0.1. Needs root.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Scope, Spawned, runOk, sleep, waitFor } from '../helpers/proc.js';
import { requirePrivileges } from '../helpers/privileged.js';
import { cliPath, sensorPath } from '../helpers/paths.js';
import { makeTestPki } from '../helpers/tls.js';
import { startH2o } from '../helpers/h2o.js';

const scope = new Scope();
after(() => scope.close());

function cliEnv(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WIRELOG_')) e[k] = v;
  return { ...e, WIRELOG_SENSOR: sensorPath };
}

async function startTracer(args: string[]): Promise<Spawned> {
  const p = scope.spawn(process.execPath, [cliPath, 'trace', ...args], { env: cliEnv() });
  await p.waitForLine('stderr', /^wirelog: tracing/, 30_000);
  return p;
}

interface Msg { head: string; headers: Array<[string, string]> }

/** curl -v: requests (`> `) and responses (`< `, interim ones included), in order. */
function parseCurlV(stderr: string): { reqs: Msg[]; ress: Msg[] } {
  const reqs: Msg[] = [];
  const ress: Msg[] = [];
  for (const raw of stderr.split('\n')) {
    const l = raw.replace(/\r$/, '');
    const dir = l.startsWith('> ') ? reqs : l.startsWith('< ') ? ress : undefined;
    if (dir === undefined) continue;
    const body = l.slice(2);
    if (/^[A-Z]+ \S+ HTTP\//.test(body) || /^HTTP\/[\d.]+ \d{3}/.test(body)) dir.push({ head: body, headers: [] });
    else if (body.trim() !== '') {
      const i = body.indexOf(':');
      dir[dir.length - 1]!.headers.push([body.slice(0, i).trim(), body.slice(i + 1).trim()]);
    }
  }
  return { reqs, ress };
}

interface Logged { conn: number; req: number; protocol?: string; reqHeaders: Array<[string, string]>; status?: number; resHeaders: Array<[string, string]> }

/** h2olog lines; a traced server has Rx request lines, a client Tx ones. */
function parseH2olog(text: string, role: 'server' | 'client'): Logged[] {
  const by = new Map<string, Logged>();
  const [proto, reqH, st, resH] = role === 'server' ? ['RxProtocol', 'RxHeader', 'TxStatus', 'TxHeader'] : ['TxProtocol', 'TxHeader', 'RxStatus', 'RxHeader'];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^(\d+) (\d+) (.{10}) (.*)$/.exec(line);
    assert.ok(m !== null, `h2olog line: ${JSON.stringify(line)}`);
    const name = m[3]!.trimEnd();
    const key = `${m[1]} ${m[2]}`;
    let r = by.get(key);
    if (r === undefined) by.set(key, (r = { conn: Number(m[1]), req: Number(m[2]), reqHeaders: [], resHeaders: [] }));
    const v = m[4]!;
    const sp = v.indexOf(' ', v.startsWith(':') ? 1 : 0);
    const nv: [string, string] = sp < 0 ? [v, ''] : [v.slice(0, sp), v.slice(sp + 1)];
    if (name === proto) r.protocol = v;
    else if (name === st) r.status = Number(v);
    else if (name === reqH && r.status === undefined) r.reqHeaders.push(nv);
    else if (name === resH) r.resHeaders.push(nv);
    else assert.fail(`unexpected ${name} for a traced ${role}: ${line}`);
  }
  return [...by.values()];
}

/** The request lines a curl request must give: pseudo-headers from Host / the request line, then the rest. */
function expectedRequest(m: Msg): Array<[string, string]> {
  const [method, target] = m.head.split(' ');
  const host = m.headers.find(([n]) => n.toLowerCase() === 'host')![1];
  const rest = m.headers.filter(([n]) => n.toLowerCase() !== 'host').map(([n, v]): [string, string] => [n.toLowerCase(), v]);
  return [[':authority', host], [':method', method!], [':path', target!], [':scheme', 'http'], ...rest];
}

const PATHS = ['/small.txt?n=up1', '/index.html?n=up2', '/data.json?n=up3', '/missing.txt?n=up4'];

/** curl's view of one `curl --http2` run over PATHS: stream 1 sent in HTTP/1.1, a 101, then HTTP/2. */
function checkCurlUpgraded(v: { reqs: Msg[]; ress: Msg[] }): Msg[] {
  assert.equal(v.reqs.length, PATHS.length);
  assert.match(v.reqs[0]!.head, / HTTP\/1\.1$/, 'precondition: curl sent the first request in HTTP/1.1');
  assert.ok(v.reqs[0]!.headers.some(([n, val]) => n === 'Upgrade' && val === 'h2c'), 'precondition: Upgrade: h2c');
  assert.match(v.ress[0]!.head, /^HTTP\/1\.1 101/, 'precondition: h2o switched protocols');
  const finals = v.ress.filter((r) => !/^HTTP\/[\d.]+ 1\d\d/.test(r.head));
  assert.equal(finals.length, PATHS.length);
  assert.ok(finals.every((r) => r.head.startsWith('HTTP/2 ')), 'precondition: every response came in HTTP/2');
  assert.ok(v.reqs.slice(1).every((r) => r.head.endsWith(' HTTP/2')), 'precondition: later requests in HTTP/2');
  return finals;
}

const statusOf = (m: Msg): number => Number(m.head.split(' ')[1]);

test('wirelog trace -p <h2o>: an h2c upgrade (curl --http2 http://, 4 URLs on one connection)', async (t) => {
  if (!requirePrivileges(t)) return;
  const h2o = await startH2o(scope, await makeTestPki(scope));
  const lines = await startTracer(['-p', String(h2o.pid)]);
  const json = await startTracer(['-p', String(h2o.pid), '--format', 'jsonl']);
  const args = ['-sS', '-v', '--max-time', '20', '--http2', '-H', 'X-Wirelog-Test: h2c', '-H', 'Authorization: Bearer wl-h2c-secret'];
  for (const p of PATHS) args.push('-o', '/dev/null', `http://127.0.0.1:${h2o.plainPort}${p}`);
  const r = await runOk('curl', args, { timeoutMs: 30_000 });
  const v = parseCurlV(r.stderr);
  const finals = checkCurlUpgraded(v);
  assert.ok(!/Connection #\d+ .*closed|Connected to .*#1/.test(r.stderr), 'precondition: one connection');
  const log = await h2o.waitForEntries(PATHS.length);
  // h2o's own view: one connection, HTTP/2 for every request, the upgrade request on stream 1
  assert.deepEqual(log.map((e) => [e.uri, e.protocol, e.stream_id]), PATHS.map((p, i) => [p, 'HTTP/2', 2 * i + 1]));
  assert.equal(new Set(log.map((e) => e.connection_id)).size, 1);
  await waitFor('traced lines', () => PATHS.every((p) => lines.stdout.includes(` :path ${p}\n`)) || undefined, 15_000).catch(() => undefined);
  await sleep(300);
  assert.equal((await lines.stop('SIGINT', 15_000)).code, 0, lines.stderr);
  assert.equal((await json.stop('SIGINT', 15_000)).code, 0, json.stderr);

  const got = parseH2olog(lines.stdout, 'server');
  assert.equal(got.length, PATHS.length, lines.stdout);
  assert.equal(new Set(got.map((g) => g.conn)).size, 1, 'one connection id');
  for (let i = 0; i < PATHS.length; i++) {
    const g = got.find((x) => x.reqHeaders.some(([n, val]) => n === ':path' && val === PATHS[i]));
    assert.ok(g !== undefined, `${PATHS[i]} logged`);
    // as h2o logs it: HTTP/2, REQID = stream id (1 for the upgrade request)
    assert.equal(g.protocol, 'HTTP/2.0', PATHS[i]);
    assert.equal(g.req, log[i]!.stream_id, `${PATHS[i]}: REQID vs h2o's stream id`);
    const exp = expectedRequest(v.reqs[i]!).map(([n, val]): [string, string] => [n, n === 'authorization' ? '[redacted]' : val]);
    assert.deepEqual(g.reqHeaders, exp, `${PATHS[i]}: request headers vs curl -v`);
    assert.equal(g.status, statusOf(finals[i]!), `${PATHS[i]}: status`);
    assert.equal(g.status, log[i]!.status);
    assert.deepEqual(g.resHeaders, finals[i]!.headers.map(([n, val]) => [n.toLowerCase(), val]), `${PATHS[i]}: response headers vs curl -v`);
  }
  // the 101 is an interim response: not a TxStatus line
  assert.ok(!/ TxStatus {3}101$/m.test(lines.stdout));

  const recs = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(recs.map((x) => [x.uri, x.protocol, x.stream_id, x.status, x.version, x.res_version, x.role, x.pid]).sort(),
    PATHS.map((p, i) => [p, 'HTTP/2.0', 2 * i + 1, log[i]!.status, 'HTTP/2.0', 'HTTP/2.0', 'server', h2o.pid]).sort());
  const first = recs.find((x) => x.stream_id === 1)!;
  assert.deepEqual(first.interim, [101]);
  assert.equal(first.src_port, log[0]!.remote_port);
  assert.match(json.stderr, new RegExp(`^wirelog: ${PATHS.length} requests, ${PATHS.length} responses, \\d+ events, 0 dropped by kernel`, 'm'));
});

test('wirelog trace -p <curl>: a traced client upgrading to h2c', async (t) => {
  if (!requirePrivileges(t)) return;
  const h2o = await startH2o(scope, await makeTestPki(scope));
  // curl opens its config file (a FIFO) before it connects: it waits there, traced, until the URLs are written
  const dir = await scope.tempDir('wirelog-h2c-client-');
  const err = path.join(dir, 'curl.err');
  const fifo = path.join(dir, 'urls.cfg');
  await runOk('mkfifo', [fifo]);
  const cl = scope.spawn('curl', ['-sS', '-v', '--stderr', err, '-K', fifo]);
  const tr = await startTracer(['-p', String(cl.pid)]);
  const urls = PATHS.map((p) => `url = "http://127.0.0.1:${h2o.plainPort}${p}"\noutput = "/dev/null"\n`).join('');
  await writeFile(fifo, `http2\nheader = "X-Wirelog-Test: h2c-client"\n${urls}`);
  const ex = await cl.exited;
  assert.equal(ex.code, 0, readFileSync(err, 'utf8'));
  const done = await Promise.race([tr.exited, sleep(15_000)]);
  if (!done) await tr.stop('SIGINT', 15_000);
  assert.ok(done, 'wirelog kept running after the traced curl exited');
  const v = parseCurlV(readFileSync(err, 'utf8'));
  const finals = checkCurlUpgraded(v);
  const log = await h2o.waitForEntries(PATHS.length);
  const got = parseH2olog(tr.stdout, 'client');
  assert.deepEqual(got.map((g) => [g.protocol, g.req, g.status]), PATHS.map((_, i) => ['HTTP/2.0', log[i]!.stream_id, statusOf(finals[i]!)]), tr.stdout);
  for (let i = 0; i < PATHS.length; i++) {
    assert.deepEqual(got[i]!.reqHeaders, expectedRequest(v.reqs[i]!), `${PATHS[i]}: request headers vs curl -v`);
    assert.deepEqual(got[i]!.resHeaders, finals[i]!.headers.map(([n, val]) => [n.toLowerCase(), val]), `${PATHS[i]}: response headers vs curl -v`);
  }
  assert.match(tr.stderr, new RegExp(`^wirelog: ${PATHS.length} requests, ${PATHS.length} responses, \\d+ events, 0 dropped by kernel`, 'm'));
});
