/** The packet ladder of one connection on one device: client left, server right, one arrow per packet. */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, getJson, type Ladder, type LadderPacket } from './api';
import { href, type Route } from './route';
import { deviceName, endpoint, msText } from './format';

/** Does the packet hold the byte at `seq` (seq <= s < seq + len, mod 2^32), or start at it (a packet without payload)? */
export function holds(p: LadderPacket, s: number): boolean {
  if (p.seq === null) return false;
  if (p.len === 0) return p.seq === s;
  return ((s - p.seq) >>> 0) < p.len;
}

const tsText = (us: number, ns: number): string => {
  const d = new Date(Math.floor(us / 1000));
  return d.toISOString().slice(0, 19) + '.' + String(Math.floor(us) % 1_000_000).padStart(6, '0') + String(ns).padStart(3, '0') + 'Z';
};

export function LadderPage({ route }: { route: Route }) {
  const p = route.params;
  const conn = p.get('conn') ?? '';
  const l7 = p.get('l7');
  const [d, setD] = useState<Ladder | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [absolute, setAbsolute] = useState(false);
  const [search, setSearch] = useState('');
  useEffect(() => {
    setD(null);
    setErr(null);
    const l4 = p.get('l4');
    getJson<Ladder>('/api/l4', l4 !== null ? { l4_id: l4 } : { conn_trace_id: conn, netns: p.get('netns'), ifindex: p.get('ifindex'), ifname: p.get('ifname') })
      .then(setD, (e: unknown) => setErr(e instanceof ApiFailure ? e.body.error : String(e)));
  }, [route.params.toString()]);
  if (err !== null) return <div class="page error" data-testid="page-error">{err}</div>;
  if (d === null) return <div class="page">loading…</div>;
  const want = /^\d+$/.test(search.trim()) ? Number(search.trim()) : null;
  const first = d.packets[0]?.ts_us ?? 0;
  const reqs = new Map(d.requests.map((r) => [r.id, r]));
  // who opened the connection was not seen (no SYN): the left column is the first packet's sender (docs/schema.md)
  const unknownSide = d.series.length > 0 && d.series.every((s) => s.conn_side === 'unknown');
  let prev = first;
  return (
    <div class="page ladder-page" data-testid="ladder-page">
      <h2>packet ladder {d.device ? deviceName(d.device) : ''}</h2>
      <div class="toolbar">
        {l7 !== null && <a href={href('/request/' + l7)}>← request</a>}
        <span>conn_trace_id {d.conn_trace_id ?? '–'}</span>
        <label><input type="checkbox" data-testid="absolute" checked={absolute} onChange={(e) => setAbsolute((e.target as HTMLInputElement).checked)} /> absolute time</label>
        <input data-testid="seq-search" placeholder="find seq" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        <span data-testid="packet-count">{d.packets.length} packets</span>
      </div>
      <div class="ladder">
        <div class="ladder-head">
          <span class="lt">time</span><span class="ld">Δ</span>
          <span class="lc" />
          <span class="la ends"><span data-testid="ladder-client">{unknownSide ? 'first sender' : 'client'} {d.client ? endpoint(d.client.ip, d.client.port) : ''}</span><span data-testid="ladder-server">{unknownSide ? 'other end' : 'server'} {d.server ? endpoint(d.server.ip, d.server.port) : ''}</span></span>
          <span class="ls" />
        </div>
        {d.packets.map((pk) => {
          const dt = pk.ts_us - prev;
          prev = pk.ts_us;
          const hit = want !== null && holds(pk, want);
          const marks = [...pk.req_of.map((id) => ({ id, kind: 'request' })), ...pk.resp_of.map((id) => ({ id, kind: 'response' }))];
          const label = pk.flags === null ? `udp len=${pk.len}` : `${pk.flags} seq=${pk.seq} ack=${pk.ack} len=${pk.len} win=${pk.win}`;
          return (
            <div class={'lrow' + (hit ? ' hit' : '') + (marks.length > 0 ? ' marked' : '') + (marks.some((m) => String(m.id) === l7) ? ' this' : '')}
              data-testid="ladder-packet" data-flags={pk.flags ?? ''} data-seq={pk.seq ?? ''} data-ack={pk.ack ?? ''} data-len={pk.len}
              data-from-client={pk.from_client ? '1' : '0'} data-hit={hit ? '1' : '0'} data-req-of={pk.req_of.join(',')} data-resp-of={pk.resp_of.join(',')}>
              <span class="lt">{absolute ? tsText(pk.ts_us, pk.ns) : '+' + msText(pk.ts_us - first)}</span>
              <span class="ld">{'+' + msText(dt)}</span>
              <span class="lc" />
              <span class={'la ' + (pk.from_client ? 'right' : 'left')}>
                <span class="arrow-label">{label}</span>
                <span class="arrow" />
                {marks.map((m) => {
                  const r = reqs.get(m.id);
                  return <span class="marker" data-testid="ladder-marker"><a href={href('/request/' + m.id)}>{m.kind === 'request' ? '↳ ' : '↲ '}{r?.method ?? ''} {r?.uri ?? ''} {m.kind === 'response' ? `→ ${r?.status ?? '?'}` : ''}</a></span>;
                })}
              </span>
              <span class="ls" />
            </div>
          );
        })}
      </div>
    </div>
  );
}
