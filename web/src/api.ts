/** The explorer's JSON API (src/explorer/api.ts), same origin: the auth cookie goes along. */

export interface QueryErrorBody {
  error: string;
  column?: number;
  caret?: string;
}

export class ApiFailure extends Error {
  constructor(readonly status: number, readonly body: QueryErrorBody) {
    super(body.error);
  }
}

export async function getJson<T>(path: string, params: Record<string, string | number | undefined | null> = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const qs = q.toString();
  const res = await fetch(path + (qs ? '?' + qs : ''), { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = { error: `${res.status} ${res.statusText}` };
  }
  if (!res.ok) throw new ApiFailure(res.status, body as QueryErrorBody);
  return body as T;
}

export type L7Row = Record<string, unknown> & {
  id: number;
  ts_us: number;
  res_ts_us: number | null;
  ts: string;
  method: string | null;
  uri: string | null;
  status: number | null;
  hops: Hop[] | null;
  conn_trace_id: string | null;
  l7_trace_id: string | null;
};

export interface Hop {
  ifname: string | null;
  ifindex: number;
  netns: number | null;
  netns_name: string | null;
  req_ts: string | null;
  resp_ts: string | null;
}

export interface L7Page {
  total: number;
  offset: number;
  limit: number;
  rows: L7Row[];
  max_id: number;
}

export interface DeviceRef {
  netns: number | null;
  ifindex: number | null;
  ifname: string | null;
  netns_name: string | null;
  series?: number;
  packets?: number;
}

export interface L7Detail {
  record: L7Row;
  related: {
    same_trace: L7Row[];
    same_connection: L7Row[];
    l4: Array<Record<string, unknown>>;
    tls: Array<Record<string, unknown>>;
    devices: DeviceRef[];
  };
}

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
  req_of: number[];
  resp_of: number[];
}

export interface Ladder {
  conn_trace_id: string | null;
  series: Array<Record<string, unknown>>;
  device: DeviceRef | null;
  client: { ip: string; port: number } | null;
  server: { ip: string; port: number } | null;
  packets: LadderPacket[];
  requests: Array<{ id: number; method: string | null; uri: string | null; status: number | null; req_seq: number | null; resp_seq: number | null }>;
}

export interface TopoNode {
  id: string;
  type: 'host' | 'netns' | 'device' | 'outside';
  parent?: string;
  netns?: number | null;
  netns_name?: string | null;
  ifindex?: number | null;
  ifname?: string | null;
  requests?: number;
  addrs?: string[];
  addrs_more?: number;
  filter?: string;
}

export interface TopoEdge {
  from: string;
  to: string;
  requests: number;
  req_ms: { samples: number; p50: number | null; p99: number | null };
  resp_ms: { samples: number; p50: number | null; p99: number | null };
  filter?: string;
}

export interface Topology {
  nodes: TopoNode[];
  edges: TopoEdge[];
  input: Record<string, number>;
  truncated: boolean;
}
