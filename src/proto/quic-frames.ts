/**
 * QUIC frames (RFC 9000 §19, DATAGRAM from RFC 9221), CRYPTO-stream reassembly per packet-number space, and the
 * quic_transport_parameters TLS extension (RFC 9000 §18).
 *
 * parseFrames never throws: it returns the frames decoded up to the first one it cannot read, and then a QuicError
 * (an unknown frame type stops the packet, since its length cannot be known).
 */
import { QuicErrorCode, QuicFail, Reader, asQuicError, type QuicError } from './quic.js';

/** Frame type values (RFC 9000 §12.4, Table 3; RFC 9221 §4). */
export const FrameType = {
  PADDING: 0x00,
  PING: 0x01,
  ACK: 0x02,
  ACK_ECN: 0x03,
  RESET_STREAM: 0x04,
  STOP_SENDING: 0x05,
  CRYPTO: 0x06,
  NEW_TOKEN: 0x07,
  /** 0x08..0x0f: STREAM with the OFF (0x04), LEN (0x02) and FIN (0x01) bits */
  STREAM: 0x08,
  MAX_DATA: 0x10,
  MAX_STREAM_DATA: 0x11,
  MAX_STREAMS_BIDI: 0x12,
  MAX_STREAMS_UNI: 0x13,
  DATA_BLOCKED: 0x14,
  STREAM_DATA_BLOCKED: 0x15,
  STREAMS_BLOCKED_BIDI: 0x16,
  STREAMS_BLOCKED_UNI: 0x17,
  NEW_CONNECTION_ID: 0x18,
  RETIRE_CONNECTION_ID: 0x19,
  PATH_CHALLENGE: 0x1a,
  PATH_RESPONSE: 0x1b,
  CONNECTION_CLOSE: 0x1c,
  CONNECTION_CLOSE_APP: 0x1d,
  HANDSHAKE_DONE: 0x1e,
  DATAGRAM: 0x30,
  DATAGRAM_LEN: 0x31,
} as const;

const STREAM_BIT_OFF = 0x04;
const STREAM_BIT_LEN = 0x02;
const STREAM_BIT_FIN = 0x01;

/** A decoded frame; `type` is the qlog name (padding, ack, stream, …), the other fields as the frame has them. */
export interface QuicFrame {
  type: string;
  /** padding: bytes of consecutive PADDING collapsed into this one frame */
  length?: number;
  // ack
  largest_acknowledged?: number;
  ack_delay?: number;
  /** [smallest, largest] pairs, largest range first (as on the wire) */
  acked_ranges?: Array<[number, number]>;
  ect0?: number;
  ect1?: number;
  ce?: number;
  // streams
  stream_id?: number;
  offset?: number;
  fin?: boolean;
  error_code?: number;
  final_size?: number;
  /** crypto, stream, datagram: the data (a view of the decrypted payload; not serialized) */
  data?: Buffer;
  // flow control
  maximum?: number;
  limit?: number;
  stream_type?: 'bidirectional' | 'unidirectional';
  // connection IDs
  sequence_number?: number;
  retire_prior_to?: number;
  connection_id?: string;
  stateless_reset_token?: string;
  token_length?: number;
  // path
  path_data?: string;
  // close
  error_space?: 'transport' | 'application';
  trigger_frame_type?: number;
  reason?: string;
}

export interface FrameParseResult {
  frames: QuicFrame[];
  error?: QuicError;
}

/** Bound on ACK ranges decoded from one frame (a hostile frame could claim millions). */
const MAX_ACK_RANGES = 256;

/** Decode every frame of a decrypted packet payload. */
export function parseFrames(payload: Buffer): FrameParseResult {
  const frames: QuicFrame[] = [];
  const r = new Reader(payload, 0, payload.length, 'frame');
  try {
    while (r.left > 0) {
      const at = r.pos;
      const type = r.varint('frame type');
      frames.push(parseFrame(r, type, at));
    }
    return { frames };
  } catch (e) {
    const err = asQuicError(e, r.pos);
    // a frame cut short inside a decrypted (authenticated) payload is malformed, not a capture truncation
    if (err.code === QuicErrorCode.TRUNCATED) err.code = QuicErrorCode.FRAME;
    return { frames, error: err };
  }
}

