/**
 * resolv.conf and hosts parsing (glibc's resolv.conf(5) and hosts(5) rules, Go's defaults), and the search-list
 * order the resolver derives from them (Go's dnsConfig.nameList).
 */
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, utimes } from 'node:fs/promises';
import path from 'node:path';
import {
  parseResolvConf, parseHosts, loadResolvConf, loadHosts, nameserverAddr, hostsKey, CachedFile,
} from '../../src/client/resolv-conf.js';
import { nameList } from '../../src/client/resolver.js';
import { Scope } from '../helpers/proc.js';

const scope = new Scope();
after(() => scope.close());

test('resolv.conf: defaults as glibc (timeout 5 s, attempts 2, ndots 1), no search without a dotted hostname', () => {
  const c = parseResolvConf('', 'box');
  assert.deepEqual(c, { nameservers: [], search: [], ndots: 1, timeoutMs: 5000, attempts: 2, rotate: false, edns0: false, useTCP: false });
  // Go and glibc take the default search domain from the host name
  assert.deepEqual(parseResolvConf('', 'box.corp.example').search, ['corp.example']);
});

test('resolv.conf: nameservers v4/v6 (port 53, at most 3), comments, options, last search/domain wins', () => {
  const c = parseResolvConf([
    '# comment',
    '; another comment',
    'nameserver 10.0.0.1',
    'nameserver   fd00::53   # trailing words ignored',
    'nameserver not-an-address',
    'nameserver fe80::1%eth0',
    'nameserver 10.0.0.4',
    'domain first.example',
    'search a.example b.example. .c.example',
    'options ndots:3 timeout:2 attempts:4 rotate edns0 use-vc unknown-option',
    'sortlist 130.155.160.0/255.255.240.0',
  ].join('\n'), 'box');
  assert.deepEqual(c.nameservers, [{ ip: '10.0.0.1', port: 53 }, { ip: 'fd00::53', port: 53 }, { ip: 'fe80::1%eth0', port: 53 }]);
  assert.deepEqual(c.nameservers.map(nameserverAddr), ['10.0.0.1:53', '[fd00::53]:53', '[fe80::1%eth0]:53']);
  assert.deepEqual(c.search, ['a.example', 'b.example', 'c.example']);
  assert.equal(c.ndots, 3);
  assert.equal(c.timeoutMs, 2000);
  assert.equal(c.attempts, 4);
  assert.equal(c.rotate, true);
  assert.equal(c.edns0, true);
  assert.equal(c.useTCP, true);
  assert.deepEqual(parseResolvConf('search a.example\ndomain d.example\n', 'x').search, ['d.example']);
});

test('resolv.conf: option limits as glibc (ndots ≤ 15, timeout 1..30 s, attempts 1..5), bad values ignored', () => {
  const c = parseResolvConf('options ndots:99 timeout:0 attempts:77\n', 'x');
  assert.equal(c.ndots, 15);
  assert.equal(c.timeoutMs, 1000);
  assert.equal(c.attempts, 5);
  const d = parseResolvConf('options ndots:x timeout: attempts:-\n', 'x');
  assert.deepEqual([d.ndots, d.timeoutMs, d.attempts], [1, 5000, 2]);
  assert.equal(parseResolvConf('options timeout:99\n', 'x').timeoutMs, 30_000);
});

test('resolv.conf: [addr]:port extension, for IPv4 and IPv6; a bare addr:port is not an address', () => {
  const c = parseResolvConf('nameserver [127.0.0.1]:5353\nnameserver [::1]:54\nnameserver 127.0.0.1:53\nnameserver [::1]:99999\n', 'x');
  assert.deepEqual(c.nameservers, [{ ip: '127.0.0.1', port: 5353 }, { ip: '::1', port: 54 }]);
  assert.deepEqual(c.nameservers.map(nameserverAddr), ['127.0.0.1:5353', '[::1]:54']);
});

