/**
 * The lines `wirelog topology` reads: JSON lines written by `wirelog capture --format jsonl` (with or without
 * `--l4`). Each line is classified: an L7 (HTTP) record (no `record` field, or `"record":"l7"`), an L4 record
 * (`"record":"l4"`), another record type or blank line (skipped), or a line that is not a JSON object with the
 * fields this view needs (bad: counted).
 */

/** One device an L7 request crossed, in path order (docs/topology.md). Times: ISO-8601 UTC with microseconds. */
export interface TopoHop {
  ifname: string | null;
  ifindex: number;
  netns: number | null;
  netns_name: string | null;
  req_ts: string | null;
  resp_ts: string | null;
}

/** The fields of an L7 record this view uses. */
export interface TopoL7 {
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  kind: 'CQ' | 'SQ' | null;
  ifname: string | null;
  netns: number | null;
  netnsName: string | null;
  method: string | null;
  status: number | null;
  l7TraceId: string | null;
  /** undefined: the record has no hops (older files, capture files): one hop at its own ifname/netns */
  hops?: TopoHop[];
}

/** The fields of an L4 record this view uses: its local end, when known, is an address of its namespace. */
export interface TopoL4 {
  srcIp: string;
  connSide: string;
  netns: number | null;
}

export type TopoLine =
  | { type: 'l7'; rec: TopoL7 }
  | { type: 'l4'; rec: TopoL4 }
  | { type: 'skip' }
  | { type: 'bad' };

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const strOrNull = (v: unknown): string | null | undefined => (v === null || v === undefined ? null : isStr(v) ? v : undefined);
const numOrNull = (v: unknown): number | null | undefined => (v === null || v === undefined ? null : isNum(v) ? v : undefined);

function hop(v: unknown): TopoHop | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const ifname = strOrNull(o.ifname), netns = numOrNull(o.netns), netnsName = strOrNull(o.netns_name);
  const reqTs = strOrNull(o.req_ts), respTs = strOrNull(o.resp_ts);
  if (!isNum(o.ifindex) || ifname === undefined || netns === undefined || netnsName === undefined ||
    reqTs === undefined || respTs === undefined) return undefined;
  return { ifname, ifindex: o.ifindex, netns, netns_name: netnsName, req_ts: reqTs, resp_ts: respTs };
}

/** Classify one line. */
export function parseTopoLine(line: string): TopoLine {
  if (line.trim() === '') return { type: 'skip' };
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { type: 'bad' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { type: 'bad' };
  const o = v as Record<string, unknown>;
  if (o.record === 'l4') {
    if (!isStr(o.src_ip) || !isStr(o.conn_side)) return { type: 'bad' };
    const netns = numOrNull(o.netns);
    if (netns === undefined) return { type: 'bad' };
    return { type: 'l4', rec: { srcIp: o.src_ip, connSide: o.conn_side, netns } };
  }
  if (o.record !== undefined && o.record !== 'l7') return { type: 'skip' };
  if (!isStr(o.src_ip) || !isNum(o.src_port) || !isStr(o.dst_ip) || !isNum(o.dst_port)) return { type: 'bad' };
  const ifname = strOrNull(o.ifname), netns = numOrNull(o.netns), netnsName = strOrNull(o.netns_name);
  const method = strOrNull(o.method), status = numOrNull(o.status), traceId = strOrNull(o.l7_trace_id);
  if (ifname === undefined || netns === undefined || netnsName === undefined || method === undefined ||
    status === undefined || traceId === undefined) return { type: 'bad' };
  const rec: TopoL7 = {
    srcIp: o.src_ip, srcPort: o.src_port, dstIp: o.dst_ip, dstPort: o.dst_port,
    kind: o.kind === 'CQ' || o.kind === 'SQ' ? o.kind : null,
    ifname, netns, netnsName, method, status, l7TraceId: traceId,
  };
  if (o.hops !== undefined && o.hops !== null) {
    if (!Array.isArray(o.hops)) return { type: 'bad' };
    const hops: TopoHop[] = [];
    for (const h of o.hops) {
      const x = hop(h);
      if (x === undefined) return { type: 'bad' };
      hops.push(x);
    }
    if (hops.length > 0) rec.hops = hops;
  }
  return { type: 'l7', rec };
}

const ISO = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$/;

/** Microseconds since the epoch of an ISO-8601 UTC time (`2026-11-23T10:00:00.123456Z`), exactly; null if not one. */
export function isoToUs(s: string | null): number | null {
  if (s === null) return null;
  const m = ISO.exec(s);
  if (m === null) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  if (!Number.isFinite(ms)) return null;
  const frac = (m[7] ?? '').padEnd(6, '0').slice(0, 6);
  return ms * 1000 + Number(frac);
}
