/** The L7 list: time range, filter (the query language), sortable/resizable/chosen columns, virtual rows, live tail. */
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import { ApiFailure, getJson, type L7Page, type L7Row, type QueryErrorBody } from './api';
import { href, type Route } from './route';
import { useVirtualRows } from './virtual';
import { cellText } from './format';

export const ALL_COLUMNS = [
  'ts', 'method', 'uri', 'status', 'latency_ms', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'host', 'kind', 'version',
  'reason', 'content_type', 'content_length', 'user_agent', 'ifname', 'netns', 'netns_name', 'pid', 'comm', 'res_ts',
  'res_version', 'req_content_length', 'req_content_type', 'req_body_bytes', 'res_body_bytes', 'interim', 'gap_bytes',
  'incomplete', 'anomalies', 'req_seq', 'resp_seq', 'l7_trace_id', 'conn_trace_id', 'container_id', 'pod_uid', 'conn_id', 'req_id', 'id',
] as const;
const DEFAULT_COLUMNS = ['ts', 'method', 'uri', 'status', 'latency_ms', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'host', 'netns_name', 'ifname'];
const DEFAULT_WIDTH: Record<string, number> = { ts: 230, uri: 260, method: 80, status: 70, latency_ms: 100, src_ip: 130, dst_ip: 130, host: 160, user_agent: 200, l7_trace_id: 200, conn_trace_id: 200 };
const ROW_HEIGHT = 26;
const PAGE = 500;

export const PRESETS: Array<{ label: string; from: string }> = [
  { label: 'last 15 min', from: '-15m' },
  { label: 'last 1 h', from: '-1h' },
  { label: 'last 24 h', from: '-24h' },
  { label: 'last 7 days', from: '-7d' },
  { label: 'all', from: '' },
];

function loadColumns(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem('wirelog.columns') ?? 'null') as unknown;
    if (Array.isArray(v) && v.every((c) => typeof c === 'string' && (ALL_COLUMNS as readonly string[]).includes(c)) && v.length > 0) return v as string[];
  } catch { /* unreadable: defaults */ }
  return DEFAULT_COLUMNS;
}
function loadWidths(): Record<string, number> {
  try {
    const v = JSON.parse(localStorage.getItem('wirelog.widths') ?? 'null') as unknown;
    if (v !== null && typeof v === 'object') return v as Record<string, number>;
  } catch { /* defaults */ }
  return {};
}

/** Route parameters → the list's query. */
export function listQuery(p: URLSearchParams): { filter: string; from: string; to: string; sort: string; desc: boolean } {
  return { filter: p.get('filter') ?? '', from: p.get('from') ?? '', to: p.get('to') ?? '', sort: p.get('sort') ?? 'ts', desc: (p.get('desc') ?? '1') === '1' };
}

export function go(path: string, params: Record<string, string | number | null | undefined>): void {
  location.hash = href(path, params);
}

export function TimeRange(props: { from: string; to: string; onChange: (from: string, to: string) => void }) {
  const preset = props.to === '' ? PRESETS.find((p) => p.from === props.from) : undefined;
  const [from, setFrom] = useState(props.from);
  const [to, setTo] = useState(props.to);
  useEffect(() => { setFrom(props.from); setTo(props.to); }, [props.from, props.to]);
  return (
    <div class="timerange">
      <select data-testid="time-preset" value={preset ? preset.from : 'custom'} onChange={(e) => {
        const v = (e.target as HTMLSelectElement).value;
        if (v !== 'custom') props.onChange(v, '');
      }}>
        {PRESETS.map((p) => <option value={p.from}>{p.label}</option>)}
        <option value="custom">custom</option>
      </select>
      <input class="time" data-testid="time-from" placeholder="from (ISO, -2h)" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)}
        onKeyDown={(e) => { if (e.key === 'Enter') props.onChange(from, to); }} />
      <input class="time" data-testid="time-to" placeholder="to (ISO, now)" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)}
        onKeyDown={(e) => { if (e.key === 'Enter') props.onChange(from, to); }} />
      <button onClick={() => props.onChange(from, to)}>apply</button>
    </div>
  );
}

