/**
 * HTTP/3 (RFC 9114) over the decrypted QUIC streams of one connection: each stream direction's data put back in
 * order by offset, frames (DATA, HEADERS, SETTINGS, GOAWAY, …) on request streams and the control stream,
 * unidirectional stream types (control, push, QPACK encoder and decoder), and header blocks decoded with QPACK
 * (qpack.ts). Produces one message per request and per response: its fields, body length and whether it ended.
 *
 * Never throws on bad input: a stream that cannot be read further gets an `error` and is not parsed again.
 */
import { readVarint } from './quic.js';
import { QpackDynamicTable, decodeFieldSection } from './qpack.js';

/** Frame types (RFC 9114 §7.2). Reserved/unknown types are skipped (§9). */
export const H3FrameType = {
  DATA: 0x00,
  HEADERS: 0x01,
  CANCEL_PUSH: 0x03,
  SETTINGS: 0x04,
  PUSH_PROMISE: 0x05,
  GOAWAY: 0x07,
  MAX_PUSH_ID: 0x0d,
} as const;

/** Unidirectional stream types (RFC 9114 §6.2; RFC 9204 §4.2). */
export const H3StreamType = {
  CONTROL: 0x00,
  PUSH: 0x01,
  QPACK_ENCODER: 0x02,
  QPACK_DECODER: 0x03,
} as const;

/** SETTINGS identifiers that matter here (RFC 9204 §5). */
const SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0x01;

/** What a stream direction carries, once known. */
const StreamKind = {
  MESSAGE: 'message',
  CONTROL: 'control',
  PUSH: 'push',
  ENCODER: 'qpack-encoder',
  DECODER: 'qpack-decoder',
  OTHER: 'other',
} as const;
type StreamKindName = (typeof StreamKind)[keyof typeof StreamKind];

type Side = 'client' | 'server';
const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

/** Bound on one frame held whole (HEADERS, SETTINGS) and on out-of-order data held per stream direction. */
const MAX_FRAME_HELD = 256 * 1024;
const MAX_OUT_OF_ORDER = 4 * 1024 * 1024;

export interface Http3Message {
  kind: 'request' | 'response';
  streamId: number;
  /** ms since the epoch: when the message ended (FIN, reset, or end of input) */
  time: number;
  /** decoded field lines in order, pseudo-headers included; undefined when not decodable */
  fields?: Array<[string, string]>;
  /** why `fields` is missing (blocked on QPACK inserts never seen, a decoding error, no HEADERS frame) */
  fieldsError?: string;
  /** DATA payload bytes */
  bodyLength: number;
  /** the direction ended with FIN (false: reset, or the input ended first) */
  complete: boolean;
  /** why parsing the stream stopped early */
  error?: string;
}

/** One direction of one stream: bytes in order, then frames. */
class Direction {
  /** next offset expected in order */
  next = 0;
  /** chunks ahead of `next`, by offset */
  readonly ahead = new Map<number, Buffer>();
  aheadBytes = 0;
  /** bytes received in order and not yet parsed */
  buf: Buffer = Buffer.alloc(0);
  kind?: StreamKindName;
  /** DATA (or skipped frame) payload bytes still to pass */
  skip = 0;
  skipIsData = false;
  finOffset?: number;
  ended = false;
  reset = false;
  error?: string;
  fields?: Array<[string, string]>;
  fieldsError?: string;
  /** a HEADERS payload waiting for QPACK inserts */
  blocked?: Buffer;
  bodyLength = 0;
  emitted = false;
  sawHeaders = false;
  constructor(readonly side: Side, readonly streamId: number) {}
}

export class Http3Connection {
  private readonly dirs = new Map<string, Direction>();
  /** each side's encoder table: decodes the header blocks that side sends */
  private readonly tables: Record<Side, QpackDynamicTable> = { client: new QpackDynamicTable(), server: new QpackDynamicTable() };
  /** SETTINGS each side sent (identifier → value) */
  readonly settings: Record<Side, Map<number, number> | undefined> = { client: undefined, server: undefined };
  readonly goaway: Record<Side, number | undefined> = { client: undefined, server: undefined };
  /** problems not tied to a message (encoder stream, control stream) */
  readonly errors: string[] = [];

  constructor(private readonly emit: (m: Http3Message) => void) {}

