/**
 * Loss reconciles under overload (issue 12, item 8). nginx in a namespace of the test's own is loaded by wrk on that
 * namespace's loopback while wirelog captures it with a 1 MiB ring and a sink that stops reading: the agent blocks on
 * its output, the sensor on the agent, and the kernel drops. Afterwards every stage must add up:
 *
 * - packets: nftables' counters on the namespace's input hook (the kernel's own count of port-80 packets, each once)
 *   = packets the agent received + packets the ring lost (the sensor's counter);
 * - requests: nginx's access log = requests wirelog parsed + request heads the ring lost (counted by the sensor's
 *   filter on the packets it could not queue) + requests the agent passed over inside a stream it had lost the
 *   start of (skipped messages); and the same for responses;
 * - records: one L7 record per transaction; rows stored + rows the store dropped = records written.
 *
 * Needs root (namespaces, nftables, the sensor). Traffic only inside the namespace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, run, runOk, sleep, waitFor } from '../helpers/proc.js';
import { startNginx } from '../helpers/nginx.js';
import { startWirelogLive, parseJsonLines } from '../helpers/wirelog.js';
import { createNetnsPair } from '../helpers/netns.js';

/** `counter packets N bytes M` of each rule of the table, by the comment given to it. */
async function nftCounters(ns: string, table: string): Promise<Record<string, number>> {
  const r = await runOk('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'inet', table]);
  const out: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/counter packets (\d+) bytes \d+ comment "([a-z]+)"/g)) out[m[2]!] = Number(m[1]);
  return out;
}

const LOST_HEADS_RE = /^wirelog: of the (\d+) packets dropped by kernel, (\d+) began a request and (\d+) a response \(not logged\)$/m;

test('overload: packets seen = received + dropped in the kernel; requests served = logged + lost heads + skipped', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());

  const pair = await createNetnsPair(scope);
  const ns = pair.server.ns;
  const nginx = await startNginx(scope, { netns: ns, listen: ['127.0.0.1'], port: 80 });
  const table = `wlloss${process.pid}`;
  const nft = (args: string[]): Promise<unknown> => runOk('ip', ['netns', 'exec', ns, 'nft', ...args]);
  await nft(['add', 'table', 'inet', table]);
  await nft(['add', 'chain', 'inet', table, 'in', '{ type filter hook input priority 0 ; }']);
  await nft(['add', 'rule', 'inet', table, 'in', 'tcp', 'dport', '80', 'counter', 'comment', '"toserver"']);
  await nft(['add', 'rule', 'inet', table, 'in', 'tcp', 'sport', '80', 'counter', 'comment', '"toclient"']);
  const before = await nftCounters(ns, table);
  assert.deepEqual(before, { toserver: 0, toclient: 0 }, 'no port-80 traffic in the new namespace yet');

  const db = `${await scope.tempDir('wirelog-loss-')}/store.db`;
  const wl = await startWirelogLive(scope, ['--netns', ns, '-p', '80', '--buffer-mb', '1', '--format', 'jsonl', '--store', db]);
  // the slowed sink: nobody reads wirelog's stdout while the load runs (the pipe fills, the agent blocks)
  wl.proc.child.stdout!.pause();
  const wrk = await run('ip', ['netns', 'exec', ns, 'wrk', '-t', '1', '-c', '8', '-d', '3s', 'http://127.0.0.1/small.txt'], { timeoutMs: 30_000 });
  assert.equal(wrk.code, 0, wrk.stderr);
  const sent = Number(/(\d+) requests in /.exec(wrk.stdout)?.[1]);
  assert.ok(sent > 0, wrk.stdout);
  const served = await nginx.waitForEntries(sent, 20_000);
  wl.proc.child.stdout!.resume();
  // every connection closed and its last packets counted before wirelog is stopped
  await waitFor('the port-80 packet counts to settle', async () => {
    const a = await nftCounters(ns, table);
    await sleep(500);
    const b = await nftCounters(ns, table);
    return a.toserver === b.toserver && a.toclient === b.toclient ? b : undefined;
  }, 20_000);
  await sleep(1500);
  const stopped = await wl.stop('SIGINT');
  assert.equal(stopped.code, 0, stopped.stderr);
  const kernel = await nftCounters(ns, table);
  const s = stopped.summary;
  assert.ok(s, stopped.stderr);

  const lost = LOST_HEADS_RE.exec(stopped.stderr);
  const lostReq = Number(lost?.[2] ?? 0);
  const lostRes = Number(lost?.[3] ?? 0);
  const records = parseJsonLines(stopped.stdout); // L7 records, and netns records (--netns)
  t.diagnostic(`wrk ${sent} requests, nginx ${served.length}; nft ${kernel.toserver}+${kernel.toclient} packets; ` +
    `wirelog ${s.packets} packets, ${s.kernelDrops} dropped by kernel (${lostReq} request heads, ${lostRes} response heads), ` +
    `${s.requests} requests, ${s.responses} responses, ${s.transactions} transactions, ${s.gaps} gaps, ${s.messagesSkipped} messages skipped, ` +
    `${records.length} lines`);

  assert.ok(s.kernelDrops > 0, `the load must overflow the ring for this test to mean anything: ${stopped.stderr}`);
  assert.ok(lost, `a line counting the lost heads: ${stopped.stderr}`);
  assert.equal(Number(lost[1]), s.kernelDrops);

  // packets: the kernel's count = received by the agent + lost in the ring
  assert.equal(s.packets + s.kernelDrops, kernel.toserver! + kernel.toclient!, 'packets seen = received + dropped');
  // HTTP: every request nginx served was logged or counted as lost
  assert.equal(s.requests + lostReq + s.messagesSkipped, served.length, 'requests served = parsed + heads lost in the kernel + skipped');
  assert.equal(s.responses + lostRes + s.messagesSkipped, served.length, 'responses sent = parsed + heads lost in the kernel + skipped');
  // and what was parsed was written: one L7 record per transaction, the ones that lost their response saying so
  const l7 = records.filter((r) => (r as { record?: string }).record === 'l7');
  assert.equal(l7.length, s.transactions, 'one L7 record per transaction');
  assert.equal(l7.filter((r) => r.status !== null).length, s.responses);
  // the store, the last stage: every line written is a row stored or a row counted as dropped
  assert.ok(s.stored, stopped.stderr);
  assert.equal(s.stored.rows + s.stored.dropped, records.length, 'rows stored + dropped = records written');
});