function loadSaved(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem('wirelog.savedFilters') ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** The filter box: Enter applies; saved filters (localStorage) one click away. */
export function FilterBox(props: { value: string; error: QueryErrorBody | null; onApply: (v: string) => void }) {
  const [text, setText] = useState(props.value);
  const [saved, setSaved] = useState<string[]>(loadSaved);
  useEffect(() => setText(props.value), [props.value]);
  const store = (list: string[]): void => {
    setSaved(list);
    localStorage.setItem('wirelog.savedFilters', JSON.stringify(list));
  };
  return (
    <div class="filterbox">
      <div class="filterline">
        <input id="filter" data-testid="filter" spellcheck={false} placeholder='filter, e.g. status >= 500 and path ^= "/api/"  (docs/query.md)'
          value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => { if (e.key === 'Enter') props.onApply(text); }} />
        <button data-testid="filter-apply" onClick={() => props.onApply(text)}>filter</button>
        <button data-testid="filter-save" title="keep this filter in this browser" disabled={text.trim() === '' || saved.includes(text.trim())}
          onClick={() => store([...saved, text.trim()])}>save</button>
        {saved.length > 0 && (
          <select data-testid="saved-filters" value="" onChange={(e) => {
            const v = (e.target as HTMLSelectElement).value;
            if (v.startsWith('del:')) store(saved.filter((x) => x !== v.slice(4)));
            else if (v !== '') props.onApply(v);
          }}>
            <option value="">saved filters…</option>
            {saved.map((f) => <option value={f}>{f}</option>)}
            <optgroup label="forget">
              {saved.map((f) => <option value={'del:' + f}>✕ {f}</option>)}
            </optgroup>
          </select>
        )}
      </div>
      {props.error !== null && (
        <div class="filter-error" data-testid="filter-error" data-column={props.error.column ?? ''}>
          {props.error.caret !== undefined ? <pre>{props.error.caret}</pre> : <span>{props.error.error}</span>}
        </div>
      )}
    </div>
  );
}