test('resolv.conf: a missing file, or one without nameservers, gives 127.0.0.1 and ::1 (Go)', async () => {
  const dir = await scope.tempDir();
  const missing = await loadResolvConf(path.join(dir, 'nope.conf'));
  assert.equal(missing.missing, true);
  assert.deepEqual(missing.nameservers.map(nameserverAddr), ['127.0.0.1:53', '[::1]:53']);
  const f = path.join(dir, 'resolv.conf');
  await writeFile(f, 'options timeout:3\n');
  const c = await loadResolvConf(f);
  assert.deepEqual(c.nameservers.map(nameserverAddr), ['127.0.0.1:53', '[::1]:53']);
  assert.equal(c.timeoutMs, 3000);
});

test('hosts: v4 and v6, aliases, comments, case-insensitive names, duplicates merged in file order', () => {
  const h = parseHosts([
    '127.0.0.1 localhost',
    '::1 localhost ip6-localhost ip6-loopback',
    '# 10.9.9.9 commented.example',
    '10.0.0.1   Web.Example  web   # the web server',
    'fd00::1 web.example',
    '10.0.0.2 web.example',
    'fe80::1%eth0 link.example',
    'not-an-ip bad.example',
    '10.0.0.3',
    '',
  ].join('\n'));
  assert.deepEqual(h.get('localhost'), ['127.0.0.1', '::1']);
  assert.deepEqual(h.get('ip6-loopback'), ['::1']);
  assert.deepEqual(h.get('web.example'), ['10.0.0.1', 'fd00::1', '10.0.0.2']);
  assert.deepEqual(h.get('web'), ['10.0.0.1']);
  assert.deepEqual(h.get('link.example'), ['fe80::1%eth0']);
  assert.equal(h.get('commented.example'), undefined);
  assert.equal(h.get('bad.example'), undefined);
  assert.equal(hostsKey('WEB.Example.'), 'web.example');
});

test('hosts: a missing file is empty; CachedFile re-reads a changed file once the check interval passed', async () => {
  const dir = await scope.tempDir();
  assert.equal((await loadHosts(path.join(dir, 'none'))).size, 0);
  const f = path.join(dir, 'hosts');
  await writeFile(f, '10.0.0.1 a.example\n');
  const cached = new CachedFile(f, loadHosts, 0);
  assert.deepEqual((await cached.get()).get('a.example'), ['10.0.0.1']);
  await writeFile(f, '10.0.0.2 a.example b.example\n');
  await utimes(f, new Date(), new Date(Date.now() + 5000));
  assert.deepEqual((await cached.get()).get('a.example'), ['10.0.0.2']);
  const slow = new CachedFile(f, loadHosts, 60_000);
  const first = await slow.get();
  await writeFile(f, '10.0.0.3 a.example\n');
  assert.equal(await slow.get(), first, 'within the interval the file is not read again');
});

test('nameList: search order per ndots, as Go (rooted names alone, no unsuffixed .onion)', () => {
  const conf = { ndots: 1, search: ['corp.test', 'other.test'] };
  assert.deepEqual(nameList('web', conf), ['web.corp.test.', 'web.other.test.', 'web.']);
  assert.deepEqual(nameList('web.x', conf), ['web.x.', 'web.x.corp.test.', 'web.x.other.test.']);
  assert.deepEqual(nameList('web.x.', conf), ['web.x.']);
  assert.deepEqual(nameList('a.b', { ndots: 2, search: ['s.test'] }), ['a.b.s.test.', 'a.b.']);
  assert.deepEqual(nameList('a.b.c', { ndots: 2, search: ['s.test'] }), ['a.b.c.', 'a.b.c.s.test.']);
  // Go's avoidDNS looks at the name tried: the unsuffixed .onion name is left out, the suffixed ones are not
  assert.deepEqual(nameList('hidden.onion', conf), ['hidden.onion.corp.test.', 'hidden.onion.other.test.']);
  assert.deepEqual(nameList('hidden.onion.', conf), []);
  assert.deepEqual(nameList('x', { ndots: 0, search: ['s.test'] }), ['x.', 'x.s.test.']);
});
