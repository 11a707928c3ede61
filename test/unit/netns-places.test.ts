/**
 * NetnsPlaces (src/correlate/place.ts): records name their namespace from the attribution, which is scanned again
 * only when needed — a namespace appeared (forget), or a miss is old enough — and the host's own namespace is left
 * alone. The attribution here is a recording stand-in with the real class's two calls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsPlaces, PlacedHttpSink, PlacedL4Sink } from '../../src/correlate/place.js';
import type { NetnsAttribution, NetnsInfo } from '../../src/source/attribution.js';
import type { HttpTransaction, L4Chunk } from '../../src/records.js';

function fakeAttribution(known: Map<number, NetnsInfo>): { a: NetnsAttribution; calls: string[] } {
  const calls: string[] = [];
  let visible = new Map<number, NetnsInfo>();
  const a = {
    refresh() {
      calls.push('refresh');
      visible = new Map(known);
      return { pids: 0, unreadable: 0, vanished: 0, kernelThreads: 0, namespaces: visible.size };
    },
    lookup(ino: number) {
      calls.push(`lookup ${ino}`);
      return visible.get(ino);
    },
  } as unknown as NetnsAttribution;
  return { a, calls };
}

const info = (netns: number, name: string | null, container: string | null = null): NetnsInfo => ({
  netns, netns_name: name, processes: [{ pid: 7, comm: 'nginx' }], process_count: 1, container_id: container, pod_uid: null,
});

test('cached per namespace; the own namespace is never looked up; a miss is retried after the rescan interval', () => {
  const known = new Map([[11, info(11, 'client', 'c0ffee')]]);
  const { a, calls } = fakeAttribution(known);
  let now = 1000;
  const told: number[] = [];
  const places = new NetnsPlaces(a, 1, (i) => told.push(i.netns), 2000, () => now);
  assert.deepEqual(places.of(1), { netnsName: null, containerId: null, podUid: null });
  assert.deepEqual(places.of(undefined), { netnsName: null, containerId: null, podUid: null });
  assert.deepEqual(calls, []);
  assert.deepEqual(places.of(11), { netnsName: 'client', containerId: 'c0ffee', podUid: null });
  places.of(11);
  assert.deepEqual(calls, ['refresh', 'lookup 11'], 'the second use is the cache');
  assert.deepEqual(told, [11], 'told once');

  // 22 appears in /proc only later: the miss is not looked up again before the interval, then it is
  assert.equal(places.of(22).netnsName, null);
  known.set(22, info(22, 'server'));
  now += 500;
  assert.equal(places.of(22).netnsName, null);
  assert.deepEqual(calls, ['refresh', 'lookup 11', 'lookup 22'], 'no scan within the interval');
  now += 2000;
  assert.equal(places.of(22).netnsName, 'server');
  assert.deepEqual(calls.slice(3), ['refresh', 'lookup 22']);
});

test('forget (a namespace watched): the next unknown namespace scans at once', () => {
  const known = new Map<number, NetnsInfo>();
  const { a, calls } = fakeAttribution(known);
  const now = 1000;
  const places = new NetnsPlaces(a, 1, undefined, 2000, () => now);
  assert.equal(places.of(33).netnsName, null);
  known.set(44, info(44, 'late'));
  places.forget(44);
  assert.equal(places.of(44).netnsName, 'late', 'scanned again although the interval has not passed');
  assert.deepEqual(calls, ['refresh', 'lookup 33', 'refresh', 'lookup 44']);
});

test('the placed sinks name the record, each hop, and the L4 chunk', () => {
  const { a } = fakeAttribution(new Map([[11, info(11, 'client')], [22, info(22, 'server')]]));
  const places = new NetnsPlaces(a, 1);
  const got: HttpTransaction[] = [];
  const sink = new PlacedHttpSink(places, { request() {}, response() {}, transaction: (tx) => got.push(tx) });
  const tx = {
    conn: { netns: 11 }, hops: [{ ifindex: 2, netns: 11, reqTsUs: 1, respTsUs: 9 }, { ifindex: 5, netns: 1, reqTsUs: 2, respTsUs: 8 },
      { ifindex: 2, netns: 22, reqTsUs: 3, respTsUs: 7 }],
  } as unknown as HttpTransaction;
  sink.transaction(tx);
  assert.equal(got[0]!.conn.place!.netnsName, 'client');
  assert.deepEqual(got[0]!.hops!.map((h) => h.netnsName), ['client', null, 'server']);
  const chunks: L4Chunk[] = [];
  new PlacedL4Sink(places, { l4: (c) => chunks.push(c) }).l4({ netns: 22 } as L4Chunk);
  assert.equal(chunks[0]!.place!.netnsName, 'server');
});
