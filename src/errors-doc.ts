/**
 * docs/errors.md, rendered from the WL_ERR table (src/errors.ts). `node scripts/gen-errors-doc.mjs` writes it after a
 * build; test/unit/errors.test.ts fails when the file and the table differ.
 */
import { WL_ERR, type WlErrorArea, type WlErrorCode } from './errors.js';

const AREA_TITLES: Record<WlErrorArea, string> = {
  cli: 'Command line (`wirelog` before a run starts, and its run-level failures)',
  'capture-file': 'Capture files (pcap, pcapng)',
  decoder: 'Packet decoders (link, IP, TCP, UDP)',
  http: 'HTTP/1 parser and HTTP tracker',
  http2: 'HTTP/2 frames and HPACK',
  tls: 'TLS ClientHello',
  quic: 'QUIC and HTTP/3',
  sensor: 'eBPF sensor and its record stream',
  sink: 'Log files and output filters',
  store: 'Stores (SQLite, ClickHouse)',
  query: 'Filter language',
  ui: 'Explorer (`wirelog ui`)',
  client: 'Traced HTTP client (`wirelog/client`)',
  dns: "Traced client's resolver",
};

export function renderErrorsDoc(): string {
  const codes = Object.keys(WL_ERR) as WlErrorCode[];
  const out: string[] = [
    '# Error codes',
    '',
    '<!-- generated from WL_ERR in src/errors.ts by scripts/gen-errors-doc.mjs: edit the table, not this file -->',
    '',
    'Every error wirelog throws, prints or writes carries a stable code from this list. Match on the code, never on',
    'the message: messages are for people and may change, codes do not.',
    '',
    '- Library and client: thrown errors are `WirelogError`s (`import { WirelogError } from \'wirelog\'`) with `code`,',
    '  `message` and, when an operating-system or library error was behind it, `cause` (an `ENOENT` stays there).',
    '  `err instanceof WirelogError` holds across two copies of the package (a `Symbol.for` brand).',
    '- Decoders do not throw: they return or count a `DecodeErrorInfo` (`code`, `layer`, `offset`, `message`).',
    '- CLI: an error line is `wirelog: error: MESSAGE`; the exit codes are in [cli.md](cli.md#exit-codes-and-stopping).',
    '- The summary line counts parse errors by code: `3 parse errors (WL_ERR_HTTP_BAD_START_LINE=3)`.',
    '',
    `${codes.length} codes.`,
  ];
  const areas = [...new Set(codes.map((c) => WL_ERR[c].area))] as WlErrorArea[];
  for (const area of areas) {
    out.push('', `## ${AREA_TITLES[area]}`, '', '| Code | Meaning |', '|---|---|');
    for (const c of codes) if (WL_ERR[c].area === area) out.push(`| \`${c}\` | ${WL_ERR[c].meaning.replace(/\|/g, '\\|')} |`);
  }
  return out.join('\n') + '\n';
}
