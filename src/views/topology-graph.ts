/**
 * The request graph of `wirelog topology` (docs/topology.md), Guance's "network request topology": the host, its
 * network namespaces, their devices (netns + ifindex + ifname) with the address pairs seen on them, and edges
 * between consecutive devices of the requests' paths with request counts and hop times (p50/p99, nearest rank).
 * The unknown outside, before a path whose client is not a watched address or after one whose server is not, is
 * the node `N/A`.
 *
 * Records are collected first and the graph is made at the end: which addresses are inside is known only when
 * every line has been read, and the records of one request (one per device, the same `l7_trace_id`) are counted
 * once.
 */
import type { TopoHop, TopoL4, TopoL7 } from './topology-input.js';
import { isoToUs } from './topology-input.js';
import { percentileOfSorted } from './percentile.js';

export const HOST_ID = 'host';
export const OUTSIDE_ID = 'N/A';
/** address pairs listed per device; the rest are counted in `addrsMore` */
export const MAX_ADDRS = 32;

export interface TopoNamespace {
  id: string;
  netns: number | null;
  netnsName: string | null;
}

export interface TopoDevice {
  id: string;
  nsId: string;
  netns: number | null;
  netnsName: string | null;
  /** null for a device known only from records without hops (they carry no ifindex) */
  ifindex: number | null;
  ifname: string | null;
  /** requests whose path crosses this device */
  requests: number;
  /** `client ip:port → server ip:port` as seen on this device, sorted, at most MAX_ADDRS */
  addrs: string[];
  addrsMore: number;
}

export interface HopTimes {
  samples: number;
  /** milliseconds */
  p50: number | null;
  p99: number | null;
}

export interface TopoEdge {
  from: string;
  to: string;
  requests: number;
  /** this hop's req_ts → the next hop's req_ts */
  req: HopTimes;
  /** the next hop's resp_ts → this hop's resp_ts (the response goes the other way) */
  resp: HopTimes;
}

export interface TopologyGraph {
  namespaces: TopoNamespace[];
  devices: TopoDevice[];
  /** the N/A node is there (some path starts or ends outside) */
  outside: boolean;
  /** by requests, most first; then by from, to */
  edges: TopoEdge[];
  counts: { l7Records: number; requests: number; l4Records: number };
}

export interface TopologyOptions {
  /** addresses to count as inside a watched namespace, besides those the records show */
  localAddrs?: Iterable<string>;
}

interface Seen {
  netns: number | null;
  ifname: string | null;
  pair: string;
  src: string;
  dst: string;
}

interface Group {
  hops: TopoHop[] | undefined;
  /** the records' own devices and addresses */
  seen: Seen[];
}

const endpoint = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
const nsIdOf = (netns: number | null): string => `ns:${netns ?? '-'}`;
const devIdOf = (netns: number | null, ifindex: number | null, ifname: string | null): string =>
  `dev:${netns ?? '-'}:${ifindex ?? '-'}:${ifname ?? '-'}`;

class EdgeAcc {
  requests = 0;
  req: number[] = [];
  resp: number[] = [];
}

function times(samples: number[]): HopTimes {
  const s = samples.sort((a, b) => a - b);
  return { samples: s.length, p50: percentileOfSorted(s, 50), p99: percentileOfSorted(s, 99) };
}

export class TopologyBuilder {
  private readonly groups = new Map<string, Group>();
  private readonly inside = new Set<string>();
  private anon = 0;
  private l7Records = 0;
  private l4Records = 0;

  constructor(opts: TopologyOptions = {}) {
    for (const a of opts.localAddrs ?? []) this.inside.add(a);
  }

  addL7(r: TopoL7): void {
    this.l7Records++;
    // what the capture knew about this host's ends: CQ, the server is local; SQ, the client is
    if (r.kind === 'CQ') this.inside.add(r.dstIp);
    else if (r.kind === 'SQ') this.inside.add(r.srcIp);
    const key = r.hops !== undefined && r.l7TraceId !== null ? `t ${r.l7TraceId}` : `a ${this.anon++}`;
    let g = this.groups.get(key);
    if (g === undefined) {
      g = { hops: r.hops, seen: [] };
      this.groups.set(key, g);
    } else if (r.hops !== undefined && (g.hops === undefined || r.hops.length > g.hops.length)) {
      g.hops = r.hops;
    }
    g.seen.push({
      netns: r.netns, ifname: r.ifname, pair: `${endpoint(r.srcIp, r.srcPort)} → ${endpoint(r.dstIp, r.dstPort)}`,
      src: r.srcIp, dst: r.dstIp,
    });
    // names of namespaces, from the record itself
    if (r.netnsName !== null) this.nameNs(r.netns, r.netnsName);
  }

  addL4(r: TopoL4): void {
    this.l4Records++;
    if (r.connSide !== 'unknown') this.inside.add(r.srcIp);
  }

  private readonly nsNames = new Map<string, string>();
  private nameNs(netns: number | null, name: string): void {
    const id = nsIdOf(netns);
    if (!this.nsNames.has(id)) this.nsNames.set(id, name);
  }

