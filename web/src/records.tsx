/** L4 series (one connection on one device, a chunk of its packets) and TLS ClientHellos: filterable lists, as the
 *  requests list; an L4 row opens its ladder, a TLS row the requests of its connection. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, getJson, type QueryErrorBody } from './api';
import { href, type Route } from './route';
import { useVirtualRows } from './virtual';
import { cellText } from './format';
import { FilterBox, TimeRange, go, listQuery } from './list';

const COLUMNS: Record<'l4' | 'tls', string[]> = {
  l4: ['ts', 'client_ip', 'client_port', 'server_ip', 'server_port', 'direction', 'ifname', 'netns_name', 'chunk_id', 'packet_count', 'tx_bytes', 'rx_bytes', 'tx_retrans', 'rx_retrans', 'tcp_rtt_us', 'conn_trace_id'],
  tls: ['ts', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'sni', 'alpn', 'tls_version', 'cipher_suites', 'ifname', 'conn_trace_id'],
};
const ROW_HEIGHT = 26;
const WIDTH: Record<string, number> = { ts: 230, conn_trace_id: 200, sni: 200, client_ip: 130, server_ip: 130, src_ip: 130, dst_ip: 130 };

type Row = Record<string, unknown> & { id: number };

export function RecordsPage({ route, record }: { route: Route; record: 'l4' | 'tls' }) {
  const q = listQuery(route.params);
  const [rows, setRows] = useState<Row[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<QueryErrorBody | null>(null);
  const scrollRef = useRef<HTMLDivElement>(null);
  const path = record === 'l4' ? '/l4' : '/tls';
  useEffect(() => {
    setError(null);
    getJson<{ total: number; rows: Row[] }>(`/api/${record}/list`, { filter: q.filter, from: q.from, to: q.to, sort: q.sort, desc: q.desc ? '1' : '0', limit: 10000 })
      .then((p) => { setRows(p.rows); setTotal(p.total); }, (e: unknown) => {
        setRows([]);
        setTotal(null);
        setError(e instanceof ApiFailure ? e.body : { error: String(e) });
      });
  }, [record, JSON.stringify(q)]);
  const v = useVirtualRows(rows.length, () => scrollRef.current, ROW_HEIGHT);
  const cols = COLUMNS[record];
  const w = (c: string): number => WIDTH[c] ?? 100;
  const width = cols.reduce((s, c) => s + w(c), 0);
  const nav = (over: Partial<typeof q>): void => {
    const n = { ...q, ...over };
    go(path, { filter: n.filter, from: n.from, to: n.to, sort: n.sort === 'ts' ? '' : n.sort, desc: n.desc ? '' : '0' });
  };
  const open = (r: Row): string => (record === 'l4'
    ? href('/ladder', { l4: r.id })
    : href('/', { filter: r.conn_trace_id ? `conn_trace_id = "${r.conn_trace_id}"` : '' }));
  return (
    <div class="page list-page" data-testid={`${record}-page`}>
      <div class="toolbar">
        <TimeRange from={q.from} to={q.to} onChange={(from, to) => nav({ from, to })} />
        <span class="count" data-testid="row-count" data-total={total ?? ''} data-loaded={rows.length}>
          {total === null ? '' : `${total} ${record === 'l4' ? 'L4 series' : 'TLS ClientHellos'}${rows.length < total ? ` (first ${rows.length})` : ''}`}
        </span>
      </div>
      <FilterBox value={q.filter} error={error} onApply={(filter) => nav({ filter })} />
      <div class="table" ref={scrollRef}>
        <div class="thead" style={{ width: `${width}px` }}>
          {cols.map((c) => (
            <div class={'th' + (q.sort === c ? ' sorted' : '')} data-col={c} style={{ width: `${w(c)}px` }}
              onClick={() => c !== 'packet_count' && nav(q.sort === c ? { desc: !q.desc } : { sort: c, desc: c === 'ts' })}>
              {c}{q.sort === c ? (q.desc ? ' ▼' : ' ▲') : ''}
            </div>
          ))}
        </div>
        <div class="tbody" style={{ height: `${v.getTotalSize()}px`, width: `${width}px` }}>
          {v.getVirtualItems().map((it) => {
            const r = rows[it.index]!;
            return (
              <a class="tr" href={open(r)} data-id={r.id} data-testid={`${record}-row`} style={{ transform: `translateY(${it.start}px)`, height: `${ROW_HEIGHT}px` }}>
                {cols.map((c) => <span class="td" data-col={c} style={{ width: `${w(c)}px` }}>{cellText(r[c])}</span>)}
              </a>
            );
          })}
        </div>
        {total === 0 && <div class="empty">nothing matches</div>}
      </div>
    </div>
  );
}
