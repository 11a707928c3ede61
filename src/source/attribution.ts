/**
 * Who is behind a network namespace: its `ip netns` name, the processes in it, and the container and Kubernetes pod
 * those processes belong to (from their cgroup paths). Everything comes from files: /run/netns (names, via
 * NetnsNames), /proc/PID/ns/net (which namespace a process is in), /proc/PID/stat (its comm, and whether it is a
 * kernel thread) and /proc/PID/cgroup (its cgroups, one line per hierarchy).
 *
 * Privileges: reading /proc needs none, but the kernel lets a process follow another process's /proc/PID/ns/net
 * only with ptrace read access to it (same user and not dumpable-protected, or CAP_SYS_PTRACE): run unprivileged, a
 * scan sees its own user's processes and counts the others as `unreadable`. Nothing here throws for a process it
 * cannot read or that exits while it is being read; those are counted and skipped.
 *
 * Cost: `refresh()` lists /proc and stats one link per process (no file is read); the stat and cgroup files of a
 * namespace's processes (at most `maxExamined` of them) are read on the first `lookup()` of that namespace after a
 * refresh, and the answer is kept until the next refresh: `refresh()` once a second and `lookup()` per record is
 * affordable. All of it is synchronous; docs/attribution.md has measured times.
 */
import fs from 'node:fs';
import path from 'node:path';
import { NETNS_RUN_DIR, NetnsNames } from './netns.js';

export interface NetnsProcess {
  pid: number;
  comm: string;
}

export interface NetnsInfo {
  /** the namespace's inode (`net->ns.inum`) */
  netns: number;
  /** its `ip netns` name, when it has one */
  netns_name: string | null;
  /** user-space processes in it, sorted by pid, at most `maxProcesses` of them */
  processes: NetnsProcess[];
  /**
   * how many processes are in it (processes.length is capped, this is not): the user-space ones among those examined
   * plus, past `maxExamined`, the rest unexamined
   */
  process_count: number;
  /** the container most of its processes are in (ties: the one with the lowest pid), or null */
  container_id: string | null;
  /** the Kubernetes pod uid of that same choice (with dashes), or null */
  pod_uid: string | null;
}

export interface ContainerRef {
  container_id: string | null;
  pod_uid: string | null;
}

export interface AttributionStats {
  /** processes listed under /proc at the last refresh */
  pids: number;
  /** of those, how many had a namespace link this process may not follow (EACCES: needs privileges) */
  unreadable: number;
  /** processes gone while being read (at refresh or at a lookup since) */
  vanished: number;
  /** kernel threads skipped (found at lookups since the last refresh) */
  kernelThreads: number;
  /** distinct namespaces found at the last refresh */
  namespaces: number;
}

export interface AttributionOptions {
  /** where proc is mounted; default /proc */
  procDir?: string;
  /** where `ip netns` keeps names; default /run/netns */
  runDir?: string;
  /** the most processes listed per namespace; default 16 */
  maxProcesses?: number;
  /**
   * the most processes whose files a lookup reads (the lowest pids); the container is chosen among those, the others
   * are only counted. Default 512: bounds a lookup of the host's namespace on a busy machine.
   */
  maxExamined?: number;
}

/** The fields a record takes from an attribution; all null when there is none. */
export function attributionFields(info: NetnsInfo | undefined): { netns_name: string | null; container_id: string | null; pod_uid: string | null } {
  return {
    netns_name: info?.netns_name ?? null,
    container_id: info?.container_id ?? null,
    pod_uid: info?.pod_uid ?? null,
  };
}

// ---- cgroup paths -------------------------------------------------------------------------------------------------

const HEX64 = /^[0-9a-f]{64}$/;
/**
 * A systemd scope a runtime makes per container: docker (and cri-dockerd), containerd's CRI plugin, CRI-O, podman,
 * nerdctl. `crio-conmon-…`/`libpod-conmon-…` (the monitor process beside a container) do not match: the prefix must
 * be followed directly by the 64-hex id.
 */
const SCOPE = /^(?:docker|cri-containerd|crio|libpod|nerdctl|containerd)-([0-9a-f]{64})\.scope$/;
/** The same without `.scope`, as the cgroupfs drivers name them: `…/pod<uid>/crio-<id>`, `/libpod_parent/libpod-<id>`. */
const PREFIXED = /^(?:crio|libpod)-([0-9a-f]{64})$/;
/**
 * containerd's own default (`ctr run`, no cgroup given): `/<containerd namespace>/<id>` at the top, where the id is
 * any identifier up to 76 characters, not necessarily 64-hex.
 */
