/**
 * Attribution against the real kernel: named network namespaces with sleeping processes in them, moved into cgroups
 * named the way docker (systemd driver) and a kubelet (systemd driver, cri-containerd) name theirs. `lookup(inode)`
 * must give the name, the processes and their comm, the container id and the pod uid; the namespace inode, the name
 * and the cgroup paths are checked against `ls -L -i`, `ip netns identify` and `cat /proc/PID/cgroup`.
 *
 * The cgroups are made in a writable hierarchy found in /proc/self/mountinfo: the v2 one (pure v2 at /sys/fs/cgroup,
 * or the hybrid's /sys/fs/cgroup/unified), else a v1 one (name=systemd first). Only directories created here are
 * removed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, run, runOk, sleep, waitFor, type Spawned } from '../helpers/proc.js';
import { currentNetns } from '../../src/source/netns.js';
import { NetnsAttribution, attributionFields, containerOfCgroup } from '../../src/source/attribution.js';

const scope = new Scope();
after(() => scope.close());

interface Hierarchy { mount: string; kind: string }

/** cgroup mounts from /proc/self/mountinfo, v2 first, then v1 with name=systemd first; only those mounted at their root. */
function cgroupHierarchies(): Hierarchy[] {
  const out: Array<Hierarchy & { rank: number }> = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const [fstype, , superOpts = ''] = post.split(' ');
    if (f[3] !== '/' || !f[4]) continue;
    const mount = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (fstype === 'cgroup2') out.push({ mount, kind: 'cgroup2', rank: 0 });
    else if (fstype === 'cgroup') out.push({ mount, kind: `cgroup v1 (${superOpts})`, rank: superOpts.includes('name=systemd') ? 1 : 2 });
  }
  return out.sort((a, b) => a.rank - b.rank);
}

/** mkdir -p that remembers, in the scope, each directory it made (removed deepest first, retried while busy). */
function makeCgroup(root: string, rel: string): string {
  let dir = root;
  for (const part of rel.split('/').filter(Boolean)) {
    dir = path.join(dir, part);
    if (fs.existsSync(dir)) continue;
    fs.mkdirSync(dir);
    const made = dir;
    scope.defer(`rmdir ${made}`, async () => {
      for (let i = 0; ; i++) {
        try {
          fs.rmdirSync(made);
          return;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
          if (i >= 50) throw e;
          await sleep(100); // a killed member may take a moment to leave
        }
      }
    });
  }
  return dir;
}

/** A writable hierarchy: the first where a probe directory can be made and removed. */
function writableHierarchy(): Hierarchy {
  const tried: string[] = [];
  for (const h of cgroupHierarchies()) {
    const probe = path.join(h.mount, `wl-attr-probe-${randomBytes(3).toString('hex')}`);
    try {
      fs.mkdirSync(probe);
      fs.rmdirSync(probe);
      return h;
    } catch (e) {
      tried.push(`${h.mount}: ${(e as Error).message}`);
    }
  }
  throw new Error(`no writable cgroup hierarchy (tried: ${tried.join('; ') || 'none mounted'})`);
}

async function addNetns(name: string): Promise<void> {
  scope.defer(`ip netns del ${name}`, async () => {
    const pids = await run('ip', ['netns', 'pids', name], { timeoutMs: 5000 });
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await run('ip', ['netns', 'del', name], { timeoutMs: 10_000 });
  });
  await runOk('ip', ['netns', 'add', name]);
}

/** `ip netns exec NAME sleep 60`, once the exec'd sleep is inside the namespace. */
async function sleeperIn(ns: string): Promise<Spawned & { pid: number }> {
  const p = scope.spawn('ip', ['netns', 'exec', ns, 'sleep', '60']);
  const host = `net:[${currentNetns()}]`;
  await waitFor(`sleep in ${ns}`, () => {
    try {
      return fs.readlinkSync(`/proc/${p.pid}/ns/net`) !== host && fs.readFileSync(`/proc/${p.pid}/comm`, 'utf8') === 'sleep\n';
    } catch {
      return false;
    }
  }, 10_000, 20);
  return p as Spawned & { pid: number };
}

function joinCgroup(dir: string, pid: number): void {
  fs.writeFileSync(path.join(dir, 'cgroup.procs'), `${pid}\n`);
}