function hexOf(b: Buffer): string { return b.toString('hex'); }

function parseFrame(r: Reader, type: number, at: number): QuicFrame {
  if (type >= 0x08 && type <= 0x0f) {
    const f: QuicFrame = { type: 'stream', stream_id: r.varint('STREAM stream id') };
    f.offset = (type & STREAM_BIT_OFF) !== 0 ? r.varint('STREAM offset') : 0;
    const len = (type & STREAM_BIT_LEN) !== 0 ? r.varint('STREAM length') : r.left;
    f.length = len;
    f.fin = (type & STREAM_BIT_FIN) !== 0;
    f.data = r.bytes(len, 'STREAM data');
    return f;
  }
  switch (type) {
    case FrameType.PADDING: {
      let n = 1;
      while (r.left > 0 && r.buf[r.pos] === 0) { r.pos++; n++; }
      return { type: 'padding', length: n };
    }
    case FrameType.PING:
      return { type: 'ping' };
    case FrameType.ACK:
    case FrameType.ACK_ECN: {
      const largest = r.varint('ACK largest acknowledged');
      const ackDelay = r.varint('ACK delay');
      const rangeCount = r.varint('ACK range count');
      const firstRange = r.varint('ACK first range');
      if (firstRange > largest) throw new QuicFail(QuicErrorCode.FRAME, at, `ACK first range ${firstRange} above largest acknowledged ${largest}`);
      const ranges: Array<[number, number]> = [[largest - firstRange, largest]];
      let smallest = largest - firstRange;
      for (let i = 0; i < rangeCount; i++) {
        const gap = r.varint('ACK gap');
        const len = r.varint('ACK range length');
        const hi = smallest - gap - 2;
        const lo = hi - len;
        if (lo < 0) throw new QuicFail(QuicErrorCode.FRAME, at, `ACK range ${i + 1} goes below packet number 0`);
        if (ranges.length < MAX_ACK_RANGES) ranges.push([lo, hi]);
        smallest = lo;
      }
      const f: QuicFrame = { type: 'ack', largest_acknowledged: largest, ack_delay: ackDelay, acked_ranges: ranges };
      if (type === FrameType.ACK_ECN) {
        f.ect0 = r.varint('ACK ECT0'); f.ect1 = r.varint('ACK ECT1'); f.ce = r.varint('ACK ECN-CE');
      }
      return f;
    }
    case FrameType.RESET_STREAM:
      return { type: 'reset_stream', stream_id: r.varint('RESET_STREAM stream id'), error_code: r.varint('RESET_STREAM error code'), final_size: r.varint('RESET_STREAM final size') };
    case FrameType.STOP_SENDING:
      return { type: 'stop_sending', stream_id: r.varint('STOP_SENDING stream id'), error_code: r.varint('STOP_SENDING error code') };
    case FrameType.CRYPTO: {
      const offset = r.varint('CRYPTO offset');
      const len = r.varint('CRYPTO length');
      return { type: 'crypto', offset, length: len, data: r.bytes(len, 'CRYPTO data') };
    }
    case FrameType.NEW_TOKEN: {
      const len = r.varint('NEW_TOKEN length');
      if (len === 0) throw new QuicFail(QuicErrorCode.FRAME, at, 'NEW_TOKEN with an empty token');
      r.bytes(len, 'NEW_TOKEN token');
      return { type: 'new_token', token_length: len };
    }
    case FrameType.MAX_DATA:
      return { type: 'max_data', maximum: r.varint('MAX_DATA maximum') };
    case FrameType.MAX_STREAM_DATA:
      return { type: 'max_stream_data', stream_id: r.varint('MAX_STREAM_DATA stream id'), maximum: r.varint('MAX_STREAM_DATA maximum') };
    case FrameType.MAX_STREAMS_BIDI:
    case FrameType.MAX_STREAMS_UNI:
      return { type: 'max_streams', stream_type: type === FrameType.MAX_STREAMS_BIDI ? 'bidirectional' : 'unidirectional', maximum: r.varint('MAX_STREAMS maximum') };
    case FrameType.DATA_BLOCKED:
      return { type: 'data_blocked', limit: r.varint('DATA_BLOCKED limit') };
    case FrameType.STREAM_DATA_BLOCKED:
      return { type: 'stream_data_blocked', stream_id: r.varint('STREAM_DATA_BLOCKED stream id'), limit: r.varint('STREAM_DATA_BLOCKED limit') };
    case FrameType.STREAMS_BLOCKED_BIDI:
    case FrameType.STREAMS_BLOCKED_UNI:
      return { type: 'streams_blocked', stream_type: type === FrameType.STREAMS_BLOCKED_BIDI ? 'bidirectional' : 'unidirectional', limit: r.varint('STREAMS_BLOCKED limit') };
    case FrameType.NEW_CONNECTION_ID: {
      const seq = r.varint('NEW_CONNECTION_ID sequence number');
      const retire = r.varint('NEW_CONNECTION_ID retire prior to');
      const len = r.u8('NEW_CONNECTION_ID length');
      if (len < 1 || len > 20) throw new QuicFail(QuicErrorCode.FRAME, at, `NEW_CONNECTION_ID with a connection ID of ${len} bytes`);
      const cid = r.bytes(len, 'NEW_CONNECTION_ID connection id');
      const token = r.bytes(16, 'NEW_CONNECTION_ID stateless reset token');
      return { type: 'new_connection_id', sequence_number: seq, retire_prior_to: retire, connection_id: hexOf(cid), stateless_reset_token: hexOf(token) };
    }
    case FrameType.RETIRE_CONNECTION_ID:
      return { type: 'retire_connection_id', sequence_number: r.varint('RETIRE_CONNECTION_ID sequence number') };
    case FrameType.PATH_CHALLENGE:
      return { type: 'path_challenge', path_data: hexOf(r.bytes(8, 'PATH_CHALLENGE data')) };
    case FrameType.PATH_RESPONSE:
      return { type: 'path_response', path_data: hexOf(r.bytes(8, 'PATH_RESPONSE data')) };
    case FrameType.CONNECTION_CLOSE:
    case FrameType.CONNECTION_CLOSE_APP: {
      const app = type === FrameType.CONNECTION_CLOSE_APP;
      const f: QuicFrame = { type: 'connection_close', error_space: app ? 'application' : 'transport', error_code: r.varint('CONNECTION_CLOSE error code') };
      if (!app) f.trigger_frame_type = r.varint('CONNECTION_CLOSE frame type');
      const len = r.varint('CONNECTION_CLOSE reason length');
      f.reason = r.bytes(len, 'CONNECTION_CLOSE reason').toString('utf8');
      return f;
    }
    case FrameType.HANDSHAKE_DONE:
      return { type: 'handshake_done' };
    case FrameType.DATAGRAM:
    case FrameType.DATAGRAM_LEN: {
      const len = type === FrameType.DATAGRAM_LEN ? r.varint('DATAGRAM length') : r.left;
      return { type: 'datagram', length: len, data: r.bytes(len, 'DATAGRAM data') };
    }
    default:
      throw new QuicFail(QuicErrorCode.UNKNOWN_FRAME, at, `unknown frame type 0x${type.toString(16)}: the rest of the packet is not decoded`);
  }
}

