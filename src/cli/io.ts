/** The terminal side of every command: whole lines to stderr/stdout, and stopping on SIGINT/SIGTERM/SIGHUP. */
import { writeFully } from '../sinks/log-writer.js';

/** A line on stderr, written synchronously so it is there even if the process exits right after. */
export function stderrLine(line: string): void {
  try {
    writeFully(2, Buffer.from(line + '\n'));
  } catch {
    /* stderr is gone: nothing else to tell */
  }
}

export function stdoutText(text: string): void {
  try {
    writeFully(1, Buffer.from(text));
  } catch {
    /* EPIPE: nobody is reading */
  }
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Run `fn` with SIGINT, SIGTERM and SIGHUP turned into an abort of the signal it is given (the run drains and writes
 * everything, instead of the process dying at once); the handlers are removed when `fn` settles.
 */
export async function withStopSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    return await fn(ac.signal);
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
}