  /** Data of a STREAM frame sent by `side`. */
  streamData(side: Side, streamId: number, offset: number, data: Buffer, fin: boolean, timeMs: number): void {
    const d = this.dir(side, streamId);
    if (d.error !== undefined || d.ended) return;
    if (fin) d.finOffset = offset + data.length;
    const end = offset + data.length;
    if (end > d.next) {
      if (offset <= d.next) {
        this.deliver(d, data.subarray(d.next - offset), timeMs);
        // chunks that now follow in order
        for (;;) {
          let moved = false;
          for (const [o, b] of d.ahead) {
            if (o > d.next) continue;
            d.ahead.delete(o);
            d.aheadBytes -= b.length;
            if (o + b.length > d.next) this.deliver(d, b.subarray(d.next - o), timeMs);
            moved = true;
          }
          if (!moved || d.error !== undefined) break;
        }
      } else if (!d.ahead.has(offset) || d.ahead.get(offset)!.length < data.length) {
        d.aheadBytes += data.length - (d.ahead.get(offset)?.length ?? 0);
        d.ahead.set(offset, Buffer.from(data)); // a copy: the packet's buffer is not kept
        if (d.aheadBytes > MAX_OUT_OF_ORDER) this.fail(d, `more than ${MAX_OUT_OF_ORDER} bytes out of order (a gap never filled)`, timeMs);
      }
    }
    if (d.finOffset !== undefined && d.next >= d.finOffset && d.error === undefined) {
      d.ended = true;
      this.maybeEmit(d, timeMs);
    }
  }

  streamReset(side: Side, streamId: number, timeMs: number): void {
    const d = this.dir(side, streamId);
    if (d.ended) return;
    d.reset = true;
    d.ended = true;
    this.maybeEmit(d, timeMs);
  }

  /** End of input: messages not yet out (no FIN, or headers still blocked) are emitted as they are. */
  finish(timeMs: number): void {
    for (const d of this.dirs.values()) {
      if (d.emitted || d.kind !== StreamKind.MESSAGE) continue;
      if (d.blocked !== undefined) {
        const t = this.tables[d.side];
        d.fieldsError = `QPACK: blocked: the header block needs dynamic table inserts never received (${t.insertCount} received)`;
        d.blocked = undefined;
      }
      this.doEmit(d, timeMs);
    }
  }

  private dir(side: Side, streamId: number): Direction {
    const k = `${side}/${streamId}`;
    let d = this.dirs.get(k);
    if (d === undefined) {
      d = new Direction(side, streamId);
      // bidirectional streams are requests (client-initiated; RFC 9114 §6.1); unidirectional ones start with a type
      if ((streamId & 2) === 0) d.kind = StreamKind.MESSAGE;
      this.dirs.set(k, d);
    }
    return d;
  }

  private fail(d: Direction, why: string, timeMs: number): void {
    d.error = why;
    d.ahead.clear();
    d.buf = Buffer.alloc(0);
    if (d.kind === StreamKind.MESSAGE) this.maybeEmit(d, timeMs, true);
    else this.errors.push(`${d.side} stream ${d.streamId}: ${why}`);
  }

  private deliver(d: Direction, data: Buffer, timeMs: number): void {
    d.next += data.length;
    // DATA payload passes without being kept
    let chunk = data;
    if (d.skip > 0 && d.buf.length === 0) {
      const n = Math.min(d.skip, chunk.length);
      if (d.skipIsData) d.bodyLength += n;
      d.skip -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return;
    }
    d.buf = d.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([d.buf, chunk]);
    this.parse(d, timeMs);
  }

  private parse(d: Direction, timeMs: number): void {
    try {
      if (d.kind === undefined) {
        const t = readVarint(d.buf, 0);
        if (t === undefined) return;
        d.buf = d.buf.subarray(t.length);
        d.kind = t.value === H3StreamType.CONTROL ? StreamKind.CONTROL : t.value === H3StreamType.PUSH ? StreamKind.PUSH
          : t.value === H3StreamType.QPACK_ENCODER ? StreamKind.ENCODER : t.value === H3StreamType.QPACK_DECODER ? StreamKind.DECODER : StreamKind.OTHER;
      }
      if (d.kind === StreamKind.ENCODER) {
        const used = this.tables[d.side].encoderInstructions(d.buf);
        d.buf = d.buf.subarray(used);
        if (used > 0) this.unblock(d.side, timeMs);
        if (d.buf.length > MAX_FRAME_HELD) throw new Error(`QPACK encoder instruction over ${MAX_FRAME_HELD} bytes`);
        return;
      }
      if (d.kind === StreamKind.DECODER || d.kind === StreamKind.OTHER || d.kind === StreamKind.PUSH) {
        // acknowledgments, unknown stream types and pushes (not shown in this version): read past
        d.buf = Buffer.alloc(0);
        return;
      }
      this.frames(d, timeMs);
    } catch (e) {
      this.fail(d, (e as Error).message, timeMs);
    }
  }