  build(): TopologyGraph {
    const namespaces = new Map<string, TopoNamespace>();
    const devices = new Map<string, TopoDevice & { pairs: Set<string> }>();
    const ns = (netns: number | null): TopoNamespace => {
      const id = nsIdOf(netns);
      let n = namespaces.get(id);
      if (n === undefined) {
        n = { id, netns, netnsName: this.nsNames.get(id) ?? null };
        namespaces.set(id, n);
      }
      return n;
    };
    const device = (netns: number | null, ifindex: number | null, ifname: string | null): TopoDevice & { pairs: Set<string> } => {
      const id = devIdOf(netns, ifindex, ifname);
      let d = devices.get(id);
      if (d === undefined) {
        const n = ns(netns);
        d = { id, nsId: n.id, netns, netnsName: null, ifindex, ifname, requests: 0, addrs: [], addrsMore: 0, pairs: new Set() };
        devices.set(id, d);
      }
      return d;
    };
    for (const g of this.groups.values()) for (const h of g.hops ?? []) if (h.netns_name !== null) this.nameNs(h.netns, h.netns_name);
    // devices with an ifindex, from the hops: a record without hops on the same netns + ifname is that device,
    // when there is exactly one such
    const byName = new Map<string, string[]>();
    for (const g of this.groups.values()) {
      for (const h of g.hops ?? []) {
        const d = device(h.netns, h.ifindex, h.ifname);
        const k = `${h.netns ?? '-'} ${h.ifname ?? '-'}`;
        const list = byName.get(k) ?? [];
        if (!list.includes(d.id)) list.push(d.id);
        byName.set(k, list);
      }
    }
    const ownDevice = (netns: number | null, ifname: string | null): TopoDevice & { pairs: Set<string> } => {
      const known = byName.get(`${netns ?? '-'} ${ifname ?? '-'}`);
      if (known !== undefined && known.length === 1) return devices.get(known[0]!)!;
      return device(netns, null, ifname);
    };

    const edges = new Map<string, EdgeAcc & { from: string; to: string }>();
    const edge = (from: string, to: string): EdgeAcc => {
      const k = `${from}\n${to}`;
      let e = edges.get(k);
      if (e === undefined) {
        e = Object.assign(new EdgeAcc(), { from, to });
        edges.set(k, e);
      }
      return e;
    };
    let outside = false;
    for (const g of this.groups.values()) {
      const path = g.hops !== undefined
        ? g.hops.map((h) => device(h.netns, h.ifindex, h.ifname))
        : [ownDevice(g.seen[0]!.netns, g.seen[0]!.ifname)];
      for (const s of g.seen) ownDevice(s.netns, s.ifname).pairs.add(s.pair);
      for (const d of new Set(path)) d.requests++;
      for (let i = 0; i + 1 < path.length; i++) {
        const e = edge(path[i]!.id, path[i + 1]!.id);
        e.requests++;
        const h0 = g.hops![i]!, h1 = g.hops![i + 1]!;
        const q0 = isoToUs(h0.req_ts), q1 = isoToUs(h1.req_ts), r0 = isoToUs(h0.resp_ts), r1 = isoToUs(h1.resp_ts);
        if (q0 !== null && q1 !== null) e.req.push((q1 - q0) / 1000);
        if (r0 !== null && r1 !== null) e.resp.push((r0 - r1) / 1000);
      }
      // the ends: the client's address as seen at the first device, the server's as seen at the last (after NAT)
      const at = (d: TopoDevice): Seen | undefined => g.seen.find((s) => ownDevice(s.netns, s.ifname) === d);
      const first = at(path[0]!) ?? g.seen[0]!, last = at(path[path.length - 1]!) ?? g.seen[g.seen.length - 1]!;
      if (!this.inside.has(first.src)) {
        edge(OUTSIDE_ID, path[0]!.id).requests++;
        outside = true;
      }
      if (!this.inside.has(last.dst)) {
        edge(path[path.length - 1]!.id, OUTSIDE_ID).requests++;
        outside = true;
      }
    }

    const devList: TopoDevice[] = [...devices.values()].map(({ pairs, ...d }) => {
      const all = [...pairs].sort();
      return { ...d, netnsName: namespaces.get(d.nsId)!.netnsName, addrs: all.slice(0, MAX_ADDRS), addrsMore: Math.max(0, all.length - MAX_ADDRS) };
    });
    const cmpNull = (a: number | null, b: number | null): number => (a ?? -1) - (b ?? -1);
    devList.sort((a, b) => cmpNull(a.netns, b.netns) || cmpNull(a.ifindex, b.ifindex) || (a.ifname ?? '').localeCompare(b.ifname ?? ''));
    const nsList = [...namespaces.values()].sort((a, b) => cmpNull(a.netns, b.netns));
    const edgeList: TopoEdge[] = [...edges.values()]
      .map((e) => ({ from: e.from, to: e.to, requests: e.requests, req: times(e.req), resp: times(e.resp) }))
      .sort((a, b) => b.requests - a.requests || (a.from < b.from ? -1 : a.from > b.from ? 1 : a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
    return {
      namespaces: nsList, devices: devList, outside, edges: edgeList,
      counts: { l7Records: this.l7Records, requests: this.groups.size, l4Records: this.l4Records },
    };
  }
}

/** A short name for a node in text and dot output: `veth0@ns1`, `eth0@4026531840`, `lo` (netns unknown), `N/A`. */
export function deviceLabel(d: TopoDevice): string {
  const name = d.ifname ?? (d.ifindex !== null ? `if${d.ifindex}` : '?');
  const where = d.netnsName ?? (d.netns !== null ? String(d.netns) : null);
  return where === null ? name : `${name}@${where}`;
}

export function nodeLabel(g: TopologyGraph, id: string): string {
  if (id === OUTSIDE_ID) return OUTSIDE_ID;
  const d = g.devices.find((x) => x.id === id);
  return d === undefined ? id : deviceLabel(d);
}
