/**
 * Trace overhead benchmark: nginx (one worker) loaded at full speed, first alone, then with `wirelog trace -p WORKER`
 * attached (h2olog lines to a file in a temp dir):
 *   - HTTP/1.1 plaintext with wrk (syscall tracepoints only),
 *   - HTTP/2 over TLS with h2load (tracepoints + SSL_read/SSL_write uprobes, HPACK).
 * Prints the RPS ratio, requests logged (RxProtocol lines) vs made, kernel drops (wirelog's summary line), and CPU
 * time per request: nginx's worker, the sensor and the agent (utime+stime from /proc/PID/stat before/after), and
 * the BPF programs' own run time (kernel.bpf_stats_enabled, `bpftool prog show` run_time_ns of the sensor's
 * programs; the setting is restored afterwards). Figures only, no assertions.
 */
import { openSync, closeSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Scope, runOk, run, waitFor } from '../test/helpers/proc.js';
import { startNginxTls, childPids } from '../test/helpers/nginx-tls.js';
import { makeTestPki } from '../test/helpers/tls.js';
import { cliPath, sensorPath } from '../test/helpers/paths.js';
import type { BenchOptions, BenchResult } from './run.js';

interface Load { requests: number; rps: number; secs: number }

/**
 * Knobs for tuning runs (environment, all optional): WIRELOG_BENCH_TRACE_CASES=h1,h2 (which cases),
 * WIRELOG_BENCH_TRACE_WRK="-t1 -c10" (wrk's threads/connections, default -t2 -c50), WIRELOG_BENCH_TRACE_ARGS="-b 8"
 * (more `wirelog trace` arguments), WIRELOG_BENCH_SENSOR=PATH (another sensor build, for A/B runs).
 */
const WRK_ARGS = (process.env.WIRELOG_BENCH_TRACE_WRK ?? '-t2 -c50').split(/\s+/).filter((x) => x !== '');
const TRACE_ARGS = (process.env.WIRELOG_BENCH_TRACE_ARGS ?? '').split(/\s+/).filter((x) => x !== '');
const CASES = new Set((process.env.WIRELOG_BENCH_TRACE_CASES ?? 'h1,h2').split(','));

async function wrk(url: string, secs: number): Promise<Load> {
  const r = await runOk('wrk', [...WRK_ARGS, `-d${secs}s`, url], { timeoutMs: (secs + 30) * 1000 });
  const m = /(\d+) requests in ([\d.]+)(m?s)/.exec(r.stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m || !rps) throw new Error(`wrk output not understood: ${r.stdout}`);
  return { requests: Number(m[1]), secs: Number(m[2]) / (m[3] === 'ms' ? 1000 : 1), rps: Number(rps[1]) };
}

async function h2load(url: string, secs: number): Promise<Load> {
  // -D: duration mode; 50 clients, 10 concurrent streams each, 2 threads (like wrk's -t2 -c50)
  const r = await runOk('h2load', ['-D', String(secs), '-c50', '-m10', '-t2', url], { timeoutMs: (secs + 30) * 1000 });
  const fin = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(r.stdout);
  const req = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(r.stdout);
  if (!fin || !req) throw new Error(`h2load output not understood: ${r.stdout}`);
  return { requests: Number(req[2]), secs: Number(fin[1]) / (fin[2] === 'ms' ? 1000 : 1), rps: Number(fin[3]) };
}

const CLK_TCK = 100;
/** utime+stime of a process, nanoseconds (all its threads). */
function cpuNs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14 and 15 of stat (utime, stime); f[0] is field 3
  return (Number(f[11]) + Number(f[12])) * (1e9 / CLK_TCK);
}

