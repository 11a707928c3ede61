/**
 * `wirelog trace -p PID` against servers started here: a Node process serving HTTP/1.1 (http) and h2c with prior
 * knowledge (http2), with curl --http1.1 and --http2-prior-knowledge as clients. The reference for each request is
 * curl's own view: its `-v` stderr `> ` lines (request line, every header it sent) and `< ` status. A second,
 * untraced server gets requests that must not appear. Also -w FILE with --format jsonl, and a pid that does not
 * exist. Traffic stays on 127.0.0.1. Needs root.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Scope, run, runOk, sleep, type Spawned } from '../helpers/proc.js';
import { requirePrivileges } from '../helpers/privileged.js';
import { cliPath, sensorPath } from '../helpers/paths.js';

const scope = new Scope();
after(() => scope.close());

const SERVER_JS = `
const http = require('http'), http2 = require('http2');
const h1 = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.setHeader('X-Served', 'h1 ' + req.url);
  res.statusCode = req.url.startsWith('/missing') ? 404 : 200;
  res.end('body of ' + req.url + '\\n');
});
const h2 = http2.createServer();
h2.on('stream', (st, h) => {
  st.on('error', () => {});
  st.respond({ ':status': String(h[':path']).startsWith('/missing') ? 404 : 200, 'content-type': 'text/x-h2', 'x-served': 'h2 ' + h[':path'] });
  st.end('h2 body');
});
let n = 0;
const ready = () => { if (++n === 2) console.log(JSON.stringify({ h1: h1.address().port, h2: h2.address().port })); };
h1.listen(0, '127.0.0.1', ready);
h2.listen(0, '127.0.0.1', ready);
`;

interface Servers { p: Spawned; h1: number; h2: number }

async function startServers(dir: string): Promise<Servers> {
  const js = path.join(dir, 'servers.cjs');
  writeFileSync(js, SERVER_JS);
  const p = scope.spawn(process.execPath, [js]);
  const line = await p.waitForLine('stdout', /^\{"h1"/);
  const ports = JSON.parse(line) as { h1: number; h2: number };
  return { p, ...ports };
}

async function startTrace(args: string[]): Promise<Spawned> {
  const p = scope.spawn(process.execPath, [cliPath, 'trace', ...args], { env: { ...process.env, WIRELOG_SENSOR: sensorPath } });
  await p.waitForLine('stderr', /^wirelog: tracing/, 30_000);
  return p;
}

/** What curl says it sent and got: request line, headers (in order), status. */
interface CurlView { method: string; path: string; version: string; headers: Array<[string, string]>; status: number }

function parseCurlVerbose(stderr: string): CurlView[] {
  const out: CurlView[] = [];
  let cur: CurlView | undefined;
  for (const line of stderr.split(/\r?\n/)) {
    if (line.startsWith('> ')) {
      const l = line.slice(2);
      const m = /^([A-Z]+) (\S+) (HTTP\/[0-9.]+)$/.exec(l);
      if (m !== null) {
        cur = { method: m[1], path: m[2], version: m[3], headers: [], status: 0 };
        out.push(cur);
      } else if (cur !== undefined && l.includes(':')) {
        const i = l.indexOf(':');
        cur.headers.push([l.slice(0, i), l.slice(i + 1).trim()]);
      }
    } else if (line.startsWith('< HTTP/') && cur !== undefined && cur.status === 0) {
      cur.status = Number(line.split(' ')[2]);
    }
  }
  return out;
}

interface Logged { proto: string; rx: Array<[string, string]>; status?: number; tx: Array<[string, string]> }

