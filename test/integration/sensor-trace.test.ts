/**
 * `wirelog-sensor trace` against real processes started here: Node http and https servers (node links OpenSSL
 * statically), curl as a traced client, a process that exits, a pid that does not exist. Each expectation comes
 * from an independent view: the server's own socket (fd, ports from node), curl's `-w %{local_port}`, the exit
 * status the shell reports. Traffic stays on 127.0.0.1. Needs root (BPF, tracepoints, uprobes).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Scope, runOk, run, waitFor, type Spawned } from '../helpers/proc.js';
import { requirePrivileges } from '../helpers/privileged.js';
import { sensorPath } from '../helpers/paths.js';
import { startTrace, type TraceOptions, type TraceReady } from '../../src/source/trace.js';
import type { TraceConn, TraceData, TraceProc, TraceStats } from '../../src/decode/sensor.js';

const scope = new Scope();
after(() => scope.close());

interface Collected {
  data: Array<Omit<TraceData, 'payload'> & { payload: Buffer }>;
  conn: TraceConn[];
  proc: TraceProc[];
  stats: TraceStats[];
  errors: string[];
  ready: TraceReady;
  stop(): Promise<{ code: number | null }>;
}

/** Starts a trace session and resolves once the sensor is attached. */
async function trace(opts: Omit<TraceOptions, 'sensorPath'>): Promise<Collected> {
  const c = { data: [], conn: [], proc: [], stats: [], errors: [] } as unknown as Collected;
  let exited: (v: { code: number | null }) => void;
  const exitP = new Promise<{ code: number | null }>((r) => (exited = r));
  const ready = new Promise<TraceReady>((resolve, reject) => {
    const s = startTrace({ sensorPath, statsMs: 0, ...opts }, {
      data: (d) => c.data.push({ ...d, payload: Buffer.from(d.payload) }),
      conn: (e) => c.conn.push(e),
      proc: (p) => c.proc.push(p),
      stats: (st) => c.stats.push(st),
      ready: resolve,
      error: (m) => c.errors.push(m),
      exit: (code) => {
        exited({ code });
        reject(new Error(`sensor exited before attaching (code ${code}): ${c.errors.join('; ')}`));
      },
    });
    c.stop = async () => {
      s.stop();
      return exitP;
    };
    scope.defer('stop trace sensor', () => { s.stop(); });
  });
  c.ready = await ready;
  return c;
}

const SERVER_JS = `
const mod = require(process.argv[2] === 'https' ? 'https' : 'http');
const fs = require('fs');
const opts = process.argv[2] === 'https' ? { key: fs.readFileSync(process.argv[3]), cert: fs.readFileSync(process.argv[4]) } : {};
const srv = mod.createServer(opts, (req, res) => {
  const s = req.socket;
  // the server's own view of the connection, printed before the response is written
  console.log(JSON.stringify({ path: req.url, fd: s._handle && s._handle.fd, remotePort: s.remotePort,
    localPort: s.localPort, remoteAddress: s.remoteAddress }));
  res.setHeader('Content-Type', 'text/plain');
  res.end('body of ' + req.url + '\\n');
});
srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: srv.address().port })));
`;

interface ServerView { path: string; fd: number; remotePort: number; localPort: number; remoteAddress: string }

let dirP: Promise<string> | undefined;
function workDir(): Promise<string> {
  dirP ??= scope.tempDir('wl-trace-').then((d) => {
    writeFileSync(path.join(d, 'server.js'), SERVER_JS);
    return d;
  });
  return dirP;
}

async function startServer(kind: 'http' | 'https'): Promise<{ p: Spawned; port: number; views(): ServerView[] }> {
  const dir = await workDir();
  const args = [path.join(dir, 'server.js'), kind];
  if (kind === 'https') {
    const key = path.join(dir, 'key.pem'), cert = path.join(dir, 'cert.pem');
    if (!existsSync(key)) {
      await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
        '-subj', '/CN=localhost']);
    }
    args.push(key, cert);
  }
  const p = scope.spawn(process.execPath, args);
  const line = await p.waitForLine('stdout', /"port":\d+/);
  const port = (JSON.parse(line.slice(line.indexOf('{'))) as { port: number }).port;
  return {
    p,
    port,
    views: () => p.stdout.split('\n').filter((l) => l.includes('"path"')).map((l) => JSON.parse(l) as ServerView),
  };
}

