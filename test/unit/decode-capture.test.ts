import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import type { Frame } from '../../src/records.js';
import { readCaptureFile, readCaptureStream, type CaptureFileSummary } from '../../src/decode/capture-file.js';
import { decodeFrame, newDecodeStats } from '../../src/decode/frame.js';
import { PcapWriter } from '../../src/sinks/pcap-writer.js';
import { fixturesDir } from '../helpers/paths.js';
import { epochToUs, PcapngBuilder, pcapToBigEndian, tsharkFields } from '../helpers/decode-build.js';

const FIXTURES = ['http-lo4.pcap', 'http-lo6.pcap', 'http-lo4.pcapng', 'http-lo6-ns.pcap', 'http-lo6-ns.pcapng',
  'http-any-sll.pcap', 'http-any-sll2.pcap', 'http-two-iface.pcapng'];
const fx = (f: string): string => path.join(fixturesDir, f);

const tmp = mkdtempSync(path.join(tmpdir(), 'wirelog-decode-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const FIELDS = ['frame.time_epoch', 'frame.len', 'frame.cap_len', 'frame.interface_id', 'frame.interface_name',
  'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.len',
  'tcp.flags', 'tcp.window_size_value', 'udp.srcport', 'udp.dstport', 'udp.length'];

/** Our view of a file, as rows in the same shape as the tshark fields above. */
function ourRows(file: string, opts?: { chunkSize?: number }): { rows: string[][]; summary: CaptureFileSummary } {
  const rows: string[][] = [];
  const stats = newDecodeStats();
  const summary = readCaptureFile(file, (f) => rows.push(rowOf(f, stats)), opts);
  return { rows, summary };
}

function rowOf(f: Frame, stats = newDecodeStats()): string[] {
  const s = decodeFrame(f, stats);
  const r = [String(f.tsUs), String(f.origLen), String(f.data.length), String(f.ifindex), f.ifname ?? ''];
  if (!s) return [...r, '', '', '', '', '', '', '', '', '', '', '', '', '', ''];
  const v4 = s.family === 4, t = s.proto === 6;
  return [...r, v4 ? s.src : '', v4 ? s.dst : '', v4 ? '' : s.src, v4 ? '' : s.dst,
    t ? String(s.sport) : '', t ? String(s.dport) : '', t ? String(s.seq) : '', t ? String(s.ack) : '', t ? String(s.payloadLen) : '',
    t ? String(s.flags) : '', t ? String(s.window) : '',
    t ? '' : String(s.sport), t ? '' : String(s.dport), t ? '' : String(s.payloadLen + 8)];
}

/** tshark's rows normalised to ours (µs timestamps, decimal flags; interface fields only for pcapng). */
function tsharkRows(file: string): string[][] {
  const ng = readFileSync(file).readUInt32BE(0) === 0x0a0d0d0a;
  return tsharkFields(file, FIELDS).map((r) => {
    const out = [...r];
    while (out.length < FIELDS.length) out.push('');
    out[0] = String(epochToUs(r[0]!));
    out[3] = ng ? out[3]! : '0';
    if (out[4] === 'unknown') out[4] = ''; // tshark's word for an IDB without if_name
    out[14] = out[14] ? String(parseInt(out[14], 16)) : '';
    return out;
  });
}

for (const name of FIXTURES) {
  test(`${name}: every frame and segment matches tshark`, () => {
    const want = tsharkRows(fx(name));
    assert.ok(want.length >= 8, 'fixture has packets');
    const { rows, summary } = ourRows(fx(name));
    assert.equal(summary.error, undefined);
    assert.equal(summary.frames, want.length);
    assert.equal(summary.format, name.endsWith('.pcapng') ? 'pcapng' : 'pcap');
    assert.equal(summary.bytes, want.reduce((a, r) => a + Number(r[2]), 0));
    assert.deepEqual(rows, want);
    assert.ok(rows.some((r) => Number(r[13]) > 0), 'some segments carry payload');
  });

  test(`${name}: chunk sizes do not change the result`, () => {
    const base = ourRows(fx(name)).rows;
    for (const chunkSize of [64, 65, 100, 333, 1000]) assert.deepEqual(ourRows(fx(name), { chunkSize }).rows, base, `chunkSize ${chunkSize}`);
  });
}

test('two-interface pcapng: interface ids and names come from the IDBs', () => {
  const { rows } = ourRows(fx('http-two-iface.pcapng'));
  const names = new Set(rows.map((r) => `${r[3]}:${r[4]}`));
  assert.deepEqual([...names].sort(), ['0:lo', '1:any']);
});

test('big-endian pcap (byte-swapped fixture) reads like tshark reads it', () => {
  for (const name of ['http-lo4.pcap', 'http-lo6-ns.pcap', 'http-any-sll2.pcap']) {
    const be = pcapToBigEndian(readFileSync(fx(name)));
    assert.equal(be.readUInt32BE(0) >>> 0 === 0xa1b2c3d4 || be.readUInt32BE(0) === 0xa1b23c4d, true);
    const f = path.join(tmp, 'be-' + name);
    writeFileSync(f, be);
    const { rows, summary } = ourRows(f);
    assert.equal(summary.error, undefined);
    assert.deepEqual(rows, tsharkRows(f));
    assert.deepEqual(rows, ourRows(fx(name)).rows);
  }
});

/** Frames of a fixture, copied out. */
function framesOf(file: string): Array<{ tsUs: number; linkType: number; data: Buffer; origLen: number }> {
  const out: Array<{ tsUs: number; linkType: number; data: Buffer; origLen: number }> = [];
  readCaptureFile(file, (f) => out.push({ tsUs: f.tsUs, linkType: f.linkType, data: Buffer.from(f.data), origLen: f.origLen }));
  return out;
}

test('big-endian pcapng with two sections, ns and power-of-two resolutions, tsoffset, SPB, PB: matches tshark', () => {
  const fr4 = framesOf(fx('http-lo4.pcap'));
  const fr6 = framesOf(fx('http-lo6.pcap'));
  for (const le of [false, true]) {
    const b = new PcapngBuilder(le).shb()
      .idb(1, { name: 'eth-ns', tsresol: 9 })
      .idb(1, { name: 'eth-2^-20', tsresol: 0x80 | 20, tsoffset: 10n })
      .idb(1, { name: 'eth-ms', tsresol: 3 });
    fr4.forEach((f, i) => {
      const us = BigInt(f.tsUs);
      if (i % 3 === 0) b.epb(0, us * 1000n + 321n, f.data, { origLen: f.origLen, flags: i % 2 ? 1 : 2 });
      else if (i % 3 === 1) b.epb(1, ((us - 10_000_000n) << 20n) / 1_000_000n, f.data);
      else b.epb(2, us / 1000n, f.data);
    });
    b.block(5, Buffer.alloc(16)) // ISB-shaped, skipped
      .block(0x40000bad, Buffer.from('custom block body'))
      .shb() // a new section forgets the interfaces above
      .idb(1, { snaplen: 100 });
    fr6.forEach((f, i) => {
      if (i % 2) b.spb(f.data.subarray(0, Math.min(100, f.data.length)), f.data.length);
      else b.pb(0, BigInt(f.tsUs), f.data, { flags: 2 });
    });
    const file = path.join(tmp, `built-${le ? 'le' : 'be'}.pcapng`);
    writeFileSync(file, b.build());
    const frames: Array<{ tsUs: number; ifindex: number; ifname?: string; direction?: string; caplen: number }> = [];
    const sum = readCaptureFile(file, (f) => frames.push({ tsUs: f.tsUs, ifindex: f.ifindex, ifname: f.ifname, direction: f.direction, caplen: f.data.length }));
    assert.equal(sum.error, undefined, JSON.stringify(sum.error));
    assert.equal(sum.frames, fr4.length + fr6.length);
    // -Y eth: tshark also lists the custom block as a record; we skip it (it carries no packet).
    const ts = tsharkFields(file, ['frame.time_epoch', 'frame.interface_id', 'frame.cap_len', 'frame.interface_name'], ['-Y', 'eth']);
    assert.equal(ts.length, frames.length);
    frames.forEach((f, i) => {
      const t = ts[i]!;
      // tshark shows SPBs (no timestamp) at time 0; we carry the previous timestamp forward instead.
      if (i >= fr4.length && (i - fr4.length) % 2 === 1) assert.equal(f.tsUs, frames[i - 1]!.tsUs);
      else assert.equal(f.tsUs, epochToUs(t[0]!), `frame ${i} time`);
      assert.equal(f.ifindex, Number(t[1]), `frame ${i} interface`);
      assert.equal(f.caplen, Number(t[2]), `frame ${i} caplen`);
      // tshark 4.0 keeps showing the first section's interface names after a new SHB; the spec (and we) reset them.
      if (i < fr4.length) assert.equal(f.ifname ?? 'unknown', t[3], `frame ${i} ifname`);
      else assert.equal(f.ifname, undefined);
    });
    // Timestamps survive each resolution (ns and 2^-20 lose sub-µs precision only: truncation, not rounding)
    fr4.forEach((f, i) => {
      const got = frames[i]!.tsUs;
      if (i % 3 === 2) assert.equal(got, Math.floor(f.tsUs / 1000) * 1000);
      else assert.ok(got <= f.tsUs && f.tsUs - got <= 1, `frame ${i}: ${got} vs ${f.tsUs}`);
    });
    // Directions from the flags option: inbound=1, outbound=2
    fr4.forEach((_, i) => { if (i % 3 === 0) assert.equal(frames[i]!.direction, i % 2 ? 'in' : 'out'); });
    assert.equal(frames[fr4.length]!.direction, 'out');
    assert.equal(frames[fr4.length + 1]!.direction, undefined);
  }
});

test('pcap link-type field FCS bits are masked off the link type', () => {
  const fr = framesOf(fx('http-lo4.pcap'));
  const data = readFileSync(fx('http-lo4.pcap'));
  data.writeUInt32LE((1 | 0x04000000 | (2 << 28)) >>> 0, 20); // FCS present, 2 × 16 bits
  const f = path.join(tmp, 'fcs.pcap');
  writeFileSync(f, data);
  const lts: number[] = [];
  const s = readCaptureFile(f, (x) => lts.push(x.linkType));
  assert.equal(s.error, undefined);
  assert.equal(lts.length, fr.length);
  assert.ok(lts.every((l) => l === 1));
});

/** Record boundaries of a pcap from tshark's caplens (independent of our parser). */
function pcapBoundaries(file: string): number[] {
  const caplens = tsharkFields(file, ['frame.cap_len']).map((r) => Number(r[0]));
  const b = [24];
  for (const c of caplens) b.push(b[b.length - 1]! + 16 + c);
  return b;
}

/** Block boundaries and packet-block flags of a pcapng by walking block lengths. */
function pcapngBoundaries(buf: Buffer): Array<{ start: number; packet: boolean }> {
  const out: Array<{ start: number; packet: boolean }> = [];
  let o = 0;
  while (o < buf.length) {
    const t = buf.readUInt32LE(o);
    out.push({ start: o, packet: t === 6 || t === 3 || t === 2 });
    o += buf.readUInt32LE(o + 4);
  }
  return out;
}

test('pcap cut at every offset: all complete frames delivered, error names file and offset', () => {
  const file = fx('http-lo4.pcap');
  const full = readFileSync(file);
  const bounds = pcapBoundaries(file);
  assert.equal(bounds[bounds.length - 1], full.length);
  const cut = path.join(tmp, 'cut.pcap');
  for (let n = 0; n < full.length; n++) {
    writeFileSync(cut, full.subarray(0, n));
    const s = readCaptureFile(cut, () => {}, { chunkSize: 256 });
    const complete = bounds.filter((b) => b <= n).length - 1; // records ending at or before n
    if (n < 24) {
      assert.equal(s.frames, 0);
      assert.equal(s.error?.code, 'WL_ERR_TRUNCATED', `cut ${n}`);
      assert.equal(s.error?.offset, 0);
      continue;
    }
    assert.equal(s.frames, complete, `cut ${n}`);
    if (bounds.includes(n)) { assert.equal(s.error, undefined, `cut ${n} on a boundary`); continue; }
    const start = bounds[complete]!;
    assert.equal(s.error?.code, 'WL_ERR_TRUNCATED');
    assert.equal(s.error?.file, cut);
    assert.equal(s.error?.offset, start, `cut ${n}`);
    assert.ok(s.error?.message.includes(`at byte ${start}`), s.error?.message);
    assert.ok(s.error?.message.includes(cut), s.error?.message);
    assert.ok(s.error?.message.includes(`${n - start} left`), s.error?.message);
    if (n - start >= 16) assert.ok(s.error?.message.includes(`truncated packet record at byte ${start} (needs ${bounds[complete + 1]! - start} bytes`), s.error?.message);
  }
});

test('pcapng cut at every offset: all complete frames delivered, error at the partial block', () => {
  const file = fx('http-two-iface.pcapng');
  const full = readFileSync(file);
  const blocks = pcapngBoundaries(full);
  const cut = path.join(tmp, 'cut.pcapng');
  for (let n = 4; n < full.length; n++) {
    writeFileSync(cut, full.subarray(0, n));
    const s = readCaptureFile(cut, () => {}, { chunkSize: 128 });
    const whole = blocks.filter((b, i) => (blocks[i + 1]?.start ?? full.length) <= n);
    assert.equal(s.frames, whole.filter((b) => b.packet).length, `cut ${n}`);
    const partial = blocks.find((b, i) => b.start < n && (blocks[i + 1]?.start ?? full.length) > n);
    if (!partial) { assert.equal(s.error, undefined); continue; }
    assert.equal(s.error?.code, 'WL_ERR_TRUNCATED', `cut ${n}`);
    assert.equal(s.error?.offset, partial.start, `cut ${n}`);
    assert.ok(s.error?.message.startsWith(`${cut}: truncated `), s.error?.message);
  }
});

test('corrupt records stop the read with WL_ERR_MALFORMED after the frames before them', () => {
  const file = fx('http-lo4.pcap');
  const bounds = pcapBoundaries(file);
  const bad = Buffer.from(readFileSync(file));
  bad.writeUInt32LE(0x7fffffff, bounds[5]! + 8); // caplen of record 5
  const f = path.join(tmp, 'corrupt.pcap');
  writeFileSync(f, bad);
  const s = readCaptureFile(f, () => {});
  assert.equal(s.frames, 5);
  assert.equal(s.error?.code, 'WL_ERR_MALFORMED');
  assert.equal(s.error?.offset, bounds[5]);

  const ng = Buffer.from(readFileSync(fx('http-lo4.pcapng')));
  const blocks = pcapngBoundaries(ng);
  const third = blocks.filter((b) => b.packet)[2]!;
  const len = ng.readUInt32LE(third.start + 4);
  ng.writeUInt32LE(len + 4, third.start + len - 4); // trailing length disagrees
  const g = path.join(tmp, 'corrupt.pcapng');
  writeFileSync(g, ng);
  const t = readCaptureFile(g, () => {});
  assert.equal(t.frames, 2);
  assert.equal(t.error?.code, 'WL_ERR_MALFORMED');
  assert.equal(t.error?.offset, third.start);
  assert.match(t.error!.message, /trailing length/);
});

test('unknown magic, gzip, empty and missing files are reported, not thrown', () => {
  const f = path.join(tmp, 'junk.bin');
  writeFileSync(f, 'hello world, not a capture');
  const s = readCaptureFile(f, () => assert.fail('no frames'));
  assert.equal(s.error?.offset, 0);
  assert.equal(s.error?.code, 'WL_ERR_UNSUPPORTED');
  assert.match(s.error!.message, /magic 0x68656c6c/);
  writeFileSync(f, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]));
  assert.match(readCaptureFile(f, () => {}).error!.message, /gzip/);
  writeFileSync(f, '');
  assert.equal(readCaptureFile(f, () => {}).error?.code, 'WL_ERR_TRUNCATED');
  const m = readCaptureFile(path.join(tmp, 'does-not-exist.pcap'), () => {});
  assert.equal(m.error?.code, 'WL_ERR_IO');
  assert.match(m.error!.message, /ENOENT/);
});

