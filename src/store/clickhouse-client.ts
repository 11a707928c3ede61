/**
 * ClickHouse over its HTTP interface (plain node:http, one keep-alive agent): the `clickhouse://` URL, queries, and
 * the schema the writer creates (docs/clickhouse.md). Works with ClickHouse 18.16 (Debian 12's package) and later:
 * no DateTime64, no LowCardinality, no MergeTree TTL, no Nullable sorting keys, no query parameters.
 */
import http from 'node:http';
import { JSON_FIELDS, TABLE_COLUMNS, type StoreTable } from './schema.js';
import { WirelogError } from '../errors.js';

export interface ClickHouseUrl {
  host: string;
  port: number;
  database: string;
  user?: string;
  password?: string;
  /** the URL without the password, for messages */
  display: string;
}

export class ClickHouseUrlError extends WirelogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WL_ERR_STORE_URL', message, options);
  }
}

/** `clickhouse://[USER[:PASSWORD]@]HOST[:PORT]/DB` (port default 8123, the HTTP interface). */
export function parseClickHouseUrl(location: string): ClickHouseUrl {
  const m = /^clickhouse:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\[[0-9a-fA-F:.]+\]|[^:/@[\]]+)(?::([0-9]+))?\/([^/?#]*)\/?$/i.exec(location);
  const shown = location.replace(/^(clickhouse:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
  if (m === null) throw new ClickHouseUrlError(`store ${shown}: not a ClickHouse URL (want clickhouse://HOST:PORT/DB, optionally USER:PASSWORD@ before HOST)`);
  const [, user, password, hostRaw, portRaw, db] = m;
  const port = portRaw === undefined ? 8123 : Number(portRaw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ClickHouseUrlError(`store ${shown}: bad port '${portRaw}'`);
  const database = decodeURIComponent(db!);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) throw new ClickHouseUrlError(`store ${shown}: the database name '${database}' must be letters, digits and _ (and not start with a digit)`);
  const host = hostRaw!.startsWith('[') ? hostRaw!.slice(1, -1) : hostRaw!;
  const u: ClickHouseUrl = {
    host,
    port,
    database,
    display: `clickhouse://${user !== undefined && user !== '' ? `${decodeURIComponent(user)}@` : ''}${hostRaw}:${port}/${database}`,
  };
  if (user !== undefined && user !== '') u.user = decodeURIComponent(user);
  if (password !== undefined) u.password = decodeURIComponent(password);
  return u;
}

/** An answer other than 200 (status set) or no answer at all (status undefined: refused, reset, timeout). */
export class ClickHouseError extends WirelogError {
  constructor(message: string, readonly status?: number, options?: { cause?: unknown }) {
    super('WL_ERR_CLICKHOUSE', message, options);
  }
  /** worth trying again later: no answer, or a 5xx */
  get transient(): boolean {
    return this.status === undefined || this.status >= 500;
  }
}

export interface QueryOptions {
  /** request body (e.g. INSERT data); the query goes in the URL then */
  body?: string | Buffer;
  /** URL settings, e.g. `{ output_format_json_quote_64bit_integers: '0' }` */
  settings?: Record<string, string>;
  timeoutMs?: number;
}

export class ClickHouseHttp {
  // idle sockets closed after 2 s: the server closes them after its keep_alive_timeout (3 s by default)
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4, timeout: 2000 });
  constructor(readonly url: ClickHouseUrl) {}

  private request(sql: string, o: QueryOptions): http.ClientRequest {
    const params = new URLSearchParams(o.settings ?? {});
    let body: string | Buffer;
    if (o.body !== undefined) {
      params.set('query', sql);
      body = o.body;
    } else body = sql;
    const headers: Record<string, string | number> = { 'Content-Length': Buffer.byteLength(body) };
    if (this.url.user !== undefined) headers['X-ClickHouse-User'] = this.url.user;
    if (this.url.password !== undefined) headers['X-ClickHouse-Key'] = this.url.password;
    const req = http.request({
      host: this.url.host, port: this.url.port, method: 'POST', path: `/?${params.toString()}`, agent: this.agent, headers,
      timeout: o.timeoutMs ?? 30_000,
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${Math.round((o.timeoutMs ?? 30_000) / 1000)} s`)));
    req.end(body);
    return req;
  }

  private where(): string {
    return `ClickHouse at ${this.url.host.includes(':') ? `[${this.url.host}]` : this.url.host}:${this.url.port}`;
  }

  /** The response body of a query (throws ClickHouseError); once more when a kept-alive socket turns out closed. */
  async query(sql: string, o: QueryOptions = {}): Promise<string> {
    try {
      return await this.query1(sql, o);
    } catch (err) {
      if ((err as { staleSocket?: boolean }).staleSocket === true) return this.query1(sql, o);
      throw err;
    }
  }

  private query1(sql: string, o: QueryOptions): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = this.request(sql, o);
      req.on('error', (err: NodeJS.ErrnoException) => {
        const e = new ClickHouseError(`cannot reach ${this.where()}: ${err.code ?? err.message}`);
        if (req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) Object.assign(e, { staleSocket: true });
        reject(e);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new ClickHouseError(`${this.where()}: ${err.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(text);
          else reject(new ClickHouseError(`${this.where()} answered ${res.statusCode}: ${firstLine(text)}`, res.statusCode));
        });
      });
    });
  }

  /** A query's response, line by line (JSONEachRow, TabSeparated), as it arrives. */
  async *lines(sql: string, o: QueryOptions = {}): AsyncGenerator<string> {
    const req = this.request(sql, o);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      req.on('error', (err: NodeJS.ErrnoException) => reject(new ClickHouseError(`cannot reach ${this.where()}: ${err.code ?? err.message}`)));
      req.on('response', resolve);
    });
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw new ClickHouseError(`${this.where()} answered ${res.statusCode}: ${firstLine(Buffer.concat(chunks).toString('utf8'))}`, res.statusCode);
    }
    let rest = '';
    try {
      for await (const c of res) {
        rest += (c as Buffer).toString('utf8');
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          yield rest.slice(0, nl);
          rest = rest.slice(nl + 1);
        }
      }
    } finally {
      if (!res.complete) req.destroy();
    }
    if (rest !== '') yield rest;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The first line of a ClickHouse error text, shortened. */
