import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../helpers/paths.js';
import { DirWriter, StdoutWriter, LogDirError, logFileName, COALESCE_BYTES } from '../../src/sinks/log-writer.js';
import { fixedOffset } from '../../src/sinks/local-time.js';
import type { LineKind } from '../../src/records.js';

function tmpdir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirelog-writer-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const us = (iso: string): number => Date.parse(iso) * 1000;

test('file names', () => {
  assert.equal(logFileName('20190901', 'CQ', false), 'http-20190901.log');
  assert.equal(logFileName('20190901', 'SR', true), 'http-SR-20190901.log');
  assert.equal(logFileName('20190901', 'CQ', false, 'jsonl'), 'http-20190901.jsonl');
});

test('one file a day by the line\'s local date; a midnight in the stream rotates', (t) => {
  const dir = tmpdir(t);
  // UTC+9: 14:59:59.999Z is 23:59:59.999 local on the 1st, 15:00:00Z is midnight of the 2nd
  const w = new DirWriter({ dir, offset: fixedOffset(9 * 60) });
  w.write('a', us('2019-09-01T14:59:59.998Z'), 'CQ');
  w.write('b', us('2019-09-01T14:59:59.999Z'), 'CR');
  w.write('c', us('2019-09-01T15:00:00.000Z'), 'SQ');
  w.write('late', us('2019-09-01T14:59:59.999Z'), 'SR'); // a replay's slightly out-of-order line keeps its own day
  w.close();
  assert.deepEqual(fs.readdirSync(dir).sort(), ['http-20190901.log', 'http-20190902.log']);
  assert.equal(fs.readFileSync(path.join(dir, 'http-20190901.log'), 'utf8'), 'a\nb\nlate\n');
  assert.equal(fs.readFileSync(path.join(dir, 'http-20190902.log'), 'utf8'), 'c\n');
  assert.equal(w.lines, 4);
  assert.equal(w.failure, undefined);
});

test('split: four files a day, routed by kind; jsonl extension', (t) => {
  const dir = tmpdir(t);
  const w = new DirWriter({ dir, split: true, offset: fixedOffset(0) });
  const kinds: LineKind[] = ['CQ', 'CR', 'SQ', 'SR'];
  for (let i = 0; i < 40; i++) w.write(`${kinds[i % 4]} ${i}`, us('2026-11-23T23:59:59Z') + (i >= 20 ? 1_000_000 : 0), kinds[i % 4]);
  w.close();
  const files = fs.readdirSync(dir).sort();
  assert.deepEqual(files, ['20261123', '20261124'].flatMap((d) => kinds.map((k) => `http-${k}-${d}.log`)).sort());
  for (const f of files) {
    const kind = f.slice(5, 7);
    const lines = fs.readFileSync(path.join(dir, f), 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 5, f);
    for (const l of lines) assert.ok(l.startsWith(kind + ' '), `${f}: ${l}`);
  }
  const j = tmpdir(t);
  const wj = new DirWriter({ dir: j, ext: 'jsonl', offset: fixedOffset(0) });
  wj.write('{}', 0, 'CQ');
  wj.close();
  assert.deepEqual(fs.readdirSync(j), ['http-19700101.jsonl']);
});

test('appends to a day file that exists (restart the same day)', (t) => {
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'http-19700101.log'), 'old\n');
  const w = new DirWriter({ dir, offset: fixedOffset(0) });
  w.write('new', 5, 'CQ');
  w.close();
  assert.equal(fs.readFileSync(path.join(dir, 'http-19700101.log'), 'utf8'), 'old\nnew\n');
});

test('100k lines: buffered, flushed on close, read back whole; the file never ends inside a line', (t) => {
  const dir = tmpdir(t);
  const w = new DirWriter({ dir, offset: fixedOffset(0) });
  const file = path.join(dir, 'http-20261123.log');
  const ts = us('2026-11-23T12:00:00Z');
  let sawPartialFlush = false;
  for (let i = 0; i < 100_000; i++) {
    w.write(`line ${i} ${'x'.repeat(i % 97)} \u00e9`, ts, 'CQ');
    if (i % 1000 === 0 && fs.existsSync(file)) {
      const size = fs.statSync(file).size;
      if (size > 0) {
        sawPartialFlush = true;
        const fd = fs.openSync(file, 'r');
        const last = Buffer.alloc(1);
        fs.readSync(fd, last, 0, 1, size - 1);
        fs.closeSync(fd);
        assert.equal(last.toString(), '\n', `file ends mid-line at ${size} bytes`);
      }
    }
  }
  assert.ok(sawPartialFlush, 'the writer coalesces but must flush before close when the buffer is full');
  // not everything is written yet (coalescing), everything is after close
  w.close();
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, 100_000);
  for (let i = 0; i < lines.length; i += 1) {
    if (lines[i] !== `line ${i} ${'x'.repeat(i % 97)} \u00e9`) assert.fail(`line ${i}: ${lines[i]}`);
  }
  assert.ok(COALESCE_BYTES >= 16 * 1024);
});