test('exceptions thrown by onFrame propagate', () => {
  assert.throws(() => readCaptureFile(fx('http-lo4.pcap'), () => { throw new Error('boom'); }), /boom/);
});

test('readCaptureStream: same frames as readCaptureFile, whatever the chunking', async () => {
  for (const name of ['http-lo4.pcap', 'http-two-iface.pcapng', 'http-lo6-ns.pcapng']) {
    const want = ourRows(fx(name)).rows;
    const buf = readFileSync(fx(name));
    for (const step of [1, 7, 100, 4096]) {
      const chunks: Buffer[] = [];
      for (let o = 0; o < buf.length; o += step) chunks.push(buf.subarray(o, o + step));
      const rows: string[][] = [];
      const s = await readCaptureStream(Readable.from(chunks), (f) => rows.push(rowOf(f)), { chunkSize: 256 });
      assert.equal(s.error, undefined);
      assert.deepEqual(rows, want, `${name} step ${step}`);
    }
    const cutS = await readCaptureStream(Readable.from([buf.subarray(0, buf.length - 3)]), () => {});
    const cutFile = path.join(tmp, 'stream-cut');
    writeFileSync(cutFile, buf.subarray(0, buf.length - 3));
    const cutF = readCaptureFile(cutFile, () => {});
    assert.equal(cutS.error?.code, 'WL_ERR_TRUNCATED');
    assert.equal(cutS.error?.file, '-');
    assert.equal(cutS.error?.offset, cutF.error?.offset);
    assert.equal(cutS.frames, cutF.frames);
    assert.ok(cutS.frames >= want.length - 1);
  }
});

