/**
 * The filterable fields of each record type (docs/schema.md) and their value types, for the filter language
 * (docs/query.md). The names come from the sinks' field lists; this file only adds each one's type.
 */
import { HTTP_RECORD_FIELDS, TLS_RECORD_FIELDS } from '../sinks/schema.js';
import { L4_RECORD_FIELDS } from '../sinks/l4-jsonl.js';

/**
 * `number`, `string`, `bool`; `addr` is a string holding an IP address (`in CIDR` works on it); `numbers` /
 * `strings` are arrays; `time` is an ISO 8601 UTC string with microseconds (literals are normalised to that form) (`=` means "contains"); `none` is a field that cannot be filtered on (hops, packets).
 */
export type FieldType = 'number' | 'string' | 'bool' | 'addr' | 'time' | 'numbers' | 'strings' | 'none';

export type RecordKind = 'l7' | 'l4' | 'tls';

const ADDR = new Set(['src_ip', 'dst_ip', 'client_ip', 'server_ip']);
const NUMBER = new Set([
  'conn_id', 'req_id', 'src_port', 'dst_port', 'status', 'content_length', 'latency_ms', 'netns', 'pid',
  'req_content_length', 'req_body_bytes', 'res_body_bytes', 'gap_bytes', 'req_seq', 'resp_seq',
  'client_port', 'server_port', 'ifindex', 'chunk_id', 'tx_packets', 'rx_packets', 'tx_bytes', 'rx_bytes',
  'tx_retrans', 'rx_retrans', 'tx_seq_min', 'tx_seq_max', 'rx_seq_min', 'rx_seq_max', 'tcp_rtt_us', 'tcp_3whs_us',
  'tcp_4whs_us', 'cipher_suites',
]);
const TIME = new Set(['ts', 'res_ts']);
const BOOL = new Set(['chunk_syn', 'chunk_fin']);
const NUMBERS = new Set(['interim']);
const STRINGS = new Set(['anomalies', 'alpn']);
const NONE = new Set(['hops', 'packets']);

export function fieldTypeOf(name: string): FieldType {
  if (ADDR.has(name)) return 'addr';
  if (NUMBER.has(name)) return 'number';
  if (BOOL.has(name)) return 'bool';
  if (TIME.has(name)) return 'time';
  if (NUMBERS.has(name)) return 'numbers';
  if (STRINGS.has(name)) return 'strings';
  if (NONE.has(name)) return 'none';
  return 'string';
}

/** `path`: the L7 record's `uri` without its query (from the first `?`). */
export const PATH_ALIAS = 'path';

function table(names: readonly string[], extra: string[] = []): ReadonlyMap<string, FieldType> {
  const m = new Map<string, FieldType>();
  for (const n of [...names, ...extra]) m.set(n, n === PATH_ALIAS ? 'string' : fieldTypeOf(n));
  return m;
}

const TABLES: Record<RecordKind, ReadonlyMap<string, FieldType>> = {
  l7: table(HTTP_RECORD_FIELDS as readonly string[], [PATH_ALIAS]),
  l4: table(L4_RECORD_FIELDS),
  tls: table(TLS_RECORD_FIELDS as readonly string[]),
};

/** The fields of a record type, with their types (`path` included for L7). */
export function recordFields(kind: RecordKind): ReadonlyMap<string, FieldType> {
  return TABLES[kind];
}
