/**
 * A throw-away nginx for integration tests and benchmarks: own temp dir, own config, non-daemon child,
 * JSON access log carrying every field the tests compare against wirelog's lines.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Scope, Spawned, waitFor, fmtExit, runOk } from './proc.js';

/** One access-log entry (all values as nginx logged them; numbers parsed). */
export interface AccessEntry {
  msec: number;
  remote_addr: string;
  remote_port: number;
  server_addr: string;
  server_port: number;
  request_method: string;
  request_uri: string;
  server_protocol: string;
  status: number;
  body_bytes_sent: number;
  bytes_sent: number;
  request_length: number;
  http_host: string;
  http_user_agent: string;
  sent_http_content_type: string;
  sent_http_content_length: string;
  sent_http_transfer_encoding: string;
  connection: number;
  connection_requests: number;
  /** the request line as nginx read it (for a rejected request, the bytes it gave up on) */
  request: string;
}

export interface NginxOptions {
  /** addresses to listen on; IPv6 without brackets. Default 127.0.0.1 and ::1 */
  listen?: string[];
  /** port; default: a free port on loopback (or 8080 inside a namespace) */
  port?: number;
  /** run inside this network namespace */
  netns?: string;
  /** size of /big.bin in bytes (random, incompressible); default 4 MiB */
  bigBytes?: number;
  /** worker processes; default 1 */
  workers?: number | 'auto';
  /** keep the access log off (benchmarks) */
  noAccessLog?: boolean;
}

export interface Nginx {
  port: number;
  dir: string;
  www: string;
  accessLogPath: string;
  errorLogPath: string;
  proc: Spawned;
  /** Files served (path → bytes) so tests know what to ask for and what to expect. */
  files: Record<string, number>;
  /** Parsed access log (entries are written at each request's end). */
  readAccessLog(): Promise<AccessEntry[]>;
  /** Wait until the access log holds at least n entries; returns them. */
  waitForEntries(n: number, timeoutMs?: number): Promise<AccessEntry[]>;
  stop(): Promise<void>;
}

const LOG_FIELDS = [
  'msec', 'remote_addr', 'remote_port', 'server_addr', 'server_port', 'request_method', 'request_uri',
  'server_protocol', 'status', 'body_bytes_sent', 'bytes_sent', 'request_length', 'http_host', 'http_user_agent',
  'sent_http_content_type', 'sent_http_content_length', 'sent_http_transfer_encoding', 'connection',
  'connection_requests', 'request',
] as const;
const NUMERIC = new Set(['msec', 'remote_port', 'server_port', 'status', 'body_bytes_sent', 'bytes_sent',
  'request_length', 'connection', 'connection_requests']);

/** A TCP port free on 127.0.0.1 and ::1 alike (checked by binding both). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (port < 10000) continue;
    const v6free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '::1', () => s.close(() => resolve(true)));
    });
    if (v6free) return port;
  }
  throw new Error('no free port on 127.0.0.1 and ::1');
}

function listenDirective(addr: string, port: number): string {
  return addr.includes(':') ? `listen [${addr}]:${port};` : `listen ${addr}:${port};`;
}

/** Compressible text: gzip on makes nginx answer it chunked (no Content-Length). */
function compressibleText(bytes: number): string {
  const line = 'wirelog integration test line: the quick brown fox jumps over the lazy dog 0123456789\n';
  return line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes);
}

