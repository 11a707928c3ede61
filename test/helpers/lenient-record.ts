/**
 * Record the lenient-HTTP/1 corpus once: nginx, h2o (plaintext port) and a Node `http` server each get every
 * request-side case on a fresh connection from the raw client; a tiny raw server answers the response-side cases to
 * curl. tcpdump records all of it on lo; the servers' logs, what each client received and tshark's dissection are
 * the references. Used by test/integration/capture-lenient.test.ts and by lenient-report.ts (the report in
 * test/fixtures/lenient-cases-report.md).
 */
import net from 'node:net';
import path from 'node:path';
import { Scope, run, sleep } from './proc.js';
import { startNginx, freePort, type AccessEntry } from './nginx.js';
import { startH2o, type H2oAccessEntry } from './h2o.js';
import { makeTestPki } from './tls.js';
import { startNodeHttp, type NodeHttpEvent } from './node-http.js';
import { startTcpdump, tsharkHttp, tcpEnds, type TsharkHttp, type TcpEnd } from './tshark.js';
import { rawConversation, splitResponses, type RawConversation, type ReceivedResponse } from './raw-client.js';
import { lenientCases, responseCases, SERVER_KINDS, type LenientCase, type ResponseCase, type ServerKind } from './lenient-cases.js';

export interface Conversation {
  case: LenientCase;
  server: ServerKind;
  port: number;
  conv: RawConversation;
  /** the responses in what the client received */
  responses: ReceivedResponse[];
}

/** What curl made of one response-side case. */
export interface CurlView {
  exitcode: number;
  http_code: number;
  size_download: number;
  local_ip: string;
  local_port: number;
  errormsg: string | null;
  /** curl -v's informational lines about the response (`* ...`) */
  notes: string[];
}

export interface ResponseRun {
  case: ResponseCase;
  curl: CurlView;
}

export interface LenientRecording {
  file: string;
  ports: Record<ServerKind, number>;
  rawPort: number;
  conversations: Conversation[];
  responseRuns: ResponseRun[];
  nginxLog: AccessEntry[];
  h2oLog: H2oAccessEntry[];
  nodeLog: NodeHttpEvent[];
  tshark: TsharkHttp;
  /** how each connection ended, by `client#port` */
  ends: Map<string, TcpEnd>;
}

export const RESPONSE_CASE_UA = 'wl-lenient/curl';

/** A raw server: reads a request head (up to the empty line), answers `GET /r/ID` with that case's bytes, closes. */
async function startRawResponder(scope: Scope, cases: ResponseCase[]): Promise<number> {
  const port = await freePort();
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.indexOf('\r\n\r\n') < 0) return;
      const m = /^GET \/r\/(\S+) /.exec(buf.toString('latin1'));
      const k = cases.find((x) => x.id === m?.[1]);
      s.end(k ? k.bytes : 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    });
    s.on('error', () => { /* the client may go first */ });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  scope.defer('raw responder', () => new Promise<void>((r) => server.close(() => r())));
  return port;
}

async function curlView(port: number, k: ResponseCase): Promise<CurlView> {
  const r = await run('curl', ['-sv', '--max-time', '5', '-o', '/dev/null', '-A', RESPONSE_CASE_UA, '-H', 'Host: t',
    '-w', '%{json}', `http://127.0.0.1:${port}/r/${k.id}`], { timeoutMs: 10_000 });
  const v = JSON.parse(r.stdout) as Record<string, unknown>;
  return {
    exitcode: Number(v.exitcode), http_code: Number(v.http_code), size_download: Number(v.size_download),
    local_ip: String(v.local_ip), local_port: Number(v.local_port), errormsg: (v.errormsg as string | null) ?? null,
    notes: r.stderr.split('\n').filter((l) => l.startsWith('* ') && !/Trying|Connected to|Closing connection|^\* +$/.test(l)).map((l) => l.slice(2)),
  };
}

/** Read a log until it has not grown for `quietMs`. */
async function settledLog<T>(read: () => Promise<T[]> | T[], quietMs = 400, maxMs = 5000): Promise<T[]> {
  let last = -1;
  let since = Date.now();
  const end = Date.now() + maxMs;
  for (;;) {
    const e = await read();
    if (e.length !== last) { last = e.length; since = Date.now(); }
    else if (Date.now() - since >= quietMs || Date.now() > end) return e;
    await sleep(100);
  }
}

/** Start the servers, record every case once, collect the references. */
export async function recordLenient(scope: Scope, dir: string): Promise<LenientRecording> {
  const pki = await makeTestPki(scope);
  const [nginx, h2o, node] = await Promise.all([
    startNginx(scope, { listen: ['127.0.0.1'], bigBytes: 1024 }),
    startH2o(scope, pki),
    startNodeHttp(scope),
  ]);
  const cases = lenientCases();
  const rcases = responseCases();
  const rawPort = await startRawResponder(scope, rcases);
  const ports: Record<ServerKind, number> = { nginx: nginx.port, h2o: h2o.plainPort, node: node.port };
  const file = path.join(dir, 'lenient.pcap');
  const all = [...Object.values(ports), rawPort];
  const tcpdump = await startTcpdump(scope, { iface: 'lo', file, filter: all.map((p) => `tcp port ${p}`).join(' or '), bufferKiB: 16384 });

  const jobs: Array<Promise<Conversation>> = [];
  for (const server of SERVER_KINDS) {
    for (const k of cases) {
      if (k.only !== undefined && !k.only.includes(server)) continue;
      jobs.push((async () => {
        const conv = await rawConversation('127.0.0.1', ports[server], k.parts.map((p) => Buffer.concat(p.map((m) => m.bytes))));
        return { case: k, server, port: ports[server], conv, responses: splitResponses(conv.received) };
      })());
    }
  }
  const rjobs = rcases.map(async (k): Promise<ResponseRun> => ({ case: k, curl: await curlView(rawPort, k) }));
  const conversations = await Promise.all(jobs);
  const responseRuns = await Promise.all(rjobs);

  const [nginxLog, h2oLog, nodeLog] = await Promise.all([
    settledLog(() => nginx.readAccessLog()), settledLog(() => h2o.readAccessLog()), settledLog(() => node.readLog()),
  ]);
  const stopped = await tcpdump.stop();
  if (stopped.droppedByKernel !== 0) throw new Error(`tcpdump dropped ${stopped.droppedByKernel} packets`);
  const tshark = await tsharkHttp(file, { ports: all });
  const ends = await tcpEnds(file);
  return { file, ports, rawPort, conversations, responseRuns, nginxLog, h2oLog, nodeLog, tshark, ends };
}
