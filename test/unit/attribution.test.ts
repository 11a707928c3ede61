/**
 * Attribution: container and pod from /proc/PID/cgroup text in the shapes each runtime and cgroup driver writes
 * (cgroup v1 one line per hierarchy, v2 one `0::` line), and netns → name/processes/container/pod over a stand-in
 * /proc tree (hard links to one file play the processes sharing a namespace).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NetnsAttribution, attributionFields, containerOfCgroup, parseProcStat } from '../../src/source/attribution.js';

const ID = '9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d';
const ID2 = '4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970';
const UID = '2c8a9f3e-5b1d-4c7e-9a0f-1e2d3c4b5a69';
const UID_ = UID.replace(/-/g, '_');

/** A v1 file with every hierarchy at `p` (and name=systemd too), as a process in one container has it. */
function v1(p: string, systemdPath = p): string {
  return [
    `12:pids:${p}`, `11:hugetlb:${p}`, `10:net_prio,net_cls:${p}`, `9:perf_event:${p}`, `8:blkio:${p}`,
    `7:freezer:${p}`, `6:devices:${p}`, `5:memory:${p}`, `4:cpuset:${p}`, `3:cpu,cpuacct:${p}`,
    `2:rdma:/`, `1:name=systemd:${systemdPath}`, `0::${systemdPath}`, '',
  ].join('\n');
}
const v2 = (p: string): string => `0::${p}\n`;

const none = { container_id: null, pod_uid: null };

test('docker: cgroupfs (/docker/<id>) and systemd (docker-<id>.scope), v1 and v2', () => {
  assert.deepEqual(containerOfCgroup(v1(`/docker/${ID}`)), { container_id: ID, pod_uid: null });
  assert.deepEqual(containerOfCgroup(v1(`/system.slice/docker-${ID}.scope`)), { container_id: ID, pod_uid: null });
  assert.deepEqual(containerOfCgroup(v2(`/system.slice/docker-${ID}.scope`)), { container_id: ID, pod_uid: null });
  // rootless docker under the user's systemd
  assert.deepEqual(containerOfCgroup(v2(`/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${ID}.scope`)),
    { container_id: ID, pod_uid: null });
  // old Debian docker: the bare id at the top of every hierarchy
  assert.deepEqual(containerOfCgroup(v1(`/${ID2}`)), { container_id: ID2, pod_uid: null });
  // deleted cgroup (the process outlived it)
  assert.deepEqual(containerOfCgroup(v2(`/system.slice/docker-${ID}.scope (deleted)`)), { container_id: ID, pod_uid: null });
});

test('v1 hybrid: only some lines name the container (systemd hierarchy and 0:: elsewhere)', () => {
  const text = [
    '11:cpuset:/', '10:memory:/user.slice/user-0.slice', `1:name=systemd:/system.slice/docker-${ID}.scope`, '0::/', '',
  ].join('\n');
  assert.deepEqual(containerOfCgroup(text), { container_id: ID, pod_uid: null });
  const v2only = ['4:memory:/', '1:name=systemd:/init.scope', `0::/system.slice/docker-${ID2}.scope`].join('\n');
  assert.deepEqual(containerOfCgroup(v2only), { container_id: ID2, pod_uid: null });
});

test('containerd: cri-containerd-<id>.scope, ctr\'s /<namespace>/<id>, nerdctl', () => {
  assert.deepEqual(containerOfCgroup(v2(`/system.slice/cri-containerd-${ID}.scope`)), { container_id: ID, pod_uid: null });
  assert.deepEqual(containerOfCgroup(v1('/default/redis-1')), { container_id: 'redis-1', pod_uid: null });
  assert.deepEqual(containerOfCgroup(v2(`/k8s.io/${ID}`)), { container_id: ID, pod_uid: null });
  assert.deepEqual(containerOfCgroup(v2('/containerd/mybox')), { container_id: 'mybox', pod_uid: null });
  assert.deepEqual(containerOfCgroup(v2(`/nerdctl.slice/nerdctl-${ID}.scope`)), { container_id: ID, pod_uid: null });
});

test('CRI-O: crio-<id>.scope is the container, crio-conmon-<id>.scope is not', () => {
  assert.deepEqual(containerOfCgroup(v2(`/machine.slice/crio-${ID}.scope`)), { container_id: ID, pod_uid: null });
  assert.deepEqual(containerOfCgroup(v2(`/machine.slice/crio-conmon-${ID}.scope`)), none);
  assert.deepEqual(containerOfCgroup(v1(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-conmon-${ID}.scope`)),
    { container_id: null, pod_uid: UID }, 'the monitor is in the pod but is no container');
  // cgroupfs driver: no .scope
  assert.deepEqual(containerOfCgroup(v1(`/kubepods/besteffort/pod${UID}/crio-${ID}`)), { container_id: ID, pod_uid: UID });
  assert.deepEqual(containerOfCgroup(v1(`/kubepods/besteffort/pod${UID}/crio-conmon-${ID}`)), { container_id: null, pod_uid: UID });
  // crun's nested `container` cgroup under the scope
  assert.deepEqual(containerOfCgroup(v2(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope/container`)),
    { container_id: ID, pod_uid: UID });
});

