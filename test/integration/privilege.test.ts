/**
 * Least privilege (docs/privileges.md): started as root, `wirelog capture` and `wirelog trace` leave root to the
 * sensor and run the agent as --user (default: the `wirelog` user, else `nobody`). While they run, the kernel's view
 * (/proc/PID/status) says who each process is: the agent is not uid 0, its wirelog-sensor child is. Traffic is still
 * logged (nginx's access log is the reference) and SIGTERM, which the agent can no longer pass on to the root sensor
 * as a signal, still ends the run with everything drained and the summary line. `--user root` keeps root with a
 * warning; an unknown user is a usage error. Traffic stays on 127.0.0.1. Needs root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, runOk, waitFor, type Spawned } from '../helpers/proc.js';
import { startNginx, curl, type Nginx } from '../helpers/nginx.js';
import { startWirelogLive, runWirelog, parseJsonLines } from '../helpers/wirelog.js';
import { createNetnsPair } from '../helpers/netns.js';
import { cliPath, fixturesDir, sensorPath } from '../helpers/paths.js';
import path from 'node:path';

interface Ids { uid: number; gid: number; groups: number[] }

/** Real, effective, saved and filesystem uid (and gid) must agree; the Uid:/Gid:/Groups: lines of /proc/PID/status. */
function idsOf(pid: number): Ids {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number[] => {
    const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status);
    assert.ok(m, `no ${name}: line in /proc/${pid}/status`);
    return m[1]!.trim().split(/\s+/).filter((x) => x !== '').map(Number);
  };
  const uids = field('Uid');
  const gids = field('Gid');
  assert.equal(new Set(uids).size, 1, `pid ${pid}: real/effective/saved/fs uids differ: ${uids}`);
  assert.equal(new Set(gids).size, 1, `pid ${pid}: real/effective/saved/fs gids differ: ${gids}`);
  return { uid: uids[0]!, gid: gids[0]!, groups: field('Groups') };
}

/** The children of pid named comm (from /proc/*\/stat: ppid is the 4th field). */
function childrenNamed(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = st.lastIndexOf(')');
      const name = st.slice(st.indexOf('(') + 1, close);
      const ppid = Number(st.slice(close + 2).split(' ')[1]);
      if (ppid === pid && name === comm) out.push(Number(e));
    } catch {
      /* exited */
    }
  }
  return out;
}

/** uid and gid of a user as id(1) says, or undefined when there is no such user. */
function idOf(user: string): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** The user a run without --user becomes: `wirelog` when scripts/setup.sh made it, else `nobody`. */
function defaultUser(): { name: string; uid: number; gid: number } {
  const w = idOf('wirelog');
  if (w !== undefined) return { name: 'wirelog', ...w };
  const n = idOf('nobody');
  assert.ok(n, 'neither a wirelog nor a nobody user on this host');
  return { name: 'nobody', ...n };
}

/** The agent's pid (the spawned node process) and its sensor child, once the sensor runs. */
async function agentAndSensor(p: Spawned): Promise<{ agent: number; sensor: number }> {
  const agent = p.pid!;
  const sensor = await waitFor('the wirelog-sensor child', () => childrenNamed(agent, 'wirelog-sensor')[0], 10_000);
  return { agent, sensor };
}

async function requestsLogged(scope: Scope, nginx: Nginx, tag: string, n: number): Promise<string[]> {
  const urls = Array.from({ length: n }, (_, i) => `http://127.0.0.1:${nginx.port}/index.html?${tag}=${i}`);
  await curl(scope, urls);
  const entries = await nginx.waitForEntries(1);
  const uris = entries.map((e) => e.request_uri).filter((u) => u.includes(`?${tag}=`));
  assert.equal(uris.length, n, `nginx logged ${uris.length} of the ${n} ${tag} requests`);
  return uris.sort();
}

