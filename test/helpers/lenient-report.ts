/**
 * Regenerate the reference tables of test/fixtures/lenient-cases-report.md: record the lenient corpus once (as the
 * integration test does; needs root for tcpdump) and write, per case and server, what the server answered, what it
 * logged and what tshark dissected.
 *
 *   npx tsc -p tsconfig.json && node dist/test/helpers/lenient-report.js [test/fixtures/lenient-cases-report.md]
 *
 * Everything in the file above the GENERATED marker (the findings, written by hand) is kept.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Scope } from './proc.js';
import { repoRoot } from './paths.js';
import { recordLenient, type Conversation, type LenientRecording } from './lenient-record.js';
import { SERVER_KINDS, lenientCases, type LenientCase, type ServerKind } from './lenient-cases.js';

export const GENERATED_MARKER = '<!-- generated below by test/helpers/lenient-report.ts: do not edit by hand -->';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Bytes as a short escaped string. */
function showBytes(b: Buffer, max = 90): string {
  let s = '';
  for (const c of b.subarray(0, max)) {
    if (c === 13) s += '\\r';
    else if (c === 10) s += '\\n';
    else if (c === 0x5c) s += '\\\\';
    // a backtick would end the markdown code span the bytes are shown in
    else if (c < 32 || c > 126 || c === 0x60) s += `\\x${c.toString(16).padStart(2, '0')}`;
    else s += String.fromCharCode(c);
  }
  return b.length > max ? `${s}… (${b.length} bytes)` : s;
}

function answer(c: Conversation): string {
  const rs = c.responses.map((r) => (r.status === null ? `${r.version} body ${r.bodyBytes} B` : `${r.status}`));
  const parts = [rs.length ? rs.join(', ') : 'nothing'];
  parts.push(c.conv.closedByServer ? 'closed' : 'idle, client closed');
  if (c.conv.partsSent < c.case.parts.length) parts.push(`${c.conv.partsSent}/${c.case.parts.length} parts sent`);
  return parts.join('; ');
}

function accessLog(rec: LenientRecording, c: Conversation): string {
  const port = c.conv.localPort;
  switch (c.server) {
    case 'nginx': {
      const es = rec.nginxLog.filter((e) => e.remote_port === port).sort((a, b) => a.connection_requests - b.connection_requests);
      return es.map((e) => e.request_method
        ? `${e.status} ${e.request_method} ${e.request_uri} ${e.server_protocol || '""'}`
        : `${e.status} (method, uri, protocol empty; $request ${JSON.stringify(e.request.length > 24 ? `${e.request.slice(0, 24)}…` : e.request)})`).join('; ') || '—';
    }
    case 'h2o':
      return rec.h2oLog.filter((e) => e.remote_port === port).map((e) => `${e.status} ${e.method} ${e.uri} ${e.protocol}`).join('; ') || '—';
    case 'node':
      return rec.nodeLog.filter((e) => e.remotePort === port).map((e) => e.event === 'request'
        ? `${e.status} ${e.method} ${e.url} ${e.httpVersion}`
        : e.event === 'clientError' ? `clientError ${e.code} → ${e.status ?? 'nothing sent'}` : `${e.event} ${e.code}`).join('; ') || '—';
  }
}

function tsharkView(rec: LenientRecording, clientPort: number, serverPort: number): string {
  const q = rec.tshark.requests.filter((x) => x.srcPort === clientPort && x.dstPort === serverPort)
    .map((x) => `Q ${x.method} ${x.uri || '""'} ${x.version || '""'}${x.host ? ` host=${x.host}` : ''}`);
  const r = rec.tshark.responses.filter((x) => x.dstPort === clientPort && x.srcPort === serverPort)
    .map((x) => `R ${x.version || '""'} ${x.status}`);
  return [...q, ...r].join('; ') || 'not HTTP to tshark';
}

export function reportTables(rec: LenientRecording): string {
  const out: string[] = [];
  const cases = lenientCases();
  const byCase = (k: LenientCase, s: ServerKind): Conversation => rec.conversations.find((c) => c.case.id === k.id && c.server === s)!;
  out.push('## Request side: per case and server', '');
  out.push('Answer: the statuses the raw client received (or an HTTP/0.9 body), and whether the server closed. Access log: nginx ' +
    '`$status $request_method $request_uri $server_protocol`; h2o `%s %m %U%q %H` (— when it logged nothing); Node: the ' +
    "request as llhttp understood it, or the `clientError` code and the canned status. tshark: `-Y http` fields " +
    '(`http.request.method/uri/version`, `http.host`, `http.response.version/code`) with TCP reassembly on.', '');
  out.push('| case | bytes | server | answer | access log | tshark |', '|---|---|---|---|---|---|');
  for (const k of cases) {
    const bytes = Buffer.concat(k.parts.flat().map((m) => m.bytes));
    const servers = SERVER_KINDS.filter((s) => k.only === undefined || k.only.includes(s));
    for (const [i, s] of servers.entries()) {
      const c = byCase(k, s);
      out.push(`| ${i === 0 ? cell(`${k.id}: ${k.title}`) : ''} | ${i === 0 ? `\`${cell(showBytes(bytes))}\`` : ''} | ${s} | ${cell(answer(c))} | ` +
        `${cell(accessLog(rec, c))} | ${cell(tsharkView(rec, c.conv.localPort, c.port))} |`);
    }
  }
  out.push('', '## Response side: a raw server answers curl with fixed bytes', '');
  out.push('| case | bytes sent by the server | curl (`-w %{http_code}`, size_download, exit) | curl -v notes | tshark |', '|---|---|---|---|---|');
  for (const run of rec.responseRuns) {
    const k = run.case;
    out.push(`| ${cell(`${k.id}: ${k.title}`)} | \`${cell(showBytes(k.bytes, 120))}\` | ${run.curl.http_code}, ${run.curl.size_download} B, exit ${run.curl.exitcode}` +
      `${run.curl.errormsg ? ` (${cell(run.curl.errormsg)})` : ''} | ${cell(run.curl.notes.join('; '))} | ${cell(tsharkView(rec, run.curl.local_port, rec.rawPort))} |`);
  }
  out.push('');
  return out.join('\n');
}

async function main(): Promise<void> {
  const file = process.argv[2] ?? path.join(repoRoot, 'test', 'fixtures', 'lenient-cases-report.md');
  let head = '# Lenient HTTP/1 corpus: what the reference servers do\n\n';
  try {
    const old = await readFile(file, 'utf8');
    const i = old.indexOf(GENERATED_MARKER);
    head = i >= 0 ? old.slice(0, i) : old + '\n';
  } catch { /* new file */ }
  const scope = new Scope();
  try {
    const dir = await scope.tempDir('wirelog-lenient-report-');
    const rec = await recordLenient(scope, dir);
    await writeFile(file, `${head}${GENERATED_MARKER}\n\n${reportTables(rec)}`);
    console.error(`wrote ${file}`);
  } finally {
    await scope.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((e: unknown) => { console.error(e); process.exit(1); });
}
