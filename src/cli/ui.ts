/** `wirelog ui`: the web explorer of a store (docs/explorer.md). */
import { formatOptions, parseArgs, UsageError, type OptionSpec } from './args.js';
import { stderrLine, stdoutText, withStopSignals } from './io.js';
import { DEFAULT_STORE_PATH } from '../store/options.js';

export const UI_OPTIONS: readonly OptionSpec[] = [
  { name: 'store', value: true, valueName: 'PATH', help: `the store to explore (default ${DEFAULT_STORE_PATH}); read-only` },
  { name: 'listen', value: true, valueName: 'HOST:PORT', help: 'where to serve (default 127.0.0.1:7480; port 0: any free port)' },
  { name: 'token', value: true, valueName: 'T', help: 'the access token (default: 32 random hex digits, printed in the address)' },
  { name: 'help', short: 'h', value: false, help: 'this help' },
];

export const UI_USAGE = `Usage: wirelog ui [options]

Serve the explorer of a store written by \`wirelog capture --store\`: the L7 list with the filter language, each
request with its hops, related records and packet ladders, and the request topology. The address, with its
token, is printed on stderr:
  wirelog ui --store /var/lib/wirelog/wirelog.db
  wirelog: explorer at http://127.0.0.1:7480/?token=…

Options:
${formatOptions(UI_OPTIONS)}
`;

export const DEFAULT_LISTEN = '127.0.0.1:7480';

/** `HOST:PORT`, `[V6]:PORT` or `:PORT` (loopback) → host and port. */
export function parseListen(v: string, as = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(v.trim());
  if (m === null) throw new UsageError(`${as}: not HOST:PORT: '${v}'`, as);
  const port = Number(m[3]);
  if (port > 65535) throw new UsageError(`${as}: port out of range: '${v}'`, as);
  const host = m[1] ?? (m[2] === '' ? '127.0.0.1' : m[2]!);
  return { host, port };
}

export async function uiCommand(argv: readonly string[]): Promise<number> {
  let store = DEFAULT_STORE_PATH;
  let listen = parseListen(DEFAULT_LISTEN);
  let token: string | undefined;
  try {
    const { flags, positionals } = parseArgs(argv, UI_OPTIONS);
    if (flags.has('help')) {
      stdoutText(UI_USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (the store goes after --store)`);
    const last = (k: string): { v: string; as: string } | undefined => {
      const f = flags.get(k);
      return f === undefined ? undefined : { v: f.values[f.values.length - 1]!, as: f.as };
    };
    store = last('store')?.v || DEFAULT_STORE_PATH;
    const l = last('listen');
    if (l !== undefined) listen = parseListen(l.v, l.as);
    const t = last('token');
    if (t !== undefined) {
      // it goes in a cookie and a URL: keep it to characters that need no escaping
      if (!/^[A-Za-z0-9._~-]{8,128}$/.test(t.v)) throw new UsageError(`${t.as}: want 8 to 128 letters, digits or . _ ~ -`, t.as);
      token = t.v;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      stderrLine(`wirelog: error: ${err.message}`);
      stderrLine(`Try 'wirelog ui --help'.`);
      return 2;
    }
    throw err;
  }

  const ui = await import('../pipelines/ui.js');
  const { newToken } = await import('../explorer/auth.js');
  const { WebDirError } = await import('../explorer/static.js');
  if (!ui.isLoopback(listen.host)) {
    stderrLine(`wirelog: warning: serving on ${listen.host}, not loopback: anyone who can reach it and has the token can read the store`);
  }
  const tok = token ?? newToken();
  let server;
  try {
    server = await ui.startUi({ store, host: listen.host, port: listen.port, token: tok, log: stderrLine });
  } catch (err) {
    if (err instanceof ui.UiStoreError || err instanceof WebDirError) {
      stderrLine(`wirelog: error: ${err.message}`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES') {
      stderrLine(`wirelog: error: --listen ${listen.host}:${listen.port}: ${e.code === 'EADDRINUSE' ? 'address in use' : e.code === 'EACCES' ? 'permission denied' : 'address not available'}`);
      return 1;
    }
    throw err;
  }
  stderrLine(`wirelog: explorer at ${server.url}?token=${tok}`);
  await withStopSignals((signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })));
  await server.close();
  return 0;
}