test('more days than open files: older files are closed and reopened, nothing lost', (t) => {
  const dir = tmpdir(t);
  const w = new DirWriter({ dir, split: true, offset: fixedOffset(0), maxOpen: 2 });
  const expected = new Map<string, string[]>();
  const kinds: LineKind[] = ['CQ', 'CR', 'SQ', 'SR'];
  for (let i = 0; i < 300; i++) {
    const day = i % 5;
    const kind = kinds[(i * 7) % 4];
    const ts = (day * 86400 + 3600) * 1_000_000;
    const name = logFileName(`197001${String(day + 1).padStart(2, '0')}`, kind, true);
    w.write(`#${i}`, ts, kind);
    expected.set(name, [...(expected.get(name) ?? []), `#${i}`]);
  }
  w.close();
  assert.deepEqual(fs.readdirSync(dir).sort(), [...expected.keys()].sort());
  for (const [name, lines] of expected) assert.equal(fs.readFileSync(path.join(dir, name), 'utf8'), lines.join('\n') + '\n', name);
});

test('a DIR that cannot be made or written is one clear error', (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'plain-file');
  fs.writeFileSync(file, '');
  assert.throws(() => new DirWriter({ dir: path.join(file, 'logs') }), (e: unknown) => {
    assert.ok(e instanceof LogDirError);
    assert.equal(e.code, 'WL_ERR_LOG_DIR');
    assert.match(e.message, /cannot write log directory .*plain-file\/logs: .*ENOTDIR/);
    return true;
  });
  // a missing DIR is created, parents too
  const nested = path.join(dir, 'a', 'b');
  const w = new DirWriter({ dir: nested, offset: fixedOffset(0) });
  w.write('x', 0, 'CQ');
  w.close();
  assert.equal(fs.readFileSync(path.join(nested, 'http-19700101.log'), 'utf8'), 'x\n');
});

test('a failed write is recorded, not thrown (the pipeline stops on it)', (t) => {
  if (!fs.existsSync('/dev/full')) return t.skip('no /dev/full');
  const fd = fs.openSync('/dev/full', 'w');
  t.after(() => fs.closeSync(fd));
  const w = new StdoutWriter(fd, '/dev/full');
  for (let i = 0; i < 10_000; i++) w.write('some line of text', 0, 'CQ');
  w.close();
  assert.equal(w.failure?.code, 'WL_ERR_LOG_WRITE');
  assert.match(w.failure?.message ?? '', /ENOSPC/);
  assert.equal(w.outputClosed, false);
});

test('stdout: all lines reach a pipe; EPIPE (| head) ends quietly', () => {
  const mod = pathToFileURL(path.join(repoRoot, 'dist', 'src', 'sinks', 'log-writer.js')).href;
  const script = `import { StdoutWriter } from ${JSON.stringify(mod)};
    const w = new StdoutWriter();
    for (let i = 0; i < 200000 && !w.outputClosed; i++) w.write('line ' + i, 0, 'CQ');
    w.close();
    process.stderr.write('closed=' + w.outputClosed + ' failure=' + (w.failure?.code ?? 'none') + '\\n');`;
  const all = spawnSync('bash', ['-c', `node --input-type=module -e "$S" | wc -l`], { env: { ...process.env, S: script }, encoding: 'utf8' });
  assert.equal(all.stdout.trim(), '200000');
  assert.equal(all.stderr, 'closed=false failure=none\n');
  const head = spawnSync('bash', ['-o', 'pipefail', '-c', `node --input-type=module -e "$S" | head -n 3`], { env: { ...process.env, S: script }, encoding: 'utf8' });
  assert.equal(head.stdout, 'line 0\nline 1\nline 2\n');
  assert.equal(head.stderr, 'closed=true failure=none\n');
  assert.equal(head.status, 0);
});