for (const variant of [{ name: 'default user', args: [] as string[] }, { name: '--user nobody', args: ['--user', 'nobody'] }]) {
  test(`capture -i lo as root, ${variant.name}: the agent parses unprivileged, the sensor keeps root, SIGTERM drains and summarises`, async (t) => {
    if (!requirePrivileges(t)) return;
    const scope = new Scope();
    t.after(() => scope.close());
    const want = variant.args.length > 0 ? { name: 'nobody', ...idOf('nobody')! } : defaultUser();
    const nginx = await startNginx(scope);
    const wl = await startWirelogLive(scope, ['-i', 'lo', '-p', String(nginx.port), ...variant.args]);
    const { agent, sensor } = await agentAndSensor(wl.proc);
    // the agent drops right after it started the sensor: by the time it listens, it has
    const a = idsOf(agent);
    assert.notEqual(a.uid, 0, 'the agent still runs as root');
    assert.deepEqual({ uid: a.uid, gid: a.gid }, { uid: want.uid, gid: want.gid }, `the agent is not ${want.name}`);
    assert.ok(!a.groups.includes(0), `the agent kept root's group: ${a.groups}`);
    assert.equal(idsOf(sensor).uid, 0, 'the sensor is not root');

    const uris = await requestsLogged(scope, nginx, 'priv', 5);
    const stopped = await wl.stop('SIGTERM'); // to the agent only: it must stop its root sensor without a signal
    assert.equal(stopped.code, 0, `exit ${stopped.code} ${stopped.signal}; stderr: ${stopped.stderr}`);
    assert.ok(stopped.summary, `no summary line: ${stopped.stderr}`);
    const logged = stopped.lines.filter((l) => l.kind === 'CQ').map((l) => l.uri!).sort();
    assert.deepEqual(logged, uris, 'the requests nginx logged are the CQ lines');
    assert.equal(stopped.lines.filter((l) => l.kind === 'CR').length, uris.length, 'one CR line per request');
    assert.equal(stopped.summary.requests, uris.length, 'summary: requests');
    assert.equal(stopped.summary.kernelDrops, 0, 'summary: kernel drops');
    assert.doesNotMatch(stopped.stderr, /warning/, 'no warning for a drop');
    // the sensor went with it
    assert.throws(() => readFileSync(`/proc/${sensor}/status`), 'the sensor outlived the agent');
  });
}

test('capture --user root keeps root and says so in one warning line', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const nginx = await startNginx(scope);
  const wl = await startWirelogLive(scope, ['-i', 'lo', '-p', String(nginx.port), '--user', 'root']);
  const { agent, sensor } = await agentAndSensor(wl.proc);
  assert.equal(idsOf(agent).uid, 0, 'the agent dropped root although --user root');
  assert.equal(idsOf(sensor).uid, 0);
  const uris = await requestsLogged(scope, nginx, 'root', 2);
  const stopped = await wl.stop('SIGTERM');
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.deepEqual(stopped.lines.filter((l) => l.kind === 'CQ').map((l) => l.uri!).sort(), uris);
  const warnings = stopped.stderr.split('\n').filter((l) => /warning/.test(l));
  assert.equal(warnings.length, 1, `warning lines: ${JSON.stringify(warnings)}`);
  assert.match(warnings[0]!, /^wirelog: warning: --user root: /);
});

test('trace -p of an nginx worker as root: the agent runs as the default user, requests are traced, SIGTERM ends it with the summary', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const want = defaultUser();
  const nginx = await startNginx(scope);
  const master = Number(readFileSync(`${nginx.dir}/nginx.pid`, 'utf8').trim());
  const worker = await waitFor('an nginx worker', () => childrenNamed(master, 'nginx')[0], 10_000);
  const p = scope.spawn(process.execPath, [cliPath, 'trace', '-p', String(worker), '--format', 'jsonl'], { env: { ...process.env, WIRELOG_SENSOR: sensorPath } });
  await p.waitForLine('stderr', /^wirelog: tracing pid /, 30_000);
  const { agent, sensor } = await agentAndSensor(p);
  const a = idsOf(agent);
  assert.notEqual(a.uid, 0, 'the trace agent still runs as root');
  assert.deepEqual({ uid: a.uid, gid: a.gid }, { uid: want.uid, gid: want.gid });
  assert.equal(idsOf(sensor).uid, 0, 'the trace sensor is not root');

  const uris = await requestsLogged(scope, nginx, 'traced', 4);
  const e = await p.stop('SIGTERM', 15_000);
  assert.equal(e.code, 0, `exit ${e.code} ${e.signal}; stderr: ${p.stderr}`);
  assert.match(p.stderr, /^wirelog: \d+ requests, \d+ responses, \d+ events, 0 dropped by kernel;/m, `no summary: ${p.stderr}`);
  const records = p.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const traced = records.map((r) => String(r.uri ?? '')).filter((u) => u.includes('?traced=')).sort();
  assert.deepEqual(traced, uris, `traced paths; stdout: ${p.stdout.slice(0, 2000)}`);
});

