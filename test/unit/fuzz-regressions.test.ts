/**
 * One test per fuzz finding (fuzz/, docs/testing.md "Fuzzing"), named after it, with the input that found it as hex:
 * run through the target that found it (which must now pass) and checked against the decoder directly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpStream, type StreamConsumer } from '../../src/track/reassembly.js';
import { SensorRecordReader, IfnameResolver, type TraceData } from '../../src/decode/sensor.js';
import { TCP_FIN, TCP_SYN, TCP_ACK, TCP_PSH } from '../../src/records.js';
import { target as reassembly } from '../../fuzz/targets/reassembly.js';
import { target as sensor } from '../../fuzz/targets/sensor.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('fuzz reassembly: a FIN behind delivered data rewound the stream (delivered 4 bytes, sequence space advanced 1)', () => {
  // segments [dir, flags, u32 seq offset, cut, u16 length, payload]: SYN at 0, 4 bytes at 1, then a FIN at 0
  const input = hex('00 02 00000000 00 0000  00 18 00000001 00 0004 41414141  00 01 00000000 00 0000');
  reassembly.fuzz(input);

  let delivered = 0;
  const consumer: StreamConsumer = { onData: (b) => { delivered += b.length; }, onGap: () => assert.fail('no gap expected'), onEnd: () => {} };
  const s = new TcpStream(consumer, { retransmittedBytes: 0, outOfOrderDropped: 0 });
  s.segment(1000, TCP_SYN, Buffer.alloc(0), 0, 1);
  s.segment(1001, TCP_ACK | TCP_PSH, Buffer.from('AAAA'), 4, 2);
  s.segment(1000, TCP_FIN, Buffer.alloc(0), 0, 3);
  assert.equal(delivered, 4);
  assert.equal(s.ended, true);
  // the stream consumed sequence numbers up to 1005; the bogus FIN at 1000 must not move it back to 1001
  assert.equal(s.nextSeq, 1005);
});

test('fuzz sensor: a data record whose cap_len (8) exceeds its len (5) handed on 8 payload bytes', () => {
  // byte 0: chunk pattern; then one WL_REC_DATA record: len 5, cap_len 8, payload "hello wo"
  const record = '040000008000000000000000e803000000000000e803000000000000000000002a00000000000000050000000500000008000000020000'
    + '0'.repeat(2 * 65) + '68656c6c6f20776f';
  const input = hex('ff' + record);
  sensor.fuzz(input);

  const got: TraceData[] = [];
  const r = new SensorRecordReader({ packet: () => {}, stats: () => {}, data: (d) => got.push({ ...d, payload: Buffer.from(d.payload) }) },
    { ifnames: new IfnameResolver('/nonexistent-wirelog-test') });
  r.push(hex(record));
  r.end();
  assert.equal(got.length, 1);
  assert.equal(got[0]!.len, 5);
  assert.equal(got[0]!.payload.toString('latin1'), 'hello');
  assert.equal(got[0]!.truncated, false);
});
