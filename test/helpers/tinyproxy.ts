/**
 * A throw-away tinyproxy (Debian's tinyproxy-bin) on loopback for the traced client's proxy tests: CONNECT to any
 * port, optional Basic auth, its log (Info level) kept so tests can check which tunnels it opened.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Scope, waitFor, type Spawned } from './proc.js';
import { freePort } from './nginx.js';

export interface Tinyproxy {
  port: number;
  proc: Spawned;
  logPath: string;
  /** `host:port` of every CONNECT tunnel tinyproxy logged, in order */
  connectTargets(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startTinyproxy(scope: Scope, opts: { basicAuth?: { user: string; password: string } } = {}): Promise<Tinyproxy> {
  const port = await freePort();
  const dir = await scope.tempDir('wirelog-tinyproxy-');
  const logPath = path.join(dir, 'tinyproxy.log');
  const conf = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 60',
    'MaxClients 50',
    'Allow 127.0.0.1',
    `LogFile "${logPath}"`,
    'LogLevel Info',
    `PidFile "${path.join(dir, 'tinyproxy.pid')}"`,
    'DisableViaHeader Yes',
    // no ConnectPort line: CONNECT allowed to every port (the test servers use random ones)
    ...(opts.basicAuth ? [`BasicAuth ${opts.basicAuth.user} ${opts.basicAuth.password}`] : []),
    '',
  ].join('\n');
  const confPath = path.join(dir, 'tinyproxy.conf');
  await writeFile(confPath, conf);
  const proc = scope.spawn('tinyproxy', ['-d', '-c', confPath]);
  await waitFor('tinyproxy listening', async () => {
    if (!proc.running) throw new Error(`tinyproxy exited: ${proc.stderr}`);
    const net = await import('node:net');
    return new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
  }, 10_000, 100);
  return {
    port, proc, logPath,
    connectTargets: async () => {
      let text = '';
      try { text = await readFile(logPath, 'utf8'); } catch { return []; }
      const out: string[] = [];
      // tinyproxy: "Established connection to host "127.0.0.1" using file descriptor N." comes after
      // "Request (file descriptor N): CONNECT 127.0.0.1:443 HTTP/1.1"
      for (const m of text.matchAll(/: CONNECT (\S+) HTTP\/1\.[01]/g)) out.push(m[1]!);
      return out;
    },
    stop: async () => { await proc.stop('SIGTERM', 5000); },
  };
}