async function curl(url: string, extra: string[] = []): Promise<number> {
  const r = await runOk('curl', ['-sS', '-o', '/dev/null', '-w', '%{local_port}', '--http1.1', ...extra, url]);
  return Number(r.stdout.trim());
}

/** After stop: the last stats record counts exactly the records we received. */
function assertNoLoss(c: Collected): void {
  const last = c.stats[c.stats.length - 1];
  assert.ok(last, 'a final stats record');
  assert.equal(last.ringbufDrops, 0, 'ring buffer drops');
  assert.equal(last.eventsSent, c.data.length + c.conn.length + c.proc.length, 'events sent = events received');
}

test('http server: request as ingress and response as egress on the server fd, with the 5-tuple curl and node see; another process does not appear', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startServer('http');
  const other = await startServer('http');
  const c = await trace({ pids: [srv.p.pid!] });
  assert.deepEqual(c.ready.pids, [srv.p.pid]);

  const port1 = await curl(`http://127.0.0.1:${srv.port}/traced/one?x=1`);
  const portOther = await curl(`http://127.0.0.1:${other.port}/not-traced`);
  await waitFor('server log line', () => srv.views().length === 1 && other.views().length === 1);
  await waitFor('response event', () => c.data.some((d) => d.direction === 'out' && d.payload.includes('body of /traced/one')));
  // curl has closed its end; node closes its socket after that
  await waitFor('close event', () => c.conn.some((e) => e.kind === 'close'));
  const { code } = await c.stop();
  assert.equal(code, 0);
  assert.deepEqual(c.errors, []);

  const view = srv.views()[0];
  assert.equal(view.remotePort, port1, 'node and curl agree on the client port');
  assert.equal(typeof view.fd, 'number');

  const reqEv = c.data.filter((d) => d.direction === 'in' && d.payload.toString('latin1').startsWith('GET /traced/one?x=1 HTTP/1.1\r\n'));
  assert.equal(reqEv.length, 1, 'one ingress event with the request head');
  const rq = reqEv[0];
  assert.equal(rq.pid, srv.p.pid);
  assert.equal(rq.comm, 'node');
  assert.equal(rq.source, 'syscall');
  assert.equal(rq.fd, view.fd);
  assert.equal(rq.family, 4);
  assert.equal(rq.localAddr, '127.0.0.1');
  assert.equal(rq.localPort, srv.port);
  assert.equal(rq.remoteAddr, '127.0.0.1');
  assert.equal(rq.remotePort, port1);
  assert.equal(rq.len, rq.payload.length);
  assert.match(rq.payload.toString('latin1'), new RegExp(`\r\nHost: 127\\.0\\.0\\.1:${srv.port}\r\n`));
  assert.ok(rq.enterUs <= rq.tsUs);

  const resp = c.data.filter((d) => d.direction === 'out' && d.fd === view.fd);
  const bytes = Buffer.concat(resp.map((d) => d.payload)).toString('latin1');
  assert.match(bytes, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(bytes, /\r\n\r\nbody of \/traced\/one\?x=1\n$/);
  for (const d of resp) {
    assert.equal(d.remotePort, port1);
    assert.equal(d.localPort, srv.port);
  }

  const acc = c.conn.filter((e) => e.kind === 'accept');
  assert.equal(acc.length, 1);
  assert.equal(acc[0].fd, view.fd);
  assert.equal(acc[0].remotePort, port1);
  assert.ok(c.conn.some((e) => e.kind === 'close' && e.fd === view.fd), 'close of the server socket');

  // nothing from the other server, nor from curl
  for (const d of c.data) {
    assert.equal(d.pid, srv.p.pid);
    assert.notEqual(d.localPort, other.port);
    assert.notEqual(d.remotePort, portOther);
    assert.ok(!d.payload.includes('not-traced'));
  }
  for (const e of c.conn) assert.equal(e.pid, srv.p.pid);
  assertNoLoss(c);
});