export async function startNginx(scope: Scope, opts: NginxOptions = {}): Promise<Nginx> {
  const listen = opts.listen ?? ['127.0.0.1', '::1'];
  const port = opts.port ?? (opts.netns ? 8080 : await freePort());
  const dir = await scope.tempDir('wirelog-nginx-');
  const www = path.join(dir, 'www');
  await mkdir(path.join(www, 'gz'), { recursive: true });
  await mkdir(path.join(dir, 'tmp'), { recursive: true });

  const files: Record<string, number> = {};
  const put = async (rel: string, data: string | Buffer): Promise<void> => {
    await writeFile(path.join(www, rel), data);
    files['/' + rel] = Buffer.byteLength(data);
  };
  await put('index.html', '<!doctype html><title>wirelog</title><p>hello</p>\n');
  await put('small.txt', 'hello world\n');
  await put('data.json', '{"ok":true,"n":[1,2,3]}\n');
  await put('gz/text.txt', compressibleText(64 * 1024));
  await put('big.bin', randomBytes(opts.bigBytes ?? 4 * 1024 * 1024));

  const accessLogPath = path.join(dir, 'access.log');
  const errorLogPath = path.join(dir, 'error.log');
  const upstreamSock = path.join(dir, 'upstream.sock');
  const logFormat = jsonLogFormat(LOG_FIELDS);
  const conf = `
# generated by test/helpers/nginx.ts
user root;
worker_processes ${opts.workers ?? 1};
daemon off;
pid ${dir}/nginx.pid;
error_log ${errorLogPath} info;
events { worker_connections 4096; }
http {
  types { text/html html; text/plain txt; application/json json; application/octet-stream bin; }
  default_type application/octet-stream;
  log_format wl escape=json '${logFormat}';
  access_log ${opts.noAccessLog ? 'off' : `${accessLogPath} wl`};
  ${tempPathsConf(dir)}
  sendfile on;
  keepalive_requests 100000;
  keepalive_timeout 65;
  # room for the 20 KB request header tests
  large_client_header_buffers 4 64k;
  client_max_body_size 64m;
  server {
    ${listen.map((a) => listenDirective(a, port)).join('\n    ')}
    server_name _;
    root ${www};
    # gzip'd responses have no Content-Length: HTTP/1.1 gets them chunked
    location /gz/ { gzip on; gzip_types text/plain; gzip_min_length 0; gzip_http_version 1.0; }
    # a location that reads the request body (so Expect: 100-continue is answered with 100 Continue)
    location = /upload { proxy_pass http://unix:${upstreamSock}:/sink; proxy_http_version 1.1; }
  }
  server {
    listen unix:${upstreamSock};
    access_log off;
    location /sink { default_type text/plain; return 200 "stored\\n"; }
  }
}
`;
  const { proc } = await spawnNginx(scope, dir, conf, errorLogPath, opts.netns);
  const nginx: Nginx = {
    port, dir, www, accessLogPath, errorLogPath, proc, files,
    ...jsonAccessLog<AccessEntry>(accessLogPath, LOG_FIELDS, NUMERIC),
    stop: async () => { await proc.stop('SIGTERM', 5000); },
  };
  return nginx;
}

export function parseAccessLine(line: string): AccessEntry {
  return parseJsonLogLine<AccessEntry>(line, LOG_FIELDS, NUMERIC);
}

// ---------------------------------------------------------------------------------------------------------------
// Shared by every nginx the tests start (this file's, nginx-tls.ts's, client-servers.ts's).

export interface SpawnedNginx {
  proc: Spawned;
  /** throws the error naming nginx's exit and the tail of its error log (call when `proc` is no longer running) */
  failed(): Promise<never>;
}

/**
 * Writes `conf` to DIR/nginx.conf and starts nginx on it (foreground child of `scope`); resolves once nginx has
 * written its pid file, which it does after its listening sockets are bound: connections then queue in the backlog.
 */
export async function spawnNginx(scope: Scope, dir: string, conf: string, errorLogPath: string, netns?: string): Promise<SpawnedNginx> {
  const confPath = path.join(dir, 'nginx.conf');
  await writeFile(confPath, conf);
  const proc = scope.spawn('nginx', ['-p', dir, '-c', confPath, '-e', errorLogPath], netns ? { netns } : undefined);
  const failed = async (): Promise<never> => {
    let errLog = '';
    try { errLog = await readFile(errorLogPath, 'utf8'); } catch { /* none */ }
    throw new Error(`nginx exited (${fmtExit(proc.exitInfo!)}): ${proc.stderr} ${errLog.slice(-2000)}`);
  };
  await waitFor('nginx pid file', async () => {
    if (!proc.running) await failed();
    return existsSync(path.join(dir, 'nginx.pid'));
  }, 10_000);
  return { proc, failed };
}

/** nginx's temp directories under DIR/tmp (it must not write to the system's), for the `http` block. */
export function tempPathsConf(dir: string): string {
  return `client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;`;
}

