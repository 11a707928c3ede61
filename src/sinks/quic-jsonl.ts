/**
 * `wirelog quic` output: one JSON object per line, h2olog's shape (`time`, `type`, `conn` first, then the event's
 * fields), to stdout or to a file (-w). `-t TYPE` keeps some event types; h2olog's `quicly:` prefix is accepted.
 * Lines are gathered into ~64 KiB synchronous writes; a closed stdout (EPIPE) ends output quietly.
 */
import fs from 'node:fs';
import { QUIC_EVENT_TYPES, type QuicEvent } from '../pipelines/quic.js';
import { WirelogError } from '../errors.js';

/** h2olog names its probes `quicly:accept`; ours are the part after the colon. */
const H2OLOG_PREFIX = /^(quicly|h2o|wirelog):/;

export class QuicTypeError extends WirelogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WL_ERR_QUIC_TYPE', message, options);
  }
}

/** `-t` values → the set of event types kept (undefined: all). Unknown names are a usage error listing the known ones. */
export function eventTypeSet(values: readonly string[]): Set<string> | undefined {
  if (values.length === 0) return undefined;
  const kept = new Set<string>();
  for (const raw of values) {
    for (const part of raw.split(',')) {
      const t = part.trim().replace(H2OLOG_PREFIX, '');
      if (!QUIC_EVENT_TYPES.includes(t)) {
        throw new QuicTypeError(`unknown event type '${part.trim()}' (known: ${QUIC_EVENT_TYPES.join(', ')})`);
      }
      kept.add(t);
    }
  }
  return kept;
}

const FLUSH_AT = 64 * 1024;

export class QuicJsonlSink {
  private pending: string[] = [];
  private pendingBytes = 0;
  private readonly fd: number;
  private readonly ownFd: boolean;
  lines = 0;
  /** stdout's reader went away */
  outputClosed = false;
  failure?: string;

  /** `file` undefined: stdout. Opening a file may throw (the CLI reports it before reading anything). */
  constructor(file: string | undefined, private readonly types: Set<string> | undefined) {
    if (file === undefined || file === '-') {
      this.fd = 1;
      this.ownFd = false;
    } else {
      this.fd = fs.openSync(file, 'w');
      this.ownFd = true;
    }
  }

  event(e: QuicEvent): void {
    if (this.types !== undefined && !this.types.has(e.type)) return;
    if (this.outputClosed || this.failure !== undefined) return;
    const line = JSON.stringify(e) + '\n';
    this.pending.push(line);
    this.pendingBytes += line.length;
    this.lines++;
    if (this.pendingBytes >= FLUSH_AT) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const buf = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(this.fd, buf, off, buf.length - off);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EAGAIN') {
          // a non-blocking stdout pipe that is full: wait for the reader (output order matters more than speed)
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
          continue;
        }
        if (e.code === 'EPIPE') this.outputClosed = true;
        else this.failure = e.message;
        return;
      }
    }
  }

  close(): void {
    this.flush();
    if (this.ownFd) {
      try {
        fs.closeSync(this.fd);
      } catch (err) {
        this.failure ??= (err as Error).message;
      }
    }
  }
}
