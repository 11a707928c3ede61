/**
 * Role and protocol of a connection from its first bytes: who sends a request line or the HTTP/2 preface (the
 * client), who sends a status line or a server's first SETTINGS (the server); for HTTP/2 picked up mid-way, a chunk
 * of whole frames whose first header block carries `:method` or `:status`. Until decided the tracker holds the
 * bytes as pending; a connection that shows nothing recognisable within the limits below is given up (not HTTP).
 */
import type { TraceRole, TraceTrackerStats } from '../../records.js';
import { looksLikeHttpStart, HTTP_START_REQUEST, HTTP_START_RESPONSE } from '../../proto/http1/index.js';
import {
  Http2Parser, matchHttp2Preface, looksLikeHttp2ServerStart, FRAME_CONTINUATION, FRAME_HEADER_LEN,
} from '../../proto/http2.js';
import type { Conn } from './conn.js';

/**
 * Pending bytes after which a connection whose role is unknown (no accept/connect seen) and in which neither
 * direction starts like HTTP is given up. A request line, a status line, the preface or a server's SETTINGS shows
 * in a message's first bytes, so 16 KiB without one is not HTTP we can parse (the same bound as HTTP/1's
 * NOT_HTTP_SKIP_LIMIT); holding more would only grow the copy that is never replayed.
 */
export const UNKNOWN_ROLE_LIMIT = 16 * 1024;

/**
 * Pending bytes after which a connection whose role is known but whose client has not spoken yet is given up. An
 * HTTP/2 server may send its SETTINGS before the client's preface is read, so the server's bytes are held while
 * waiting for the client's first bytes to confirm; 64 KiB is far past a server's opening frames, and a server that
 * keeps sending without a request is not one we can parse.
 */
export const SERVER_ONLY_LIMIT = 64 * 1024;

/** HTTP/2's initial SETTINGS_MAX_FRAME_SIZE (RFC 9113 6.5.2): a larger frame needs SETTINGS a mid-stream look has
 *  not seen, so bytes that claim one are not taken for a frame sequence. */
const H2_DEFAULT_MAX_FRAME_SIZE = 16384;

/** A decided connection: which parsers to make, and whether its start was missed. */
export interface Decision {
  proto: 'h1' | 'h2';
  midStream: boolean;
}

/** Decides an undecided connection's role from a chunk's first bytes: the sender of a request is the client. */
export function roleFromContent(dir: 'in' | 'out', b: Buffer): { role: TraceRole; proto: 'h1' | 'h2' } | undefined | 'wait' {
  const pre = matchHttp2Preface(b, 0, b.length);
  if (pre === 2) return { role: dir === 'out' ? 'client' : 'server', proto: 'h2' };
  if (pre === 1) return 'wait';
  const k = looksLikeHttpStart(b, 0, b.length);
  if (k === HTTP_START_REQUEST) return { role: dir === 'out' ? 'client' : 'server', proto: 'h1' };
  if (k === HTTP_START_RESPONSE) return { role: dir === 'out' ? 'server' : 'client', proto: 'h1' };
  if (looksLikeHttp2ServerStart(b, 0)) return { role: dir === 'out' ? 'server' : 'client', proto: 'h2' };
  return undefined;
}

/** Does b hold whole HTTP/2 frames, back to back, to its end? (a write of frames, seen mid-connection) */
export function isFrameSequence(b: Buffer): boolean {
  let p = 0;
  let n = 0;
  while (p + FRAME_HEADER_LEN <= b.length) {
    const len = (b[p] << 16) | (b[p + 1] << 8) | b[p + 2];
    const type = b[p + 3];
    if (type > FRAME_CONTINUATION || len > H2_DEFAULT_MAX_FRAME_SIZE || (b[p + 5] & 0x80) !== 0) return false;
    p += FRAME_HEADER_LEN + len;
    n++;
  }
  return n > 0 && p === b.length;
}

