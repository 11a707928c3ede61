/**
 * Two hosts on a real-looking wire: client and server namespaces joined by a veth pair (MTU 1500, offloads off,
 * so segments are what a NIC would send). nginx runs in the server namespace; wirelog runs on both sides at once:
 * in the client namespace the exchanges are SQ/SR (this host is the client), in the server namespace CQ/CR.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope } from '../helpers/proc.js';
import { createNetnsPair } from '../helpers/netns.js';
import { startNginx, sendMix } from '../helpers/nginx.js';
import { startWirelogLive, expectedFromMix, assertTextMatches, assertJsonMatches, parseJsonLines } from '../helpers/wirelog.js';

test('netns: client side logs SQ/SR, server side CQ/CR, both match nginx and curl (IPv4, IPv6, MTU 1500)', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const pair = await createNetnsPair(scope);
  const nginx = await startNginx(scope, { netns: pair.server.ns, listen: [pair.server.ip4, pair.server.ip6], bigBytes: 8 * 1024 * 1024 });
  const port = String(nginx.port);
  // 8 MiB responses at MTU 1500 are ~6000 packets each, as fast as the veth goes: a 64 MiB ring keeps up
  const ring = ['-b', '64'];
  // client side: default interfaces (all of the namespace); server side: its veth by name
  const client = await startWirelogLive(scope, ['-p', port, ...ring], { netns: pair.client.ns });
  assert.match(client.listeningLine, /^wirelog: listening on all interfaces, ports /);
  const server = await startWirelogLive(scope, ['-i', pair.server.ifname, '-p', port, ...ring], { netns: pair.server.ns });
  const serverJson = await startWirelogLive(scope, ['-i', pair.server.ifname, '-p', port, ...ring, '--format', 'jsonl'],
    { netns: pair.server.ns });
  const from = Date.now();
  // 3 KB and 20 KB request heads: two and fourteen segments at MTU 1500
  const mix = await sendMix(scope, { hosts: [pair.server.ip4, `[${pair.server.ip6}]`], port: nginx.port, netns: pair.client.ns });
  const mix3k = await sendMix(scope, { hosts: [pair.server.ip4, `[${pair.server.ip6}]`], port: nginx.port, netns: pair.client.ns,
    bigHeaderBytes: 3000, small: true });
  const [c, s, sj] = await Promise.all([client.stop(), server.stop(), serverJson.stop()]);
  const to = Date.now();
  for (const [name, x] of [['client side', c], ['server side', s], ['server side jsonl', sj]] as const) {
    assert.equal(x.code, 0, `${name}: ${x.stderr}`);
    assert.ok(x.summary, `${name}: no summary: ${x.stderr}`);
    assert.equal(x.summary.kernelDrops, 0, `${name}: kernel drops`);
    // MTU 1500 < snaplen: every byte is captured, so no gaps at all
    assert.equal(x.summary.gaps, 0, `${name}: reassembly gaps`);
  }
  const entries = await nginx.waitForEntries(mix.count + mix3k.count);
  const expected = [...expectedFromMix(mix, entries), ...expectedFromMix(mix3k, entries)];
  // the references themselves: client addresses are the client namespace's
  for (const e of expected) assert.ok([pair.client.ip4, pair.client.ip6].includes(e.client), `client ${e.client}`);

  assertTextMatches(c.lines, expected, { side: 'client', window: [from, to] });
  assertTextMatches(s.lines, expected, { side: 'server', window: [from, to] });
  assert.ok(c.lines.every((l) => l.kind === 'SQ' || l.kind === 'SR'), 'client side: only SQ/SR');
  assert.ok(s.lines.every((l) => l.kind === 'CQ' || l.kind === 'CR'), 'server side: only CQ/CR');
  // both sides saw the same exchanges: same lines but for the kind
  const norm = (raw: string): string => raw.slice(24).replace(/ (SQ|CQ) /, ' Q ').replace(/ (SR|CR) /, ' R ');
  assert.deepEqual(c.lines.map((l) => norm(l.raw)).sort(), s.lines.map((l) => norm(l.raw)).sort());

  const records = parseJsonLines(sj.stdout);
  assert.equal(records.length, expected.length);
  assertJsonMatches(records, expected, { side: 'server', window: [from, to] });
  for (const r of records) assert.equal(r.ifname, pair.server.ifname, 'ifname');
  // the 8 MiB response was seen whole
  const big = records.filter((r) => r.uri === '/big.bin' && r.method === 'GET');
  assert.equal(big.length, 2);
  for (const r of big) assert.equal(r.res_body_bytes, 8 * 1024 * 1024);
});
