/**
 * Start node-http-server.ts (a Node `http.createServer` reference server) as a child process and read its event log.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Scope, Spawned, waitFor } from './proc.js';

/** One line of node-http-server's log. */
export interface NodeHttpEvent {
  event: 'request' | 'clientError' | 'requestError';
  remoteAddress: string;
  remotePort: number;
  // 'request'
  method?: string;
  url?: string;
  httpVersion?: string;
  host?: string | null;
  userAgent?: string | null;
  bodyBytes?: number;
  // 'clientError' / 'requestError'
  code?: string | null;
  reason?: string;
  bytesParsed?: number | null;
  /** status sent: the response's for 'request', the canned answer's for 'clientError' (null: none was written) */
  status?: number | null;
}

export interface NodeHttp {
  port: number;
  proc: Spawned;
  /** the events so far, in the order the server wrote them */
  readLog(): NodeHttpEvent[];
  /** wait until at least n events are logged */
  waitForEvents(n: number, timeoutMs?: number): Promise<NodeHttpEvent[]>;
  stop(): Promise<void>;
}

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node-http-server.js');

export async function startNodeHttp(scope: Scope, opts: { host?: string; port?: number } = {}): Promise<NodeHttp> {
  const proc = scope.spawn(process.execPath, [script, String(opts.port ?? 0), opts.host ?? '127.0.0.1']);
  const line = await proc.waitForLine('stdout', /^\{"event":"listening"/, 10_000);
  const port = (JSON.parse(line) as { port: number }).port;
  const readLog = (): NodeHttpEvent[] => proc.stdout.split('\n')
    .filter((l) => l.startsWith('{') && !l.startsWith('{"event":"listening"'))
    .map((l) => JSON.parse(l) as NodeHttpEvent);
  return {
    port, proc, readLog,
    waitForEvents: (n, timeoutMs = 10_000) => waitFor(`${n} node-http-server events`, () => {
      const e = readLog();
      return e.length >= n ? e : undefined;
    }, timeoutMs),
    stop: async () => { await proc.stop('SIGTERM', 5000); },
  };
}