/** h2olog lines → per (conn, req) records (traced server: Rx = request, Tx = response). */
function parseH2olog(text: string): Map<string, Logged> {
  const m = new Map<string, Logged>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const r = /^(\d+) (\d+) (\S+) +(.*)$/.exec(line);
    assert.ok(r !== null, `h2olog line: ${line}`);
    assert.equal(line.slice(r[1].length + r[2].length + 2, r[1].length + r[2].length + 2 + 11), r[3].padEnd(10) + ' ', `NAME padded to 10: ${line}`);
    const key = `${r[1]} ${r[2]}`;
    let e = m.get(key);
    if (e === undefined) m.set(key, (e = { proto: '', rx: [], tx: [] }));
    const sp = r[4].indexOf(' ');
    const nv: [string, string] = sp < 0 ? [r[4], ''] : [r[4].slice(0, sp), r[4].slice(sp + 1)];
    if (r[3] === 'RxProtocol') e.proto = r[4];
    else if (r[3] === 'RxHeader') e.rx.push(nv);
    else if (r[3] === 'TxStatus') e.status = Number(r[4]);
    else if (r[3] === 'TxHeader') e.tx.push(nv);
    else assert.fail(`a traced server prints no ${r[3]} lines`);
  }
  return m;
}

const SECRET = new Set(['authorization', 'cookie', 'set-cookie', 'proxy-authorization']);

/** The h2olog record curl's view must produce (default --headers: values with credentials redacted). */
function expectedRx(v: CurlView): Array<[string, string]> {
  const host = v.headers.find(([n]) => n.toLowerCase() === 'host')?.[1];
  const rx: Array<[string, string]> = [];
  if (host !== undefined) rx.push([':authority', host]);
  rx.push([':method', v.method], [':path', v.path], [':scheme', 'http']);
  for (const [n, val] of v.headers) {
    const ln = n.toLowerCase();
    if (ln === 'host') continue;
    rx.push([ln, SECRET.has(ln) ? '[redacted]' : val]);
  }
  return rx;
}

test('wirelog trace -p: HTTP/1.1 and h2c requests of a Node server match curl -v; an untraced server is not logged', async (t) => {
  if (!requirePrivileges(t)) return;
  const dir = await scope.tempDir('wl-trace-basic-');
  const traced = await startServers(dir);
  const other = await startServers(dir);
  const wl = await startTrace(['-p', String(traced.p.pid)]);

  const views: Array<{ v: CurlView; proto: string }> = [];
  const curl = async (port: number, h2: boolean, p: string, extra: string[] = []): Promise<CurlView[]> => {
    const r = await runOk('curl', ['-sv', '-o', '/dev/null', h2 ? '--http2-prior-knowledge' : '--http1.1', ...extra, `http://127.0.0.1:${port}${p}`]);
    return parseCurlVerbose(r.stderr);
  };
  for (let i = 0; i < 3; i++) {
    const hdrs = ['-H', `X-Trace-Id: t${i}`, '-H', 'Authorization: Bearer s3cret', '-A', `wl-test/${i}`];
    for (const v of await curl(traced.h1, false, `/h1/${i}?q=${i}`, hdrs)) views.push({ v, proto: 'HTTP/1.1' });
    for (const v of await curl(traced.h2, true, `/h2/${i}`, hdrs)) views.push({ v, proto: 'HTTP/2.0' });
  }
  for (const v of await curl(traced.h1, false, '/missing-h1', ['-H', 'Cookie: a=b'])) views.push({ v, proto: 'HTTP/1.1' });
  for (const v of await curl(traced.h2, true, '/missing-h2', ['-H', 'Cookie: a=b'])) views.push({ v, proto: 'HTTP/2.0' });
  // keep-alive: two URLs on one HTTP/1.1 connection
  for (const v of await runOk('curl', ['-sv', '--http1.1', '-o', '/dev/null', '-o', '/dev/null', `http://127.0.0.1:${traced.h1}/ka/1`, `http://127.0.0.1:${traced.h1}/ka/2`]).then((r) => parseCurlVerbose(r.stderr))) {
    views.push({ v, proto: 'HTTP/1.1' });
  }
  // the untraced server
  await curl(other.h1, false, '/untraced-h1');
  await curl(other.h2, true, '/untraced-h2');
  await sleep(500);
  const stopped = await wl.stop('SIGINT');
  assert.equal(stopped.code, 0, wl.stderr);

  const logged = parseH2olog(wl.stdout);
  assert.equal(views.length, 10);
  assert.deepEqual(views.filter(({ v }) => v.path.startsWith('/missing')).map(({ v }) => v.status), [404, 404]);
  assert.ok(!wl.stdout.includes('untraced'), 'requests to the untraced server do not appear');
  const byPath = new Map<string, Logged>();
  for (const e of logged.values()) {
    const p = e.rx.find(([n]) => n === ':path')?.[1];
    assert.ok(p !== undefined);
    byPath.set(p, e);
  }
  assert.equal(byPath.size, views.length, wl.stdout);
  for (const { v, proto } of views) {
    const e = byPath.get(v.path);
    assert.ok(e !== undefined, `${v.path} logged`);
    assert.equal(e.proto, proto, v.path);
    assert.deepEqual(e.rx, expectedRx(v), v.path);
    assert.equal(e.status, v.status, v.path);
    assert.ok(e.tx.some(([n, val]) => n === 'x-served' && val.endsWith(v.path)), `${v.path}: response header`);
  }
  // the keep-alive pair shares a connection, request numbers 1 and 2
  const ka = [...logged.entries()].filter(([, e]) => e.rx.some(([n, val]) => n === ':path' && val.startsWith('/ka/')));
  assert.deepEqual(ka.map(([k]) => k.split(' ')[1]).sort(), ['1', '2']);
  assert.equal(new Set(ka.map(([k]) => k.split(' ')[0])).size, 1);
  const summary = /wirelog: (\d+) requests, (\d+) responses, (\d+) events, (\d+) dropped by kernel/.exec(wl.stderr);
  assert.ok(summary !== null, wl.stderr);
  assert.equal(Number(summary[1]), views.length);
  assert.equal(Number(summary[2]), views.length);
});