// ---- CRYPTO stream reassembly ----

/** Bound on one space's CRYPTO stream (a ClientHello with post-quantum key shares is ~2 KiB; certificates more). */
export const MAX_CRYPTO_STREAM = 64 * 1024;

/**
 * The CRYPTO stream of one packet-number space, from frames in any order, overlapping or repeated (retransmissions).
 * `contiguous()` is the prefix from offset 0 with no hole.
 */
export class CryptoStream {
  private buf = Buffer.alloc(0);
  /** received byte ranges [start, end), sorted and merged */
  private ranges: Array<[number, number]> = [];

  /** Add a CRYPTO frame's data; false (nothing kept) when it reaches beyond MAX_CRYPTO_STREAM. */
  add(offset: number, data: Buffer): boolean {
    const end = offset + data.length;
    if (end > MAX_CRYPTO_STREAM) return false;
    if (data.length === 0) return true;
    if (end > this.buf.length) {
      const nb = Buffer.alloc(Math.min(MAX_CRYPTO_STREAM, Math.max(end, this.buf.length * 2)));
      this.buf.copy(nb);
      this.buf = nb;
    }
    data.copy(this.buf, offset); // overlapping bytes are the same bytes (RFC 9000 §19.6); the later copy wins
    this.ranges.push([offset, end]);
    this.ranges.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const rg of this.ranges) {
      const last = merged[merged.length - 1];
      if (last !== undefined && rg[0] <= last[1]) last[1] = Math.max(last[1], rg[1]);
      else merged.push([rg[0], rg[1]]);
    }
    this.ranges = merged;
    return true;
  }

  /** Length of the prefix received without a hole. */
  get contiguousLength(): number {
    const first = this.ranges[0];
    return first !== undefined && first[0] === 0 ? first[1] : 0;
  }

  /** The gap-free prefix (a view; valid until the next add). */
  contiguous(): Buffer {
    return this.buf.subarray(0, this.contiguousLength);
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
    this.ranges = [];
  }
}

