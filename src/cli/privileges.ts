/**
 * Least privilege for the agent (docs/privileges.md): started as root, a command starts the sensor (which keeps root
 * and does only the privileged part), opens its outputs, then drops this process to `--user USER` (default: the
 * `wirelog` system user scripts/setup.sh creates, else `nobody`), as tcpdump's `-Z` does. Parsing then never runs
 * as root. Not started as root: there is nothing to drop and nothing is said.
 *
 * Outputs are opened before the drop and stay open (tcpdump -Z does the same). Directories wirelog creates for its
 * outputs are handed to the user, since it writes new files there later (log rotation, SQLite's WAL, the spool);
 * directories that already existed are left as they are, and a warning names any the user cannot write in.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UsageError, type OptionSpec } from './args.js';
import { WirelogError } from '../errors.js';

/** The system user scripts/setup.sh creates; `nobody` stands in when it is missing. */
export const DEFAULT_RUN_USER = 'wirelog';
export const FALLBACK_RUN_USER = 'nobody';

export const USER_OPTION: OptionSpec = {
  name: 'user', value: true, valueName: 'USER',
  help: `started as root: run as USER once the sensor is started and the outputs are open\n(default ${DEFAULT_RUN_USER}, or ${FALLBACK_RUN_USER} when that user is missing); root keeps root (with a warning)`,
};

export interface RunUser {
  name: string;
  uid: number;
  gid: number;
}

/** What a command does about privileges. */
export type PrivilegePlan =
  /** not root at start: nothing to drop */
  | { action: 'none' }
  /** root, and --user root: keep root (warned) */
  | { action: 'keep'; user: RunUser }
  /** root: drop to this user after the privileged part */
  | { action: 'drop'; user: RunUser };

/** A passwd entry by name (NSS through getent, else /etc/passwd), or undefined when there is none. */
export function lookupUser(name: string, passwdFile = '/etc/passwd'): RunUser | undefined {
  if (name === '' || /[:\s/]/.test(name)) return undefined;
  let line: string | undefined;
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch (err) {
    // exit 2: no such entry; a missing getent (ENOENT): read the file instead
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    try {
      line = fs.readFileSync(passwdFile, 'utf8').split('\n').find((l) => l.startsWith(name + ':'));
    } catch {
      return undefined;
    }
  }
  const f = line?.split(':');
  if (f === undefined || f.length < 4 || f[0] !== name || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) return undefined;
  return { name, uid: Number(f[2]), gid: Number(f[3]) };
}

/**
 * The plan for `--user` (undefined: the default). An unknown user is a UsageError (exit 2), also when not root, so
 * that a typo shows before the command is run as root.
 */
export function planPrivileges(requested: string | undefined, where = '--user', isRoot = process.getuid?.() === 0): PrivilegePlan {
  let user: RunUser | undefined;
  if (requested !== undefined) {
    user = lookupUser(requested);
    if (user === undefined) throw new UsageError(`${where}: no such user '${requested}'`, where);
  } else if (isRoot) {
    user = lookupUser(DEFAULT_RUN_USER) ?? lookupUser(FALLBACK_RUN_USER);
    if (user === undefined) throw new UsageError(`no user ${DEFAULT_RUN_USER} or ${FALLBACK_RUN_USER} to run as: give --user`, where);
  }
  if (!isRoot || user === undefined) return { action: 'none' };
  return user.uid === 0 ? { action: 'keep', user } : { action: 'drop', user };
}

/** The warning `--user root` gets (one line). */
export const KEEP_ROOT_WARNING = 'wirelog: warning: --user root: the agent keeps root while it parses traffic';

/**
 * The directories that do not exist yet on the way to `dir` (deepest last): what a mkdir -p of it creates, and so
 * what handOver() gives to the user afterwards.
 */
export function missingDirs(dir: string): string[] {
  const out: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    out.unshift(d);
    if (path.dirname(d) === d) break;
  }
  return out;
}

/** dir and its ancestors that lie inside one of the created directories (a store made them below it when it opened). */
export function madeBelow(created: readonly string[], dir: string | undefined): string[] {
  if (dir === undefined) return [];
  const out: string[] = [];
  for (let d = path.resolve(dir); path.dirname(d) !== d; d = path.dirname(d)) {
    if (created.some((c) => d === c || d.startsWith(c + path.sep))) out.unshift(d);
  }
  return out;
}

/** chown the directories wirelog created to the user it drops to (no-op unless dropping). */
export function handOver(plan: PrivilegePlan, created: readonly string[]): void {
  if (plan.action !== 'drop') return;
  for (const d of created) {
    try {
      fs.chownSync(d, plan.user.uid, plan.user.gid);
    } catch {
      /* not created after all (an error said why), or removed meanwhile */
    }
  }
}

