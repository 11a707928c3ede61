/**
 * ngtcp2's example programs from Debian (ngtcp2-server: gtlsserver, ngtcp2-client: gtlsclient; ngtcp2 0.12 with
 * GnuTLS and nghttp3): an HTTP/3 server on 127.0.0.1 serving a directory, a client making requests, and the qlog
 * both write (JSON-SEQ, qlog 0.3) read back as references for `wirelog quic`.
 */
import { createSocket } from 'node:dgram';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Scope, Spawned, run, sleep, type RunResult } from './proc.js';
import type { TestPki } from './tls.js';

export interface GtlsServer {
  proc: Spawned;
  port: number;
  htdocs: string;
  qlogDir: string;
}

/** A UDP port free on 127.0.0.1 right now. */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function udpListening(port: number): Promise<boolean> {
  const r = await run('ss', ['-Hlun', `sport = :${port}`], { timeoutMs: 5_000 });
  return r.stdout.includes(`:${port}`);
}

/** Start gtlsserver on 127.0.0.1 with the test certificate; `extraArgs` e.g. ['-V'] (Retry every connection). */
export async function startGtlsServer(scope: Scope, pki: TestPki, extraArgs: string[] = []): Promise<GtlsServer> {
  const dir = await scope.tempDir('wirelog-ngtcp2-');
  const htdocs = path.join(dir, 'htdocs');
  const qlogDir = path.join(dir, 'qlog');
  await mkdir(htdocs);
  await mkdir(qlogDir);
  await writeFile(path.join(htdocs, 'index.html'), '<html>wirelog quic test</html>\n');
  await writeFile(path.join(htdocs, 'data.bin'), Buffer.alloc(30_000, 0x61));
  const port = await freeUdpPort();
  const proc = scope.spawn('gtlsserver', ['-q', '-d', htdocs, '--qlog-dir', qlogDir, ...extraArgs, '127.0.0.1', String(port), pki.serverKey, pki.serverCert]);
  for (let i = 0; i < 100; i++) {
    if (await udpListening(port)) return { proc, port, htdocs, qlogDir };
    if (proc.exitInfo !== undefined) break;
    await sleep(100);
  }
  throw new Error(`gtlsserver did not start on port ${port}: ${proc.stderr}`);
}

/**
 * gtlsclient against 127.0.0.1:port with URLs naming `host` (the SNI); writes its qlog to `qlogFile`. `env` e.g. with
 * SSLKEYLOGFILE (GnuTLS appends the connection's TLS secrets there).
 */
export async function runGtlsClient(port: number, host: string, paths: string[], qlogFile: string, extraArgs: string[] = [], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  const urls = paths.map((p) => `https://${host}:${port}${p}`);
  return run('gtlsclient', ['-q', '--exit-on-all-streams-close', '--timeout=5s', '--qlog-file', qlogFile, ...extraArgs, '127.0.0.1', String(port), ...urls], { timeoutMs: 30_000, env });
}

export interface QlogFrame {
  frame_type: string;
  [k: string]: unknown;
}

export interface QlogEvent {
  time: number;
  name: string;
  data: {
    owner?: string;
    header?: { packet_type: string; packet_number?: number };
    frames?: QlogFrame[];
    raw?: { length: number };
    [k: string]: unknown;
  };
}

export interface Qlog {
  vantage: 'client' | 'server';
  /** ngtcp2 puts the original Destination Connection ID here */
  groupId: string;
  events: QlogEvent[];
}

/** Read an ngtcp2 qlog file: JSON-SEQ records (each after an RS, 0x1e). */
export function readQlog(file: string): Qlog {
  const recs = readFileSync(file, 'utf8').split('\x1e').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => JSON.parse(s) as Record<string, unknown>);
  const head = recs[0] as { trace: { vantage_point: { type: 'client' | 'server' }; common_fields: { group_id: string } } };
  return { vantage: head.trace.vantage_point.type, groupId: head.trace.common_fields.group_id, events: recs.slice(1) as unknown as QlogEvent[] };
}

/** Every qlog file a server wrote (one per connection). */
export function readQlogDir(dir: string): Qlog[] {
  return readdirSync(dir).filter((f) => f.endsWith('.sqlog') || f.endsWith('.qlog')).map((f) => readQlog(path.join(dir, f)));
}

/** The transport:parameters_set of one owner ('local' or 'remote'). */
export function qlogParameters(q: Qlog, owner: 'local' | 'remote'): Record<string, unknown> | undefined {
  return q.events.find((e) => e.name === 'transport:parameters_set' && e.data.owner === owner)?.data;
}
