import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TcpStream, type StreamConsumer } from '../../src/track/reassembly.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../src/records.js';

class Collect implements StreamConsumer {
  parts: Buffer[] = [];
  views: Buffer[] = [];
  gaps: number[] = [];
  /** data and gaps in order: gaps as '<gap n>' */
  log: string[] = [];
  ended = 0;
  onData(buf: Buffer): void {
    this.views.push(buf);
    this.parts.push(Buffer.from(buf));
    this.log.push(buf.toString('latin1'));
  }
  onGap(n: number): void {
    this.gaps.push(n);
    this.log.push(`<gap ${n}>`);
  }
  onEnd(): void {
    this.ended++;
  }
  get text(): string {
    return Buffer.concat(this.parts).toString('latin1');
  }
}

function stream(max?: number) {
  const c = new Collect();
  const counters = { retransmittedBytes: 0, outOfOrderDropped: 0 };
  const s = new TcpStream(c, counters, max);
  return { c, counters, s };
}
const B = (x: string) => Buffer.from(x, 'latin1');

test('in-order data is passed through without copying', () => {
  const { c, s } = stream();
  s.segment(100, TCP_SYN, B(''), 0, 0);
  const p1 = B('hello ');
  const p2 = B('world');
  s.segment(101, TCP_ACK, p1, p1.length, 1);
  s.segment(107, TCP_ACK, p2, p2.length, 2);
  assert.equal(c.views[0], p1, 'same Buffer object');
  assert.equal(c.views[1], p2);
  assert.equal(c.text, 'hello world');
  assert.equal(s.bufferedBytes, 0);
});

test('out-of-order segments are buffered (copied) and delivered once the hole fills', () => {
  const { c, s, counters } = stream();
  s.segment(0, TCP_SYN, B(''), 0, 0);
  const late = B('CCC');
  s.segment(7, TCP_ACK, late, 3, 1);
  late.fill(0x21); // the caller reuses its buffer: the stream must have copied
  s.segment(4, TCP_ACK, B('BBB'), 3, 2);
  assert.equal(c.text, '');
  assert.equal(s.bufferedBytes, 6);
  s.segment(1, TCP_ACK, B('AAA'), 3, 3);
  assert.equal(c.text, 'AAABBBCCC');
  assert.equal(s.bufferedBytes, 0);
  assert.equal(counters.retransmittedBytes, 0);
});

test('retransmission and overlap trimming, counted', () => {
  const S = 'abcdefghijklmno';
  const { c, s, counters } = stream();
  const seg = (from: number, to: number) => s.segment(1001 + from, TCP_ACK, B(S.slice(from, to)), to - from, 0);
  s.segment(1000, TCP_SYN, B(''), 0, 0);
  seg(0, 6);
  seg(0, 6); // full duplicate: 6
  seg(3, 9); // 3 old + 3 new
  seg(11, 13); // ahead
  seg(10, 14); // ahead, overlapping the buffered one
  assert.equal(c.text, 'abcdefghi');
  seg(9, 15); // fills the hole and covers both buffered segments: 4 + 2 retransmitted when they drain
  assert.equal(c.text, S);
  assert.equal(counters.retransmittedBytes, 6 + 3 + 4 + 2);
  assert.equal(s.bufferedBytes, 0);
});

test('sequence wraparound', () => {
  const { c, s, counters } = stream();
  const isn = 0xfffffffa;
  s.segment(isn, TCP_SYN, B(''), 0, 0);
  s.segment(0xfffffffb, TCP_ACK, B('01234'), 5, 0); // ends exactly at 2^32
  s.segment(3, TCP_ACK, B('89'), 2, 0); // after the wrap, out of order
  s.segment(0, TCP_ACK, B('567'), 3, 0);
  s.segment(0xfffffffe, TCP_ACK, B('34567'), 5, 0); // retransmission across the wrap
  assert.equal(c.text, '0123456789');
  assert.equal(counters.retransmittedBytes, 5);
  s.segment(5, TCP_FIN | TCP_ACK, B(''), 0, 0);
  assert.equal(c.ended, 1);
});

test('snaplen-cut segments deliver the captured bytes and a gap of the rest', () => {
  const { c, s } = stream();
  s.segment(0, TCP_SYN, B(''), 0, 0);
  s.segment(1, TCP_ACK, B('head'), 10, 0);
  s.segment(11, TCP_ACK, B('next'), 4, 0);
  assert.deepEqual(c.log, ['head', '<gap 6>', 'next']);
  // also when the cut segment had been buffered out of order
  const t = stream();
  t.s.segment(0, TCP_SYN, B(''), 0, 0);
  t.s.segment(5, TCP_ACK, B('xy'), 8, 0);
  t.s.segment(1, TCP_ACK, B('abcd'), 4, 0);
  assert.deepEqual(t.c.log, ['abcd', 'xy', '<gap 6>']);
});