  private frames(d: Direction, timeMs: number): void {
    while (d.buf.length > 0) {
      if (d.skip > 0) {
        const n = Math.min(d.skip, d.buf.length);
        if (d.skipIsData) d.bodyLength += n;
        d.skip -= n;
        d.buf = d.buf.subarray(n);
        continue;
      }
      const t = readVarint(d.buf, 0);
      if (t === undefined) return;
      const l = readVarint(d.buf, t.length);
      if (l === undefined) return;
      const head = t.length + l.length;
      const type = t.value, len = l.value;
      if (type === H3FrameType.DATA || !(type === H3FrameType.HEADERS || type === H3FrameType.SETTINGS || type === H3FrameType.GOAWAY)) {
        // DATA is counted, other frames (reserved, PUSH_PROMISE, MAX_PUSH_ID, PRIORITY_UPDATE, …) passed over
        if (type === H3FrameType.DATA && d.kind !== StreamKind.MESSAGE) throw new Error('DATA frame on the control stream');
        d.buf = d.buf.subarray(head);
        d.skip = len;
        d.skipIsData = type === H3FrameType.DATA;
        continue;
      }
      if (len > MAX_FRAME_HELD) throw new Error(`frame 0x${type.toString(16)} of ${len} bytes (over ${MAX_FRAME_HELD})`);
      if (d.buf.length < head + len) return; // wait for the whole frame
      const payload = Buffer.from(d.buf.subarray(head, head + len));
      d.buf = d.buf.subarray(head + len);
      if (type === H3FrameType.HEADERS) {
        if (d.kind !== StreamKind.MESSAGE) throw new Error('HEADERS frame on the control stream');
        this.headers(d, payload);
      } else if (type === H3FrameType.SETTINGS) {
        if (d.kind !== StreamKind.CONTROL) throw new Error('SETTINGS frame on a request stream');
        this.settingsFrame(d.side, payload, timeMs);
      } else if (type === H3FrameType.GOAWAY && d.kind === StreamKind.CONTROL) {
        const v = readVarint(payload, 0);
        if (v !== undefined) this.goaway[d.side] = v.value;
      }
    }
  }

  private settingsFrame(side: Side, p: Buffer, timeMs: number): void {
    const m = new Map<number, number>();
    let off = 0;
    while (off < p.length) {
      const id = readVarint(p, off);
      if (id === undefined) throw new Error('SETTINGS ends inside an identifier');
      const v = readVarint(p, off + id.length);
      if (v === undefined) throw new Error('SETTINGS ends inside a value');
      m.set(id.value, v.value);
      off += id.length + v.length;
    }
    this.settings[side] = m;
    // the side decoding the *other* side's header blocks announces the table size those blocks are encoded for
    this.tables[other(side)].maxCapacity = m.get(SETTINGS_QPACK_MAX_TABLE_CAPACITY) ?? 0;
    this.unblock(other(side), timeMs);
  }

  private headers(d: Direction, payload: Buffer): void {
    if (d.sawHeaders && d.fields !== undefined && !isInformational(d.fields)) return; // trailers: not shown
    if (d.blocked !== undefined) return; // (a second HEADERS behind a blocked one: the first decides)
    d.sawHeaders = true;
    this.decode(d, payload);
  }

  private decode(d: Direction, payload: Buffer): void {
    const r = decodeFieldSection(payload, this.tables[d.side]);
    if (r.status === 'blocked') {
      d.blocked = payload;
      return;
    }
    d.blocked = undefined;
    if (r.status === 'ok') {
      d.fields = r.fields;
      d.fieldsError = undefined;
    } else {
      d.fieldsError = `QPACK: ${r.message}`;
    }
  }

  /** After inserts (or SETTINGS) from `side`: header blocks waiting on that side's table are tried again. */
  private unblock(side: Side, timeMs: number): void {
    for (const d of this.dirs.values()) {
      if (d.side !== side || d.blocked === undefined) continue;
      this.decode(d, d.blocked);
      if (d.blocked === undefined) this.maybeEmit(d, timeMs);
    }
  }

  private maybeEmit(d: Direction, timeMs: number, force = false): void {
    if (d.emitted || d.kind !== StreamKind.MESSAGE) return;
    if (!force && (!d.ended || d.blocked !== undefined)) return;
    this.doEmit(d, timeMs);
  }

  private doEmit(d: Direction, timeMs: number): void {
    d.emitted = true;
    const m: Http3Message = {
      kind: d.side === 'client' ? 'request' : 'response', streamId: d.streamId, time: timeMs,
      bodyLength: d.bodyLength, complete: d.ended && !d.reset && d.error === undefined,
    };
    if (d.fields !== undefined) m.fields = d.fields;
    else m.fieldsError = d.fieldsError ?? (d.blocked !== undefined ? 'QPACK: blocked on dynamic table inserts' : 'no HEADERS frame seen');
    if (d.error !== undefined) m.error = d.error;
    else if (d.reset) m.error = 'stream reset';
    this.emit(m);
  }
}

function isInformational(fields: Array<[string, string]>): boolean {
  const s = fields.find(([n]) => n === ':status');
  return s !== undefined && s[1].length === 3 && s[1][0] === '1';
}