test('wirelog trace -w FILE --format jsonl writes one record per request to the file', async (t) => {
  if (!requirePrivileges(t)) return;
  const dir = await scope.tempDir('wl-trace-w-');
  const srv = await startServers(dir);
  const file = path.join(dir, 'out.jsonl');
  const wl = await startTrace(['-p', String(srv.p.pid), '-w', file, '--format', 'jsonl', '--headers', 'values']);
  const r1 = parseCurlVerbose((await runOk('curl', ['-sv', '-o', '/dev/null', '--http1.1', '-H', 'Cookie: c=1', `http://127.0.0.1:${srv.h1}/w1`])).stderr);
  const r2 = parseCurlVerbose((await runOk('curl', ['-sv', '-o', '/dev/null', '--http2-prior-knowledge', `http://127.0.0.1:${srv.h2}/w2`])).stderr);
  await sleep(500);
  const stopped = await wl.stop('SIGINT');
  assert.equal(stopped.code, 0, wl.stderr);
  assert.equal(wl.stdout, '', 'nothing on stdout with -w');
  const recs = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(recs.length, 2);
  const w1 = recs.find((r) => r.uri === '/w1')!;
  const w2 = recs.find((r) => r.uri === '/w2')!;
  assert.equal(w1.protocol, 'HTTP/1.1');
  assert.equal(w1.role, 'server');
  assert.equal(w1.kind, 'CQ');
  assert.equal(w1.pid, srv.p.pid);
  assert.equal(w1.dst_port, srv.h1);
  assert.equal(w1.status, r1[0].status);
  assert.deepEqual(w1.req_headers, r1[0].headers.filter(([n]) => n.toLowerCase() !== 'host'));
  assert.equal(w2.protocol, 'HTTP/2.0');
  assert.equal(w2.stream_id, 1);
  assert.equal(w2.host, r2[0].headers.find(([n]) => n.toLowerCase() === 'host')?.[1]);
  assert.equal(w2.status, 200);
  assert.equal(w2.tls, false);
});

test('wirelog trace -p with a pid that does not exist: clear error, exit 1', async (t) => {
  if (!requirePrivileges(t)) return;
  // a pid just freed: a short-lived child's
  const r0 = await run('sh', ['-c', 'echo $$']);
  const gone = Number(r0.stdout.trim());
  const r = await run(process.execPath, [cliPath, 'trace', '-p', String(gone)], { env: { ...process.env, WIRELOG_SENSOR: sensorPath } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^wirelog: error: no such process: ${gone}$`, 'm'));
  const u = await run(process.execPath, [cliPath, 'trace', '-p', '1', '--format', 'nope']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /--format/);
});