test('curl as a traced client: --follow from a parent shell and --comm curl give its request as egress with its own local port', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startServer('http');
  // the shell waits for a file before running curl, so tracing starts first; curl is a forked child (not exec)
  const go = path.join(await workDir(), 'go-curl');
  const sh = scope.spawn('sh', ['-c', `while [ ! -e ${go} ]; do sleep 0.02; done; curl -sS -o /dev/null -w '%{local_port}' --http1.1 http://127.0.0.1:${srv.port}/from-curl; echo`]);
  const c = await trace({ pids: [sh.pid!], follow: true, comm: 'curl' });
  writeFileSync(go, '');
  await sh.exited;
  const curlPort = Number(sh.stdout.trim());
  assert.ok(curlPort > 0, `curl's local port: ${sh.stdout}`);
  await waitFor('curl response event', () => c.data.some((d) => d.direction === 'in' && d.payload.includes('body of /from-curl')));
  await waitFor('curl exit event', () => c.proc.some((p) => p.kind === 'exit' && p.comm === 'curl'));
  await c.stop();
  assert.deepEqual(c.errors, []);

  const out = c.data.filter((d) => d.direction === 'out' && d.payload.toString('latin1').startsWith('GET /from-curl HTTP/1.1\r\n'));
  assert.equal(out.length, 1);
  const curlPid = out[0].pid;
  // the shell forks sleep while waiting, then curl: curl's pid is one of its forks (fork events ignore --comm)
  const forks = c.proc.filter((p) => p.kind === 'fork');
  assert.ok(forks.length >= 1);
  for (const f of forks) assert.equal(f.ppid, sh.pid);
  assert.ok(forks.some((f) => f.pid === curlPid), 'curl was reported as a fork of the shell');
  assert.equal(out[0].comm, 'curl');
  assert.equal(out[0].localPort, curlPort);
  assert.equal(out[0].remotePort, srv.port);
  assert.equal(out[0].remoteAddr, '127.0.0.1');
  assert.match(out[0].payload.toString('latin1'), /\r\nUser-Agent: curl\//);
  const conn = c.conn.filter((e) => e.kind === 'connect' && e.pid === curlPid);
  assert.equal(conn.length, 1);
  assert.equal(conn[0].localPort, curlPort);
  assert.equal(conn[0].fd, out[0].fd);
  // --comm curl: nothing from the shell itself; the server's side is another process
  for (const d of c.data) assert.equal(d.comm, 'curl');
  const exit = c.proc.find((p) => p.kind === 'exit' && p.pid === curlPid);
  assert.equal(exit?.exitCode, 0);
  assert.equal(srv.views()[0].remotePort, curlPort);
});

test('https server (node, static OpenSSL): the plaintext request is TLS data on the right fd and 5-tuple; its syscall bytes are flagged', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startServer('https');
  const c = await trace({ pids: [srv.p.pid!] });
  assert.ok(c.ready.tlsBinaries >= 1, 'SSL functions probed in the node binary');
  const port = await curl(`https://127.0.0.1:${srv.port}/secret/path`, ['-k']);
  await waitFor('server log', () => srv.views().length === 1);
  await waitFor('TLS response event', () => c.data.some((d) => d.source === 'tls' && d.direction === 'out' && d.payload.includes('body of /secret/path')));
  await c.stop();
  assert.deepEqual(c.errors, []);
  const view = srv.views()[0];
  assert.equal(view.remotePort, port);

  const req = c.data.filter((d) => d.source === 'tls' && d.direction === 'in');
  assert.equal(req.length, 1);
  assert.match(req[0].payload.toString('latin1'), /^GET \/secret\/path HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\n/);
  assert.ok(['SSL_read', 'SSL_read_ex'].includes(req[0].syscall), req[0].syscall);
  assert.equal(req[0].pid, srv.p.pid);
  assert.equal(req[0].fd, view.fd);
  assert.equal(req[0].localPort, srv.port);
  assert.equal(req[0].remotePort, port);
  assert.equal(req[0].remoteAddr, '127.0.0.1');
  assert.notEqual(req[0].ssl, 0n);
  const resp = c.data.filter((d) => d.source === 'tls' && d.direction === 'out');
  assert.ok(resp.length >= 1);
  assert.match(Buffer.concat(resp.map((d) => d.payload)).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*body of \/secret\/path\n$/);
  for (const d of resp) {
    assert.equal(d.fd, view.fd);
    assert.equal(d.ssl, req[0].ssl);
  }

  // the encrypted bytes: on the same fd, all flagged, none readable as the request
  const enc = c.data.filter((d) => d.source === 'syscall' && d.fd === view.fd);
  assert.ok(enc.length >= 3, 'handshake and records as syscall data');
  for (const d of enc) {
    assert.equal(d.tlsBytes, true, `${d.syscall} ${d.len} flagged as TLS`);
    assert.ok(!d.payload.includes('GET /secret'), 'no plaintext in the syscall bytes');
  }
  assert.equal(enc.find((d) => d.direction === 'in')?.payload[0], 0x16, 'the first ingress bytes are the ClientHello record');
  assertNoLoss(c);
});

