/**
 * The explorer's JSON API (docs/explorer.md), read-only over a StoreReader (src/store/reader.ts): whatever keeps the
 * store, the explorer reads it only through that interface.
 *
 *   GET /api/l7?filter=&from=&to=&sort=&desc=&limit=&offset=   a page of L7 records and the total
 *   GET /api/l7/:id                                            one record and what relates to it
 *   GET /api/l4?conn_trace_id=&netns=&ifindex=&ifname=         the packet ladder of a connection on one device
 *                                                              (`-` for a null netns, ifindex or ifname)
 *   GET /api/l4?l4_id=ID                                       the ladder of that L4 record's connection and device
 *   GET /api/l4/list?filter=&…  /api/tls/list?filter=&…         pages of L4 series (no packets) / TLS records
 *   GET /api/topology?filter=&from=&to=                        the request graph (as `wirelog topology --format json`)
 *   GET /api/tail?filter=&after=ID                             L7 records stored after row ID (the live tail)
 *   GET /api/stats                                             rows per table, written / dropped / removed
 */
import { compilePredicate, parseQuery, QueryError, formatQueryError, type QueryAst } from '../query/index.js';
import { parseTimeArg } from '../pipelines/query.js';
import { rowToRecord } from '../store/read.js';
import type { ReadSpec, StoreReader, StoreRow } from '../store/reader.js';
import { TABLE_COLUMNS } from '../store/schema.js';
import { tcpFlagLetters } from '../sinks/l4-jsonl.js';
import { parseTopoLine, type TopoL7 } from '../views/topology-input.js';
import { OUTSIDE_ID, TopologyBuilder, type TopologyGraph } from '../views/topology-graph.js';
import { topologyJsonValue } from '../sinks/topology-json.js';
import type { L4Packet } from '../records.js';
import { WirelogError } from '../errors.js';

/** An answer other than 200: its status and JSON body. */
export class ApiError extends WirelogError {
  constructor(readonly status: number, message: string, readonly extra: Record<string, unknown> = {}) {
    super('WL_ERR_API', message);
  }
}

export const DEFAULT_LIMIT = 500;
export const MAX_LIMIT = 10_000;
/** rows a topology or related-records answer reads at most */
export const MAX_SCAN = 200_000;

