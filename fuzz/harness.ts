/** Pieces shared by the fuzz targets. */
import type { Frame, TransportSegment } from '../src/records.js';
import { decodeFrame, newDecodeStats, type DecodeStats } from '../src/decode/frame.js';
import { WL_ERR_INTERNAL } from '../src/decode/errors.js';
import { check, InputReader } from './target.js';

const frame: Frame = { tsUs: 0, linkType: 1, data: Buffer.alloc(0), origLen: 0, ifindex: 0, ifname: undefined, direction: undefined };

/** Run a frame through the whole per-packet decoder; an internal error (a decoder threw) is a finding. */
export function decodeWhole(linkType: number, data: Buffer, origLen = data.length, stats: DecodeStats = newDecodeStats()): TransportSegment | undefined {
  frame.linkType = linkType; frame.data = data; frame.origLen = origLen;
  const seg = decodeFrame(frame, stats);
  check(stats.errorsByLayer.internal === undefined, `decodeFrame caught an exception: ${stats.lastError?.message}`);
  const last = stats.lastError as { code?: string; message?: string } | undefined;
  check(last?.code !== WL_ERR_INTERNAL, `internal decode error: ${last?.message}`);
  if (seg !== undefined) {
    check(seg.payload.length <= data.length, 'payload longer than the frame');
    check(seg.payloadLen >= 0 || seg.fragment === true, `negative payload length ${seg.payloadLen}`);
    check(seg.sport >= 0 && seg.sport < 65536 && seg.dport >= 0 && seg.dport < 65536, 'port out of range');
  }
  return seg;
}

/** Bytes of a stream handed over in chunks whose sizes come from the input (so split points are fuzzed too). */
export function chunked(data: Buffer, sizes: number, each: (chunk: Buffer) => void): void {
  const pattern = [1, 2, 3, 7, 16, 64, 512, 1 << 20];
  let p = 0, i = 0;
  while (p < data.length) {
    const n = pattern[(sizes >> ((i++ % 4) * 2)) & 7]!;
    each(data.subarray(p, p + n));
    p += n;
  }
}

/**
 * A fuzzable sequence of TCP segments between two endpoints, each: direction+flags byte, sequence offset (u32,
 * from the direction's initial sequence number), bytes cut by the snaplen (u8), payload length (u16), payload.
 */
export interface FuzzSegment { fromClient: boolean; flags: number; seqOff: number; cut: number; payload: Buffer }

export function readSegments(data: Buffer): FuzzSegment[] {
  const r = new InputReader(data);
  const out: FuzzSegment[] = [];
  while (r.left >= 8 && out.length < 256) {
    const b = r.u8();
    const flags = r.u8();
    const seqOff = r.u32();
    const cut = r.u8();
    const len = r.u16();
    out.push({ fromClient: (b & 1) === 0, flags, seqOff, cut: cut & 0x7f, payload: r.bytes(len) });
  }
  return out;
}

export function writeSegments(segs: FuzzSegment[]): Buffer {
  const parts: Buffer[] = [];
  for (const s of segs) {
    const h = Buffer.alloc(9);
    h[0] = s.fromClient ? 0 : 1;
    h[1] = s.flags;
    h.writeUInt32BE(s.seqOff >>> 0, 2);
    h[6] = s.cut;
    h.writeUInt16BE(s.payload.length, 7);
    parts.push(h, s.payload);
  }
  return Buffer.concat(parts);
}

/** The fixtures' TCP connections as fuzz segment sequences (sequence numbers relative to each direction's first). */
export function connectionSeeds(conns: Array<{ segments: Array<{ fromClient: boolean; seg: TransportSegment }> }>): Buffer[] {
  return conns.map((c) => {
    const base: Array<number | undefined> = [undefined, undefined];
    return writeSegments(c.segments.map(({ fromClient, seg }) => {
      const d = fromClient ? 0 : 1;
      base[d] ??= seg.seq;
      return { fromClient, flags: seg.flags & 0xff, seqOff: (seg.seq - base[d]!) >>> 0, cut: 0, payload: seg.payload };
    }));
  });
}
