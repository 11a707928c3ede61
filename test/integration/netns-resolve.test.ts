/**
 * --netns names against real namespaces: the inode resolved from an `ip netns` name is the namespace a process
 * started inside it (`ip netns exec`) is in, as /proc/PID/ns/net says; inode → name finds it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope } from '../helpers/proc.js';
import { createNetnsPair } from '../helpers/netns.js';
import { NetnsNames, resolveNetns, currentNetns } from '../../src/source/netns.js';

const scope = new Scope();
after(() => scope.close());

test('an ip netns name resolves to the namespace its processes are in', async (t) => {
  if (!requirePrivileges(t, false)) return;
  const pair = await createNetnsPair(scope);
  const sleeper = scope.spawn('ip', ['netns', 'exec', pair.server.ns, 'sleep', '30']);
  let link = '';
  for (let i = 0; i < 100 && link === ''; i++) {
    // the exec'd sleep replaces `ip` in the same process: its namespace link changes once it is inside
    try {
      const l = fs.readlinkSync(`/proc/${sleeper.pid}/ns/net`);
      if (l !== `net:[${currentNetns()}]`) link = l;
    } catch { /* not started yet */ }
    if (link === '') await new Promise((r) => setTimeout(r, 20));
  }
  assert.notEqual(link, '', 'the process never entered the namespace');
  const ref = resolveNetns(pair.server.ns);
  assert.equal(`net:[${ref.inode}]`, link);
  assert.equal(ref.name, pair.server.ns);
  assert.notEqual(resolveNetns(pair.client.ns).inode, ref.inode, 'two namespaces, two inodes');
  const names = new NetnsNames();
  assert.equal(names.name(ref.inode), pair.server.ns);
  assert.deepEqual(resolveNetns(String(ref.inode)), { inode: ref.inode, name: pair.server.ns });
});
