/**
 * Spawn / wait / collect helpers for integration tests and benchmarks.
 * Every process started through a Scope is killed (SIGKILL to its process group) when the scope closes,
 * so a failing test never leaves nginx, tcpdump or a sensor behind.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunResult extends ExitInfo {
  stdout: string;
  stderr: string;
  /** true when the process was killed because it ran past its timeout */
  timedOut: boolean;
}

export interface SpawnedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** run inside this network namespace (`ip netns exec NS ...`) */
  netns?: string;
  /** keep stdout as Buffer chunks too (binary output) */
  binary?: boolean;
  /** data written to stdin, then stdin is closed; 'pipe': stdin left open (child.stdin); default: stdin closed at once */
  stdin?: string | Buffer | 'pipe' | 'ignore';
  /** where stdout goes: collected (default) or a file descriptor (e.g. opened /dev/null or a log file) */
  stdoutFd?: number;
}

/** Wrap a command so it runs inside a network namespace. */
export function inNetns(netns: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
}

/** A started process with collected output and line waiting. */
export class Spawned {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  private out: string[] = [];
  private err: string[] = [];
  private outBufs: Buffer[] = [];
  /** a UTF-8 character split across two reads is decoded whole */
  private readonly outDec = new StringDecoder('utf8');
  private readonly errDec = new StringDecoder('utf8');
  private listeners: Array<() => void> = [];
  exitInfo: ExitInfo | undefined;

