/**
 * Traced client benchmark: wirelog/client's fetch (socket tracing and HTTP request tracing on) against plain undici
 * fetch (same undici, no tracing) and Node's global fetch, on the same loopback nginx:
 *   - N sequential requests on one keep-alive connection (plain HTTP/1.1 and HTTPS),
 *   - N sequential requests each on a new connection (keep-alive off: dial + handshake every time).
 * Prints time per request and the ratio to plain undici; and memory per traced request: heap growth while a trace
 * of N requests is held (after gc, with --expose-gc; otherwise marked approximate). Figures only, no assertions.
 *
 * Runs alone too: `node --expose-gc dist/bench/client.js [--quick]`.
 */
import { Agent, fetch as undiciFetch } from 'undici';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Scope } from '../test/helpers/proc.js';
import { makeTestPki } from '../test/helpers/tls.js';
import { startClientNginx } from '../test/helpers/client-servers.js';
import { createTracedClient, withHTTPReqTrace, withSockTrace } from '../src/client/index.js';
import type { BenchOptions, BenchResult } from './run.js';

type Fetcher = (url: string) => Promise<Response | import('undici').Response>;

async function timeRequests(f: Fetcher, url: string, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const r = await f(url);
    await r.arrayBuffer();
    // undici hands a keep-alive connection back to its pool on the next turn of the event loop
    await new Promise((res) => setImmediate(res));
  }
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

const gc = (globalThis as { gc?: () => void }).gc;

export async function client(o: BenchOptions): Promise<BenchResult> {
  const scope = new Scope();
  const n = o.quick ? 50 : 1000;
  const nNew = o.quick ? 20 : 300;
  const rounds = o.quick ? 1 : 3;
  const rows: Array<Record<string, string | number>> = [];
  const notes: string[] = [];
  const summary: Record<string, number> = {};
  try {
    const pki = await makeTestPki(scope);
    const ng = await startClientNginx(scope, pki);
    const hostsPath = path.join(await scope.tempDir('wirelog-bench-hosts-'), 'hosts');
    await writeFile(hostsPath, '127.0.0.1 localhost\n');
    const plainUrl = `http://127.0.0.1:${ng.httpPort}/index.html`;
    const tlsUrl = `https://localhost:${ng.tlsPort}/index.html`;
    const tls = { ca: pki.caPem };

    const cases: Array<{ name: string; url: string; n: number; newConn: boolean }> = [
      { name: 'keep-alive http', url: plainUrl, n, newConn: false },
      { name: 'keep-alive https', url: tlsUrl, n, newConn: false },
      { name: 'new conn http', url: plainUrl, n: nNew, newConn: true },
      { name: 'new conn https', url: tlsUrl, n: nNew, newConn: true },
    ];
    for (const c of cases) {
      const best: Record<string, number> = {};
      for (let round = 0; round < rounds; round++) {
        const plain = new Agent({ connect: tls, pipelining: c.newConn ? 0 : 1 });
        const traced = createTracedClient({ tls, hostsPath, disableKeepAlive: c.newConn }, withSockTrace(), withHTTPReqTrace());
        const fetchers: Record<string, Fetcher | undefined> = {
          'undici fetch': (u) => undiciFetch(u, { dispatcher: plain }),
          // Node's own fetch has no way to turn keep-alive off or to trust a CA per call
          'node fetch': !c.newConn && c.url === plainUrl ? (u) => fetch(u) : undefined,
          'traced fetch': (u) => traced.fetch(u),
        };
        for (const [name, f] of Object.entries(fetchers)) {
          if (!f) continue;
          await timeRequests(f, c.url, Math.min(20, c.n)); // warm-up (connection, JIT)
          const ms = await timeRequests(f, c.url, c.n);
          best[name] = Math.min(best[name] ?? Infinity, ms);
        }
        await traced.close();
        await plain.close();
      }
      for (const [name, ms] of Object.entries(best)) {
        rows.push({ case: c.name, client: name, requests: c.n, 'ms/req': ms, 'vs undici': ms / best['undici fetch']! });
      }
      summary[`${c.name} traced/undici`] = best['traced fetch']! / best['undici fetch']!;
    }

    // memory: a trace of N keep-alive HTTPS requests with socket tracing, held, after gc
    const traced = createTracedClient({ tls, hostsPath }, withSockTrace(), withHTTPReqTrace({ headerFields: 'withValues' }));
    await timeRequests((u) => traced.fetch(u), tlsUrl, 20);
    traced.clearTrace();
    gc?.();
    const h0 = process.memoryUsage().heapUsed;
    await timeRequests((u) => traced.fetch(u), tlsUrl, n);
    gc?.();
    const h1 = process.memoryUsage().heapUsed;
    const { trace } = await traced.getTrace('bench');
    const jsonBytes = Buffer.byteLength(JSON.stringify(trace));
    await traced.close();
    const perReq = (h1 - h0) / n;
    summary['trace heap bytes/req'] = Math.round(perReq);
    notes.push(`memory: a held trace of ${n} keep-alive HTTPS requests (socket ops + headers with values): ` +
      `${Math.round(perReq)} heap bytes per request${gc ? '' : ' (approximate: run node with --expose-gc)'}, ` +
      `${Math.round(jsonBytes / n)} JSON bytes per request; clearTrace() releases it`);
    notes.push('time: best of rounds; each request reads its whole body; ratio = traced / plain undici fetch');
  } finally {
    await scope.close();
  }
  return { name: 'client', rows, notes, summary };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { table } = await import('./run.js');
  const r = await client({ quick: process.argv.includes('--quick') });
  console.log(table(r.rows));
  for (const line of r.notes) console.log(line);
  console.log(r.summary);
}