const ID_PARENTS = new Set(['default', 'k8s.io', 'containerd']);
const LOOSE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/;
const UNIT_SUFFIX = /\.(?:scope|slice|service|mount|socket)$/;
/** A pod uid: a UUID, or the 32-hex hash the kubelet gives static pods. */
const UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}';
/** cgroupfs driver: `/kubepods[/burstable|/besteffort]/pod<uid>/…` */
const POD_CGROUPFS = new RegExp(`^pod(${UID})$`);
/** systemd driver: `kubepods-burstable-pod<uid_with_underscores>.slice` (kind: `kubelet-kubepods-…-pod….slice`) */
const POD_SYSTEMD = new RegExp(`^(?:[A-Za-z0-9_.]+-)*kubepods(?:-[a-z]+)*-pod(${UID})\\.slice$`);

/** Container and pod of one cgroup path (one line's path), the innermost match winning. */
function containerOfPath(p: string): ContainerRef {
  const segs = p.replace(/ \(deleted\)$/, '').split('/').filter((s) => s !== '' && s !== '.' && s !== '..');
  let container: string | null = null;
  let containerAt = -1;
  for (let i = segs.length - 1; i >= 0 && container === null; i--) {
    const s = segs[i]!;
    const m = SCOPE.exec(s) ?? PREFIXED.exec(s);
    if (m) container = m[1]!;
    else if (HEX64.test(s)) container = s;
    else if (i === 1 && ID_PARENTS.has(segs[0]!) && LOOSE_ID.test(s) && !UNIT_SUFFIX.test(s)) container = s;
    if (container !== null) containerAt = i;
  }
  let pod: string | null = null;
  const kube = segs.findIndex((s) => s.includes('kubepods'));
  if (kube >= 0) {
    // the pod directory nearest the container (or the leaf, when there is no container)
    const from = containerAt >= 0 ? containerAt - 1 : segs.length - 1;
    for (let i = from; i >= kube && pod === null; i--) {
      const m = POD_CGROUPFS.exec(segs[i]!) ?? POD_SYSTEMD.exec(segs[i]!);
      if (m) pod = m[1]!.replace(/_/g, '-');
    }
  }
  return { container_id: container, pod_uid: pod };
}

/**
 * The container and pod a /proc/PID/cgroup file names. Each line is `hierarchy-id:controllers:path` (cgroup v1: one
 * line per hierarchy; v2: the single `0::/path`); the first line naming a container decides, else the first naming a
 * pod. Recognised: docker (`/docker/<id>`, `/system.slice/docker-<id>.scope`), containerd (`cri-containerd-<id>.scope`,
 * `/<namespace>/<id>` as ctr makes it), CRI-O (`crio-<id>.scope`, not `crio-conmon-<id>.scope`), podman
 * (`libpod-<id>.scope`, `/libpod_parent/libpod-<id>`), a bare 64-hex directory anywhere (ECS, older docker), and Kubernetes pods
 * with the cgroupfs driver (`/kubepods/burstable/pod<uid>/<id>`) or the systemd driver
 * (`kubepods-burstable-pod<uid_with_underscores>.slice`, returned with dashes).
 */
export function containerOfCgroup(cgroupFileText: string): ContainerRef {
  let podOnly: string | null = null;
  for (const raw of cgroupFileText.split('\n')) {
    const line = raw.trim();
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) continue;
    const ref = containerOfPath(line.slice(b + 1));
    if (ref.container_id !== null) return ref;
    if (podOnly === null && ref.pod_uid !== null) podOnly = ref.pod_uid;
  }
  return { container_id: null, pod_uid: podOnly };
}

// ---- /proc ---------------------------------------------------------------------------------------------------------

const readBuf = Buffer.allocUnsafe(64 * 1024);

