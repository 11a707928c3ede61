/**
 * `wirelog ui`'s pipeline: a store (read-only, through src/store/reader.ts) → the explorer's JSON API
 * (src/explorer/api.ts) and the bundled page (dist/web/) over node:http, every request checked for the token
 * (src/explorer/auth.ts). A store error is one 500 line for that request; the server keeps running.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openStoreReader, StoreReadError, type StoreReader } from '../store/reader.js';
import { ApiError, ExplorerApi } from '../explorer/api.js';
import { authCookie, checkAuth } from '../explorer/auth.js';
import { defaultWebDir, loadWebFiles, type StaticFile } from '../explorer/static.js';
import { WirelogError } from '../errors.js';

export interface UiOptions {
  store: string;
  host: string;
  /** 0: any free port (the real one is in the result) */
  port: number;
  token: string;
  /** dist/web unless given (tests) */
  webDir?: string;
  /** one line per request that failed (500s), for the terminal */
  log?: (line: string) => void;
}

export interface UiServer {
  /** `http://HOST:PORT/` */
  url: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

export class UiStoreError extends WirelogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WL_ERR_STORE', message, options);
  }
}

const SECURITY_HEADERS: Record<string, string> = {
  // the page is one script and one style sheet of its own; cytoscape draws on canvas; inline style attributes are
  // what Preact sets for sizes and positions
  'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** Is this a loopback address (127/8, ::1, localhost)? */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function startUi(o: UiOptions): Promise<UiServer> {
  const files: Map<string, StaticFile> = loadWebFiles(o.webDir ?? defaultWebDir());
  let reader: StoreReader;
  try {
    reader = await openStoreReader(o.store);
  } catch (err) {
    if (err instanceof StoreReadError) throw new UiStoreError(err.message);
    throw err;
  }
  const api = new ExplorerApi(reader);

  const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), ...extra });
    // HEAD: the same headers, no body
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };
  const json = (res: http.ServerResponse, status: number, v: unknown, extra: Record<string, string> = {}): void =>
    send(res, status, 'application/json; charset=utf-8', JSON.stringify(v), extra);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://explorer.invalid');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed: the explorer only reads\n', { Allow: 'GET, HEAD' });
      return;
    }
    const auth = checkAuth(req, url, o.token);
    if (!auth.ok) {
      const body = 'unauthorized: open the address wirelog ui printed (with ?token=), or send Authorization: Bearer TOKEN\n';
      if (url.pathname.startsWith('/api/')) json(res, 401, { error: body.trim() });
      else send(res, 401, 'text/plain; charset=utf-8', body);
      return;
    }
    const cookie: Record<string, string> = auth.setCookie ? { 'Set-Cookie': authCookie(o.token) } : {};
    const p = url.pathname;
    if (p.startsWith('/api/')) {
      try {
        let body: unknown;
        const q = url.searchParams;
        if (p === '/api/l7') body = await api.l7List(q);
        else if (p.startsWith('/api/l7/')) body = await api.l7One(decodeURIComponent(p.slice('/api/l7/'.length)));
        else if (p === '/api/l4') body = await api.ladder(q);
        else if (p === '/api/l4/list') body = await api.otherList('l4', q);
        else if (p === '/api/tls/list') body = await api.otherList('tls', q);
        else if (p === '/api/topology') body = await api.topology(q);
        else if (p === '/api/tail') body = await api.tail(q);
        else if (p === '/api/stats') body = await api.stats();
        else throw new ApiError(404, `no such API: ${p}`);
        json(res, 200, body, cookie);
      } catch (err) {
        if (err instanceof ApiError) json(res, err.status, { error: err.message, ...err.extra }, cookie);
        else {
          // a store that cannot be read (or a bug): one line for the terminal, one for the client; keep serving
          const msg = (err instanceof StoreReadError ? '' : 'internal error: ') + ((err as Error)?.message ?? String(err)).split('\n')[0];
          o.log?.(`wirelog: ui: ${p}: ${msg}`);
          json(res, 500, { error: msg }, cookie);
        }
      }
      return;
    }
    // the page: its files; any other path (a reload on a hash route never gets here, but /x does) is index.html
    const f = files.get(p === '/' ? '/index.html' : p) ?? (p.includes('.') ? undefined : files.get('/index.html'));
    if (f === undefined) {
      send(res, 404, 'text/plain; charset=utf-8', `not found: ${p}\n`, cookie);
      return;
    }
    send(res, 200, f.type, f.body, cookie);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log?.(`wirelog: ui: ${(err as Error)?.message ?? String(err)}`);
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostText = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${hostText}:${port}/`,
    port,
    server,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await reader.close();
    },
  };
}
