/**
 * --netns NAME|PATH|INODE and inode → name, on a directory of stand-in files (their inodes play the namespaces'),
 * and this process's namespace against the kernel's own `net:[INODE]` link text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NetnsError, NetnsNames, currentNetns, resolveNetns } from '../../src/source/netns.js';

function runDir(names: string[]): { dir: string; ino: Record<string, number> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wl-netns-'));
  const ino: Record<string, number> = {};
  for (const n of names) {
    fs.writeFileSync(path.join(dir, n), '');
    ino[n] = fs.statSync(path.join(dir, n)).ino;
  }
  return { dir, ino };
}

test('currentNetns is the inode in /proc/self/ns/net\'s link', () => {
  const link = fs.readlinkSync('/proc/self/ns/net');
  assert.equal(`net:[${currentNetns()}]`, link);
});

test('--netns takes a name, a path or an inode; anything else is one clear error', () => {
  const { dir, ino } = runDir(['web', 'db']);
  assert.deepEqual(resolveNetns('web', dir), { inode: ino.web, name: 'web' });
  assert.deepEqual(resolveNetns(path.join(dir, 'db'), dir), { inode: ino.db, name: 'db' });
  assert.deepEqual(resolveNetns(String(ino.db), dir), { inode: ino.db, name: 'db' });
  assert.deepEqual(resolveNetns('4026531999', dir), { inode: 4026531999 }, 'an inode with no name');
  assert.deepEqual(resolveNetns('/proc/self/ns/net', dir), { inode: currentNetns() });
  assert.throws(() => resolveNetns('nosuch', dir), (e: unknown) => e instanceof NetnsError && /--netns nosuch: no such network namespace/.test(e.message));
  assert.throws(() => resolveNetns('/no/such/file', dir), (e: unknown) => e instanceof NetnsError && /--netns \/no\/such\/file: no such file/.test(e.message));
  assert.throws(() => resolveNetns('a/b', dir), NetnsError);
  assert.throws(() => resolveNetns('0', dir), NetnsError);
});

test('inode → name reads the directory again for an unknown inode, at most once per interval', () => {
  const { dir, ino } = runDir(['a']);
  let now = 0;
  const names = new NetnsNames(dir, 1000, () => now);
  assert.equal(names.name(ino.a!), 'a');
  fs.writeFileSync(path.join(dir, 'b'), '');
  const b = fs.statSync(path.join(dir, 'b')).ino;
  now = 500;
  assert.equal(names.name(b), undefined, 'not read again within the interval');
  now = 1500;
  assert.equal(names.name(b), 'b', 'a namespace named since is found');
  fs.rmSync(path.join(dir, 'a'));
  now = 3000;
  assert.equal(names.name(ino.a!), 'a', 'a known name is trusted for a while');
  now = 1500 + 10_000;
  assert.equal(names.name(ino.a!), undefined, 'a name removed since is forgotten after maxAgeMs');
});