/** A /proc file's text: open, read until the end, close (readFileSync also fstats; proc files report size 0). */
function readProcFile(p: string): string {
  const fd = fs.openSync(p, 'r');
  try {
    let n = 0;
    for (;;) {
      const got = fs.readSync(fd, readBuf, n, readBuf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n === readBuf.length) break; // 64 KiB of cgroup lines: enough to find a container
    }
    return readBuf.toString('utf8', 0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/** PF_KTHREAD in /proc/PID/stat's flags field. */
const PF_KTHREAD = 0x00200000;

interface StatInfo {
  comm: string;
  kernelThread: boolean;
}

/** comm and the kernel-thread flag from /proc/PID/stat text (`pid (comm) state ppid pgrp session tty tpgid flags …`). */
export function parseProcStat(text: string): StatInfo | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  const flags = Number(rest[6]);
  return { comm: text.slice(open + 1, close), kernelThread: Number.isFinite(flags) && (flags & PF_KTHREAD) !== 0 };
}

/**
 * netns inode → name, processes, container, pod. `refresh()` rescans /proc (and forgets the names, read again at the
 * next lookup); `lookup()` answers from the last refresh, reading the namespace's processes' files the first time.
 */
export class NetnsAttribution {
  private readonly procDir: string;
  private readonly runDir: string;
  private readonly maxProcesses: number;
  private readonly maxExamined: number;
  private pidsByNetns = new Map<number, number[]>();
  private cache = new Map<number, NetnsInfo>();
  private names: NetnsNames;
  private refreshed = false;
  private counters: AttributionStats = { pids: 0, unreadable: 0, vanished: 0, kernelThreads: 0, namespaces: 0 };

  constructor(opts: AttributionOptions = {}) {
    this.procDir = opts.procDir ?? '/proc';
    this.runDir = opts.runDir ?? NETNS_RUN_DIR;
    this.maxProcesses = opts.maxProcesses ?? 16;
    this.maxExamined = opts.maxExamined ?? 512;
    this.names = this.freshNames();
  }

  /** Rescan: which namespace every process is in. Never throws; returns what it saw. */
  refresh(): AttributionStats {
    const byNetns = new Map<number, number[]>();
    const c: AttributionStats = { pids: 0, unreadable: 0, vanished: 0, kernelThreads: 0, namespaces: 0 };
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(this.procDir);
    } catch {
      /* no proc here: nothing is known */
    }
    for (const e of entries) {
      if (!/^[0-9]+$/.test(e)) continue;
      c.pids++;
      const pid = Number(e);
      const ino = this.netnsOf(pid, c);
      if (ino === undefined) continue;
      let list = byNetns.get(ino);
      if (!list) byNetns.set(ino, (list = []));
      list.push(pid);
    }
    for (const list of byNetns.values()) list.sort((x, y) => x - y);
    c.namespaces = byNetns.size;
    this.pidsByNetns = byNetns;
    this.cache = new Map();
    this.names = this.freshNames();
    this.counters = c;
    this.refreshed = true;
    return { ...c };
  }

  /** What is known of a namespace, or undefined when no process is in it and it has no name. */
  lookup(netnsIno: number): NetnsInfo | undefined {
    if (!this.refreshed) this.refresh();
    const cached = this.cache.get(netnsIno);
    if (cached) return cached;
    const pids = this.pidsByNetns.get(netnsIno);
    const name = this.names.name(netnsIno) ?? null;
    if (!pids && name === null) return undefined;
    const info = this.build(netnsIno, name, pids ?? []);
    this.cache.set(netnsIno, info);
    return info;
  }

  /** Has a refresh run (a lookup needed one)? */
  get scanned(): boolean {
    return this.refreshed;
  }

  /** Counters of the last refresh and the lookups since. */
  stats(): AttributionStats {
    return { ...this.counters };
  }

  private freshNames(): NetnsNames {
    // one listing of the run directory per refresh, made at the first lookup that needs a name
    return new NetnsNames(this.runDir, Infinity, Date.now, Infinity);
  }

  private netnsOf(pid: number, c: AttributionStats): number | undefined {
    try {
      return fs.statSync(path.join(this.procDir, String(pid), 'ns', 'net')).ino;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') c.unreadable++;
      else c.vanished++;
      return undefined;
    }
  }

  private build(netns: number, name: string | null, pids: number[]): NetnsInfo {
    const procs: NetnsProcess[] = [];
    const votes = new Map<string, { ref: ContainerRef; count: number; lowest: number }>();
    const examined = pids.slice(0, this.maxExamined);
    for (const pid of examined) {
      const dir = path.join(this.procDir, String(pid));
      let stat: StatInfo | undefined;
      let cgroup = '';
      try {
        // a pid reused since the refresh by a process in another namespace is not checked for: that needs the pid
        // space to wrap around between a refresh and a lookup
        stat = parseProcStat(readProcFile(path.join(dir, 'stat')));
        cgroup = readProcFile(path.join(dir, 'cgroup'));
      } catch {
        this.counters.vanished++;
        continue;
      }
      if (!stat) continue;
      if (stat.kernelThread) {
        this.counters.kernelThreads++;
        continue;
      }
      procs.push({ pid, comm: stat.comm });
      const ref = containerOfCgroup(cgroup);
      const key = `${ref.container_id ?? ''}\0${ref.pod_uid ?? ''}`;
      const v = votes.get(key);
      if (v) v.count++;
      else votes.set(key, { ref, count: 1, lowest: pid }); // pids come sorted: the first is the lowest
    }
    let best: { ref: ContainerRef; count: number; lowest: number } | undefined;
    for (const v of votes.values()) {
      if (!best || v.count > best.count || (v.count === best.count && v.lowest < best.lowest)) best = v;
    }
    return {
      netns,
      netns_name: name,
      processes: procs.slice(0, this.maxProcesses),
      process_count: procs.length + (pids.length - examined.length),
      container_id: best?.ref.container_id ?? null,
      pod_uid: best?.ref.pod_uid ?? null,
    };
  }
}
