#!/usr/bin/env node
/** The `wirelog` command: subcommand dispatch, --help and --version. */
import fs from 'node:fs';
import { captureCommand } from './capture.js';
import { stderrLine, stdoutText } from './io.js';
import { traceCommand } from './trace.js';
import { queryCommand } from './query.js';
import { topologyCommand } from './topology.js';
import { quicCommand } from './quic.js';
import { uiCommand } from './ui.js';

export const COMMANDS: Record<string, string> = {
  capture: 'log HTTP/1.x requests and responses, live (eBPF) or from a pcap/pcapng file',
  trace: 'log the HTTP/1.x and HTTP/2 requests of running processes (h2olog lines or JSON)',
  query: 'print records kept by capture --store, filtered (docs/query.md)',
  topology: 'the request graph (namespaces, devices, hops with p50/p99 times) of capture JSON lines',
  quic: 'QUIC events (h2olog JSON lines) of a pcap/pcapng file: versions, connection IDs, SNI, ALPN, Initial frames',
  ui: 'the web explorer of a store: requests, hops, packet ladders, topology (docs/explorer.md)',
};

export function mainUsage(): string {
  const rows = Object.entries(COMMANDS).map(([name, text]) => `  ${name.padEnd(10)} ${text}`);
  return `Usage: wirelog <command> [options]

Commands:
${rows.join('\n')}

Options:
  -h, --help      this help (wirelog <command> --help: the command's options)
  -v, --version   print the version and exit

See docs/cli.md.
`;
}

/** package.json's version; this file is dist/src/cli/main.js. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) {
    stderrLine(mainUsage().trimEnd());
    return 2;
  }
  if (cmd === '-h' || cmd === '--help') {
    stdoutText(mainUsage());
    return 0;
  }
  if (cmd === 'help') {
    if (rest[0] === undefined) {
      stdoutText(mainUsage());
      return 0;
    }
    return main([rest[0], '--help']);
  }
  if (cmd === '-v' || cmd === '--version') {
    stdoutText(`wirelog ${packageVersion()}\n`);
    return 0;
  }
  switch (cmd) {
    case 'capture':
      return captureCommand(rest, { version: packageVersion() });
    case 'trace':
      return traceCommand(rest);
    case 'query':
      return queryCommand(rest);
    case 'topology':
      return topologyCommand(rest);
    case 'quic':
      return quicCommand(rest);
    case 'ui':
      return uiCommand(rest);
    default:
      stderrLine(cmd.startsWith('-') ? `wirelog: error: unknown option ${cmd}` : `wirelog: error: unknown command '${cmd}'`);
      stderrLine(`Try 'wirelog --help'.`);
      return 2;
  }
}

// Run when executed (also through the npm bin symlink), not when imported.
const invoked = process.argv[1] !== undefined ? fs.realpathSync(process.argv[1]) : '';
if (invoked === fs.realpathSync(new URL(import.meta.url))) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      stderrLine(`wirelog: error: ${(err as Error)?.stack ?? String(err)}`);
      process.exit(1);
    },
  );
}