  constructor(readonly cmd: string, readonly args: string[], opts: SpawnedOptions = {}) {
    const [c, a] = inNetns(opts.netns, cmd, args);
    const stdinMode = opts.stdin === undefined || opts.stdin === 'ignore' ? 'ignore' : 'pipe';
    const spawnOpts: SpawnOptions = {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      // own process group: cleanup kills the whole tree (ip netns exec → nginx master → workers)
      detached: true,
      stdio: [stdinMode, opts.stdoutFd ?? 'pipe', 'pipe'],
    };
    this.child = spawn(c, a, spawnOpts);
    this.child.stdout?.on('data', (d: Buffer) => {
      if (opts.binary) this.outBufs.push(d);
      else this.out.push(this.outDec.write(d));
      this.notify();
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.err.push(this.errDec.write(d));
      this.notify();
    });
    // 'pipe' keeps stdin open for the caller; any other string or Buffer is data to write before closing it
    if (Buffer.isBuffer(opts.stdin) || (typeof opts.stdin === 'string' && opts.stdin !== 'pipe')) {
      this.child.stdin?.end(opts.stdin);
    }
    this.exited = new Promise<ExitInfo>((resolve) => {
      let spawnError: Error | undefined;
      this.child.on('error', (e) => {
        spawnError = e;
        this.err.push(`spawn error: ${e.message}\n`);
        this.exitInfo = { code: -1, signal: null };
        this.notify();
        resolve(this.exitInfo);
      });
      // 'close' waits for the stdio streams to end: all output is collected when it resolves
      this.child.on('close', (code, signal) => {
        if (spawnError) return;
        this.out.push(this.outDec.end());
        this.err.push(this.errDec.end());
        this.exitInfo = { code, signal };
        this.notify();
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get stdout(): string {
    if (this.outBufs.length) return Buffer.concat(this.outBufs).toString('utf8');
    return this.out.join('');
  }
  get stdoutBuffer(): Buffer {
    return Buffer.concat(this.outBufs.length ? this.outBufs : this.out.map((s) => Buffer.from(s)));
  }
  get stderr(): string {
    return this.err.join('');
  }
  get running(): boolean {
    return this.exitInfo === undefined;
  }

  private notify(): void {
    for (const l of this.listeners.slice()) l();
  }

  /**
   * Resolve with the first line of stream matching `re`; reject on timeout or when the process exits first.
   * Lines already printed count.
   */
  waitForLine(stream: 'stdout' | 'stderr', re: RegExp, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const text = stream === 'stdout' ? this.stdout : this.stderr;
        for (const line of text.split('\n')) if (re.test(line)) {
          done();
          resolve(line);
          return true;
        }
        if (this.exitInfo) {
          done();
          reject(new Error(`${this.describe()} exited (${fmtExit(this.exitInfo)}) before printing ${re} on ${stream}; ` +
            `stderr: ${this.stderr.slice(-2000)}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} on ${stream} of ${this.describe()}; ` +
          `stderr so far: ${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      const listener = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
      };
      this.listeners.push(listener);
      check();
    });
  }

  /** Send a signal to the process itself (not its group): lets it shut down on its own terms. */
  signal(sig: NodeJS.Signals): void {
    if (this.running && this.child.pid !== undefined) {
      try { process.kill(this.child.pid, sig); } catch { /* already gone */ }
    }
  }

  /** Signal, then wait up to timeoutMs for exit; SIGKILL the process group after that. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitInfo> {
    if (!this.running) return this.exitInfo!;
    this.signal(sig);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const t = await Promise.race([this.exited, new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), timeoutMs); })]);
    clearTimeout(timer);
    if (t) return t;
    this.killGroup();
    return this.exited;
  }

  /** SIGKILL the whole process group (cleanup path). */
  killGroup(): void {
    if (this.child.pid === undefined) return;
    try { process.kill(-this.child.pid, 'SIGKILL'); } catch { /* gone */ }
  }

  describe(): string {
    return [this.cmd, ...this.args].join(' ').slice(0, 300);
  }
}

export function fmtExit(e: ExitInfo): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Run a command to completion with a timeout; never throws for a non-zero exit. */
export async function run(cmd: string, args: string[], opts: SpawnedOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const p = new Spawned(cmd, args, opts);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    p.killGroup();
  }, opts.timeoutMs ?? 60_000);
  const e = await p.exited;
  clearTimeout(timer);
  return { ...e, stdout: p.stdout, stderr: p.stderr, timedOut };
}

/** Run a command and throw with its stderr unless it exits 0. */
export async function runOk(cmd: string, args: string[], opts: SpawnedOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${[cmd, ...args].join(' ')} failed (${r.timedOut ? 'timed out' : fmtExit(r)}): ${r.stderr.slice(-2000)}`);
  }
  return r;
}

/**
 * A cleanup scope: processes, temp dirs and arbitrary undo actions, released in reverse order.
 * Use one per test file: `const scope = new Scope(); after(() => scope.close());`
 */
export class Scope {
  private undo: Array<{ what: string; fn: () => Promise<void> | void }> = [];
  private procs = new Set<Spawned>();

  spawn(cmd: string, args: string[], opts: SpawnedOptions = {}): Spawned {
    const p = new Spawned(cmd, args, opts);
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  defer(what: string, fn: () => Promise<void> | void): void {
    this.undo.push({ what, fn });
  }

  async tempDir(prefix = 'wirelog-test-'): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), prefix));
    // open to the user a command started as root drops to (docs/privileges.md), like /tmp; mkdtemp makes it 0700
    await chmod(dir, 0o1777);
    this.defer(`rm ${dir}`, () => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  /** Stop everything: still-running processes first (SIGTERM, then SIGKILL to the group), then undo actions. */
  async close(): Promise<void> {
    const errors: string[] = [];
    await Promise.all([...this.procs].map(async (p) => {
      await p.stop('SIGTERM', 3000);
      p.killGroup();
    }));
    for (const u of this.undo.reverse()) {
      try { await u.fn(); } catch (e) { errors.push(`${u.what}: ${(e as Error).message}`); }
    }
    this.undo = [];
    if (errors.length) console.error(`cleanup problems:\n  ${errors.join('\n  ')}`);
  }
}

/** Poll `fn` until it returns a truthy value or the timeout passes. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