/** A `log_format ... escape=json` body: one JSON object per request with these variables. */
export function jsonLogFormat(fields: readonly string[]): string {
  return '{' + fields.map((f) => `"${f}":"$${f}"`).join(',') + '}';
}

/** One line of a `log_format ... escape=json` access log: the listed fields, numeric ones as numbers. */
export function parseJsonLogLine<T>(line: string, fields: readonly string[], numeric: ReadonlySet<string>): T {
  const raw = JSON.parse(line) as Record<string, string>;
  const out: Record<string, string | number> = {};
  for (const f of fields) {
    const v = raw[f] ?? '';
    out[f] = numeric.has(f) ? Number(v) : v;
  }
  return out as unknown as T;
}

/** Reading a JSON-lines access log, and waiting until it has at least n entries. */
export function jsonAccessLog<T>(logPath: string, fields: readonly string[], numeric: ReadonlySet<string>): {
  readAccessLog(): Promise<T[]>;
  waitForEntries(n: number, timeoutMs?: number): Promise<T[]>;
} {
  const readAccessLog = async (): Promise<T[]> => {
    let text = '';
    try { text = await readFile(logPath, 'utf8'); } catch { return []; }
    return text.split('\n').filter((l) => l.trim()).map((l) => parseJsonLogLine<T>(l, fields, numeric));
  };
  return {
    readAccessLog,
    waitForEntries: (n, timeoutMs = 10_000) => waitFor(`${n} nginx access log entries`, async () => {
      const e = await readAccessLog();
      return e.length >= n ? e : undefined;
    }, timeoutMs),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Clients: curl (its own view of every transfer is the second reference) and raw sockets (pipelining).

/** A response head as curl received it (from `-D`). */
export interface CurlHead {
  version: string;
  status: number;
  reason: string;
  headers: Array<[string, string]>;
  header(name: string): string | undefined;
}

/** One curl transfer: curl's `-w %{json}` variables plus the heads it received (interim 1xx first). */
export interface CurlTransfer {
  url: string;
  method: string;
  http_code: number;
  content_type: string | null;
  local_ip: string;
  local_port: number;
  remote_ip: string;
  remote_port: number;
  size_download: number;
  size_upload: number;
  num_connects: number;
  exitcode: number;
  interim: CurlHead[];
  head: CurlHead;
}

export interface CurlOptions {
  netns?: string;
  /** extra request headers, e.g. ['Expect: 100-continue'] */
  headers?: string[];
  /** -X */
  method?: string;
  /** -I (HEAD) */
  head?: boolean;
  /** --data-binary @file */
  dataFile?: string;
  /** -0 */
  http10?: boolean;
  userAgent?: string;
  /** any other curl arguments, placed before the URLs */
  extra?: string[];
  timeoutMs?: number;
}

function parseHeads(text: string): CurlHead[] {
  const heads: CurlHead[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/).filter((l) => l.length > 0);
    if (!lines.length || !lines[0]!.startsWith('HTTP/')) continue;
    const m = /^(HTTP\/[\d.]+) (\d{3})(?: (.*))?$/.exec(lines[0]!);
    if (!m) throw new Error(`curl -D: bad status line ${JSON.stringify(lines[0])}`);
    const headers = lines.slice(1).map((l): [string, string] => {
      const i = l.indexOf(':');
      return [l.slice(0, i).trim(), l.slice(i + 1).trim()];
    });
    heads.push({
      version: m[1]!, status: Number(m[2]), reason: m[3] ?? '', headers,
      header: (name) => headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1],
    });
  }
  return heads;
}

let curlSeq = 0;
/**
 * Fetch URLs with one curl invocation (one connection reused when the server keeps it alive).
 * Returns one CurlTransfer per URL, in order. Throws when curl fails.
 */