test('curl over https (libssl.so, socket BIO): SSL_write/SSL_read plaintext joined to curl\'s fd exactly, not guessed', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startServer('https');
  const go = path.join(await workDir(), 'go-curl-tls');
  const sh = scope.spawn('sh', ['-c', `while [ ! -e ${go} ]; do sleep 0.02; done; exec curl -sSk -o /dev/null -w '%{local_port}' --http1.1 https://127.0.0.1:${srv.port}/client-tls`]);
  const c = await trace({ pids: [sh.pid!] });
  assert.ok(c.ready.tlsBinaries >= 1, 'libssl (or the sh/curl binaries) probed');
  writeFileSync(go, '');
  await sh.exited;
  const curlPort = Number(sh.stdout.trim());
  assert.ok(curlPort > 0);
  await waitFor('TLS response in curl', () => c.data.some((d) => d.source === 'tls' && d.direction === 'in' && d.payload.includes('body of /client-tls')));
  await c.stop();
  assert.deepEqual(c.errors, []);
  const w = c.data.filter((d) => d.source === 'tls' && d.direction === 'out');
  assert.equal(w.length, 1);
  assert.match(w[0].payload.toString('latin1'), /^GET \/client-tls HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nUser-Agent: curl\//);
  assert.equal(w[0].pid, sh.pid, 'exec keeps the pid');
  assert.equal(w[0].comm, 'curl');
  assert.equal(w[0].fdGuessed, false, 'the fd came from the syscall inside SSL_write');
  assert.equal(w[0].localPort, curlPort);
  assert.equal(w[0].remotePort, srv.port);
  const conn = c.conn.find((e) => e.kind === 'connect');
  assert.equal(conn?.fd, w[0].fd);
  assert.equal(srv.views()[0].remotePort, curlPort);
  for (const d of c.data.filter((x) => x.source === 'syscall')) {
    assert.equal(d.fd, w[0].fd);
    assert.equal(d.tlsBytes, true);
  }
});

test('snaplen: the first -s bytes are copied, len is the full request the client sent', async (t) => {
  if (!requirePrivileges(t)) return;
  const srv = await startServer('http');
  const c = await trace({ pids: [srv.p.pid!], snaplen: 20 });
  // headers fixed by the test, so the exact request bytes are known
  const port = await curl(`http://127.0.0.1:${srv.port}/snap/${'x'.repeat(100)}`, ['-H', 'User-Agent: wl-test', '-H', 'Accept: */*']);
  const sent = `GET /snap/${'x'.repeat(100)} HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nUser-Agent: wl-test\r\nAccept: */*\r\n\r\n`;
  await waitFor('response event', () => c.data.some((d) => d.direction === 'out'));
  await c.stop();
  const rq = c.data.filter((d) => d.direction === 'in');
  assert.equal(rq.length, 1);
  assert.equal(rq[0].remotePort, port);
  assert.equal(rq[0].len, Buffer.byteLength(sent));
  assert.equal(rq[0].payload.toString('latin1'), sent.slice(0, 20));
  assert.equal(rq[0].truncated, true);
  const last = c.stats[c.stats.length - 1];
  assert.ok(last.truncated >= 2, 'request and response counted as truncated');
});

test('a traced process that exits gives an exit event with its status', async (t) => {
  if (!requirePrivileges(t)) return;
  const go = path.join(await workDir(), 'go-exit');
  const sh = scope.spawn('sh', ['-c', `while [ ! -e ${go} ]; do sleep 0.02; done; exit 3`]);
  const c = await trace({ pids: [sh.pid!] });
  writeFileSync(go, '');
  const e = await sh.exited;
  assert.equal(e.code, 3);
  await waitFor('exit event', () => c.proc.some((p) => p.kind === 'exit'));
  await c.stop();
  const ex = c.proc.filter((p) => p.kind === 'exit');
  assert.equal(ex.length, 1);
  assert.equal(ex[0].pid, sh.pid);
  assert.equal(ex[0].exitCode, e.code);
  assert.equal(ex[0].signal, 0);
  assert.equal(ex[0].comm, 'sh');
});

test('a pid that does not exist: one clear error line, exit code 2', async (t) => {
  if (!requirePrivileges(t)) return;
  let pid = 4_000_000;
  while (existsSync(`/proc/${pid}`)) pid++;
  const r = await run(sensorPath, ['trace', '-p', String(pid), '--binary']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `wirelog-sensor: no such process: ${pid}\n`);
  assert.equal(r.stdout, '');
});