export function firstLine(text: string): string {
  const l = text.trim().split('\n')[0] ?? '';
  return l.length > 300 ? l.slice(0, 300) + '…' : l;
}

// ---- schema ---------------------------------------------------------------------------------------------------------

/** Integer record fields that can be null in a record (the others are always set). */
const INT_FIELDS = new Set([
  'conn_id', 'req_id', 'src_port', 'dst_port', 'status', 'content_length', 'netns', 'pid', 'req_content_length',
  'req_body_bytes', 'res_body_bytes', 'gap_bytes', 'req_seq', 'resp_seq',
  'client_port', 'server_port', 'ifindex', 'chunk_id', 'tx_packets', 'rx_packets', 'tx_bytes',
  'rx_bytes', 'tx_retrans', 'rx_retrans', 'tx_seq_min', 'tx_seq_max', 'rx_seq_min', 'rx_seq_max', 'tcp_rtt_us',
  'tcp_3whs_us', 'tcp_4whs_us', 'cipher_suites', 'process_count',
]);
const BOOL_COLS = new Set(['chunk_syn', 'chunk_fin']);

/** The server address and port of each table: the sorting key after ts_us (Nullable columns, keyed through
 *  ifNull: 18.16 refuses Nullable key columns). */
export const SERVER_KEY: Record<StoreTable, readonly string[]> = {
  l7: ['dst_ip', 'dst_port'],
  l4: ['server_ip', 'server_port'],
  tls: ['dst_ip', 'dst_port'],
  netns: ['netns'],
};

/** The ClickHouse type of a column of the store (TABLE_COLUMNS). */
export function columnType(t: StoreTable, c: string): string {
  if (c === 'ts_us') return 'Int64';
  let base: string;
  if (c === 'res_ts_us') base = 'Int64';
  else if (BOOL_COLS.has(c)) base = 'UInt8';
  else if (c === 'latency_ms') base = 'Float64';
  else if (INT_FIELDS.has(c)) base = 'Int64';
  else base = 'String'; // text, JSON text (JSON_FIELDS), the packet BLOB as base64
  return c === 'packets' || BOOL_COLS.has(c) ? base : `Nullable(${base})`;
}

export const STATS_TABLE = 'wirelog_stats';

/** `CREATE TABLE IF NOT EXISTS db.t (...)` for one of the store's tables. */
export function createTableSql(db: string, t: StoreTable): string {
  const cols = [
    '  id UInt64',
    '  agent String',
    '  date Date',
    ...TABLE_COLUMNS[t].map((c) => `  ${c} ${columnType(t, c)}`),
  ];
  return `CREATE TABLE IF NOT EXISTS ${db}.${t} (\n${cols.join(',\n')}\n) ENGINE = MergeTree PARTITION BY toYYYYMMDD(date) ORDER BY (ts_us, ${SERVER_KEY[t].map((c) => `ifNull(${c}, ${columnType(t, c).includes('String') ? "''" : '0'})`).join(', ')})`;
}

/** The stats table: one row per report of a writer (deltas since its last report), summed by the reader. */
export function createStatsSql(db: string): string {
  return `CREATE TABLE IF NOT EXISTS ${db}.${STATS_TABLE} (
  ts_us Int64,
  date Date,
  agent String,
  run String,
  tbl String,
  written UInt64,
  dropped UInt64,
  spooled UInt64,
  rejected UInt64,
  removed UInt64
) ENGINE = MergeTree PARTITION BY toYYYYMM(date) ORDER BY (ts_us, agent, tbl)`;
}

export const STATS_COLUMNS = ['ts_us', 'date', 'agent', 'run', 'tbl', 'written', 'dropped', 'spooled', 'rejected', 'removed'];

/** Every column of a store table as the writer inserts it (id, agent, date, then TABLE_COLUMNS). */
export function allColumns(t: StoreTable): string[] {
  return ['id', 'agent', 'date', ...TABLE_COLUMNS[t]];
}

export { JSON_FIELDS };