test('podman: libpod-<id>.scope (root and rootless, nested container cgroup), libpod_parent; conmon is not the container', () => {
  assert.deepEqual(containerOfCgroup(v2(`/machine.slice/libpod-${ID}.scope`)), { container_id: ID, pod_uid: null });
  assert.deepEqual(containerOfCgroup(v2(`/machine.slice/libpod-${ID}.scope/container`)), { container_id: ID, pod_uid: null });
  assert.deepEqual(containerOfCgroup(v2(`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`)),
    { container_id: ID, pod_uid: null });
  assert.deepEqual(containerOfCgroup(v1(`/libpod_parent/libpod-${ID}`)), { container_id: ID, pod_uid: null });
  assert.deepEqual(containerOfCgroup(v2(`/machine.slice/libpod-conmon-${ID}.scope`)), none);
  assert.deepEqual(containerOfCgroup(v1(`/libpod_parent/libpod-conmon-${ID}`)), none);
});

test('kubepods, cgroupfs driver: /kubepods[/qos]/pod<uid>/<id>', () => {
  assert.deepEqual(containerOfCgroup(v1(`/kubepods/burstable/pod${UID}/${ID}`)), { container_id: ID, pod_uid: UID });
  assert.deepEqual(containerOfCgroup(v1(`/kubepods/besteffort/pod${UID}/${ID}`)), { container_id: ID, pod_uid: UID });
  assert.deepEqual(containerOfCgroup(v1(`/kubepods/pod${UID}/${ID}`)), { container_id: ID, pod_uid: UID }, 'guaranteed: no qos level');
  assert.deepEqual(containerOfCgroup(v2(`/kubepods/burstable/pod${UID}/${ID}`)), { container_id: ID, pod_uid: UID });
  // a static pod's uid is a 32-hex hash
  const hashUid = '0b5e4e9ba5f9c3e7a1d2c4b6f8e0a1b3';
  assert.deepEqual(containerOfCgroup(v1(`/kubepods/burstable/pod${hashUid}/${ID}`)), { container_id: ID, pod_uid: hashUid });
  // the pod level itself (no container below)
  assert.deepEqual(containerOfCgroup(v1(`/kubepods/burstable/pod${UID}`)), { container_id: null, pod_uid: UID });
  // kubelet inside a docker container (kind on cgroup v1): the innermost container wins
  assert.deepEqual(containerOfCgroup(v1(`/docker/${ID2}/kubepods/besteffort/pod${UID}/${ID}`)), { container_id: ID, pod_uid: UID });
});

test('kubepods, systemd driver: kubepods-<qos>-pod<uid_with_underscores>.slice/<runtime>-<id>.scope, uid with dashes', () => {
  const slice = (qos: string): string => qos
    ? `/kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${UID_}.slice`
    : `/kubepods.slice/kubepods-pod${UID_}.slice`;
  for (const qos of ['burstable', 'besteffort', '']) {
    for (const rt of ['cri-containerd', 'crio', 'docker']) {
      assert.deepEqual(containerOfCgroup(v2(`${slice(qos)}/${rt}-${ID}.scope`)), { container_id: ID, pod_uid: UID }, `${qos} ${rt}`);
      assert.deepEqual(containerOfCgroup(v1(`${slice(qos)}/${rt}-${ID}.scope`)), { container_id: ID, pod_uid: UID }, `${qos} ${rt} v1`);
    }
  }
  // kind's kubelet (--cgroup-root=/kubelet) seen from inside the node's cgroup namespace
  assert.deepEqual(containerOfCgroup(v2(`/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`)),
    { container_id: ID, pod_uid: UID });
  // a path relative to another cgroup namespace: the pod slice's own name says kubepods, which is enough
  assert.deepEqual(containerOfCgroup(v2(`/../../kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`)), { container_id: ID, pod_uid: UID });
  // a pod-like directory outside any kubepods hierarchy is no pod
  assert.deepEqual(containerOfCgroup(v2(`/system.slice/pod${UID}/${ID}`)), { container_id: ID, pod_uid: null });
});

