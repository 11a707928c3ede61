/**
 * A clickhouse-server of a test's own (Debian's 18.16 package): config.xml and users.xml written to a temp dir
 * (its own ports, data path, logs to files, optionally a `<remote_servers>` cluster), started as root with
 * `clickhouse-server --config-file=…`, ready when `/ping` answers `Ok.`; stopped when the scope closes. Queries
 * for checks go through clickhouse-client (the native TCP protocol), independent of wirelog's HTTP code.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { freePort } from './nginx.js';
import { runOk, waitFor, type Scope, type Spawned } from './proc.js';

export const CLICKHOUSE_SERVER = '/usr/bin/clickhouse-server';
export const CLICKHOUSE_CLIENT = '/usr/bin/clickhouse-client';

/** Why the ClickHouse tests cannot run here, or undefined. */
export function clickHouseProblem(): string | undefined {
  if (!existsSync(CLICKHOUSE_SERVER) && !existsSync('/usr/sbin/clickhouse-server')) return 'clickhouse-server is not installed (scripts/setup.sh)';
  if (!existsSync(CLICKHOUSE_CLIENT)) return 'clickhouse-client is not installed (scripts/setup.sh)';
  return undefined;
}

const serverBinary = (): string => (existsSync(CLICKHOUSE_SERVER) ? CLICKHOUSE_SERVER : '/usr/sbin/clickhouse-server');

export interface ClickHouseOptions {
  /** listen address, default 127.0.0.1 */
  host?: string;
  /** ports, default free ones */
  httpPort?: number;
  tcpPort?: number;
  /** `<remote_servers>` inner XML (clusters) */
  remoteServers?: string;
  /** start now (default true) */
  start?: boolean;
}

export interface ClickHouseServer {
  host: string;
  httpPort: number;
  tcpPort: number;
  dir: string;
  /** `clickhouse://HOST:HTTPPORT/DB` */
  url(db: string): string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** clickhouse-client --query SQL (TabSeparated output) */
  client(sql: string, settings?: string[]): Promise<string>;
  /** clickhouse-client, the rows of a SELECT as objects (FORMAT JSONEachRow appended) */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
}

const ping = (host: string, port: number): Promise<boolean> => new Promise((resolve) => {
  const req = http.get({ host, port, path: '/ping', timeout: 1000 }, (res) => {
    let body = '';
    res.on('data', (c: Buffer) => (body += c.toString()));
    res.on('end', () => resolve(body.trim() === 'Ok.'));
  });
  req.on('error', () => resolve(false));
  req.on('timeout', () => req.destroy());
});

export async function startClickHouse(scope: Scope, o: ClickHouseOptions = {}): Promise<ClickHouseServer> {
  const host = o.host ?? '127.0.0.1';
  const httpPort = o.httpPort ?? await freePort();
  let tcpPort = o.tcpPort ?? await freePort();
  while (tcpPort === httpPort) tcpPort = await freePort();
  const dir = await scope.tempDir('wirelog-ch-');
  for (const d of ['data', 'tmp', 'user_files', 'format_schemas', 'log']) await mkdir(path.join(dir, d), { recursive: true });
  await writeFile(path.join(dir, 'config.xml'), `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>${dir}/log/clickhouse-server.log</log>
    <errorlog>${dir}/log/clickhouse-server.err.log</errorlog>
    <console>0</console>
  </logger>
  <listen_host>${host}</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709120</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <remote_servers>${o.remoteServers ?? ''}</remote_servers>
</yandex>
`);
  await writeFile(path.join(dir, 'users.xml'), `<?xml version="1.0"?>
<yandex>
  <profiles><default><log_queries>0</log_queries></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>::/0</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
`);
  let proc: Spawned | undefined;
  const s: ClickHouseServer = {
    host, httpPort, tcpPort, dir,
    url: (db) => `clickhouse://${host.includes(':') ? `[${host}]` : host}:${httpPort}/${db}`,
    async start() {
      proc = scope.spawn(serverBinary(), [`--config-file=${dir}/config.xml`], { cwd: dir });
      const p = proc;
      await waitFor(`clickhouse-server on ${host}:${httpPort} (logs in ${dir}/log)`, async () => {
        if (p.exitInfo !== undefined) throw new Error(`clickhouse-server exited: ${p.stderr.slice(-1000)}`);
        return ping(host, httpPort);
      }, 30_000, 100);
    },
    async stop() {
      if (proc === undefined) return;
      await proc.stop('SIGTERM', 15_000);
      proc = undefined;
    },
    async client(sql, settings: string[] = []) {
      const r = await runOk(CLICKHOUSE_CLIENT, ['--host', host, '--port', String(tcpPort), ...settings, '--query', sql], { timeoutMs: 30_000 });
      return r.stdout;
    },
    async rows<T>(sql: string) {
      const text = await s.client(`${sql} FORMAT JSONEachRow`, ['--output_format_json_quote_64bit_integers=0']);
      return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
    },
  };
  scope.defer(`stop clickhouse-server ${dir}`, () => s.stop());
  if (o.start !== false) await s.start();
  return s;
}
