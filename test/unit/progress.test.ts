import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressLine, shortCount, shortDuration } from '../../src/cli/progress.js';

test('progress: counts and durations in short form', () => {
  assert.equal(shortCount(999), '999');
  assert.equal(shortCount(12_345), '12.3k');
  assert.equal(shortCount(1_234_567), '1.2M');
  assert.equal(shortCount(3.2e9), '3.2G');
  assert.equal(shortDuration(42.4), '42s');
  assert.equal(shortDuration(185), '3m05s');
  assert.equal(shortDuration(3720), '1h02m');
});

test('progress: percent, rate, records and ETA from the bytes read; redrawn at most every everyMs; erased at the end', () => {
  let now = 1000;
  const out: string[] = [];
  const p = new ProgressLine({ name: 'x.pcap', totalBytes: 4_000_000, everyMs: 250, write: (t) => out.push(t), now: () => now });
  now = 2000; // 1 s in: a quarter read
  p.update({ bytesRead: 1_000_000, packets: 50_000, records: 1234 });
  assert.deepEqual(out, ['\r\x1b[Kwirelog: x.pcap: 25%, 50.0k packets/s, 1234 records, ETA 3s']);
  now = 2100; // too soon: not redrawn
  p.update({ bytesRead: 2_000_000, packets: 60_000, records: 1300 });
  assert.equal(out.length, 1);
  now = 3000;
  p.update({ bytesRead: 4_000_000, packets: 200_000, records: 5000 });
  assert.equal(out[1], '\r\x1b[Kwirelog: x.pcap: 100%, 100.0k packets/s, 5000 records, ETA 0s');
  p.done();
  assert.equal(out[2], '\r\x1b[K');
  p.done(); // nothing drawn since: nothing to erase
  assert.equal(out.length, 3);
});

test('progress: a stream of unknown size shows the bytes read instead of a percentage', () => {
  let now = 0;
  const out: string[] = [];
  const p = new ProgressLine({ name: 'stdin', write: (t) => out.push(t), now: () => now });
  now = 2000;
  p.update({ bytesRead: 5_000_000, packets: 10_000, records: 10 });
  assert.deepEqual(out, ['\r\x1b[Kwirelog: stdin: 5.0MB read, 5000 packets/s, 10 records']);
});
