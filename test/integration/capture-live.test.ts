/**
 * Live capture on loopback: nginx on 127.0.0.1 and [::1], `wirelog capture -i lo -p PORT` attached, curl and raw
 * sockets as clients. Every exchange must come out as CQ/CR lines (or JSON records) whose every field equals what
 * nginx logged and what curl received.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope } from '../helpers/proc.js';
import { startNginx, sendMix, curl } from '../helpers/nginx.js';
import {
  startWirelogLive, expectedFromMix, assertTextMatches, assertJsonMatches, parseJsonLines, parseTextLines,
  parseStatsLines, joinCurlNginx, type TextLine,
} from '../helpers/wirelog.js';

const HOSTS = ['127.0.0.1', '[::1]'];

function localDate(d = new Date()): string {
  return `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}`;
}

test('live text: every kind of exchange over IPv4 and IPv6 matches nginx and curl field by field', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const nginx = await startNginx(scope);
  const wl = await startWirelogLive(scope, ['-i', 'lo', '-p', String(nginx.port)]);
  assert.match(wl.listeningLine, new RegExp(`^wirelog: listening on lo, ports ${nginx.port}, snaplen 4096$`));
  const from = Date.now();
  const mix = await sendMix(scope, { hosts: HOSTS, port: nginx.port, pipelining: true });
  // the last request right before SIGINT must not be lost
  const last = await curl(scope, [`http://127.0.0.1:${nginx.port}/index.html?last=1`]);
  const stopped = await wl.stop('SIGINT');
  const to = Date.now();

  assert.equal(stopped.code, 0, `exit: ${stopped.code} ${stopped.signal}; stderr: ${stopped.stderr}`);
  const entries = await nginx.waitForEntries(mix.count + 1);
  const expected = [...expectedFromMix(mix, entries), ...joinCurlNginx(last, entries)];
  assertTextMatches(stopped.lines, expected, { side: 'server', window: [from, to] });
  const finals = expected.length;
  const interims = expected.reduce((n, e) => n + e.interim.length, 0);
  assert.equal(stopped.lines.filter((l) => l.kind === 'CQ').length, finals);
  assert.equal(stopped.lines.filter((l) => l.kind === 'CR').length, finals + interims);
  assert.ok(stopped.summary, `no summary line on stderr: ${stopped.stderr}`);
  assert.equal(stopped.summary.requests, finals, 'summary: requests');
  assert.equal(stopped.summary.responses, finals + interims, 'summary: responses');
  assert.equal(stopped.summary.transactions, finals, 'summary: transactions');
  assert.equal(stopped.summary.kernelDrops, 0, 'summary: kernel drops');
  // loopback segments reach 64 KiB and the snaplen is 4096: the big bodies have holes, nothing else may
  const bigBytes = expected.filter((e) => e.big).reduce((n, e) => n + (e.resBodyBytes ?? 0) + (e.reqBodyBytes ?? 0), 0);
  assert.ok(stopped.summary.gaps === 0 || expected.some((e) => e.big), 'summary: reassembly gaps without big messages');
  assert.ok(stopped.summary.gapBytes <= bigBytes + 64 * 1024, `summary: ${stopped.summary.gapBytes} gap bytes, more than the big bodies`);
  assert.ok(stopped.summary.packets > finals * 2, `summary: only ${stopped.summary.packets} packets`);
  // the last request is there, with its response
  assert.ok(stopped.lines.some((l) => l.kind === 'CQ' && l.uri === '/index.html?last=1'), 'last request lost at exit');
  assert.ok(stopped.lines.some((l) => l.kind === 'CR' && l.dstPort === last[0]!.local_port), 'last response lost at exit');
});

test('live jsonl: one record per transaction with every field right', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const nginx = await startNginx(scope);
  const wl = await startWirelogLive(scope, ['-i', 'lo', '-p', String(nginx.port), '--format', 'jsonl']);
  const from = Date.now();
  const mix = await sendMix(scope, { hosts: HOSTS, port: nginx.port, pipelining: true });
  const stopped = await wl.stop('SIGINT');
  const to = Date.now();
  assert.equal(stopped.code, 0, stopped.stderr);
  const entries = await nginx.waitForEntries(mix.count);
  const expected = expectedFromMix(mix, entries);
  const records = parseJsonLines(stopped.stdout);
  assert.equal(records.length, expected.length, 'one record per transaction');
  assertJsonMatches(records, expected, { side: 'server', window: [from, to], snaplenGaps: true });
  for (const r of records) {
    assert.equal(r.ifname, 'lo', `ifname of ${r.uri}`);
    // latency: never more than the whole test took
    assert.ok(r.latency_ms! <= to - from, `latency ${r.latency_ms} ms`);
  }
  // distinct connections have distinct conn_ids; req_id counts within a connection
  const conns = new Map<string, Set<number | null>>();
  for (const r of records) {
    const k = `${r.src_ip}#${r.src_port}`;
    conns.set(k, (conns.get(k) ?? new Set()).add(r.conn_id));
  }
  const allIds = [...conns.values()].flatMap((s) => [...s]);
  assert.equal(new Set(allIds).size, conns.size, 'conn_id shared between connections');
});

test('live -d DIR: a daily file; --log-split: four kinds in four files; --log-every: stats lines', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const nginx = await startNginx(scope);
  const one = await scope.tempDir('wirelog-d-');
  const split = await scope.tempDir('wirelog-split-');
  const jdir = await scope.tempDir('wirelog-dj-');
  const p = String(nginx.port);
  const day0 = localDate();
  const a = await startWirelogLive(scope, ['-i', 'lo', '-p', p, '-d', one, '--log-every', '5']);
  const b = await startWirelogLive(scope, ['-i', 'lo', '-p', p, '-d', split, '--log-split']);
  const c = await startWirelogLive(scope, ['-i', 'lo', '-p', p, '-d', jdir, '--format', 'jsonl']);
  const mix = await sendMix(scope, { hosts: HOSTS, port: nginx.port, small: true });
  const [sa, sb, sc] = await Promise.all([a.stop(), b.stop(), c.stop()]);
  const day1 = localDate();
  for (const s of [sa, sb, sc]) {
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, '', 'with -d nothing goes to stdout');
  }
  const entries = await nginx.waitForEntries(mix.count);
  const expected = expectedFromMix(mix, entries);
  const days = [...new Set([day0, day1])];

  // one file a day
  const oneFiles = await readdir(one);
  assert.ok(oneFiles.length >= 1 && oneFiles.every((f) => days.some((d) => f === `http-${d}.log`)), `files in -d: ${oneFiles}`);
  const oneLines: TextLine[] = [];
  for (const f of oneFiles.sort()) oneLines.push(...parseTextLines(await readFile(path.join(one, f), 'utf8')));
  assertTextMatches(oneLines, expected, { side: 'server' });

  // --log-every 5: stats lines, counters never going back
  const stats = parseStatsLines(sa.stderr);
  assert.ok(stats.length >= 2, `stats lines: ${stats.length}; stderr: ${sa.stderr}`);
  for (let i = 1; i < stats.length; i++) assert.ok(stats[i]!.packets >= stats[i - 1]!.packets, 'stats: packets went back');
  assert.ok(stats.at(-1)!.packets <= sa.summary!.packets, 'stats beyond the summary');

  // split: CQ lines only in http-CQ-*, CR only in http-CR-*, nothing in SQ/SR
  const splitFiles = await readdir(split);
  const byKind: Record<string, TextLine[]> = { CQ: [], CR: [], SQ: [], SR: [] };
  for (const f of splitFiles.sort()) {
    const m = /^http-(CQ|CR|SQ|SR)-(\d{8})\.log$/.exec(f);
    assert.ok(m && days.includes(m[2]!), `unexpected file in --log-split dir: ${f}`);
    const lines = parseTextLines(await readFile(path.join(split, f), 'utf8'));
    for (const l of lines) assert.equal(l.kind, m[1], `${l.kind} line in ${f}`);
    byKind[m[1]!]!.push(...lines);
  }
  assert.equal(byKind.SQ!.length + byKind.SR!.length, 0, 'SQ/SR lines for a server on this host');
  assertTextMatches([...byKind.CQ!, ...byKind.CR!], expected, { side: 'server' });
  // and the same lines as the single file (another process: its timestamps may differ by a millisecond)
  const noTs = (l: TextLine): string => l.raw.slice(24);
  assert.deepEqual([...byKind.CQ!, ...byKind.CR!].map(noTs).sort(), oneLines.map(noTs).sort());

  // jsonl in a daily .jsonl file
  const jFiles = await readdir(jdir);
  assert.ok(jFiles.length >= 1 && jFiles.every((f) => days.some((d) => f === `http-${d}.jsonl`)), `files: ${jFiles}`);
  let jtext = '';
  for (const f of jFiles.sort()) jtext += await readFile(path.join(jdir, f), 'utf8');
  assertJsonMatches(parseJsonLines(jtext), expected, { side: 'server', snaplenGaps: true });
});
