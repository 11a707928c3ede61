/**
 * `capture -r`'s progress line (docs/cli.md): on a terminal (a pseudo-terminal from util-linux's `script`), stderr
 * gets `wirelog: FILE: N%, R packets/s, K records, ETA T`, redrawn in place and erased before the summary; the
 * records written are the same as without a terminal. Not on a pipe, and not with --quiet.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Scope, run } from '../helpers/proc.js';
import { cliPath, fixturesDir, sensorPath } from '../helpers/paths.js';
import { runWirelog } from '../helpers/wirelog.js';

const scope = new Scope();
after(() => scope.close());

/** A pcap of the fixture's records repeated n times (several MiB, so the reader takes several blocks). */
async function bigPcap(dir: string, n: number): Promise<string> {
  const src = await readFile(path.join(fixturesDir, 'http-lo4.pcap'));
  const body = src.subarray(24);
  const out = Buffer.concat([src.subarray(0, 24), ...Array.from({ length: n }, () => body)]);
  const file = path.join(dir, 'big.pcap');
  await writeFile(file, out);
  return file;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** `wirelog ARGS >OUT` on a pseudo-terminal: what the terminal showed (stderr), and the exit code */
async function onTerminal(args: string[], out: string): Promise<{ code: number | null; screen: string }> {
  const cmd = [process.execPath, cliPath, ...args].map(shellQuote).join(' ') + ' >' + shellQuote(out);
  const r = await run('script', ['-qefc', cmd, '/dev/null'], { env: { ...process.env, WIRELOG_SENSOR: sensorPath, TERM: 'xterm' }, timeoutMs: 120_000 });
  return { code: r.code, screen: r.stdout };
}

test('capture -r on a terminal: a progress line, erased before the summary; the same records as on a pipe', async () => {
  const dir = await scope.tempDir('wirelog-progress-');
  const file = await bigPcap(dir, 4000);
  const size = (await readFile(file)).length;
  assert.ok(size > 3 * 1024 * 1024, `a file of several blocks: ${size} bytes`);

  const out = path.join(dir, 'tty.jsonl');
  const tty = await onTerminal(['capture', '-r', file, '--format', 'jsonl'], out);
  assert.equal(tty.code, 0, tty.screen);
  const lines = tty.screen.split(/\r\n|\n/);
  // every redraw: carriage return, erase to end of line, the line
  const draws = [...tty.screen.matchAll(/\r\x1b\[K(wirelog: [^\r\n\x1b]*)/g)].map((m) => m[1]!)
    .filter((l) => !/^wirelog: \d+ packets/.test(l)); // the summary follows the last erase
  assert.ok(draws.length >= 1, `a progress line was drawn: ${JSON.stringify(tty.screen.slice(0, 500))}`);
  for (const d of draws) {
    const m = /^wirelog: (.+): (\d+)%, ([\d.]+[kMG]?) packets\/s, ([\d.]+[kMG]?) records, ETA (\d+s|\d+m\d\ds|\d+h\d\dm)$/.exec(d);
    assert.ok(m, `progress line form: ${JSON.stringify(d)}`);
    assert.equal(m[1], file);
    assert.ok(Number(m[2]) >= 0 && Number(m[2]) <= 100);
  }
  // erased, then the summary on a line of its own
  const summary = lines.find((l) => /wirelog: \d+ packets/.test(l));
  assert.ok(summary, `a summary line: ${JSON.stringify(tty.screen.slice(-400))}`);
  assert.ok(/\r\x1b\[K(?:\r\n|\n)?wirelog: \d+ packets|\x1b\[Kwirelog: \d+ packets/.test(tty.screen), 'the summary follows an erase');
  assert.doesNotMatch(summary.replace(/^[\s\S]*\x1b\[K/, ''), /%/, 'no progress text left on the summary line');

  // the same run on a pipe: the same records, no progress line
  const piped = await runWirelog(['capture', '-r', file, '--format', 'jsonl']);
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(await readFile(out, 'utf8'), piped.stdout, 'the records do not depend on the terminal');
  assert.doesNotMatch(piped.stderr, /\x1b|%,/);
  const records = piped.stdout.split('\n').filter((l) => l.length > 0).length;
  assert.ok(records > 0);
  // the last draw counts at most what was written
  const last = /([\d.]+)([kMG]?) records/.exec(draws[draws.length - 1]!)!;
  const n = Number(last[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 }[last[2]!] ?? 1);
  assert.ok(n <= records * 1.001, `progress records ${n} <= ${records}`);

  // --quiet: no progress line on a terminal
  const quiet = await onTerminal(['capture', '-r', file, '--format', 'jsonl', '--quiet'], path.join(dir, 'quiet.jsonl'));
  assert.equal(quiet.code, 0, quiet.screen);
  assert.doesNotMatch(quiet.screen, /\x1b\[K|%,/);
  assert.match(quiet.screen, /wirelog: \d+ packets/);
});