test('not a container: host services, sessions, init, short or foreign hashes, garbage', () => {
  for (const text of [
    v2('/'), v2('/init.scope'), v2('/system.slice/ssh.service'), v2('/system.slice/docker.service'),
    v2('/system.slice/containerd.service'), v2('/user.slice/user-1000.slice/session-3.scope'),
    v2('/system.slice/docker-abc123.scope'), v2(`/system.slice/docker-${ID.toUpperCase()}.scope`),
    v2('/kubepods.slice/kubepods-burstable.slice'), v2('/kubepods/burstable'), v2('/docker/buildkit'),
    v2('/default'), v2('/machine.slice/machine-qemu\\x2d1\\x2dvm.scope'),
    '4:memory:/process_api/8afc29e8748d1a1ebdc619fa706f0c79\n0::/\n',
    `/docker/${ID}\n`, // no hierarchy fields: not a cgroup line
    '', 'garbage', '0::',
  ]) {
    assert.deepEqual(containerOfCgroup(text), none, JSON.stringify(text));
  }
  assert.deepEqual(containerOfCgroup(v2('/default/mybox/init.scope')), { container_id: 'mybox', pod_uid: null }, 'below a ctr container: still it');
  assert.deepEqual(containerOfCgroup(v2('/system.slice/default/mybox')), none, 'a containerd namespace at the top only');
});

test('attributionFields: the three record fields, null without an attribution', () => {
  assert.deepEqual(attributionFields(undefined), { netns_name: null, container_id: null, pod_uid: null });
  assert.deepEqual(attributionFields({ netns: 1, netns_name: 'x', processes: [], process_count: 0, container_id: ID, pod_uid: UID }),
    { netns_name: 'x', container_id: ID, pod_uid: UID });
});

test('parseProcStat: comm with spaces and parentheses, the kernel-thread flag', () => {
  assert.deepEqual(parseProcStat('1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0'), { comm: 'my (odd) name', kernelThread: false });
  assert.deepEqual(parseProcStat('2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0'), { comm: 'kthreadd', kernelThread: true });
  assert.equal(parseProcStat('nonsense'), undefined);
});

// ---- a stand-in /proc ----------------------------------------------------------------------------------------------

interface FakeProc { pid: number; comm: string; ns: string; cgroup: string; kthread?: boolean }

function fakeProc(procs: FakeProc[], named: Record<string, string> = {}): { proc: string; run: string; ino: Record<string, number> } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wl-attr-'));
  const proc = path.join(root, 'proc');
  const run = path.join(root, 'run');
  fs.mkdirSync(proc);
  fs.mkdirSync(run);
  const ino: Record<string, number> = {};
  const nsFile = (ns: string): string => {
    const f = path.join(root, `ns-${ns}`);
    if (!fs.existsSync(f)) fs.writeFileSync(f, '');
    ino[ns] = fs.statSync(f).ino;
    return f;
  };
  for (const p of procs) {
    const d = path.join(proc, String(p.pid));
    fs.mkdirSync(path.join(d, 'ns'), { recursive: true });
    fs.linkSync(nsFile(p.ns), path.join(d, 'ns', 'net'));
    const flags = p.kthread ? 0x00208040 : 0x00400100;
    fs.writeFileSync(path.join(d, 'stat'), `${p.pid} (${p.comm}) S 1 ${p.pid} ${p.pid} 0 -1 ${flags} 0 0 0 0 1 2 3\n`);
    fs.writeFileSync(path.join(d, 'cgroup'), p.cgroup);
  }
  for (const [name, ns] of Object.entries(named)) fs.linkSync(nsFile(ns), path.join(run, name));
  fs.mkdirSync(path.join(proc, 'self')); // not a pid
  return { proc, run, ino };
}

