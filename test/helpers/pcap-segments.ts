/** The TCP segments of a capture file, decoded as the capture pipeline decodes them (payloads copied). */
import { readCaptureFile } from '../../src/decode/capture-file.js';
import { decodeFrame, newDecodeStats } from '../../src/decode/frame.js';
import type { TransportSegment } from '../../src/records.js';

export function pcapSegments(file: string): TransportSegment[] {
  const out: TransportSegment[] = [];
  const st = newDecodeStats();
  readCaptureFile(file, (f) => {
    const seg = decodeFrame(f, st);
    if (seg !== undefined) out.push({ ...seg, payload: Buffer.from(seg.payload) });
  });
  return out;
}

/** The client's first payload bytes of each connection to `serverPort`, joined, by client port. */
export function clientStreams(segs: TransportSegment[], serverPort: number): Map<number, Buffer> {
  const m = new Map<number, Buffer[]>();
  for (const s of segs) {
    if (s.dport !== serverPort || s.payload.length === 0) continue;
    const l = m.get(s.sport) ?? [];
    l.push(s.payload);
    m.set(s.sport, l);
  }
  return new Map([...m].map(([k, v]) => [k, Buffer.concat(v)]));
}
