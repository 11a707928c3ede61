/**
 * Network-log overhead: wrk in a client namespace → nginx in a server namespace, through veths, two bridges and the
 * host's routing (test/helpers/topology.ts: six devices on the path), first alone, then with
 * `wirelog capture --netns all --l4 --format jsonl -p 80` attached. Alternating runs, medians. Prints the RPS ratio,
 * requests made (wrk) vs L7 records (each request must be logged once, whatever the number of devices), L4 records,
 * kernel drops and drops per device from wirelog's summary.
 */
import { openSync, closeSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Scope, runOk } from '../test/helpers/proc.js';
import { startNginx } from '../test/helpers/nginx.js';
import { cliPath, sensorPath } from '../test/helpers/paths.js';
import { parseSummary } from '../test/helpers/wirelog.js';
import { createTopology } from '../test/helpers/topology.js';
import type { BenchOptions, BenchResult } from './run.js';

interface WrkResult { requests: number; rps: number }

async function wrk(ns: string, url: string, secs: number): Promise<WrkResult> {
  const r = await runOk('ip', ['netns', 'exec', ns, 'wrk', '-t2', '-c50', `-d${secs}s`, url], { timeoutMs: (secs + 30) * 1000 });
  const m = /(\d+) requests in/.exec(r.stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m || !rps) throw new Error(`wrk output not understood: ${r.stdout}`);
  return { requests: Number(m[1]), rps: Number(rps[1]) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};


interface PacedResult { requests: number; meanUs: number }

/** h2load over HTTP/1.1 at a fixed rate: requests done and the mean time per request. */
async function paced(ns: string, url: string, clients: number, rpsPerClient: number, secs: number): Promise<PacedResult> {
  const r = await runOk('ip', ['netns', 'exec', ns, 'h2load', '--h1', '-c', String(clients), '--rps', String(rpsPerClient), '-D', String(secs), url],
    { timeoutMs: (secs + 30) * 1000 });
  const done = /requests: \d+ total, \d+ started, (\d+) done/.exec(r.stdout);
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  if (!done || !mean) throw new Error(`h2load output not understood: ${r.stdout}`);
  const scale = mean[2] === 'us' ? 1 : mean[2] === 'ms' ? 1000 : 1_000_000;
  return { requests: Number(done[1]), meanUs: Number(mean[1]) * scale };
}

/** Runs `load` with wirelog attached; counts the L7 records of the server, the L4 records and the drops. */
async function withWirelog<T extends { requests: number }>(scope: Scope, serverIp: string, load: () => Promise<T>): Promise<T & { logged: number; l4: number; kernelDrops: number; deviceDrops: string }> {
  const dir = await scope.tempDir('wirelog-bench-netlog-');
  const outPath = path.join(dir, 'records.jsonl');
  const out = openSync(outPath, 'w');
  let stderr = '';
  let w: T;
  try {
    // WIRELOG_BENCH_PROF=DIR: a V8 CPU profile of wirelog per round, for docs/performance.md
    const prof = process.env.WIRELOG_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.WIRELOG_BENCH_PROF}`] : [];
    const wl = scope.spawn(process.execPath, [...prof, cliPath, 'capture', '--netns', 'all', '--l4', '--format', 'jsonl', '-p', '80'],
      { stdoutFd: out, env: { ...process.env, WIRELOG_SENSOR: sensorPath } });
    await wl.waitForLine('stderr', /^wirelog: listening on /, 30_000);
    await new Promise((r) => setTimeout(r, 500)); // the first namespace scan
    w = await load();
    await wl.stop('SIGINT', 120_000);
    stderr = wl.stderr;
  } finally {
    closeSync(out);
  }
  let logged = 0, l4 = 0;
  for (const line of readFileSync(outPath, 'utf8').split('\n')) {
    if (line.startsWith('{"record":"l4"')) l4++;
    else if (line.endsWith('"record":"l7"}') && line.includes(`"dst_ip":"${serverIp}"`)) logged++;
  }
  const summary = parseSummary(stderr);
  const dev = /dropped by device: (.*)$/m.exec(stderr);
  return { ...w, logged, l4, kernelDrops: summary?.kernelDrops ?? -1, deviceDrops: dev?.[1] ?? 'none' };
}

export async function netlog(o: BenchOptions): Promise<BenchResult> {
  const scope = new Scope();
  try {
    const secs = o.quick ? 3 : 8;
    const rounds = o.quick ? 1 : 3;
    const topo = await createTopology(scope);
    await startNginx(scope, { netns: topo.server.name, listen: [topo.server.ip], port: 80, workers: 1, noAccessLog: true, bigBytes: 64 * 1024 });
    const url = `http://${topo.server.ip}/small.txt`;
    await wrk(topo.client.name, url, 1); // warm up

    const alone: WrkResult[] = [];
    const attached: Array<WrkResult & { logged: number; l4: number; kernelDrops: number; deviceDrops: string }> = [];
    for (let round = 0; round < rounds; round++) {
      alone.push(await wrk(topo.client.name, url, secs));
      attached.push(await withWirelog(scope, topo.server.ip, () => wrk(topo.client.name, url, secs)));
    }
    // a sustainable rate: 10 connections × 200 requests/s
    const pacedAlone = await paced(topo.client.name, url, 10, 200, secs);
    const pacedWith = await withWirelog(scope, topo.server.ip, () => paced(topo.client.name, url, 10, 200, secs));
    const rpsAlone = median(alone.map((r) => r.rps));
    const rpsWith = median(attached.map((r) => r.rps));
    const ratio = rpsWith / rpsAlone;
    return {
      name: 'netlog',
      rows: [
        ...alone.map((r, i) => ({ label: `nginx alone #${i + 1}`, rps: r.rps, requests: r.requests })),
        ...attached.map((r, i) => ({
          label: `with --netns all --l4 #${i + 1}`, rps: r.rps, requests: r.requests, 'l7 records': r.logged,
          'l4 records': r.l4, 'kernel drops': r.kernelDrops, 'device drops': r.deviceDrops,
        })),
        { label: 'h2load 2000 req/s alone', requests: pacedAlone.requests, 'mean µs': Math.round(pacedAlone.meanUs) },
        { label: 'h2load 2000 req/s with wirelog', requests: pacedWith.requests, 'mean µs': Math.round(pacedWith.meanUs),
          'l7 records': pacedWith.logged, 'l4 records': pacedWith.l4, 'kernel drops': pacedWith.kernelDrops, 'device drops': pacedWith.deviceDrops },
      ],
      notes: [
        `wrk -t2 -c50 -d${secs}s from a client namespace through veth → bridge → routing → bridge → veth (6 devices), ${rounds} alternating round(s), medians`,
        `throughput with wirelog: ${(ratio * 100).toFixed(1)}% of without (goal: at least 85 %)`,
        ...attached.map((r, i) => `round ${i + 1}: requests made ${r.requests}, L7 records ${r.logged} (${(100 * r.logged / Math.max(1, r.requests)).toFixed(2)}%)`),
        `at 2000 req/s (h2load --h1 -c 10 --rps 200): requests ${pacedWith.requests}, L7 records ${pacedWith.logged}, ` +
          `kernel drops ${pacedWith.kernelDrops}; mean time per request ${Math.round(pacedAlone.meanUs)} µs alone, ${Math.round(pacedWith.meanUs)} µs with wirelog`,
      ],
      summary: {
        'rps alone (median)': Math.round(rpsAlone), 'rps with wirelog (median)': Math.round(rpsWith), 'rps ratio': Number(ratio.toFixed(3)),
        'requests made (last)': attached.at(-1)!.requests, 'l7 records (last)': attached.at(-1)!.logged,
        'kernel drops (last)': attached.at(-1)!.kernelDrops,
        'paced: requests': pacedWith.requests, 'paced: l7 records': pacedWith.logged, 'paced: kernel drops': pacedWith.kernelDrops,
      },
    };
  } finally {
    await scope.close();
  }
}