test('netns inode → name, processes, container id and pod uid, as the kernel and ip see them', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const h = writableHierarchy();
  const tag = randomBytes(3).toString('hex');
  const nsDocker = `wl-attr-${tag}-d`;
  const nsPod = `wl-attr-${tag}-p`;
  const dockerId = randomBytes(32).toString('hex');
  const appId = randomBytes(32).toString('hex');
  const pauseId = randomBytes(32).toString('hex');
  const podUid = randomUUID();
  const podSlice = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${podUid.replace(/-/g, '_')}.slice`;

  await addNetns(nsDocker);
  await addNetns(nsPod);
  const dockerCg = makeCgroup(h.mount, `system.slice/docker-${dockerId}.scope`);
  const appCg = makeCgroup(h.mount, `${podSlice}/cri-containerd-${appId}.scope`);
  const pauseCg = makeCgroup(h.mount, `${podSlice}/cri-containerd-${pauseId}.scope`);

  const d = await sleeperIn(nsDocker);
  joinCgroup(dockerCg, d.pid);
  // the pod: a "pause" process in one container, two in the app container (the app wins by count)
  const pause = await sleeperIn(nsPod);
  joinCgroup(pauseCg, pause.pid);
  const app1 = await sleeperIn(nsPod);
  const app2 = await sleeperIn(nsPod);
  joinCgroup(appCg, app1.pid);
  joinCgroup(appCg, app2.pid);

  // independent views
  const inoOf = async (ns: string): Promise<number> => {
    const ls = await runOk('ls', ['-L', '-i', `/run/netns/${ns}`]);
    const ino = Number(ls.stdout.trim().split(/\s+/)[0]);
    assert.equal(ino, fs.statSync(`/run/netns/${ns}`).ino, `ls -L -i and stat agree on ${ns}`);
    return ino;
  };
  const inoDocker = await inoOf(nsDocker);
  const inoPod = await inoOf(nsPod);
  assert.notEqual(inoDocker, inoPod);
  assert.equal(fs.readlinkSync(`/proc/${d.pid}/ns/net`), `net:[${inoDocker}]`);
  assert.equal((await runOk('ip', ['netns', 'identify', String(d.pid)])).stdout.trim(), nsDocker);
  assert.equal((await runOk('ip', ['netns', 'identify', String(app1.pid)])).stdout.trim(), nsPod);
  const dCgroup = (await runOk('cat', [`/proc/${d.pid}/cgroup`])).stdout;
  assert.match(dCgroup, new RegExp(`:/system\\.slice/docker-${dockerId}\\.scope$`, 'm'), `${h.kind} at ${h.mount}`);
  const appCgroup = (await runOk('cat', [`/proc/${app1.pid}/cgroup`])).stdout;
  assert.ok(appCgroup.includes(`/${podSlice}/cri-containerd-${appId}.scope`), appCgroup);
  assert.deepEqual(containerOfCgroup(dCgroup), { container_id: dockerId, pod_uid: null });
  assert.deepEqual(containerOfCgroup(appCgroup), { container_id: appId, pod_uid: podUid });

  const a = new NetnsAttribution();
  const st = a.refresh();
  assert.ok(st.namespaces >= 3, JSON.stringify(st));
  // root may still be refused a few links (a process holding capabilities this one lacks, an LSM): counted, not thrown
  assert.ok(st.unreadable < st.pids, JSON.stringify(st));
  if (st.unreadable > 0) t.diagnostic(`namespace links not readable here: ${st.unreadable} of ${st.pids}`);

  assert.deepEqual(a.lookup(inoDocker), {
    netns: inoDocker, netns_name: nsDocker, processes: [{ pid: d.pid, comm: 'sleep' }], process_count: 1,
    container_id: dockerId, pod_uid: null,
  });
  const pod = a.lookup(inoPod)!;
  assert.equal(pod.netns_name, nsPod);
  assert.deepEqual(pod.processes, [pause.pid, app1.pid, app2.pid].sort((x, y) => x - y).map((pid) => ({ pid, comm: 'sleep' })));
  assert.equal(pod.process_count, 3);
  assert.equal(pod.container_id, appId, 'the container with most processes');
  assert.equal(pod.pod_uid, podUid, 'the pod uid with dashes');
  assert.deepEqual(attributionFields(pod), { netns_name: nsPod, container_id: appId, pod_uid: podUid });

  const self = a.lookup(currentNetns());
  assert.ok(self && self.process_count >= 1, 'the host namespace has processes');
  assert.notEqual(self.container_id, dockerId);

  // the processes leave: the next refresh no longer lists them, the name stays while the namespace is named
  await d.stop('SIGKILL');
  a.refresh();
  assert.deepEqual(a.lookup(inoDocker), {
    netns: inoDocker, netns_name: nsDocker, processes: [], process_count: 0, container_id: null, pod_uid: null,
  });
});