test('netns → name, processes sorted and capped, the most common container (ties: lowest pid), kernel threads skipped', () => {
  const pod = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`;
  const procs: FakeProc[] = [
    { pid: 1, comm: 'systemd', ns: 'host', cgroup: v2('/init.scope') },
    { pid: 2, comm: 'kthreadd', ns: 'host', cgroup: v2('/'), kthread: true },
    { pid: 50, comm: 'dockerd', ns: 'host', cgroup: v2('/system.slice/docker.service') },
    { pid: 300, comm: 'pause', ns: 'pod', cgroup: v2(`${pod}/cri-containerd-${ID2}.scope`) },
    { pid: 310, comm: 'nginx', ns: 'pod', cgroup: v2(`${pod}/cri-containerd-${ID}.scope`) },
    { pid: 311, comm: 'nginx', ns: 'pod', cgroup: v2(`${pod}/cri-containerd-${ID}.scope`) },
    { pid: 400, comm: 'sleep', ns: 'tie', cgroup: v2(`/system.slice/docker-${ID}.scope`) },
    { pid: 390, comm: 'sh', ns: 'tie', cgroup: v2(`/system.slice/docker-${ID2}.scope`) },
  ];
  for (let i = 0; i < 20; i++) procs.push({ pid: 1000 + i, comm: `w${i}`, ns: 'many', cgroup: v1(`/docker/${ID}`) });
  const { proc, run, ino } = fakeProc(procs, { web: 'pod', empty: 'idle' });
  const a = new NetnsAttribution({ procDir: proc, runDir: run });
  const st = a.refresh();
  assert.equal(st.pids, procs.length);
  assert.equal(st.namespaces, 4);
  assert.equal(st.unreadable, 0);

  assert.deepEqual(a.lookup(ino.pod!), {
    netns: ino.pod, netns_name: 'web',
    processes: [{ pid: 300, comm: 'pause' }, { pid: 310, comm: 'nginx' }, { pid: 311, comm: 'nginx' }], process_count: 3,
    container_id: ID, pod_uid: UID,
  });
  const host = a.lookup(ino.host!)!;
  assert.deepEqual(host.processes, [{ pid: 1, comm: 'systemd' }, { pid: 50, comm: 'dockerd' }], 'kthreadd skipped');
  assert.equal(host.container_id, null);
  assert.equal(host.netns_name, null);
  assert.equal(a.stats().kernelThreads, 1);

  const tie = a.lookup(ino.tie!)!;
  assert.equal(tie.container_id, ID2, 'one process each: the lowest pid decides');
  assert.deepEqual(tie.processes.map((p) => p.pid), [390, 400]);

  const many = a.lookup(ino.many!)!;
  assert.equal(many.processes.length, 16);
  assert.equal(many.process_count, 20);
  assert.equal(many.processes[0]!.pid, 1000);
  assert.equal(many.container_id, ID);

  assert.deepEqual(a.lookup(ino.idle!), { netns: ino.idle, netns_name: 'empty', processes: [], process_count: 0, container_id: null, pod_uid: null },
    'a named namespace with no process in it');
  assert.equal(a.lookup(123456789), undefined);
});

test('refresh sees processes come and go; a process gone before the lookup is counted, not thrown', () => {
  const { proc, run, ino } = fakeProc([
    { pid: 10, comm: 'a', ns: 'x', cgroup: v2(`/docker/${ID}`) },
    { pid: 11, comm: 'b', ns: 'x', cgroup: v2(`/docker/${ID}`) },
  ]);
  const a = new NetnsAttribution({ procDir: proc, runDir: run, maxProcesses: 1 });
  assert.equal(a.lookup(ino.x!)?.process_count, 2, 'the first lookup refreshes by itself');
  fs.rmSync(path.join(proc, '10'), { recursive: true });
  assert.equal(a.lookup(ino.x!)?.process_count, 2, 'answers are kept until the next refresh');
  a.refresh();
  fs.rmSync(path.join(proc, '11', 'cgroup'));
  const info = a.lookup(ino.x!)!;
  assert.equal(info.process_count, 0);
  assert.equal(a.stats().vanished, 1);
  fs.writeFileSync(path.join(proc, '11', 'cgroup'), v2(`/docker/${ID}`));
  a.refresh();
  assert.deepEqual(a.lookup(ino.x!)?.processes, [{ pid: 11, comm: 'b' }], 'read again at the next refresh');
});

test('maxExamined bounds the files a lookup reads: the rest are counted, not examined', () => {
  const procs: FakeProc[] = [];
  for (let i = 0; i < 10; i++) procs.push({ pid: 100 + i, comm: `p${i}`, ns: 'h', cgroup: v2(i < 4 ? '/init.scope' : `/docker/${ID}`) });
  const { proc, run, ino } = fakeProc(procs);
  const info = new NetnsAttribution({ procDir: proc, runDir: run, maxExamined: 4, maxProcesses: 2 }).lookup(ino.h!)!;
  assert.equal(info.process_count, 10);
  assert.deepEqual(info.processes, [{ pid: 100, comm: 'p0' }, { pid: 101, comm: 'p1' }]);
  assert.equal(info.container_id, null, 'chosen among the 4 examined, though most of all 10 are in a container');
});

test('no /proc at all: empty, no throw', () => {
  const a = new NetnsAttribution({ procDir: '/nonexistent/proc', runDir: '/nonexistent/run' });
  assert.deepEqual(a.refresh(), { pids: 0, unreadable: 0, vanished: 0, kernelThreads: 0, namespaces: 0 });
  assert.equal(a.lookup(4026531840), undefined);
});

test('the real /proc: this process is found in its own namespace with its comm', () => {
  const a = new NetnsAttribution();
  a.refresh();
  const self = fs.statSync('/proc/self/ns/net').ino;
  const info = a.lookup(self)!;
  assert.ok(info, 'this namespace is known');
  assert.ok(info.process_count >= 1);
  const comm = fs.readFileSync('/proc/self/comm', 'utf8').trim();
  // the list is capped: look for this process only when it fits
  if (info.process_count <= 16) assert.ok(info.processes.some((p) => p.pid === process.pid && p.comm === comm));
});
