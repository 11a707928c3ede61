/**
 * Direction-independent flow keys. Both directions of a TCP connection map to the same key; which endpoint a
 * segment comes from is decided against the endpoint recorded when the connection was first seen.
 */
import type { TransportSegment } from '../records.js';

/**
 * Key for the connection a segment belongs to: the two endpoints in canonical order (smaller address first,
 * ties broken by port), prefixed by the network namespace when it is known so that the same 4-tuple in two
 * namespaces stays two connections. One string per lookup is the only allocation; Map lookups on short
 * strings are cheap in V8.
 */
export function flowKey(seg: TransportSegment): string {
  const { src, dst, sport, dport } = seg;
  const forward = src < dst || (src === dst && sport <= dport);
  const ns = seg.netns === undefined ? '' : seg.netns + '/';
  return forward ? `${ns}${src} ${sport} ${dst} ${dport}` : `${ns}${dst} ${dport} ${src} ${sport}`;
}

/** Key of one connection on one device: protocol, ifindex and flowKey() (the L4 tracker's and the device paths'). */
export function deviceFlowKey(seg: TransportSegment): string {
  // one template, not flowKey() + a prefix: one string per packet instead of two
  const { src, dst, sport, dport } = seg;
  const forward = src < dst || (src === dst && sport <= dport);
  const ns = seg.netns === undefined ? '' : seg.netns + '/';
  return forward ? `${seg.proto} ${seg.ifindex} ${ns}${src} ${sport} ${dst} ${dport}` : `${seg.proto} ${seg.ifindex} ${ns}${dst} ${dport} ${src} ${sport}`;
}

/** One endpoint of a flow. */
export interface Endpoint {
  ip: string;
  port: number;
}

/** 0 when the segment is sent by endpoint `a` (the first sender seen on the flow), 1 otherwise. */
export function sideOf(seg: TransportSegment, a: Endpoint): 0 | 1 {
  return seg.sport === a.port && seg.src === a.ip ? 0 : 1;
}