export function ListPage({ route }: { route: Route }) {
  const q = listQuery(route.params);
  const [rows, setRows] = useState<L7Row[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<QueryErrorBody | null>(null);
  const [loading, setLoading] = useState(false);
  const [columns, setColumns] = useState<string[]>(loadColumns);
  const [widths, setWidths] = useState<Record<string, number>>(loadWidths);
  const [chooser, setChooser] = useState(false);
  const [live, setLive] = useState(false);
  const maxId = useRef(0);
  const gen = useRef(0);
  const scrollRef = useRef<HTMLDivElement>(null);

  const params = (offset: number) => ({ filter: q.filter, from: q.from, to: q.to, sort: q.sort, desc: q.desc ? '1' : '0', limit: PAGE, offset });
  const key = JSON.stringify(q);

  useEffect(() => {
    const g = ++gen.current;
    setLoading(true);
    setError(null);
    getJson<L7Page>('/api/l7', params(0)).then((page) => {
      if (g !== gen.current) return;
      setRows(page.rows);
      setTotal(page.total);
      maxId.current = page.max_id;
      setLoading(false);
    }, (err: unknown) => {
      if (g !== gen.current) return;
      setRows([]);
      setTotal(null);
      setError(err instanceof ApiFailure ? err.body : { error: String(err) });
      setLoading(false);
    });
  }, [key]);

  const loadMore = useCallback(() => {
    if (loading || total === null || rows.length >= total) return;
    const g = gen.current;
    setLoading(true);
    getJson<L7Page>('/api/l7', params(rows.length)).then((page) => {
      if (g !== gen.current) return;
      setRows((r) => [...r, ...page.rows]);
      setTotal(page.total);
      setLoading(false);
    }, () => setLoading(false));
  }, [loading, total, rows.length, key]);

  // the live tail: rows written since the last look, matching the filter, polled
  useEffect(() => {
    if (!live) return;
    let stop = false;
    const tick = async (): Promise<void> => {
      if (stop) return;
      try {
        const t = await getJson<{ rows: L7Row[]; max_id: number }>('/api/tail', { filter: q.filter, after: maxId.current });
        if (!stop && t.rows.length > 0) {
          const fresh = t.rows;
          setRows((r) => (q.desc ? [...fresh.slice().reverse(), ...r] : [...r, ...fresh]));
          setTotal((n) => (n ?? 0) + fresh.length);
        }
        maxId.current = t.max_id;
      } catch { /* the next poll tries again */ }
      if (!stop) timer = window.setTimeout(tick, 1500);
    };
    let timer = window.setTimeout(tick, 0);
    return () => { stop = true; clearTimeout(timer); };
  }, [live, key]);

  const v = useVirtualRows(rows.length, () => scrollRef.current, ROW_HEIGHT);
  const items = v.getVirtualItems();
  const last = items[items.length - 1];
  useEffect(() => {
    if (last !== undefined && last.index >= rows.length - 50) loadMore();
  }, [last?.index, rows.length]);

  const nav = (over: Partial<typeof q>): void => {
    const n = { ...q, ...over };
    go('/', { filter: n.filter, from: n.from, to: n.to, sort: n.sort === 'ts' ? '' : n.sort, desc: n.desc ? '' : '0' });
  };
  const width = (c: string): number => widths[c] ?? DEFAULT_WIDTH[c] ?? 110;
  const totalWidth = columns.reduce((s, c) => s + width(c), 0);
  const setColumnList = (cs: string[]): void => {
    setColumns(cs);
    localStorage.setItem('wirelog.columns', JSON.stringify(cs));
  };
  const startResize = (c: string, e: MouseEvent): void => {
    e.preventDefault();
    e.stopPropagation();
    const x0 = e.clientX, w0 = width(c);
    const move = (ev: MouseEvent): void => setWidths((w) => ({ ...w, [c]: Math.max(40, w0 + ev.clientX - x0) }));
    const up = (): void => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
      setWidths((w) => {
        localStorage.setItem('wirelog.widths', JSON.stringify(w));
        return w;
      });
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
  };

  return (
    <div class="page list-page">
      <div class="toolbar">
        <TimeRange from={q.from} to={q.to} onChange={(from, to) => nav({ from, to })} />
        <label class="live"><input type="checkbox" data-testid="live" checked={live} onChange={(e) => setLive((e.target as HTMLInputElement).checked)} /> live tail</label>
        <span class="count" data-testid="row-count" data-total={total ?? ''} data-loaded={rows.length}>
          {total === null ? (loading ? 'loading…' : '') : `${total} ${total === 1 ? 'request' : 'requests'}${rows.length < total ? ` (${rows.length} loaded)` : ''}`}
        </span>
        <div class="chooser">
          <button data-testid="columns-button" onClick={() => setChooser(!chooser)}>columns</button>
          {chooser && (
            <div class="chooser-menu" data-testid="columns-menu">
              {ALL_COLUMNS.map((c) => (
                <label><input type="checkbox" data-col={c} checked={columns.includes(c)} onChange={(e) => {
                  const on = (e.target as HTMLInputElement).checked;
                  setColumnList(on ? ALL_COLUMNS.filter((x) => x === c || columns.includes(x)) : columns.filter((x) => x !== c));
                }} /> {c}</label>
              ))}
              <button onClick={() => setColumnList(DEFAULT_COLUMNS)}>defaults</button>
            </div>
          )}
        </div>
      </div>
      <FilterBox value={q.filter} error={error} onApply={(filter) => nav({ filter })} />
      <div class="table" ref={scrollRef} data-testid="l7-table">
        <div class="thead" style={{ width: `${totalWidth}px` }}>
          {columns.map((c) => (
            <div class={'th' + (q.sort === c ? ' sorted' : '')} data-col={c} style={{ width: `${width(c)}px` }}
              onClick={() => nav(q.sort === c ? { desc: !q.desc } : { sort: c, desc: c === 'ts' })}>
              {c}{q.sort === c ? (q.desc ? ' ▼' : ' ▲') : ''}
              <span class="resizer" data-testid={`resize-${c}`} onMouseDown={(e) => startResize(c, e as unknown as MouseEvent)} onClick={(e) => e.stopPropagation()} />
            </div>
          ))}
        </div>
        <div class="tbody" style={{ height: `${v.getTotalSize()}px`, width: `${totalWidth}px` }}>
          {items.map((it) => {
            const r = rows[it.index]!;
            return (
              <a class={'tr' + (typeof r.status === 'number' && r.status >= 400 ? ' bad' : '')} href={href('/request/' + r.id)} data-id={r.id} data-testid="l7-row"
                style={{ transform: `translateY(${it.start}px)`, height: `${ROW_HEIGHT}px` }}>
                {columns.map((c) => <span class="td" data-col={c} style={{ width: `${width(c)}px` }}>{cellText(c === 'id' ? r.id : r[c])}</span>)}
              </a>
            );
          })}
        </div>
        {total === 0 && <div class="empty">no requests match</div>}
      </div>
    </div>
  );
}