/** For a mid-stream HTTP/2 chunk: does it carry a request (:method) or a response (:status) block? */
export function h2Direction(b: Buffer): 'request' | 'response' | undefined {
  let found: 'request' | 'response' | undefined;
  const probe = new Http2Parser(
    {
      onHeaders: (h) => {
        if (found !== undefined) return;
        if (h.method !== undefined || h.path !== undefined) found = 'request';
        else if (h.status !== undefined) found = 'response';
      },
      onData() {}, onRst() {}, onGoaway() {}, onError() {},
    },
    { side: 'client', preface: false, midStream: true },
  );
  probe.push(b, 0);
  return found;
}

/**
 * Tries to decide role and protocol from what is pending. Returns the decision, or undefined while undecided (or
 * given up: then c.proto is 'not-http'). A role found on the way is set (and oriented) even when the protocol is
 * not decided yet.
 */
export function decide(c: Conn, stats: TraceTrackerStats): Decision | undefined {
  let proto: 'h1' | 'h2' | undefined;
  let midStream = !c.sawStart;
  if (c.role === undefined) {
    for (let i = 0; i < c.pending.length; i++) {
      const ch = c.pending[i];
      const r = roleFromContent(ch.dir, c.joined(ch.dir, i));
      if (r === 'wait') return undefined;
      if (r !== undefined) {
        c.role = r.role;
        c.orient();
        // a server's SETTINGS names the role only: the protocol start is the client's preface, looked at below
        if (r.proto === 'h2' && matchHttp2Preface(ch.buf) !== 2) break;
        proto = r.proto;
        if (i > 0 && proto === 'h1') {
          // bytes before the first start line are the tail of an earlier message: not parsable
          for (let j = 0; j < i; j++) stats.unparsedBytes += c.pending[j].buf.length;
          c.pending = c.pending.slice(i);
        }
        // HTTP/2 with the preface in view starts at the connection's start; HTTP/1 from a request line on
        midStream = r.proto === 'h2' ? !(ch.dir === (r.role === 'client' ? 'out' : 'in') && matchHttp2Preface(ch.buf) === 2) : i > 0 && !c.sawStart;
        break;
      }
      if (isFrameSequence(ch.buf)) {
        const kind = h2Direction(ch.buf);
        if (kind !== undefined) {
          c.role = (kind === 'request') === (ch.dir === 'out') ? 'client' : 'server';
          proto = 'h2';
          midStream = true;
          c.orient();
          break;
        }
      }
    }
    if (c.role === undefined) {
      // nothing recognisable yet; give up on a connection that keeps sending unknown bytes
      if (c.pendingBytes >= UNKNOWN_ROLE_LIMIT) giveUp(c, stats);
      return undefined;
    }
  }
  if (proto === undefined) {
    // role known (accept/connect or content): look at the client's first bytes
    const reqDir = c.role === 'server' ? 'in' : 'out';
    const first = c.pending.findIndex((ch) => ch.dir === reqDir);
    const firstRes = c.pending.findIndex((ch) => ch.dir !== reqDir);
    if (first < 0) {
      // only the server has spoken (an HTTP/2 server's SETTINGS, say): wait for the client's preface or request
      if (c.pendingBytes >= SERVER_ONLY_LIMIT) giveUp(c, stats);
      return undefined;
    }
    const b = c.joined(reqDir, first);
    const pre = matchHttp2Preface(b, 0, b.length);
    if (pre === 1) return undefined;
    if (pre === 2) {
      proto = 'h2';
      midStream = false;
    } else if (looksLikeHttpStart(b, 0, b.length) === HTTP_START_REQUEST) proto = 'h1';
    else if (isFrameSequence(c.pending[first].buf)) {
      proto = 'h2';
      midStream = true;
    } else if (firstRes >= 0 && looksLikeHttp2ServerStart(c.pending[firstRes].buf)) {
      proto = 'h2';
      midStream = true;
    } else {
      proto = 'h1';
      midStream = true;
    }
  }
  return { proto, midStream };
}

/** Not HTTP: what is pending is counted as unparsed, and every later byte too. */
function giveUp(c: Conn, stats: TraceTrackerStats): void {
  c.proto = 'not-http';
  stats.unparsedBytes += c.pendingBytes;
  c.pending = [];
  c.pendingBytes = 0;
}
