/**
 * `wirelog capture --format ladder`: Guance's packet ladder as text. One block per L4 chunk (one connection on one
 * device): a header line naming the connection, then one line per packet, client column left, server column right,
 * the arrow pointing the way the packet went:
 *
 *   # 2026-11-23T10:00:00.100000Z tcp 10.0.0.5:41000 → 10.0.0.1:8080 ifname=eth0 netns=4026531840 conn_trace_id=1000_5000 chunk_id=1 packets=8
 *      +0.000 eth0 10.0.0.5:41000 → 10.0.0.1:8080 S seq=1000 ack=0 len=0 win=64240
 *      +0.050 eth0 10.0.0.5:41000 ← 10.0.0.1:8080 S. seq=5000 ack=1001 len=0 win=65160
 *      +0.350 eth0 10.0.0.5:41000 → 10.0.0.1:8080 P. seq=1001 ack=5001 len=20 win=502
 *        ↳ GET /index.html → 200
 *
 * Δ is milliseconds since the previous packet of the chunk (µs precision, exact). HTTP requests, as the HTTP
 * tracker reports them, become a marker line under the packet that carries the request's first byte (client to
 * server, `seq <= req_seq < seq + len`), with the final status when the response head was seen before the chunk is
 * written (else `?`: it comes in a later chunk). The sink is the HTTP tracker's sink as well as the L4 tracker's:
 * the trackers are fed each segment HTTP first, so a request whose head is in a chunk's packets is known when the
 * chunk is written.
 */
import type {
  HttpEventSink, HttpRequestEvent, HttpResponseEvent, HttpTransaction, L4Chunk, L4Packet, L4Sink, LineKind,
} from '../records.js';
import type { LineSink } from './log-writer.js';
import { IsoTimeFormatter } from './local-time.js';
import { tcpFlagLetters } from './l4-jsonl.js';

/** A request as the ladder marks it. */
interface Marker {
  seq: number;
  method: string;
  uri: string;
  /** final status once seen; 0 for an HTTP/0.9 answer */
  status?: number;
}

interface ConnMarkers {
  /** by the request's reqId */
  byReq: Map<number, Marker>;
  /** capture time of the chunk with FIN/RST that ended the connection on some device, or -1 */
  endUs: number;
  /** capture time of the last request or chunk of the connection */
  lastUs: number;
}

/** After a connection's last chunk on one device, its markers are kept this long (capture time) for the other
 *  devices the connection crosses, whose last chunks come a little later. */
const KEEP_AFTER_END_US = 5_000_000;
/** A connection without a request or chunk for this long (capture time; twice the trackers' idle timeout) has
 *  ended without a FIN or RST: its markers are dropped. */
const IDLE_US = 240_000_000;
/** At most this many requests waiting for their chunk (oldest connections dropped first). */
const MAX_MARKERS = 65_536;