export async function curl(scope: Scope, urls: string[], o: CurlOptions = {}): Promise<CurlTransfer[]> {
  const dir = await scope.tempDir('wirelog-curl-');
  const headFile = path.join(dir, `heads-${++curlSeq}.txt`);
  const args = ['-s', '-S', '--max-time', String(Math.ceil((o.timeoutMs ?? 60_000) / 1000)), '-D', headFile,
    '-w', '%{json}\\n', '-A', o.userAgent ?? 'wirelog-test/1.0 (curl)'];
  for (const h of o.headers ?? []) args.push('-H', h);
  if (o.method) args.push('-X', o.method);
  if (o.head) args.push('-I');
  if (o.dataFile) args.push('--data-binary', '@' + o.dataFile);
  if (o.http10) args.push('-0');
  args.push(...(o.extra ?? []));
  for (const u of urls) args.push('-o', '/dev/null', u);
  const r = await runOk('curl', args, { netns: o.netns, timeoutMs: (o.timeoutMs ?? 60_000) + 5000 });
  const vars = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  if (vars.length !== urls.length) throw new Error(`curl: ${vars.length} -w records for ${urls.length} URLs: ${r.stdout}`);
  const heads = parseHeads(await readFile(headFile, 'utf8'));
  const out: CurlTransfer[] = [];
  for (const v of vars) {
    const interim: CurlHead[] = [];
    while (heads.length && heads[0]!.status < 200) interim.push(heads.shift()!);
    const head = heads.shift();
    if (!head) throw new Error(`curl: no response head for ${String(v.url_effective)}`);
    out.push({
      url: String(v.url_effective), method: String(v.method), http_code: Number(v.http_code),
      content_type: (v.content_type as string | null) ?? null, local_ip: String(v.local_ip),
      local_port: Number(v.local_port), remote_ip: String(v.remote_ip), remote_port: Number(v.remote_port),
      size_download: Number(v.size_download), size_upload: Number(v.size_upload), num_connects: Number(v.num_connects),
      exitcode: Number(v.exitcode), interim, head,
    });
  }
  return out;
}

/** What a raw socket exchange saw. */
export interface RawExchange {
  localAddress: string;
  localPort: number;
  response: Buffer;
  /** the status lines of the responses found in `response` (framed as answers to GETs) */
  statusLines: string[];
}

/**
 * Write `data` on one TCP connection (e.g. several pipelined requests at once), read until the server closes.
 * The last request should carry `Connection: close`.
 */
export async function rawExchange(host: string, port: number, data: string | Buffer, timeoutMs = 10_000): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host, port }, () => { sock.write(data); });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`raw exchange with ${host}:${port} timed out`)); }, timeoutMs);
    let local: { address: string; port: number } | undefined;
    sock.on('connect', () => { local = { address: sock.localAddress!, port: sock.localPort! }; });
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('close', () => {
      clearTimeout(timer);
      const response = Buffer.concat(chunks);
      // GET responses framed by their heads (a body need not end in a line break)
      const statusLines = parseResponseStream(response).map((h) => `${h.version} ${h.status} ${h.reason}`);
      resolve({ localAddress: local?.address ?? '', localPort: local?.port ?? 0, response, statusLines });
    });
  });
}

/**
 * Split a raw HTTP/1.x response stream into heads (bodies skipped by Content-Length or chunked framing).
 * `noBody[i]` marks responses without a body (answers to HEAD).
 */
export function parseResponseStream(buf: Buffer, noBody: boolean[] = []): CurlHead[] {
  const heads: CurlHead[] = [];
  let off = 0;
  let final = 0;
  while (off < buf.length) {
    const end = buf.indexOf('\r\n\r\n', off, 'latin1');
    if (end < 0) break;
    const [head] = parseHeads(buf.toString('latin1', off, end + 2) + '\r\n');
    if (!head) throw new Error(`raw response: no status line at byte ${off}`);
    heads.push(head);
    off = end + 4;
    if (head.status < 200 || head.status === 204 || head.status === 304) continue;
    if (noBody[final++]) continue;
    const te = head.header('transfer-encoding');
    if (te && /chunked/i.test(te)) {
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', off, 'latin1');
        if (lineEnd < 0) return heads;
        const size = parseInt(buf.toString('latin1', off, lineEnd), 16);
        off = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
    } else {
      off += Number(head.header('content-length') ?? 0);
    }
  }
  return heads;
}

// ---------------------------------------------------------------------------------------------------------------
// The traffic mix every capture test sends: each kind of HTTP/1.x exchange the logger must get right.