const int = (v: string | null, what: string, min: number, max: number, dflt: number): number => {
  if (v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ApiError(400, `${what}: not a whole number from ${min} to ${max}: '${v}'`);
  return n;
};

/** A time parameter: µs since the epoch (digits), or what `wirelog query --from` takes. */
function timeParam(v: string | null, what: string): number | undefined {
  if (v === null || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const us = parseTimeArg(v);
  if (us === undefined) throw new ApiError(400, `${what}: not a time: '${v}' (µs since the epoch, ISO 8601, now, or -15m / -2h / -7d)`);
  return us;
}

/** The filter parameter parsed, or a 400 with the message, the column and the caret drawing. */
export function filterParam(text: string | null, record: 'l7' | 'l4' | 'tls' = 'l7'): QueryAst | undefined {
  if (text === null || text.trim() === '') return undefined;
  try {
    return parseQuery(text, { record });
  } catch (err) {
    if (err instanceof QueryError) {
      throw new ApiError(400, err.message, { column: err.column, filter: text, caret: formatQueryError(text, err) });
    }
    throw err;
  }
}

/** A sort column of the list: a record field (ts and res_ts by their µs columns) or id. */
function sortParam(v: string | null): string {
  if (v === null || v === '' || v === 'ts') return 'ts_us';
  if (v === 'res_ts') return 'res_ts_us';
  if (v === 'id' || (TABLE_COLUMNS.l7.includes(v) && v !== 'hops')) return v;
  throw new ApiError(400, `sort: no column '${v}' to sort by`);
}

/** An L7 row as the explorer sends it: the record, with the row id and the µs times. */
export function l7Json(row: StoreRow): Record<string, unknown> {
  return { id: row.id, ts_us: row.ts_us, res_ts_us: row.res_ts_us, ...rowToRecord('l7', row) };
}

/** A packet of the ladder: which side sent it (from the local end's view at that device), flags as letters. */
export interface LadderPacket {
  ts_us: number;
  ns: number;
  dir: 'tx' | 'rx';
  from_client: boolean;
  flags: string | null;
  seq: number | null;
  ack: number | null;
  len: number;
  win: number | null;
  chunk_id: number;
  /** the ids of the L7 records whose request (client side) or response (server side) starts in this packet */
  req_of: number[];
  resp_of: number[];
}

/** An L4 row's summary (no packets): which device, which tuple, how many packets. */
function l4Summary(row: StoreRow): Record<string, unknown> {
  const r = rowToRecord('l4', row);
  const packets = r.packets as L4Packet[];
  delete r.packets;
  return { id: row.id, ts_us: row.ts_us, ...r, packet_count: packets.length };
}

export interface DeviceKey {
  netns: number | null;
  ifindex: number | null;
  ifname: string | null;
}

const deviceKeyOf = (r: Record<string, unknown>): string => `${r.netns ?? '-'}:${r.ifindex ?? '-'}:${r.ifname ?? '-'}`;

/** Does `p` hold the byte at sequence number `seq`? (`p.seq <= seq < p.seq + len`, modulo 2^32) */
export const holdsSeq = (pSeq: number, len: number, seq: number): boolean => len > 0 && ((seq - pSeq) >>> 0) < len;

export class ExplorerApi {
  constructor(private readonly reader: StoreReader) {}

  /** A page of L7 records. */
  async l7List(q: URLSearchParams): Promise<Record<string, unknown>> {
    const filter = filterParam(q.get('filter'));
    const fromUs = timeParam(q.get('from'), 'from'), toUs = timeParam(q.get('to'), 'to');
    const orderBy = sortParam(q.get('sort'));
    // newest first unless desc=0, as the page shows it
    const desc = q.get('desc') !== '0' && q.get('desc') !== 'false';
    const limit = int(q.get('limit'), 'limit', 1, MAX_LIMIT, DEFAULT_LIMIT);
    const offset = int(q.get('offset'), 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
    const base = { table: 'l7' as const, filter, fromUs, toUs };
    const [rows, total] = await Promise.all([this.reader.rows({ ...base, orderBy, desc, limit, offset }), this.reader.count(base)]);
    // the newest row id now: where the live tail starts
    const newest = await this.reader.rows({ table: 'l7', orderBy: 'id', desc: true, limit: 1 });
    return { total, offset, limit, rows: rows.map(l7Json), max_id: newest[0]?.id ?? 0 };
  }

  /** A page of L4 series (without their packets: `packet_count`) or TLS records, newest first unless desc=0. */
  async otherList(record: 'l4' | 'tls', q: URLSearchParams): Promise<Record<string, unknown>> {
    const filter = filterParam(q.get('filter'), record);
    const fromUs = timeParam(q.get('from'), 'from'), toUs = timeParam(q.get('to'), 'to');
    const sort = q.get('sort');
    const orderBy = sort === null || sort === '' || sort === 'ts' ? 'ts_us' : sort;
    if (orderBy !== 'id' && (!TABLE_COLUMNS[record].includes(orderBy) || orderBy === 'packets')) throw new ApiError(400, `sort: no column '${orderBy}' to sort by`);
    const desc = q.get('desc') !== '0' && q.get('desc') !== 'false';
    const limit = int(q.get('limit'), 'limit', 1, MAX_LIMIT, DEFAULT_LIMIT);
    const offset = int(q.get('offset'), 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
    const base = { table: record, filter, fromUs, toUs };
    const [rows, total] = await Promise.all([this.reader.rows({ ...base, orderBy, desc, limit, offset }), this.reader.count(base)]);
    const json = (r: StoreRow): Record<string, unknown> => (record === 'l4' ? l4Summary(r) : { id: r.id, ts_us: r.ts_us, ...rowToRecord('tls', r) });
    return { total, offset, limit, rows: rows.map(json) };
  }

  /** L7 records stored after row `after` (by row id: the order they were written), oldest first. */
  async tail(q: URLSearchParams): Promise<Record<string, unknown>> {
    // ClickHouse row ids are unique per agent run, not in write order across agents: "after id N" would miss rows
    if (this.reader.kind === 'clickhouse') throw new ApiError(400, 'live tail: not available on a ClickHouse store (row ids are not in write order across agents); reload the list instead');
    const filter = filterParam(q.get('filter'));
    const after = int(q.get('after'), 'after', 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = int(q.get('limit'), 'limit', 1, MAX_LIMIT, 1000);
    // newest first, down to `after`: the reader has no "id >" condition, so read back from the end
    const rows: StoreRow[] = [];
    let more = false;
    for await (const row of this.reader.iterate({ table: 'l7', filter, orderBy: 'id', desc: true, limit: limit + 1 })) {
      if ((row.id as number) <= after) break;
      if (rows.length === limit) {
        more = true;
        break;
      }
      rows.push(row);
    }
    rows.reverse();
    const newest = await this.reader.rows({ table: 'l7', orderBy: 'id', desc: true, limit: 1 });
    return { rows: rows.map(l7Json), more, max_id: Math.max(after, (newest[0]?.id as number | undefined) ?? 0) };
  }

  /** One L7 record and what relates to it: the other L7/TLS records and the L4 series of its connection. */
  async l7One(idText: string): Promise<Record<string, unknown>> {
    if (!/^\d+$/.test(idText)) throw new ApiError(400, `not a record id: '${idText}'`);
    const [row] = await this.reader.rows({ table: 'l7', equals: { id: Number(idText) }, limit: 1 });
    if (row === undefined) throw new ApiError(404, `no L7 record ${idText}`);
    const rec = l7Json(row);
    const conn = rec.conn_trace_id as string | null, trace = rec.l7_trace_id as string | null;
    const sameConn = conn === null ? [] : await this.reader.rows({ table: 'l7', equals: { conn_trace_id: conn }, limit: 1000 });
    const sameTrace = trace === null ? [] : await this.reader.rows({ table: 'l7', equals: { l7_trace_id: trace }, limit: 1000 });
    const l4 = conn === null ? [] : await this.reader.rows({ table: 'l4', equals: { conn_trace_id: conn }, orderBy: 'ts_us', limit: 10_000 });
    const tls = conn === null ? [] : await this.reader.rows({ table: 'tls', equals: { conn_trace_id: conn }, limit: 100 });
    // the devices with L4 series of this connection, in the order of the record's hops (then the rest)
    const devices = new Map<string, Record<string, unknown>>();
    const hops = (rec.hops as Array<Record<string, unknown>> | null) ?? [];
    for (const h of hops) devices.set(deviceKeyOf(h), { netns: h.netns, ifindex: h.ifindex, ifname: h.ifname, netns_name: h.netns_name, series: 0, packets: 0 });
    for (const r of l4) {
      const s = l4Summary(r);
      const k = deviceKeyOf(s);
      const d = devices.get(k) ?? { netns: s.netns, ifindex: s.ifindex, ifname: s.ifname, netns_name: s.netns_name, series: 0, packets: 0 };
      d.series = (d.series as number) + 1;
      d.packets = (d.packets as number) + (s.packet_count as number);
      devices.set(k, d);
    }
    const others = (rows: StoreRow[]): Array<Record<string, unknown>> => rows.filter((r) => r.id !== row.id).map(l7Json);
    return {
      record: rec,
      related: {
        same_trace: others(sameTrace),
        same_connection: others(sameConn).filter((r) => !sameTrace.some((t) => t.id === r.id)),
        l4: l4.map(l4Summary),
        tls: tls.map((r) => ({ id: r.id, ts_us: r.ts_us, ...rowToRecord('tls', r) })),
        devices: [...devices.values()].filter((d) => (d.series as number) > 0),
      },
    };
  }

  /** The packet ladder of one connection on one device, with the connection's requests marked on their packets. */
  async ladder(q: URLSearchParams): Promise<Record<string, unknown>> {
    let conn = q.get('conn_trace_id');
    const equals: Record<string, string | number | null> = {};
    const l4Id = q.get('l4_id');
    if (l4Id !== null) {
      // one L4 row: its connection on its device (by inner_trace_id when the connection has no conn_trace_id)
      const [row] = await this.reader.rows({ table: 'l4', equals: { id: int(l4Id, 'l4_id', 0, Number.MAX_SAFE_INTEGER, 0) }, limit: 1 });
      if (row === undefined) throw new ApiError(404, `no L4 record ${l4Id}`);
      conn = (row.conn_trace_id as string | null) ?? null;
      if (conn === null) equals.inner_trace_id = row.inner_trace_id as string;
      else equals.conn_trace_id = conn;
      Object.assign(equals, { netns: row.netns as number | null, ifindex: row.ifindex as number | null, ifname: row.ifname as string | null });
    } else {
      if (conn === null || conn === '') throw new ApiError(400, 'conn_trace_id or l4_id: required');
      equals.conn_trace_id = conn;
      const netns = q.get('netns'), ifindex = q.get('ifindex'), ifname = q.get('ifname');
      if (netns !== null) equals.netns = netns === '' || netns === '-' ? null : int(netns, 'netns', 0, Number.MAX_SAFE_INTEGER, 0);
      if (ifindex !== null) equals.ifindex = ifindex === '' || ifindex === '-' ? null : int(ifindex, 'ifindex', 0, Number.MAX_SAFE_INTEGER, 0);
      if (ifname !== null) equals.ifname = ifname === '' || ifname === '-' ? null : ifname;
    }
    const rows = await this.reader.rows({ table: 'l4', equals, orderBy: 'ts_us', limit: 10_000 });
    const l7 = conn === null ? [] : (await this.reader.rows({ table: 'l7', equals: { conn_trace_id: conn }, limit: 10_000 })).map(l7Json);
    const series = rows.map((r) => rowToRecord('l4', r));
    // chunks in order of their first packet, then chunk id
    series.sort((a, b) => ((a.packets as L4Packet[])[0]?.tsUs ?? 0) - ((b.packets as L4Packet[])[0]?.tsUs ?? 0) || (a.chunk_id as number) - (b.chunk_id as number));
    const packets: LadderPacket[] = [];
    for (const s of series) {
      // the local end is the client when the record's src is the client; tx = sent by the local end
      const localIsClient = s.src_ip === s.client_ip && s.src_port === s.client_port;
      for (const p of s.packets as L4Packet[]) {
        const fromClient = p.tx === localIsClient;
        const tcp = p.flags >= 0;
        const lp: LadderPacket = {
          ts_us: p.tsUs, ns: p.nsRem, dir: p.tx ? 'tx' : 'rx', from_client: fromClient,
          flags: tcp ? tcpFlagLetters(p.flags) : null, seq: tcp ? p.seq : null, ack: tcp ? p.ack : null, len: p.len,
          win: tcp ? p.win : null, chunk_id: s.chunk_id as number, req_of: [], resp_of: [],
        };
        if (tcp) {
          for (const r of l7) {
            if (fromClient && typeof r.req_seq === 'number' && holdsSeq(p.seq, p.len, r.req_seq)) lp.req_of.push(r.id as number);
            if (!fromClient && typeof r.resp_seq === 'number' && holdsSeq(p.seq, p.len, r.resp_seq)) lp.resp_of.push(r.id as number);
          }
        }
        packets.push(lp);
      }
    }
    // one time line: a device that saw two tuples of the connection (DNAT on a bridge) has two series
    packets.sort((a, b) => a.ts_us - b.ts_us || a.ns - b.ns);
    const first = series[0];
    for (const s of series) delete s.packets;
    return {
      conn_trace_id: conn,
      device: first === undefined ? null : { netns: first.netns, ifindex: first.ifindex, ifname: first.ifname, netns_name: first.netns_name },
      client: first === undefined ? null : { ip: first.client_ip, port: first.client_port },
      server: first === undefined ? null : { ip: first.server_ip, port: first.server_port },
      series,
      packets,
      requests: l7.map((r) => ({ id: r.id, method: r.method, uri: r.uri, status: r.status, req_seq: r.req_seq, resp_seq: r.resp_seq })),
    };
  }

  /** The request graph of the L7 records in range (and filter), as `wirelog topology --format json`, plus for each
   *  node and edge a filter expression selecting the records that cross it. */
  async topology(q: URLSearchParams): Promise<Record<string, unknown>> {
    const filterText = q.get('filter') ?? '';
    const filter = filterParam(filterText);
    const fromUs = timeParam(q.get('from'), 'from'), toUs = timeParam(q.get('to'), 'to');
    const builder = new TopologyBuilder();
    const records: Array<{ topo: TopoL7; rec: Record<string, unknown> }> = [];
    let bad = 0, truncated = false;
    for await (const row of this.reader.iterate({ table: 'l7', filter, fromUs, toUs, limit: MAX_SCAN + 1 })) {
      if (records.length === MAX_SCAN) {
        truncated = true;
        break;
      }
      const rec = rowToRecord('l7', row);
      const line = parseTopoLine(JSON.stringify(rec));
      if (line.type !== 'l7') {
        bad++;
        continue;
      }
      builder.addL7(line.rec);
      records.push({ topo: line.rec, rec });
    }
    // L4 records tell which addresses are inside (their local ends), as in `wirelog topology`
    const inside = new Set<string>();
    for (const r of records) {
      if (r.topo.kind === 'CQ') inside.add(r.topo.dstIp);
      else if (r.topo.kind === 'SQ') inside.add(r.topo.srcIp);
    }
    for await (const row of this.reader.iterate({ table: 'l4', fromUs, toUs, limit: MAX_SCAN })) {
      builder.addL4({ srcIp: row.src_ip as string, connSide: row.conn_side as string, netns: (row.netns as number | null) ?? null });
      if (row.conn_side !== 'unknown') inside.add(row.src_ip as string);
    }
    const graph = builder.build();
    const value = topologyJsonValue(graph, {
      l7_records: graph.counts.l7Records, requests: graph.counts.requests, l4_records: graph.counts.l4Records, skipped_lines: 0, bad_lines: bad,
    });
    const filters = crossingFilters(graph, records, inside);
    const withBase = (f: string): string => (filterText.trim() === '' ? f : f === '' ? filterText.trim() : `(${filterText.trim()}) and (${f})`);
    for (const n of value.nodes as Array<Record<string, unknown>>) {
      const f = filters.nodes.get(n.id as string);
      if (f !== undefined) n.filter = withBase(f);
    }
    for (const e of value.edges as Array<Record<string, unknown>>) {
      const f = filters.edges.get(`${e.from}\n${e.to}`);
      if (f !== undefined) e.filter = withBase(f);
    }
    return { ...value, truncated };
  }

  async stats(): Promise<Record<string, unknown>> {
    const stats = await this.reader.stats();
    const rows: Record<string, number> = {};
    for (const t of ['l7', 'l4', 'tls', 'netns'] as const) rows[t] = await this.reader.count({ table: t });
    return { store: this.reader.location, kind: this.reader.kind, rows, stats };
  }
}

const quoteText = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * For each node and edge of the graph, a filter-language expression whose records are exactly those crossing it
 * (the language cannot look into `hops`): the first of these that selects exactly that set among the records read —
 * the namespace's name / the device's netns and ifname (the record's own device), the servers' addresses, or the
 * records' l7_trace_ids.
 */
function crossingFilters(graph: TopologyGraph, records: Array<{ topo: TopoL7; rec: Record<string, unknown> }>, inside: Set<string>): {
  nodes: Map<string, string>; edges: Map<string, string>;
} {
  const devIds = new Set(graph.devices.map((d) => d.id));
  const devOf = (netns: number | null, ifindex: number | null, ifname: string | null): string => `dev:${netns ?? '-'}:${ifindex ?? '-'}:${ifname ?? '-'}`;
  const ownDevice = (t: TopoL7): string => {
    const same = graph.devices.filter((d) => d.netns === t.netns && d.ifname === t.ifname);
    if (same.length === 1) return same[0]!.id;
    return devOf(t.netns, null, t.ifname);
  };
  const nodeSets = new Map<string, Set<number>>();
  const edgeSets = new Map<string, Set<number>>();
  const add = (m: Map<string, Set<number>>, k: string, i: number): void => {
    let s = m.get(k);
    if (s === undefined) m.set(k, (s = new Set()));
    s.add(i);
  };
  records.forEach(({ topo }, i) => {
    const path = topo.hops !== undefined ? topo.hops.map((h) => devOf(h.netns, h.ifindex, h.ifname)) : [ownDevice(topo)];
    for (const d of path) {
      if (!devIds.has(d)) continue;
      add(nodeSets, d, i);
      add(nodeSets, graph.devices.find((x) => x.id === d)!.nsId, i);
    }
    for (let k = 0; k + 1 < path.length; k++) add(edgeSets, `${path[k]}\n${path[k + 1]}`, i);
    if (!inside.has(topo.srcIp)) {
      add(edgeSets, `${OUTSIDE_ID}\n${path[0]}`, i);
      add(nodeSets, OUTSIDE_ID, i);
    }
    if (!inside.has(topo.dstIp)) {
      add(edgeSets, `${path[path.length - 1]}\n${OUTSIDE_ID}`, i);
      add(nodeSets, OUTSIDE_ID, i);
    }
    add(nodeSets, 'host', i);
  });
  const exact = (expr: string, want: Set<number>): boolean => {
    let pred;
    try {
      pred = compilePredicate(parseQuery(expr));
    } catch {
      return false;
    }
    for (let i = 0; i < records.length; i++) if (pred(records[i]!.rec) !== want.has(i)) return false;
    return true;
  };
  const candidates = (id: string, want: Set<number>): string[] => {
    const out: string[] = [];
    if (id === 'host') out.push('');
    const ns = graph.namespaces.find((n) => n.id === id);
    if (ns !== undefined) out.push(ns.netnsName !== null ? `netns_name = ${quoteText(ns.netnsName)}` : ns.netns === null ? 'netns = null' : `netns = ${ns.netns}`);
    const dev = graph.devices.find((d) => d.id === id);
    if (dev !== undefined) out.push(`${dev.netns === null ? 'netns = null' : `netns = ${dev.netns}`} and ifname = ${dev.ifname === null ? 'null' : quoteText(dev.ifname)}`);
    const recs = [...want].map((i) => records[i]!.rec);
    const servers = [...new Set(recs.map((r) => `${r.dst_ip} ${r.dst_port}`))];
    if (servers.length <= 16) out.push(servers.map((s) => { const [ip, port] = s.split(' '); return `(dst_ip = ${ip} and dst_port = ${port})`; }).join(' or '));
    const traces = recs.map((r) => r.l7_trace_id as string | null);
    if (traces.length <= 500 && traces.every((t) => t !== null)) out.push(`l7_trace_id in (${[...new Set(traces)].map((t) => quoteText(t!)).join(', ')})`);
    return out;
  };
  const pick = (id: string, want: Set<number>): string | undefined => {
    const c = candidates(id, want);
    return c.find((e) => (e === '' ? want.size === records.length : exact(e, want))) ?? c[c.length - 1];
  };
  const nodes = new Map<string, string>(), edges = new Map<string, string>();
  for (const [k, s] of nodeSets) {
    const f = pick(k, s);
    if (f !== undefined) nodes.set(k, f);
  }
  for (const [k, s] of edgeSets) {
    const f = pick(k, s);
    if (f !== undefined) edges.set(k, f);
  }
  return { nodes, edges };
}

export type { ReadSpec };