/** BPF program ids a process holds open (from /proc/PID/fdinfo: `prog_id:`; bpftool here is built without pid info). */
function progIds(pid: number): Set<number> {
  const ids = new Set<number>();
  let fds: string[] = [];
  try { fds = readdirSync(`/proc/${pid}/fdinfo`); } catch { return ids; }
  for (const fd of fds) {
    try {
      const m = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch { /* fd closed meanwhile */ }
  }
  return ids;
}

/** Sum of run_time_ns and run_cnt over the given BPF programs (needs kernel.bpf_stats_enabled=1). */
interface BpfTimes { ns: number; cnt: number; byName: Map<string, { ns: number; cnt: number }> }

async function bpfRunTime(ids: Set<number>): Promise<BpfTimes> {
  const r = await run('bpftool', ['prog', 'show', '--json'], { timeoutMs: 10_000 });
  let ns = 0;
  let cnt = 0;
  const byName = new Map<string, { ns: number; cnt: number }>();
  try {
    for (const p of JSON.parse(r.stdout) as Array<{ id: number; name?: string; run_time_ns?: number; run_cnt?: number }>) {
      if (!ids.has(p.id)) continue;
      ns += p.run_time_ns ?? 0;
      cnt += p.run_cnt ?? 0;
      const k = p.name ?? String(p.id);
      const e = byName.get(k) ?? { ns: 0, cnt: 0 };
      e.ns += p.run_time_ns ?? 0;
      e.cnt += p.run_cnt ?? 0;
      byName.set(k, e);
    }
  } catch { /* no JSON: bpftool unavailable */ }
  return { ns, cnt, byName };
}

/** The programs that took most of the BPF time in a run: `name ns/run × runs/req`. */
function topPrograms(b0: BpfTimes, b1: BpfTimes, requests: number): string {
  const rows: Array<[string, number, number]> = [];
  for (const [k, e1] of b1.byName) {
    const e0 = b0.byName.get(k) ?? { ns: 0, cnt: 0 };
    const ns = e1.ns - e0.ns, cnt = e1.cnt - e0.cnt;
    if (cnt > 0) rows.push([k, ns, cnt]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  return rows.slice(0, 8).map(([k, ns, cnt]) => `${k} ${Math.round(ns / cnt)} ns × ${(cnt / requests).toFixed(2)}/req`).join(', ');
}

interface Attached { load: Load; logged: number; drops: number; agentNs: number; sensorNs: number; workerNs: number; bpfNs: number; bpfRuns: number; bpfTop: string }

async function attached(scope: Scope, dir: string, worker: number, tag: string, go: () => Promise<Load>): Promise<Attached> {
  const outPath = path.join(dir, `${tag}.log`);
  const out = openSync(outPath, 'w');
  let stderr = '';
  let a: Omit<Attached, 'logged' | 'drops'>;
  try {
    const wl = scope.spawn(process.execPath, [cliPath, 'trace', '-p', String(worker), ...TRACE_ARGS],
      { stdoutFd: out, env: { ...process.env, WIRELOG_SENSOR: process.env.WIRELOG_BENCH_SENSOR ?? sensorPath } });
    await wl.waitForLine('stderr', /^wirelog: tracing/, 30_000);
    const agent = wl.pid!;
    const sensor = await waitFor('sensor process', async () => (await childPids(agent))[0], 5000);
    const progs = progIds(sensor);
    const [a0, s0, w0, b0] = [cpuNs(agent), cpuNs(sensor), cpuNs(worker), await bpfRunTime(progs)];
    const load = await go();
    const b1 = await bpfRunTime(progs);
    const [w1, s1] = [cpuNs(worker), cpuNs(sensor)];
    // the agent may still be draining: count its CPU until it has stopped (SIGINT: drain, summary, exit)
    let a1 = cpuNs(agent);
    const stopping = wl.stop('SIGINT', 120_000);
    for (;;) {
      try { a1 = cpuNs(agent); } catch { break; }
      if (!wl.running) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await stopping;
    stderr = wl.stderr;
    a = { load, agentNs: a1 - a0, sensorNs: s1 - s0, workerNs: w1 - w0, bpfNs: b1.ns - b0.ns, bpfRuns: b1.cnt - b0.cnt,
      bpfTop: topPrograms(b0, b1, Math.max(1, load.requests)) };
  } finally {
    closeSync(out);
  }
  // requests still in flight when the load tool stopped are logged but not counted by it (at most c × m)
  const logged = readFileSync(outPath, 'utf8').split('\n').filter((l) => / RxProtocol /.test(l)).length;
  const m = /^wirelog: \d+ requests, \d+ responses, \d+ events, (\d+) dropped by kernel/m.exec(stderr);
  return { ...a, logged, drops: m ? Number(m[1]) : -1 };
}

export async function trace(o: BenchOptions): Promise<BenchResult> {
  const scope = new Scope();
  const statsWas = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
  try {
    const secs = o.quick ? 3 : 10;
    const pki = await makeTestPki(scope);
    const nginx = await startNginxTls(scope, pki, { plainHttp1: true, noAccessLog: true });
    const dir = await scope.tempDir('wirelog-bench-trace-');
    await runOk('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
    scope.defer('restore bpf_stats_enabled', async () => { await run('sysctl', ['-q', '-w', `kernel.bpf_stats_enabled=${statsWas}`]); });

    const rows: Array<Record<string, string | number>> = [];
    const notes: string[] = [];
    const summary: Record<string, number> = {};
    const cases: Array<{ name: string; url: string; go: (url: string, s: number) => Promise<Load> }> = [
      { name: 'HTTP/1.1 wrk', url: `http://127.0.0.1:${nginx.http1Port}/small.txt`, go: wrk },
      { name: 'HTTP/2 TLS h2load', url: `https://127.0.0.1:${nginx.port}/small.txt`, go: h2load },
    ];
    for (const c of cases) {
      if (!CASES.has(c.go === wrk ? 'h1' : 'h2')) continue;
      await c.go(c.url, 1); // warm up
      const w0 = cpuNs(nginx.workerPid);
      const alone = await c.go(c.url, secs);
      const aloneWorkerNs = cpuNs(nginx.workerPid) - w0;
      const t = await attached(scope, dir, nginx.workerPid, c.name.replace(/\W+/g, '-'), () => c.go(c.url, secs));
      const n = Math.max(1, t.load.requests);
      const ratio = t.load.rps / alone.rps;
      rows.push({ case: c.name, label: 'nginx alone', rps: alone.rps, requests: alone.requests,
        'worker ns/req': aloneWorkerNs / Math.max(1, alone.requests) });
      rows.push({ case: c.name, label: 'nginx + wirelog trace', rps: t.load.rps, requests: t.load.requests, logged: t.logged,
        drops: t.drops, 'worker ns/req': t.workerNs / n, 'bpf ns/req': t.bpfNs / n, 'bpf ns/run': t.bpfNs / Math.max(1, t.bpfRuns),
        'sensor ns/req': t.sensorNs / n, 'agent ns/req': t.agentNs / n });
      notes.push(`${c.name}: ${c.go === wrk ? `wrk ${WRK_ARGS.join(' ')}` : 'h2load -c50 -m10 -t2'} -d ${secs}s ${c.url.replace(/:\d+/, ':PORT')}; ` +
        `throughput traced ${(ratio * 100).toFixed(1)}% of alone; logged ${t.logged} of ${t.load.requests} ` +
        `(${(100 * t.logged / n).toFixed(2)}%), kernel drops ${t.drops < 0 ? 'unknown (no summary line)' : t.drops}; ` +
        `BPF programs by time: ${t.bpfTop}`);
      const k = c.go === wrk ? 'h1' : 'h2';
      Object.assign(summary, {
        [`${k} rps ratio`]: Number(ratio.toFixed(3)), [`${k} requests made`]: t.load.requests, [`${k} requests logged`]: t.logged,
        [`${k} kernel drops`]: t.drops, [`${k} bpf ns/req`]: Math.round(t.bpfNs / n),
        [`${k} sensor ns/req`]: Math.round(t.sensorNs / n), [`${k} agent ns/req`]: Math.round(t.agentNs / n),
      });
    }
    notes.push('CPU from /proc/PID/stat utime+stime (10 ms ticks) before/after the traced run; bpf = the sensor\'s BPF ' +
      'programs\' run_time_ns (kernel.bpf_stats_enabled=1 during the run, which itself costs a little); ' +
      'worker ns/req includes that BPF time, since programs run in the traced worker\'s context. The syscall ' +
      'tracepoints fire for every process (the pid filter is inside the programs), so bpf ns/req also holds the ' +
      'filtered-out runs of wrk/h2load, the agent and everything else on the host during the run.');
    return { name: 'trace', rows, notes, summary };
  } finally {
    await scope.close();
  }
}