test('capture --netns as root: dropped, the attribution of root\'s processes is counted as unreadable; --user root names them', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const want = defaultUser();
  const pair = await createNetnsPair(scope);
  const nginx = await startNginx(scope, { netns: pair.server.ns, listen: [pair.server.ip4] });
  const args = ['--netns', pair.server.ns, '-p', String(nginx.port), '--format', 'jsonl'];
  const dropped = await startWirelogLive(scope, args);
  const kept = await startWirelogLive(scope, [...args, '--user', 'root']);
  assert.equal(idsOf(dropped.proc.pid!).uid, want.uid);
  assert.equal(idsOf(kept.proc.pid!).uid, 0);
  await curl(scope, [`http://${pair.server.ip4}:${nginx.port}/index.html?ns=1`], { netns: pair.client.ns });
  await nginx.waitForEntries(1);
  const ipPids = (await runOk('ip', ['netns', 'pids', pair.server.ns])).stdout.split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
  const [d, k] = await Promise.all([dropped.stop('SIGTERM'), kept.stop('SIGTERM')]);
  for (const [name, x] of [['dropped', d], ['kept', k]] as const) {
    assert.equal(x.code, 0, `${name}: ${x.stderr}`);
    assert.equal(parseJsonLines(x.stdout).filter((r) => r.uri === '/index.html?ns=1').length, 1, `${name}: the request is logged`);
  }
  type NsRec = { record: string; netns_name: string | null; processes: Array<{ pid: number }>; process_count: number };
  const nsRec = (out: string): NsRec | undefined => (parseJsonLines(out) as unknown as NsRec[]).find((r) => r.record === 'netns' && r.netns_name === pair.server.ns);
  // as root: nginx's processes, as ip netns pids lists them
  const kr = nsRec(k.stdout);
  assert.ok(kr, `kept: no netns record: ${k.stdout.slice(0, 1000)}`);
  assert.ok(ipPids.length >= 2, `ip netns pids: ${ipPids}`);
  assert.deepEqual(kr.processes.map((p) => p.pid).filter((p) => ipPids.includes(p)), kr.processes.map((p) => p.pid), 'kept: processes not in the namespace');
  assert.ok(kr.processes.length >= 2, `kept: nginx's processes: ${JSON.stringify(kr)}`);
  assert.doesNotMatch(k.stderr, /netns attribution:/);
  // dropped: the namespace keeps its name, root's processes are not readable, and that is counted
  const dr = nsRec(d.stdout);
  assert.ok(dr, `dropped: no netns record: ${d.stdout.slice(0, 1000)}`);
  assert.deepEqual(dr.processes, [], 'dropped: root\'s processes read anyway?');
  const m = /^wirelog: netns attribution: (\d+) processes of other users unreadable as (\S+): /m.exec(d.stderr);
  assert.ok(m, `dropped: no attribution line: ${d.stderr}`);
  assert.ok(Number(m[1]) >= ipPids.length, `dropped: ${m[1]} unreadable, fewer than the namespace's ${ipPids.length} processes`);
  assert.equal(m[2], want.name);
});

test('capture -r - and quic -r - as root: the agent drops before it reads a byte, and parses the same as an unprivileged run', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const want = defaultUser();
  const pcap = readFileSync(path.join(fixturesDir, 'http-lo4.pcap'));
  for (const cmd of [['capture', '-r', '-', '--format', 'jsonl'], ['quic', '-r', '-', '--ports', 'any']]) {
    // stdin held open: the process waits for the file, already dropped
    const p = scope.spawn(process.execPath, [cliPath, ...cmd], { stdin: 'pipe' });
    await waitFor(`${cmd[0]}: the drop`, () => idsOf(p.pid!).uid !== 0, 10_000);
    assert.deepEqual({ uid: idsOf(p.pid!).uid, gid: idsOf(p.pid!).gid }, { uid: want.uid, gid: want.gid }, `${cmd[0]}: not ${want.name}`);
    p.child.stdin!.end(pcap);
    const e = await p.exited;
    assert.equal(e.code, 0, `${cmd[0]}: ${p.stderr}`);
    // the reference: the same file read by a process that never had root
    const ref = await runWirelog([...cmd.slice(0, 2), path.join(fixturesDir, 'http-lo4.pcap'), ...cmd.slice(3)], { asUser: 'nobody' });
    assert.equal(ref.code, 0, ref.stderr);
    assert.equal(p.stdout, ref.stdout, `${cmd[0]}: output differs from an unprivileged run`);
    if (cmd[0] === 'capture') assert.ok(p.stdout.split('\n').filter((l) => l.startsWith('{')).length > 0, 'capture: no records');
  }
});

test('--user with no such user: one error line, exit 2, for capture, trace and quic', async (t) => {
  if (!requirePrivileges(t, false)) return;
  for (const args of [['capture', '-i', 'lo'], ['trace', '-p', String(process.pid)], ['quic', '-r', '/dev/null']]) {
    const r = await runWirelog([...args, '--user', 'nosuchuser'], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, `${args[0]}: exit ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stderr, /^wirelog: error: --user: no such user 'nosuchuser'$/m, `${args[0]}: ${r.stderr}`);
    assert.equal(r.stdout, '', `${args[0]}: nothing on stdout`);
  }
});
