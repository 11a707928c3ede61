import { TcpStream, type StreamConsumer } from '../../src/track/reassembly.js';
import { connections } from '../seeds.js';
import { connectionSeeds, readSegments } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

const MAX_BUF = 16 * 1024;

/** Counts what a stream delivers and checks it delivers nothing after its end. */
class Consumer implements StreamConsumer {
  data = 0;
  gaps = 0;
  ended = 0;
  onData(buf: Buffer): void { check(this.ended === 0, 'data after the end'); check(buf.length > 0, 'empty data callback'); this.data += buf.length; }
  onGap(bytes: number): void { check(this.ended === 0, 'gap after the end'); check(Number.isInteger(bytes) && bytes > 0, `gap of ${bytes} bytes`); this.gaps += bytes; }
  onEnd(): void { this.ended++; check(this.ended === 1, 'ended twice'); }
}

/**
 * One direction of a TCP stream (TcpStream) fed segments with fuzzed sequence numbers, flags, payload lengths and
 * snaplen cuts (both directions of the input go to two streams). Checked: the out-of-order buffer stays within its
 * bound, delivered bytes + gaps never exceed the sequence space advanced, nothing comes after the end.
 */
export const target: FuzzTarget = {
  name: 'reassembly',
  what: 'TCP reassembly (TcpStream): random sequence numbers, flags, overlaps, holes, snaplen cuts, FIN, flush',
  maxLen: 4096,
  seeds: () => connectionSeeds(connections()),
  fuzz(data) {
    const counters = { retransmittedBytes: 0, outOfOrderDropped: 0 };
    const cons = [new Consumer(), new Consumer()];
    const streams = cons.map((c) => new TcpStream(c, counters, MAX_BUF));
    const isn = [1000, 0xfffff000];
    let ts = 0;
    for (const s of readSegments(data)) {
      const d = s.fromClient ? 0 : 1;
      const st = streams[d]!;
      const payload = s.cut > 0 ? s.payload.subarray(0, Math.max(0, s.payload.length - s.cut)) : s.payload;
      st.segment((isn[d]! + s.seqOff) >>> 0, s.flags, payload, s.payload.length, ts++);
      check(st.bufferedBytes <= MAX_BUF, `out-of-order buffer holds ${st.bufferedBytes} > ${MAX_BUF}`);
      check(st.bufferedBytes >= 0, `negative buffered bytes ${st.bufferedBytes}`);
      const c = cons[d]!;
      check(c.data === st.deliveredBytes, `consumer got ${c.data} bytes, stream says ${st.deliveredBytes}`);
      const advanced = (st.nextSeq - st.isn) >>> 0;
      check(c.data + c.gaps <= advanced + 1, `delivered ${c.data} + gaps ${c.gaps} > sequence space advanced ${advanced}`);
    }
    for (const st of streams) st.flush(ts);
    check(counters.retransmittedBytes >= 0 && counters.outOfOrderDropped >= 0, 'negative counters');
  },
};
