import { Http2Parser, type Http2Handler } from '../../src/proto/http2.js';
import { streams } from '../seeds.js';
import { chunked } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

/**
 * One direction's HTTP/2 frame parser (frames, padding, CONTINUATION, SETTINGS, HPACK through it, stream table) fed
 * in fuzzed chunks with gaps. Byte 0: side, mid-stream, resync-after-gap, small buffers; byte 1: chunk sizes;
 * byte 2: gap pattern.
 */
export const target: FuzzTarget = {
  name: 'http2',
  what: 'HTTP/2 frame parser (Http2Parser): preface, every frame type, padding, CONTINUATION, HPACK, gaps, resync',
  maxLen: 8192,
  seeds: () => {
    const out: Buffer[] = [];
    for (const s of streams(() => true)) {
      const p = s.indexOf(PREFACE);
      if (p >= 0) out.push(Buffer.concat([Buffer.from([0, 0xff, 0]), s.subarray(p)]));
      const up = s.indexOf('HTTP/1.1 101');
      if (up >= 0) out.push(Buffer.concat([Buffer.from([1, 0xff, 0]), s.subarray(s.indexOf('\r\n\r\n', up) + 4)]));
    }
    return out;
  },
  dictionary: [PREFACE, Buffer.from('000000040000000000', 'hex'), Buffer.from('000000040100000000', 'hex'), Buffer.from('0000000104', 'hex'), Buffer.from('0000000905', 'hex'),
    Buffer.from('00000800', 'hex'), Buffer.from('0000000900000001', 'hex'), Buffer.from('00000401', 'hex'), Buffer.from('3fe11f', 'hex'), Buffer.from('82', 'hex'), Buffer.from('be', 'hex')],
  fuzz(data) {
    if (data.length < 3) return;
    const o = data[0]!;
    const handler: Http2Handler = {
      onHeaders(h) {
        check(h.streamId >= 0 && h.streamId < 2 ** 31, `stream id ${h.streamId}`);
        check(Array.isArray(h.fields) && h.missing >= 0, 'header block');
        for (const f of h.fields) check(typeof f.value === 'string' || f.missingIndex !== undefined, 'field value missing without missingIndex');
      },
      onData(id, bytes) { check(Number.isSafeInteger(bytes) && bytes >= 0, `DATA bytes ${bytes} on ${id}`); },
      onRst() {},
      onGoaway(_l, _c, debug) { check(typeof debug === 'string', 'GOAWAY debug'); },
      onError(e) { check(e.layer === 'http2' || e.layer === 'hpack', `error layer ${e.layer}`); check(typeof e.code === 'string' && e.code.startsWith('WL_ERR_'), `code ${e.code}`); },
      onStreamEnd(s) { check(s.dataBytes >= 0 && s.headerBytes >= 0, 'negative stream totals'); },
      onSettings(entries) { check(entries.length >= 0, 'settings'); },
    };
    const p = new Http2Parser(handler, {
      side: (o & 1) === 0 ? 'client' : 'server', midStream: (o & 2) !== 0, resyncAfterGap: (o & 4) !== 0,
      maxBuffered: (o & 8) !== 0 ? 256 : undefined, maxStreams: (o & 16) !== 0 ? 4 : undefined,
      tableSizeLimit: (o & 32) !== 0 ? 64 : undefined,
    });
    const gaps = data[2]!;
    let ts = 1, i = 0;
    chunked(data.subarray(3), data[1]!, (c) => {
      p.push(c, ts++);
      if ((gaps & 0x80) !== 0 && ((gaps >> (i++ % 7)) & 1) !== 0) p.gap(1 + (c.length & 0x3f));
      check(p.openStreams <= ((o & 16) !== 0 ? 4 : 4096), `${p.openStreams} open streams above the bound`);
    });
  },
};
