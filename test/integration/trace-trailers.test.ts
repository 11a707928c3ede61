/**
 * `wirelog trace -p` and trailers: a Node server (traced) speaking HTTP/1.1 (chunked, `res.addTrailers`) and h2c
 * prior knowledge (`waitForTrailers` + `stream.sendTrailers`), and an untraced Node client that sends request
 * trailers both ways too. References: the trailers the server received (`req.rawTrailers`, the h2 stream's
 * 'trailers' event) and the ones the client received, as each peer printed them. The h2olog lines must carry them as
 * further RxHeader/TxHeader lines after the message's other lines; `--format jsonl` as `req_trailers` /
 * `res_trailers`. Traffic stays on 127.0.0.1. Needs root.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Scope, Spawned, runOk, sleep } from '../helpers/proc.js';
import { requirePrivileges } from '../helpers/privileged.js';
import { cliPath, sensorPath } from '../helpers/paths.js';

const scope = new Scope();
after(() => scope.close());

const SERVER_JS = `
const http = require('http'), http2 = require('http2');
const seen = [];
const h1 = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    seen.push({ path: req.url, reqTrailers: pairs(req.rawTrailers) });
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Trailer': 'X-Checksum, X-Served-Path' });
    res.write('part one\\n');
    res.addTrailers({ 'X-Checksum': 'h1-' + req.url.length, 'X-Served-Path': req.url });
    res.end('part two\\n');
  });
});
const h2 = http2.createServer();
h2.on('stream', (st, h) => {
  st.on('error', () => {});
  let reqTrailers = [];
  st.on('trailers', (t, flags, raw) => { reqTrailers = pairs(raw); });
  st.resume();
  st.on('end', () => {
    seen.push({ path: h[':path'], reqTrailers });
    st.respond({ ':status': 200, 'content-type': 'text/x-h2' }, { waitForTrailers: true });
    st.on('wantTrailers', () => st.sendTrailers({ 'x-checksum': 'h2-' + h[':path'].length, 'grpc-status': '0' }));
    st.end('h2 body');
  });
});
function pairs(raw) { const o = []; for (let i = 0; i < raw.length; i += 2) o.push([raw[i], raw[i + 1]]); return o; }
process.on('SIGUSR2', () => console.log('SEEN ' + JSON.stringify(seen)));
let n = 0;
const ready = () => { if (++n === 2) console.log(JSON.stringify({ h1: h1.address().port, h2: h2.address().port })); };
h1.listen(0, '127.0.0.1', ready);
h2.listen(0, '127.0.0.1', ready);
`;

const CLIENT_JS = `
const http = require('http'), http2 = require('http2');
const [h1Port, h2Port] = process.argv.slice(2).map(Number);
const got = [];
function pairs(raw) { const o = []; for (let i = 0; i < raw.length; i += 2) o.push([raw[i], raw[i + 1]]); return o; }
function h1(path, trailers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: h1Port, path, method: 'POST', agent: false,
      headers: { 'Transfer-Encoding': 'chunked', 'Trailer': 'X-Req-Sum' } }, (res) => {
      res.resume();
      res.on('end', () => { got.push({ path, resTrailers: pairs(res.rawTrailers) }); resolve(); });
    });
    req.on('error', reject);
    req.write('request body\\n');
    if (trailers) req.addTrailers({ 'X-Req-Sum': 'r-' + path.length });
    req.end();
  });
}
function h2(session, path, trailers) {
  return new Promise((resolve, reject) => {
    const st = session.request({ ':method': 'POST', ':path': path }, trailers ? { waitForTrailers: true } : {});
    if (trailers) st.on('wantTrailers', () => st.sendTrailers({ 'x-req-sum': 'r-' + path.length }));
    let resTrailers = [];
    st.on('trailers', (t, flags, raw) => { resTrailers = pairs(raw); });
    st.on('error', reject);
    st.resume();
    st.on('end', () => { got.push({ path, resTrailers }); resolve(); });
    st.end('h2 request body');
  });
}
(async () => {
  await h1('/h1/with-req-trailers', true);
  await h1('/h1/plain', false);
  const s = http2.connect('http://127.0.0.1:' + h2Port);
  await h2(s, '/h2/with-req-trailers', true);
  await h2(s, '/h2/plain', false);
  s.close();
  console.log(JSON.stringify(got));
})().catch((e) => { console.error(e); process.exit(1); });
`;

type Pairs = Array<[string, string]>;

test('wirelog trace -p: HTTP/1.1 chunked trailers and HTTP/2 trailers, both directions, h2olog and jsonl', async (t) => {
  if (!requirePrivileges(t)) return;
  const dir = await scope.tempDir('wl-trace-trailers-');
  writeFileSync(path.join(dir, 'server.cjs'), SERVER_JS);
  writeFileSync(path.join(dir, 'client.cjs'), CLIENT_JS);
  const srv = scope.spawn(process.execPath, [path.join(dir, 'server.cjs')]);
  const ports = JSON.parse(await srv.waitForLine('stdout', /^\{"h1"/)) as { h1: number; h2: number };
  const env = { ...process.env, WIRELOG_SENSOR: sensorPath };
  const start = async (args: string[]): Promise<Spawned> => {
    const p = scope.spawn(process.execPath, [cliPath, 'trace', '-p', String(srv.pid), ...args], { env });
    await p.waitForLine('stderr', /^wirelog: tracing/, 30_000);
    return p;
  };
  const lines = await start([]);
  const json = await start(['--format', 'jsonl', '--headers', 'values']);
  const cl = await runOk(process.execPath, [path.join(dir, 'client.cjs'), String(ports.h1), String(ports.h2)], { timeoutMs: 30_000 });
  const clientGot = JSON.parse(cl.stdout.trim()) as Array<{ path: string; resTrailers: Pairs }>;
  srv.signal('SIGUSR2');
  const serverSeen = JSON.parse((await srv.waitForLine('stdout', /^SEEN /)).slice(5)) as Array<{ path: string; reqTrailers: Pairs }>;
  assert.equal(clientGot.length, 4);
  assert.equal(serverSeen.length, 4);
  // preconditions: the peers did exchange trailers
  assert.ok(clientGot.every((g) => g.resTrailers.length === 2), JSON.stringify(clientGot));
  assert.equal(serverSeen.filter((s) => s.reqTrailers.length === 1).length, 2, JSON.stringify(serverSeen));
  await sleep(500);
  assert.equal((await lines.stop('SIGINT', 15_000)).code, 0, lines.stderr);
  assert.equal((await json.stop('SIGINT', 15_000)).code, 0, json.stderr);

  // h2olog: per (conn, req), the line list; the request's trailers are its last RxHeader lines, the response's
  // trailers its last TxHeader lines
  const by = new Map<string, string[][]>();
  for (const l of lines.stdout.split('\n')) {
    if (l === '') continue;
    const m = /^(\d+ \d+) (.{10}) (.*)$/.exec(l);
    assert.ok(m !== null, l);
    const k = m[1]!;
    if (!by.has(k)) by.set(k, []);
    by.get(k)!.push([m[2]!.trimEnd(), m[3]!]);
  }
  const lower = (p: Pairs): string[] => p.map(([n, v]) => `${n.toLowerCase()} ${v}`);
  for (const g of clientGot) {
    const s = serverSeen.find((x) => x.path === g.path)!;
    const rec = [...by.values()].find((ls) => ls.some(([n, v]) => n === 'RxHeader' && v === `:path ${g.path}`));
    assert.ok(rec !== undefined, `${g.path} logged:\n${lines.stdout}`);
    const rx = rec.filter(([n]) => n === 'RxHeader').map(([, v]) => v);
    const tx = rec.filter(([n]) => n === 'TxHeader').map(([, v]) => v);
    if (s.reqTrailers.length > 0) assert.deepEqual(rx.slice(-s.reqTrailers.length), lower(s.reqTrailers), `${g.path}: request trailers`);
    else assert.ok(!rx.some((v) => v.startsWith('x-req-sum')), `${g.path}: no request trailers`);
    assert.deepEqual(tx.slice(-g.resTrailers.length), lower(g.resTrailers), `${g.path}: response trailers`);
    // trailers come after the response's status line (the response trailers: last lines of the record)
    assert.deepEqual(rec.slice(-g.resTrailers.length).map(([n]) => n), g.resTrailers.map(() => 'TxHeader'));
  }

  const recs = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { uri: string; req_trailers: Pairs; res_trailers: Pairs; protocol: string });
  assert.equal(recs.length, 4, json.stdout);
  for (const r of recs) {
    const g = clientGot.find((x) => x.path === r.uri)!;
    const s = serverSeen.find((x) => x.path === r.uri)!;
    assert.equal(r.protocol, r.uri.startsWith('/h2') ? 'HTTP/2.0' : 'HTTP/1.1');
    assert.deepEqual(r.req_trailers, s.reqTrailers, `${r.uri}: req_trailers`);
    assert.deepEqual(r.res_trailers, g.resTrailers, `${r.uri}: res_trailers`);
  }
});