export interface MixOptions {
  /** URL host forms, e.g. ['127.0.0.1', '[::1]'] */
  hosts: string[];
  port: number;
  /** run curl in this namespace */
  netns?: string;
  /** size of the big request header (default 20 KB) */
  bigHeaderBytes?: number;
  /** upload size for the Expect: 100-continue POST (default 2 MiB) */
  uploadBytes?: number;
  /** pipelined requests on raw sockets (in-process: only where this process can reach the server) */
  pipelining?: boolean;
  /** leave out the slow parts (upload, big response) */
  small?: boolean;
}

export interface PipelinedExchange {
  exchange: RawExchange;
  /** one per request, in order */
  methods: string[];
}

export interface MixResult {
  transfers: CurlTransfer[];
  pipelined: PipelinedExchange[];
  /** requests sent in all */
  count: number;
}

/** Send the mix; checks its own preconditions (keep-alive reused the connection, chunked really chunked...). */
export async function sendMix(scope: Scope, o: MixOptions): Promise<MixResult> {
  const dir = await scope.tempDir('wirelog-mix-');
  const upload = path.join(dir, 'upload.bin');
  await writeFile(upload, randomBytes(o.uploadBytes ?? 2 * 1024 * 1024));
  const transfers: CurlTransfer[] = [];
  const pipelined: PipelinedExchange[] = [];
  const c = (urls: string[], co: CurlOptions = {}): Promise<CurlTransfer[]> => curl(scope, urls, { netns: o.netns, ...co });
  for (const h of o.hosts) {
    const b = `http://${h}:${o.port}`;
    // simple GET
    transfers.push(...await c([`${b}/index.html`]));
    // keep-alive: four URLs, one connection; a 404 and a query string among them
    const ka = await c([`${b}/small.txt`, `${b}/data.json`, `${b}/missing/page?x=1&y=two`, `${b}/index.html?q=%20a`]);
    if (new Set(ka.map((t) => t.local_port)).size !== 1) throw new Error('keep-alive precondition: curl did not reuse the connection');
    transfers.push(...ka);
    // HEAD
    transfers.push(...await c([`${b}/big.bin`], { head: true }));
    // chunked (gzip'd by nginx, no Content-Length)
    const gz = await c([`${b}/gz/text.txt`], { headers: ['Accept-Encoding: gzip'] });
    if (!/chunked/i.test(gz[0]!.head.header('transfer-encoding') ?? '')) throw new Error('chunked precondition: nginx did not answer chunked');
    transfers.push(...gz);
    // HTTP/1.0
    transfers.push(...await c([`${b}/small.txt?v=10`], { http10: true }));
    // a request head larger than one segment
    const big = 'v'.repeat(o.bigHeaderBytes ?? 20 * 1024);
    transfers.push(...await c([`${b}/small.txt?bighdr=1`], { headers: [`X-Big: ${big}`] }));
    if (!o.small) {
      // POST with Expect: 100-continue: a 100 Continue, then the final response
      const up = await c([`${b}/upload`], { dataFile: upload, headers: ['Expect: 100-continue', 'Content-Type: application/octet-stream'] });
      if (up[0]!.interim[0]?.status !== 100) throw new Error('100-continue precondition: no 100 Continue from nginx');
      transfers.push(...up);
      // a large response
      transfers.push(...await c([`${b}/big.bin`]));
    }
    if (o.pipelining && !o.netns) {
      const host = h.replace(/^\[|\]$/g, '');
      const reqs = ['/small.txt?p=1', '/data.json?p=2', '/index.html?p=3'].map((u, i, a) =>
        `GET ${u} HTTP/1.1\r\nHost: ${h}:${o.port}\r\nUser-Agent: wirelog-test/1.0 (raw)\r\n` +
        (i === a.length - 1 ? 'Connection: close\r\n' : '') + '\r\n');
      const exchange = await rawExchange(host, o.port, reqs.join(''));
      if (exchange.statusLines.length !== 3) throw new Error(`pipelining precondition: ${exchange.statusLines.length} responses`);
      pipelined.push({ exchange, methods: ['GET', 'GET', 'GET'] });
    }
  }
  return { transfers, pipelined, count: transfers.length + pipelined.reduce((n, p) => n + p.methods.length, 0) };
}
