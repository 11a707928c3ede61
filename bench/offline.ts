/**
 * Offline reader benchmark: one capture file of real HTTP traffic (wrk → nginx on loopback, recorded by tcpdump,
 * keep-alive and connection-per-request mixed), read by wirelog (reassembly on and off), httpry and tshark.
 * Each tool runs `repeat` times on the same file; the median wall time gives packets per second.
 */
import { openSync, closeSync, copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Scope, Spawned, run, runOk } from '../test/helpers/proc.js';
import { startNginx } from '../test/helpers/nginx.js';
import { startTcpdump, packetCount } from '../test/helpers/tshark.js';
import { cliPath, sensorPath } from '../test/helpers/paths.js';
import { parseSummary } from '../test/helpers/wirelog.js';
import type { BenchOptions, BenchResult } from './run.js';

interface ToolRun {
  label: string;
  cmd: string;
  args: string[];
  /** counts the requests this tool found (a sanity check), from a separate run's output */
  countRequests: () => Promise<number>;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Wall time of one run with stdout to /dev/null, seconds. */
async function timeRun(cmd: string, args: string[]): Promise<number> {
  const devnull = openSync('/dev/null', 'w');
  try {
    const t0 = process.hrtime.bigint();
    const p = new Spawned(cmd, args, { stdoutFd: devnull });
    const e = await p.exited;
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (e.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${e.code}): ${p.stderr.slice(-1000)}`);
    return secs;
  } finally {
    closeSync(devnull);
  }
}

/** wrk for `secs` seconds; returns its request count. */
async function wrk(url: string, secs: number, extra: string[] = []): Promise<number> {
  const r = await runOk('wrk', ['-t2', '-c32', `-d${secs}s`, ...extra, url], { timeoutMs: (secs + 30) * 1000 });
  const m = /(\d+) requests in/.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

export async function offline(o: BenchOptions): Promise<BenchResult> {
  const scope = new Scope();
  try {
    const minPackets = o.quick ? 20_000 : 100_000;
    const repeat = o.quick ? 1 : 5;
    const nginx = await startNginx(scope, { workers: 1, noAccessLog: true, bigBytes: 64 * 1024 });
    const dir = await scope.tempDir('wirelog-bench-');
    // WIRELOG_BENCH_KEEP=FILE: keep a copy of the recording (to profile the reader on it)
    const file = path.join(dir, 'http.pcap');
    const dump = await startTcpdump(scope, { iface: 'lo', file, filter: `tcp port ${nginx.port}`, bufferKiB: 256 * 1024 });
    const base = `http://127.0.0.1:${nginx.port}`;
    // alternate keep-alive and connection-per-request bursts until the file is big enough
    let made = 0;
    for (let round = 0; round < 20; round++) {
      made += await wrk(`${base}/small.txt`, 1);
      made += await wrk(`${base}/index.html`, 1, ['-H', 'Connection: close']);
      made += await wrk(`${base}/data.json`, 1, ['-H', 'User-Agent: Mozilla/5.0 (X11; Linux x86_64) wirelog-bench']);
      const sofar = await run('tcpdump', ['-r', file, '-n', '-q', '-c', String(minPackets + 1)], { timeoutMs: 60_000 });
      if (sofar.stdout.split('\n').filter(Boolean).length > minPackets) break;
    }
    const td = await dump.stop();
    if (process.env.WIRELOG_BENCH_KEEP) copyFileSync(file, process.env.WIRELOG_BENCH_KEEP);
    const packets = await packetCount(file);
    const port = String(nginx.port);

    const wirelogCount = (extra: string[]) => async (): Promise<number> => {
      const r = await run(process.execPath, [cliPath, 'capture', '-r', file, ...extra], { timeoutMs: 600_000, env: { ...process.env, WIRELOG_SENSOR: sensorPath } });
      return parseSummary(r.stderr)?.requests ?? -1;
    };
    const tools: ToolRun[] = [
      { label: 'wirelog -r', cmd: process.execPath, args: [cliPath, 'capture', '-r', file], countRequests: wirelogCount([]) },
      { label: 'wirelog -r --no-reassembly', cmd: process.execPath, args: [cliPath, 'capture', '-r', file, '--no-reassembly'],
        countRequests: wirelogCount(['--no-reassembly']) },
      {
        label: 'httpry -r', cmd: 'httpry', args: ['-q', '-r', file, '-o', '/dev/null', `tcp port ${port}`],
        countRequests: async () => {
          const out = path.join(dir, 'httpry.out');
          await runOk('httpry', ['-q', '-r', file, '-o', out, `tcp port ${port}`], { timeoutMs: 600_000 });
          return readFileSync(out, 'utf8').split('\n').filter((l) => l.split('\t')[3] === '>').length;
        },
      },
      {
        label: 'tshark -T fields', cmd: 'tshark',
        args: ['-r', file, '-n', '-d', `tcp.port==${port},http`, '-T', 'fields', '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'http.response.code'],
        countRequests: async () => {
          const r = await runOk('tshark', ['-r', file, '-n', '-d', `tcp.port==${port},http`, '-Y', 'http.request', '-T', 'fields', '-e', 'http.request.method'], { timeoutMs: 600_000 });
          return r.stdout.split('\n').flatMap((l) => l.split(',')).filter((m) => m.length > 0).length;
        },
      },
    ];
    const rows: BenchResult['rows'] = [];
    const times = new Map<string, number>();
    for (const tool of tools) {
      const runs: number[] = [];
      for (let i = 0; i < repeat; i++) runs.push(await timeRun(tool.cmd, tool.args));
      const secs = median(runs);
      times.set(tool.label, secs);
      const requests = await tool.countRequests();
      rows.push({ label: tool.label, secs, pps: packets / secs, requests });
    }
    const w = times.get('wirelog -r')!;
    const wn = times.get('wirelog -r --no-reassembly')!;
    const h = times.get('httpry -r')!;
    const ts = times.get('tshark -T fields')!;
    const notes = [
      `file: ${packets} packets, ${made} requests made by wrk, tcpdump dropped ${td.droppedByKernel}; median of ${repeat} run(s) each`,
      `wirelog vs httpry: ${(h / w).toFixed(2)}x (reassembly on), ${(h / wn).toFixed(2)}x (--no-reassembly)  (>1: wirelog faster)`,
      `wirelog vs tshark: ${(ts / w).toFixed(2)}x (reassembly on), ${(ts / wn).toFixed(2)}x (--no-reassembly)`,
    ];
    return {
      name: 'offline', rows, notes,
      summary: {
        packets, 'wirelog pps': Math.round(packets / w), 'wirelog --no-reassembly pps': Math.round(packets / wn),
        'httpry pps': Math.round(packets / h), 'tshark pps': Math.round(packets / ts),
        'wirelog/httpry speed': Number((h / w).toFixed(2)), 'wirelog/tshark speed': Number((ts / w).toFixed(2)),
      },
    };
  } finally {
    await scope.close();
  }
}