test('buffer bound: the first hole is skipped and reported when out-of-order data exceeds it', () => {
  const { c, s } = stream(10);
  s.segment(0, TCP_SYN, B(''), 0, 0);
  s.segment(1, TCP_ACK, B('aa'), 2, 0);
  s.segment(6, TCP_ACK, B('bbbbb'), 5, 0); // hole 3..5 (3 bytes)
  s.segment(11, TCP_ACK, B('ccccc'), 5, 0); // 10 buffered: at the bound, not over
  assert.deepEqual(c.log, ['aa']);
  s.segment(20, TCP_ACK, B('d'), 1, 0); // 11 > 10: skip the first hole
  assert.deepEqual(c.log, ['aa', '<gap 3>', 'bbbbb', 'ccccc']);
  assert.equal(s.bufferedBytes, 1);
});

test('a peer ACK beyond a hole skips it (the receiver got bytes the capture missed)', () => {
  const { c, s } = stream();
  s.segment(0, TCP_SYN, B(''), 0, 0);
  s.segment(1, TCP_ACK, B('aa'), 2, 0);
  s.segment(6, TCP_ACK, B('bb'), 2, 0);
  s.peerAck(3); // not beyond the hole start: nothing
  assert.deepEqual(c.log, ['aa']);
  s.peerAck(8);
  assert.deepEqual(c.log, ['aa', '<gap 3>', 'bb']);
});

test('FIN with a hole: flush() reports the hole up to the FIN; later data is dropped and counted', () => {
  const { c, s, counters } = stream();
  s.segment(0, TCP_SYN, B(''), 0, 0);
  s.segment(1, TCP_ACK, B('aa'), 2, 0);
  s.segment(5, TCP_ACK, B('bb'), 2, 0);
  s.segment(9, TCP_FIN | TCP_ACK, B('c'), 1, 0); // FIN at 10, holes 3..4 and 7..8
  assert.equal(c.ended, 0);
  s.flush();
  assert.deepEqual(c.log, ['aa', '<gap 2>', 'bb', '<gap 2>', 'c']);
  assert.equal(c.ended, 1);
  s.segment(3, TCP_ACK, B('zz'), 2, 0);
  assert.equal(counters.retransmittedBytes, 2);
  assert.equal(c.ended, 1);
});

test('mid-stream start: the first segment fixes the sequence space', () => {
  const { c, s } = stream();
  s.segment(123456, TCP_ACK, B('middle'), 6, 0);
  s.segment(123462, TCP_ACK, B('-end'), 4, 0);
  assert.equal(c.text, 'middle-end');
  assert.equal(s.synSeen, false);
});

test('property: any segmentation, order and duplication reassembles to the original bytes', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 50 }),
      fc.integer({ min: 1, max: 1 << 30 }),
      fc.integer({ min: 0, max: 10 }),
      (bytes, isn, sizes, seed, dups) => {
        const data = Buffer.from(bytes);
        const segs: [number, number][] = []; // [offset, length]
        let off = 0;
        for (let i = 0; off < data.length; i++) {
          const n = Math.min(sizes[i % sizes.length], data.length - off);
          segs.push([off, n]);
          off += n;
        }
        let x = seed;
        const rnd = (m: number) => ((x = (x * 48271) % 2147483647), x % m);
        // duplicates with different boundaries (overlapping retransmissions)
        for (let d = 0; d < dups; d++) {
          const a = rnd(data.length);
          segs.push([a, 1 + rnd(Math.min(500, data.length - a))]);
        }
        for (let i = segs.length - 1; i > 0; i--) {
          const j = rnd(i + 1);
          [segs[i], segs[j]] = [segs[j], segs[i]];
        }
        const { c, s, counters } = stream(1 << 20);
        s.segment(isn, TCP_SYN, B(''), 0, 0);
        for (const [o, n] of segs) s.segment((isn + 1 + o) >>> 0, TCP_ACK, data.subarray(o, o + n), n, 0);
        s.segment((isn + 1 + data.length) >>> 0, TCP_FIN | TCP_ACK, B(''), 0, 0);
        assert.deepEqual(Buffer.concat(c.parts), data);
        assert.deepEqual(c.gaps, []);
        assert.equal(c.ended, 1);
        const sent = segs.reduce((acc, [, n]) => acc + n, 0);
        assert.equal(counters.retransmittedBytes, sent - data.length);
      },
    ),
    { numRuns: 300 },
  );
});