// ---- transport parameters (RFC 9000 §18.2; RFC 9221; RFC 9368; draft-29 uses the same encoding with codepoint 0xffa5) ----

const TP_NAMES: Record<number, string> = {
  0x00: 'original_destination_connection_id',
  0x01: 'max_idle_timeout',
  0x02: 'stateless_reset_token',
  0x03: 'max_udp_payload_size',
  0x04: 'initial_max_data',
  0x05: 'initial_max_stream_data_bidi_local',
  0x06: 'initial_max_stream_data_bidi_remote',
  0x07: 'initial_max_stream_data_uni',
  0x08: 'initial_max_streams_bidi',
  0x09: 'initial_max_streams_uni',
  0x0a: 'ack_delay_exponent',
  0x0b: 'max_ack_delay',
  0x0c: 'disable_active_migration',
  0x0d: 'preferred_address',
  0x0e: 'active_connection_id_limit',
  0x0f: 'initial_source_connection_id',
  0x10: 'retry_source_connection_id',
  0x11: 'version_information',
  0x20: 'max_datagram_frame_size',
  0x2ab2: 'grease_quic_bit',
};
/** parameters whose value is one varint */
const TP_INTEGER = new Set([0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0e, 0x20]);
/** parameters whose value is a connection ID or token: shown as hex */
const TP_BYTES = new Set([0x00, 0x02, 0x0f, 0x10]);
/** flags: present means true */
const TP_FLAG = new Set([0x0c, 0x2ab2]);

export type TransportParameters = Record<string, number | string | boolean | number[]>;

/**
 * Decode the extension's value: known parameters by name (integers, hex for IDs, version lists for
 * version_information), unknown ones as `unknown_0x…` with their hex. Stops at the first parameter that overruns.
 */
export function parseTransportParameters(b: Buffer): { params: TransportParameters; error?: QuicError } {
  const params: TransportParameters = {};
  const r = new Reader(b, 0, b.length, 'transport parameters');
  try {
    while (r.left > 0) {
      const id = r.varint('parameter id');
      const len = r.varint('parameter length');
      const v = r.bytes(len, 'parameter value');
      const name = TP_NAMES[id];
      if (name === undefined) {
        // GREASE ids (31 * N + 27) and extensions we do not know: kept as hex, not decoded
        params[`unknown_0x${id.toString(16)}`] = v.toString('hex');
      } else if (TP_INTEGER.has(id)) {
        const vr = new Reader(v, 0, v.length, name);
        params[name] = vr.varint(name);
      } else if (TP_BYTES.has(id)) {
        params[name] = v.toString('hex');
      } else if (TP_FLAG.has(id)) {
        params[name] = true;
      } else if (id === 0x11) {
        const vs: number[] = [];
        for (let i = 0; i + 4 <= v.length; i += 4) vs.push(v.readUInt32BE(i));
        params[name] = vs;
      } else {
        params[name] = v.toString('hex');
      }
    }
    return { params };
  } catch (e) {
    return { params, error: asQuicError(e, r.pos) };
  }
}
