/**
 * Live overhead benchmark: wrk at full speed against nginx on loopback, first alone, then with
 * `wirelog capture -i lo -p PORT` attached (lines to a file in a temp dir). Prints requests per second for both,
 * requests made (wrk) vs requests logged (CQ lines), and kernel drops from wirelog's summary line.
 */
import { openSync, closeSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Scope, runOk } from '../test/helpers/proc.js';
import { startNginx } from '../test/helpers/nginx.js';
import { cliPath, sensorPath } from '../test/helpers/paths.js';
import { parseSummary } from '../test/helpers/wirelog.js';
import type { BenchOptions, BenchResult } from './run.js';

interface WrkResult { requests: number; rps: number; secs: number }

async function wrk(url: string, secs: number): Promise<WrkResult> {
  const r = await runOk('wrk', ['-t2', '-c50', `-d${secs}s`, url], { timeoutMs: (secs + 30) * 1000 });
  const m = /(\d+) requests in ([\d.]+)(m?s)/.exec(r.stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m || !rps) throw new Error(`wrk output not understood: ${r.stdout}`);
  return { requests: Number(m[1]), secs: Number(m[2]) / (m[3] === 'ms' ? 1000 : 1), rps: Number(rps[1]) };
}

export async function live(o: BenchOptions): Promise<BenchResult> {
  const scope = new Scope();
  try {
    const secs = o.quick ? 3 : 10;
    const nginx = await startNginx(scope, { workers: 1, noAccessLog: true, bigBytes: 64 * 1024 });
    const url = `http://127.0.0.1:${nginx.port}/small.txt`;
    await wrk(url, 1); // warm up
    const alone = await wrk(url, secs);

    const dir = await scope.tempDir('wirelog-bench-live-');
    const outPath = path.join(dir, 'lines.log');
    const out = openSync(outPath, 'w');
    let attached: WrkResult;
    let stderr = '';
    try {
      const wl = scope.spawn(process.execPath, [cliPath, 'capture', '-i', 'lo', '-p', String(nginx.port)],
        { stdoutFd: out, env: { ...process.env, WIRELOG_SENSOR: sensorPath } });
      await wl.waitForLine('stderr', /^wirelog: listening on /, 30_000);
      attached = await wrk(url, secs);
      await wl.stop('SIGINT', 60_000);
      stderr = wl.stderr;
    } finally {
      closeSync(out);
    }
    const lines = readFileSync(outPath, 'utf8').split('\n');
    const logged = lines.filter((l) => / CQ /.test(l)).length;
    const summary = parseSummary(stderr);
    const ratio = attached.rps / alone.rps;
    return {
      name: 'live',
      rows: [
        { label: 'nginx alone', rps: alone.rps, requests: alone.requests },
        { label: 'nginx + wirelog -i lo', rps: attached.rps, requests: attached.requests, logged,
          kernelDrops: summary?.kernelDrops ?? -1 },
      ],
      notes: [
        `wrk -t2 -c50 -d${secs}s ${url.replace(/:\d+/, ':PORT')}`,
        `throughput with wirelog: ${(ratio * 100).toFixed(1)}% of without`,
        `requests made ${attached.requests}, logged ${logged} (${(100 * logged / Math.max(1, attached.requests)).toFixed(2)}%), ` +
          `kernel drops ${summary?.kernelDrops ?? 'unknown (no summary line)'}`,
      ],
      summary: {
        'rps alone': Math.round(alone.rps), 'rps with wirelog': Math.round(attached.rps), 'rps ratio': Number(ratio.toFixed(3)),
        'requests made': attached.requests, 'requests logged': logged, 'kernel drops': summary?.kernelDrops ?? -1,
      },
    };
  } finally {
    await scope.close();
  }
}