test('PcapWriter output reads back identically here and in tshark (µs and ns)', () => {
  const src = framesOf(fx('http-lo6.pcap'));
  for (const nanosecond of [false, true]) {
    const f = path.join(tmp, `w-${nanosecond}.pcap`);
    const w = new PcapWriter(f, { nanosecond, snaplen: 90 });
    for (const fr of src) w.write(fr.tsUs, fr.data, fr.origLen);
    w.close();
    const back: Array<{ tsUs: number; len: number; orig: number; head: string }> = [];
    assert.equal(readCaptureFile(f, (x) => back.push({ tsUs: x.tsUs, len: x.data.length, orig: x.origLen, head: x.data.toString('hex') })).error, undefined);
    assert.deepEqual(back, src.map((x) => ({ tsUs: x.tsUs, len: Math.min(90, x.data.length), orig: x.origLen, head: x.data.subarray(0, 90).toString('hex') })));
    const ts = tsharkFields(f, ['frame.time_epoch', 'frame.cap_len', 'frame.len']);
    assert.deepEqual(ts.map((r) => [epochToUs(r[0]!), Number(r[1]), Number(r[2])]), back.map((b) => [b.tsUs, b.len, b.orig]));
  }
});

test('property: mutated capture files never throw and report offsets inside the file', async () => {
  const seeds = ['http-lo4.pcap', 'http-two-iface.pcapng', 'http-any-sll2.pcap'].map((n) => readFileSync(fx(n)));
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 0, max: seeds.length - 1 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
    fc.nat(),
    async (which, muts, cutAt) => {
      const b = Buffer.from(seeds[which]!);
      for (const [pos, v] of muts) b[pos % b.length] = v;
      const data = b.subarray(0, b.length - (cutAt % 64));
      const stats = newDecodeStats();
      let frames = 0;
      const s = await readCaptureStream(Readable.from([data]), (f) => {
        frames++;
        assert.ok(f.data.length <= data.length);
        decodeFrame(f, stats);
      });
      assert.equal(s.frames, frames);
      assert.equal(stats.errorsByLayer['internal'], undefined, stats.lastError?.message);
      if (s.error) assert.ok(s.error.offset >= 0 && s.error.offset <= data.length, JSON.stringify(s.error));
    }), { numRuns: 400 });
});
