/**
 * Network namespaces by name, path or inode, as `--netns NAME|PATH|INODE` takes them, and inode → name for the
 * records' `netns_name`. A namespace's identity is the inode of its nsfs file (what the kernel reports as
 * `net->ns.inum`); names are the bind mounts `ip netns add` makes under /run/netns. Reading the directory needs no
 * privileges.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WirelogError } from '../errors.js';

/** Where `ip netns` keeps its named namespaces. */
export const NETNS_RUN_DIR = '/run/netns';

export class NetnsError extends WirelogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WL_ERR_NETNS', message, options);
  }
}

export interface NetnsRef {
  inode: number;
  /** the `ip netns` name, when it has one */
  name?: string;
}

/** The inode of the namespace a file or /proc/PID/ns/net link stands for. */
function inodeOf(p: string): number {
  return fs.statSync(p).ino;
}

/** This process's network namespace. */
export function currentNetns(): number {
  return inodeOf('/proc/self/ns/net');
}

/**
 * One `--netns` value: a decimal inode, a path (absolute, or starting with `.`: an nsfs file or /proc/PID/ns/net), or
 * an `ip netns` name. Throws NetnsError naming the value when it is none of those.
 */
export function resolveNetns(spec: string, runDir: string = NETNS_RUN_DIR): NetnsRef {
  if (/^[0-9]+$/.test(spec)) {
    const inode = Number(spec);
    if (!Number.isSafeInteger(inode) || inode <= 0) throw new NetnsError(`--netns ${spec}: not a namespace inode`);
    const name = new NetnsNames(runDir).name(inode);
    return name === undefined ? { inode } : { inode, name };
  }
  if (spec.startsWith('/') || spec.startsWith('.')) {
    try {
      const inode = inodeOf(spec);
      const name = new NetnsNames(runDir).name(inode);
      return name === undefined ? { inode } : { inode, name };
    } catch (err) {
      throw new NetnsError(`--netns ${spec}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
  }
  if (spec.includes('/') || spec === '' || spec === '.' || spec === '..') throw new NetnsError(`--netns ${spec}: not a namespace name`);
  try {
    return { inode: inodeOf(path.join(runDir, spec)), name: spec };
  } catch {
    throw new NetnsError(`--netns ${spec}: no such network namespace (not in ${runDir}; see 'ip netns list')`);
  }
}

/**
 * inode → `ip netns` name. The directory is read again when an inode is asked for that it does not know (a
 * namespace created since), at most once per `rescanMs` so that a busy capture does not list it per packet, and at
 * least once per `maxAgeMs` while names are asked for (a namespace removed since, whose inode may be reused).
 */
export class NetnsNames {
  private byInode = new Map<number, string>();
  private scannedAt = -Infinity;

  constructor(
    private readonly runDir: string = NETNS_RUN_DIR,
    private readonly rescanMs = 1000,
    private readonly now: () => number = Date.now,
    private readonly maxAgeMs = 10 * rescanMs,
  ) {}

  name(inode: number): string | undefined {
    const age = this.now() - this.scannedAt;
    const known = this.byInode.get(inode);
    if (known !== undefined && age < this.maxAgeMs) return known;
    if (known === undefined && age < this.rescanMs) return undefined;
    this.scan();
    return this.byInode.get(inode);
  }

  private scan(): void {
    this.scannedAt = this.now();
    const next = new Map<number, string>();
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(this.runDir);
    } catch {
      /* no named namespaces on this host */
    }
    for (const e of entries.sort()) {
      try {
        const ino = inodeOf(path.join(this.runDir, e));
        if (!next.has(ino)) next.set(ino, e); // two names for one namespace: the first in name order
      } catch {
        /* removed meanwhile, or not a namespace file */
      }
    }
    this.byInode = next;
  }
}

/**
 * A path the sensor can enter for one `--netns` value (resolveNetns's rules): /run/netns/NAME for a named namespace,
 * the path given, or, for an inode, a /run/netns entry or a /proc/PID/ns/net link of a process inside it.
 */
export function netnsPath(spec: string, runDir: string = NETNS_RUN_DIR, procDir = '/proc'): NetnsRef & { path: string } {
  const ref = resolveNetns(spec, runDir);
  if (ref.name !== undefined) return { ...ref, path: path.join(runDir, ref.name) };
  if (!/^[0-9]+$/.test(spec)) return { ...ref, path: spec };
  for (const pid of fs.readdirSync(procDir)) {
    if (!/^[0-9]+$/.test(pid)) continue;
    const p = path.join(procDir, pid, 'ns', 'net');
    try {
      if (inodeOf(p) === ref.inode) return { ...ref, path: p };
    } catch {
      /* exited, or not ours to read */
    }
  }
  throw new NetnsError(`--netns ${spec}: no namespace with that inode has a name or a process`);
}
