import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdirp } from '../../src/sinks/mkdirp.js';

test('mkdirp: nested levels created, an existing one is fine, a file in the way and /proc are errors (not a hang)', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'wirelog-mkdirp-'));
  try {
    const deep = path.join(base, 'a', 'b', 'c');
    mkdirp(deep, 0o700);
    assert.ok(fs.statSync(deep).isDirectory());
    assert.equal(fs.statSync(deep).mode & 0o777, 0o700 & ~process.umask());
    mkdirp(deep); // again: nothing to do
    fs.writeFileSync(path.join(base, 'file'), '');
    assert.throws(() => mkdirp(path.join(base, 'file', 'x')), /ENOTDIR|EEXIST/);
    assert.throws(() => mkdirp(path.join(base, 'file')), { code: 'ENOTDIR' });
    // Node's own recursive mkdir loops forever here
    if (fs.existsSync('/proc/self')) assert.throws(() => mkdirp('/proc/wirelog-no-such/dir'), { code: 'ENOENT' });
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