/** The user's groups as `id -G` gives them (the group database, NSS included); just gid when that fails. */
function userGroups(name: string, gid: number): number[] {
  try {
    const ids = execFileSync('id', ['-G', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(/\s+/).map(Number);
    if (ids.length > 0 && ids.every((n) => Number.isInteger(n) && n >= 0)) return ids.includes(gid) ? ids : [gid, ...ids];
  } catch {
    /* no id(1): the primary group alone */
  }
  return [gid];
}

/**
 * Drops this process to the plan's user: supplementary groups first (the user's own, from the group database),
 * then the group, then the user (after setuid nothing else could be changed). Throws when any step fails; the
 * caller stops the run rather than parse as root.
 */
export function dropPrivileges(plan: PrivilegePlan): void {
  if (plan.action !== 'drop') return;
  const { name, uid, gid } = plan.user;
  process.setgroups!(userGroups(name, gid));
  process.setgid!(gid);
  process.setuid!(uid);
  if (process.getuid!() !== uid || process.geteuid!() !== uid || process.getegid!() !== gid) {
    throw new WirelogError('WL_ERR_PRIVILEGES', `could not become ${name} (uid ${uid}, gid ${gid})`);
  }
}

/**
 * After the drop: a warning line for each directory the run writes new files in later that the user cannot write
 * in (the nearest existing one, when it is not there yet). Those writes then fail and are reported where they happen.
 */
export function unwritableDirs(plan: PrivilegePlan, dirs: ReadonlyArray<string | undefined>): string[] {
  if (plan.action !== 'drop') return [];
  const out: string[] = [];
  for (const dir of dirs) {
    if (dir === undefined) continue;
    let d = path.resolve(dir);
    while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
    try {
      fs.accessSync(d, fs.constants.W_OK | fs.constants.X_OK);
    } catch {
      if (!out.includes(d)) out.push(d);
    }
  }
  return out.map((d) => `wirelog: warning: user ${plan.user.name} cannot write in ${d}: new files there will fail (chown it to ${plan.user.name}, or use --user)`);
}

/** Where a run's outputs live, for the privilege drop: what wirelog creates and what it writes in after the drop. */
export interface OutputDirs {
  /** the SQLite store's file, when the store is one (its connection is opened before the drop and keeps its files) */
  sqliteStore?: string;
  /** directories new files go to after the drop (the next day's log file, the ClickHouse spool) */
  writtenLater: string[];
  /** the directories that do not exist yet on the way to any output directory: wirelog makes them */
  created: string[];
}

/** The output directories of a run with `-d DIR` (logDir) and `--store` (a SQLite path or a clickhouse:// URL). */
export async function outputDirs(o: { logDir?: string; store?: string; spoolDir?: string }): Promise<OutputDirs> {
  const sqliteStore = o.store !== undefined && !/^clickhouse:/i.test(o.store) ? o.store : undefined;
  const spool = o.store !== undefined && sqliteStore === undefined
    ? (o.spoolDir ?? (await import('../store/clickhouse-writer.js')).DEFAULT_SPOOL_ROOT)
    : undefined;
  const writtenLater = [o.logDir, spool].filter((d): d is string => d !== undefined);
  const created = [...writtenLater, ...(sqliteStore === undefined ? [] : [path.dirname(sqliteStore)])].flatMap(missingDirs);
  return sqliteStore === undefined ? { writtenLater, created } : { sqliteStore, writtenLater, created };
}

/**
 * Once the outputs are open: the directories wirelog made, a ClickHouse store's spool directory made below them
 * when it opened (DIR/DB below the default root), and the SQLite store's files go to the user, who writes them from
 * now on (and owns them for the next run).
 */
export function handOverOutputs(plan: PrivilegePlan, dirs: OutputDirs, spoolDir: string | undefined): void {
  const db = dirs.sqliteStore;
  handOver(plan, [...dirs.created, ...madeBelow(dirs.created, spoolDir), ...(db === undefined ? [] : [db, `${db}-wal`, `${db}-shm`])]);
}

/**
 * The pipelines' `dropPrivileges` callback (undefined unless dropping): drop, then one warning per directory the
 * run writes new files in later that the user cannot write in.
 */
export function dropCallback(plan: PrivilegePlan, dirs: OutputDirs, log: (line: string) => void, verbose = false): (() => void) | undefined {
  if (plan.action !== 'drop') return undefined;
  return () => {
    dropPrivileges(plan);
    if (verbose) log(`wirelog: running as ${plan.user.name} (uid ${plan.user.uid})`);
    for (const l of unwritableDirs(plan, dirs.writtenLater)) log(l);
  };
}
