/**
 * The L4 record of docs/schema.md ("L4 records"): one JSON line per chunk of a connection on one device, built
 * field by field in the documented order, `"record":"l4"` first.
 */
import type { L4Chunk, L4Packet, L4Sink, LineKind } from '../records.js';
import type { LineSink } from './log-writer.js';
import { IsoTimeFormatter } from './local-time.js';
import { num, str } from './schema.js';

/** The documented field order. */
export const L4_RECORD_FIELDS: readonly string[] = [
  'record', 'ts', 'l4_proto', 'client_ip', 'client_port', 'server_ip', 'server_port',
  'src_ip', 'src_port', 'dst_ip', 'dst_port', 'direction', 'conn_side', 'ifname', 'ifindex', 'netns', 'netns_name', 'container_id', 'pod_uid',
  'chunk_id', 'chunk_syn', 'chunk_fin', 'packets',
  'tx_packets', 'rx_packets', 'tx_bytes', 'rx_bytes', 'tx_retrans', 'rx_retrans',
  'tx_seq_min', 'tx_seq_max', 'rx_seq_min', 'rx_seq_max', 'tcp_rtt_us', 'tcp_3whs_us', 'tcp_4whs_us',
  'conn_trace_id', 'inner_trace_id',
];

/** TCP flags as tcpdump prints them: F S R P U E W, then `.` for ACK; `none` when no flag is set. */
const FLAG_LETTERS: ReadonlyArray<[number, string]> = [
  [0x01, 'F'], [0x02, 'S'], [0x04, 'R'], [0x08, 'P'], [0x20, 'U'], [0x40, 'E'], [0x80, 'W'], [0x10, '.'],
];
const flagCache = new Map<number, string>();
export function tcpFlagLetters(flags: number): string {
  let s = flagCache.get(flags);
  if (s === undefined) {
    s = '';
    for (const [bit, letter] of FLAG_LETTERS) if ((flags & bit) !== 0) s += letter;
    if (s === '') s = 'none';
    flagCache.set(flags, s);
  }
  return s;
}

const NS_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** Nanoseconds of an integer microsecond time plus 0..999 ns, exactly (no float product). */
export function nsText(tsUs: number, nsRem = 0): string {
  const us = Math.trunc(tsUs);
  return us === 0 ? String(nsRem) : String(us) + NS_DIGITS[nsRem];
}

/** `"outgoing"` when the local end is the client, `"incoming"` when it is the server, else `"unknown"`. */
export function l4Direction(c: L4Chunk): 'outgoing' | 'incoming' | 'unknown' {
  return c.connSide === 'client' ? 'outgoing' : c.connSide === 'server' ? 'incoming' : 'unknown';
}

function packetText(p: L4Packet): string {
  const dir = p.tx ? '"tx"' : '"rx"';
  if (p.flags < 0) return `[${nsText(p.tsUs, p.nsRem)},${dir},null,null,null,${p.len},null]`;
  return `[${nsText(p.tsUs, p.nsRem)},${dir},"${tcpFlagLetters(p.flags)}",${p.seq},${p.ack},${p.len},${p.win}]`;
}

export function serializeL4(c: L4Chunk, iso: IsoTimeFormatter): string {
  let packets = '[';
  for (let i = 0; i < c.packets.length; i++) packets += (i > 0 ? ',' : '') + packetText(c.packets[i]!);
  packets += ']';
  return (
    `{"record":"l4","ts":"${iso.format(c.packets[0]?.tsUs ?? 0)}","l4_proto":"${c.proto}"` +
    `,"client_ip":${str(c.clientIp)},"client_port":${num(c.clientPort)},"server_ip":${str(c.serverIp)},"server_port":${num(c.serverPort)}` +
    `,"src_ip":${str(c.srcIp)},"src_port":${num(c.srcPort)},"dst_ip":${str(c.dstIp)},"dst_port":${num(c.dstPort)}` +
    `,"direction":"${l4Direction(c)}","conn_side":"${c.connSide}"` +
    `,"ifname":${str(c.ifname)},"ifindex":${num(c.ifindex)},"netns":${num(c.netns)},"netns_name":${str(c.place?.netnsName ?? undefined)}` +
    `,"container_id":${str(c.place?.containerId ?? undefined)},"pod_uid":${str(c.place?.podUid ?? undefined)}` +
    `,"chunk_id":${c.chunkId},"chunk_syn":${c.chunkSyn},"chunk_fin":${c.chunkFin},"packets":${packets}` +
    `,"tx_packets":${c.txPackets},"rx_packets":${c.rxPackets},"tx_bytes":${c.txBytes},"rx_bytes":${c.rxBytes}` +
    `,"tx_retrans":${c.txRetrans},"rx_retrans":${c.rxRetrans}` +
    `,"tx_seq_min":${num(c.txSeqMin)},"tx_seq_max":${num(c.txSeqMax)},"rx_seq_min":${num(c.rxSeqMin)},"rx_seq_max":${num(c.rxSeqMax)}` +
    `,"tcp_rtt_us":${num(c.rttUs)},"tcp_3whs_us":${num(c.handshakeUs)},"tcp_4whs_us":${num(c.closeUs)}` +
    `,"conn_trace_id":${c.connTraceId === null ? 'null' : `"${c.connTraceId}"`},"inner_trace_id":"${c.innerTraceId}"}`
  );
}

/** Writes L4 records as JSON lines; with --log-split they go with the CQ lines when this host is the server. */
export class L4JsonlSink implements L4Sink {
  private readonly iso = new IsoTimeFormatter();
  constructor(private readonly out: LineSink) {}
  l4(c: L4Chunk): void {
    const kind: LineKind = c.connSide === 'server' ? 'CQ' : 'SQ';
    this.out.write(serializeL4(c, this.iso), c.packets[0]?.tsUs ?? 0, kind);
  }
}