/** `ip:port`, IPv6 in brackets. */
export function endpointText(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** `+1.234` milliseconds from an integer µs difference, exactly (no float rounding); `-` when negative. */
export function deltaMsText(dUs: number): string {
  const neg = dUs < 0;
  const a = Math.abs(Math.trunc(dUs));
  const ms = Math.floor(a / 1000);
  return `${neg ? '-' : '+'}${ms}.${String(a - ms * 1000).padStart(3, '0')}`;
}

const clean = (s: string): string => s.replace(/[\x00-\x1f\x7f]/g, ' ');

/** Key of a connection as both trackers see it: netns and the client/server endpoints (not the device: the HTTP
 *  tracker keys connections by netns and 5-tuple). */
function connKey(netns: number | undefined, cIp: string, cPort: number, sIp: string, sPort: number): string {
  return `${netns ?? ''} ${cIp} ${cPort} ${sIp} ${sPort}`;
}

export class LadderSink implements L4Sink, HttpEventSink {
  private readonly iso = new IsoTimeFormatter();
  private readonly conns = new Map<string, ConnMarkers>();
  private markerCount = 0;
  private nextExpireUs = -Infinity;

  constructor(private readonly out: LineSink) {}

  // HTTP events: remembered as markers, never written on their own
  request(ev: HttpRequestEvent): void {
    const seq = ev.req.seq;
    if (seq === undefined) return; // no sequence space (e.g. --no-reassembly mid-stream): cannot place it
    const c = ev.conn;
    const k = connKey(c.netns, c.clientIp, c.clientPort, c.serverIp, c.serverPort);
    let cm = this.conns.get(k);
    if (cm === undefined) {
      cm = { byReq: new Map(), endUs: -1, lastUs: ev.req.tsUs };
      this.conns.set(k, cm);
    }
    cm.lastUs = Math.max(cm.lastUs, ev.req.tsUs);
    if (!cm.byReq.has(ev.reqId)) this.markerCount++;
    cm.byReq.set(ev.reqId, { seq: seq >>> 0, method: ev.req.method, uri: ev.req.uri ?? '-' });
    while (this.markerCount > MAX_MARKERS) this.dropOldest();
  }

  response(ev: HttpResponseEvent): void {
    if (ev.res.status >= 100 && ev.res.status < 200) return; // interim
    const c = ev.conn;
    const m = this.conns.get(connKey(c.netns, c.clientIp, c.clientPort, c.serverIp, c.serverPort))?.byReq.get(ev.reqId);
    if (m !== undefined) m.status = ev.res.status;
  }

  transaction(_tx: HttpTransaction): void {}

  l4(c: L4Chunk): void {
    const first = c.packets[0];
    if (first === undefined) return;
    const kind: LineKind = c.connSide === 'server' ? 'CQ' : 'SQ';
    const client = endpointText(c.clientIp, c.clientPort), server = endpointText(c.serverIp, c.serverPort);
    const ifname = c.ifname ?? '-';
    this.out.write(
      `# ${this.iso.format(first.tsUs)} ${c.proto} ${client} → ${server} ifname=${ifname} netns=${c.netns ?? '-'}` +
      (c.place?.netnsName ? `(${c.place.netnsName})` : '') +
        ` conn_trace_id=${c.connTraceId ?? '-'} chunk_id=${c.chunkId} packets=${c.packets.length}`,
      first.tsUs, kind,
    );
    const key = connKey(c.netns, c.clientIp, c.clientPort, c.serverIp, c.serverPort);
    const cm = this.conns.get(key);
    const markers = cm === undefined ? [] : [...cm.byReq.values()];
    // the local end is the client when src is the client; a packet is the client's when tx says it was the local end's
    const localIsClient = c.srcIp === c.clientIp && c.srcPort === c.clientPort;
    let prev = first.tsUs;
    for (const p of c.packets) {
      const fromClient = p.tx === localIsClient;
      const line = `${deltaMsText(p.tsUs - prev).padStart(10)} ${ifname} ${client} ${fromClient ? '→' : '←'} ${server} ${packetFields(p)}`;
      prev = p.tsUs;
      this.out.write(line, p.tsUs, kind);
      if (fromClient && p.flags >= 0 && p.len > 0) {
        for (const m of markers) {
          if (((m.seq - p.seq) >>> 0) < p.len) {
            this.out.write(`             ↳ ${clean(m.method)} ${clean(m.uri)} → ${m.status ?? '?'}`, p.tsUs, kind);
          }
        }
      }
    }
    const lastUs = c.packets[c.packets.length - 1]!.tsUs;
    if (cm !== undefined) {
      cm.lastUs = Math.max(cm.lastUs, lastUs);
      if (c.chunkFin && cm.endUs < 0) cm.endUs = lastUs;
    }
    this.expire(lastUs);
  }

  /** Forget the markers of connections that ended a while ago (in capture time). */
  private expire(nowUs: number): void {
    if (nowUs < this.nextExpireUs) return; // a scan at most once a second of capture time
    this.nextExpireUs = nowUs + 1_000_000;
    for (const [k, cm] of this.conns) {
      if ((cm.endUs >= 0 && nowUs - cm.endUs > KEEP_AFTER_END_US) || nowUs - cm.lastUs > IDLE_US) {
        this.markerCount -= cm.byReq.size;
        this.conns.delete(k);
      }
    }
  }

  private dropOldest(): void {
    const first = this.conns.entries().next();
    if (first.done) return;
    this.markerCount -= first.value[1].byReq.size;
    this.conns.delete(first.value[0]);
  }

  /** Markers still held (tests). */
  get pendingMarkers(): number {
    return this.markerCount;
  }
}

/** `S seq=1000 ack=0 len=0 win=64240`; UDP: `udp len=40`. */
export function packetFields(p: L4Packet): string {
  if (p.flags < 0) return `udp len=${p.len}`;
  return `${tcpFlagLetters(p.flags)} seq=${p.seq} ack=${p.ack} len=${p.len} win=${p.win}`;
}
