import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnTable, type ConnEntry } from '../../src/track/conntable.js';
import { flowKey, sideOf } from '../../src/track/flow.js';
import type { TransportSegment } from '../../src/records.js';

interface E extends ConnEntry { name: string }
const entry = (name: string, t: number): E => ({ name, lastSeenUs: t, referenced: false });

test('flow keys are the same both ways and differ by port, address and namespace', () => {
  const seg = (src: string, sport: number, dst: string, dport: number, netns?: number): TransportSegment => ({
    tsUs: 0, ifindex: 0, family: src.includes(':') ? 6 : 4, src, dst, sport, dport, proto: 6, seq: 0, ack: 0, flags: 0,
    window: 0, payload: Buffer.alloc(0), payloadLen: 0, ...(netns === undefined ? {} : { netns }),
  });
  const a = seg('10.0.0.1', 80, '10.0.0.2', 5000);
  const b = seg('10.0.0.2', 5000, '10.0.0.1', 80);
  assert.equal(flowKey(a), flowKey(b));
  assert.notEqual(flowKey(a), flowKey(seg('10.0.0.1', 80, '10.0.0.2', 5001)));
  assert.notEqual(flowKey(a), flowKey(seg('10.0.0.1', 80, '10.0.0.3', 5000)));
  assert.notEqual(flowKey(a), flowKey(seg('10.0.0.1', 80, '10.0.0.2', 5000, 4026531840)));
  // same address both ends (loopback): the ports order the endpoints
  assert.equal(flowKey(seg('127.0.0.1', 1, '127.0.0.1', 2)), flowKey(seg('127.0.0.1', 2, '127.0.0.1', 1)));
  assert.equal(flowKey(seg('::1', 80, '::1', 4000)), flowKey(seg('::1', 4000, '::1', 80)));
  assert.equal(sideOf(a, { ip: '10.0.0.1', port: 80 }), 0);
  assert.equal(sideOf(b, { ip: '10.0.0.1', port: 80 }), 1);
  assert.equal(sideOf(seg('127.0.0.1', 2, '127.0.0.1', 1), { ip: '127.0.0.1', port: 1 }), 1);
});

test('bound: the entry not touched since the hand passed is evicted, touched ones get a second chance', () => {
  const t = new ConnTable<E>(3);
  const out: string[] = [];
  const ev = (e: E) => out.push(e.name);
  const a = entry('a', 1), b = entry('b', 2), c = entry('c', 3);
  t.add('a', a, ev);
  t.add('b', b, ev);
  t.add('c', c, ev);
  t.touch(a, 10); // a used recently: b is the least recently used
  t.add('d', entry('d', 11), ev);
  assert.deepEqual(out, ['b']);
  assert.equal(t.evicted, 1);
  assert.equal(t.size, 3);
  assert.ok(t.get('a') && t.get('c') && t.get('d') && !t.get('b'));
  t.add('e', entry('e', 12), ev); // a's flag was cleared when passed over: a or c goes; c is older in the order
  assert.deepEqual(out, ['b', 'c']);
});

test('idle expiry removes exactly the entries idle longer than the timeout', () => {
  const t = new ConnTable<E>(10);
  for (const [n, ts] of [['x', 0], ['y', 5_000_000], ['z', 9_000_000]] as const) t.add(n, entry(n, ts), () => assert.fail());
  const gone: string[] = [];
  assert.equal(t.expire(10_000_000, 4_000_000, (e) => gone.push(e.name)), 2);
  assert.deepEqual(gone.sort(), ['x', 'y']);
  assert.equal(t.size, 1);
  // rate limit: a second scan within the interval does nothing
  assert.equal(t.expire(10_000_001, 4_000_000, (e) => gone.push(e.name), 1_000_000), 0);
  assert.equal(t.expire(30_000_000, 4_000_000, (e) => gone.push(e.name), 1_000_000), 1);
  assert.equal(t.expire(30_500_000, 0, (e) => gone.push(e.name), 1_000_000), 0);
  const all: string[] = [];
  t.drain((e) => all.push(e.name));
  assert.equal(t.size, 0);
});
