/** One request: its fields as stored, timings, the hop timeline (one bar per device), related records, ladders. */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, getJson, type Hop, type L7Detail, type L7Row } from './api';
import { href } from './route';
import { cellText, deviceName, isoUs, msText } from './format';

const FIELD_ORDER = [
  'ts', 'res_ts', 'latency_ms', 'kind', 'method', 'uri', 'version', 'host', 'user_agent', 'status', 'reason', 'res_version',
  'content_type', 'content_length', 'req_content_type', 'req_content_length', 'req_body_bytes', 'res_body_bytes',
  'src_ip', 'src_port', 'dst_ip', 'dst_port', 'ifname', 'netns', 'netns_name', 'container_id', 'pod_uid', 'pid', 'comm',
  'conn_id', 'req_id', 'req_seq', 'resp_seq', 'l7_trace_id', 'conn_trace_id', 'interim', 'gap_bytes', 'incomplete', 'anomalies',
];

export function HopChart({ hops }: { hops: Hop[] }) {
  const t0 = isoUs(hops[0]?.req_ts) ?? 0;
  const times = hops.flatMap((h) => [isoUs(h.req_ts), isoUs(h.resp_ts)]).filter((x): x is number => x !== null);
  const span = Math.max(1, ...times.map((t) => t - t0));
  const labelW = 230, barW = 560, rowH = 26, W = labelW + barW + 150;
  const x = (us: number): number => labelW + ((us - t0) / span) * barW;
  return (
    <svg class="hops" data-testid="hop-chart" width={W} height={hops.length * rowH + 30} viewBox={`0 0 ${W} ${hops.length * rowH + 30}`}>
      <text x={labelW} y={12} class="axis">0</text>
      <text x={labelW + barW} y={12} class="axis" text-anchor="end">{msText(span)}</text>
      {hops.map((h, i) => {
        const q = isoUs(h.req_ts), r = isoUs(h.resp_ts);
        const y = 20 + i * rowH;
        const x0 = q === null ? labelW : x(q), x1 = r === null ? x0 : x(r);
        return (
          <g class="hop" data-testid="hop-bar" data-ifname={h.ifname ?? ''} data-netns={h.netns ?? ''} data-ifindex={h.ifindex}
            data-req-us={q === null ? '' : q - t0} data-resp-us={r === null ? '' : r - t0}>
            <title>{`${deviceName(h)}: request +${msText(q === null ? null : q - t0)}, response +${msText(r === null ? null : r - t0)}`}</title>
            <text x={0} y={y + 14} class="hop-label">{deviceName(h)}</text>
            <rect x={x0} y={y + 4} width={Math.max(2, x1 - x0)} height={rowH - 10} class="hop-span" />
            <line x1={x0} x2={x0} y1={y + 1} y2={y + rowH - 3} class="hop-req" />
            <line x1={x1} x2={x1} y1={y + 1} y2={y + rowH - 3} class="hop-resp" />
            <text x={labelW + barW + 8} y={y + 14} class="hop-times">{`+${msText(q === null ? null : q - t0)} / +${msText(r === null ? null : r - t0)}`}</text>
          </g>
        );
      })}
    </svg>
  );
}

function RelatedL7({ rows, what }: { rows: L7Row[]; what: string }) {
  if (rows.length === 0) return null;
  return (
    <div class="related" data-testid={`related-${what}`}>
      <h3>{what === 'trace' ? 'same request on other devices (l7_trace_id)' : 'same connection (conn_trace_id)'}</h3>
      <table>
        <tbody>
          {rows.map((r) => (
            <tr><td><a href={href('/request/' + r.id)}>{r.ts}</a></td><td>{r.method} {r.uri}</td><td>{cellText(r.status)}</td><td>{deviceName({ ...r, ifindex: null } as never)}</td></tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function RequestPage({ id }: { id: string }) {
  const [d, setD] = useState<L7Detail | null>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    setD(null);
    setErr(null);
    getJson<L7Detail>('/api/l7/' + encodeURIComponent(id)).then(setD, (e: unknown) => setErr(e instanceof ApiFailure ? e.body.error : String(e)));
  }, [id]);
  if (err !== null) return <div class="page error" data-testid="page-error">{err}</div>;
  if (d === null) return <div class="page">loading…</div>;
  const r = d.record;
  const hops = r.hops ?? [];
  const ladder = (dev: { netns: number | null; ifindex: number | null; ifname: string | null }): string =>
    href('/ladder', { conn: r.conn_trace_id, netns: dev.netns ?? '-', ifindex: dev.ifindex ?? '-', ifname: dev.ifname ?? '-', l7: r.id });
  return (
    <div class="page request-page" data-testid="request-page" data-id={r.id}>
      <h2>{r.method ?? '–'} {r.uri ?? '–'} <span class="status">{cellText(r.status)}</span></h2>
      <div class="timings" data-testid="timings">
        <span>request {r.ts}</span>
        <span>response {cellText(r.res_ts) || '–'}</span>
        <span>latency {r.latency_ms === null ? '–' : `${r.latency_ms} ms`}</span>
      </div>
      <section>
        <h3>hops ({hops.length})</h3>
        {hops.length > 0 ? <HopChart hops={hops} /> : <p>no hops in this record</p>}
      </section>
      <section>
        <h3>packet ladders</h3>
        {d.related.devices.length === 0 ? <p>no L4 series of this connection</p> : (
          <div class="devices" data-testid="devices">
            {d.related.devices.map((dev) => (
              <a class="device" data-testid="device-link" data-ifname={dev.ifname ?? ''} data-netns={dev.netns ?? ''} data-ifindex={dev.ifindex ?? ''} href={ladder(dev)}>
                {deviceName(dev)} <small>{dev.packets} packets</small>
              </a>
            ))}
          </div>
        )}
      </section>
      <section>
        <h3>fields</h3>
        <table class="fields" data-testid="fields">
          <tbody>
            {FIELD_ORDER.map((f) => (
              <tr><th>{f}</th><td data-testid={`field-${f}`}>{cellText(r[f])}</td></tr>
            ))}
          </tbody>
        </table>
      </section>
      <details class="json">
        <summary>JSON</summary>
        <pre data-testid="record-json">{JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'id' && k !== 'ts_us' && k !== 'res_ts_us')), null, 2)}</pre>
      </details>
      <RelatedL7 rows={d.related.same_trace} what="trace" />
      <RelatedL7 rows={d.related.same_connection} what="connection" />
      {d.related.l4.length > 0 && (
        <section class="related" data-testid="related-l4">
          <h3>L4 series of the connection</h3>
          <table>
            <thead><tr><th>device</th><th>chunk</th><th>client → server</th><th>packets</th><th>rtt</th></tr></thead>
            <tbody>
              {d.related.l4.map((s) => (
                <tr>
                  <td><a href={ladder(s as never)}>{deviceName(s as never)}</a></td>
                  <td>{cellText(s.chunk_id)}</td>
                  <td>{`${s.client_ip}:${s.client_port} → ${s.server_ip}:${s.server_port}`}</td>
                  <td>{cellText(s.packet_count)}</td>
                  <td>{s.tcp_rtt_us === null ? '–' : msText(s.tcp_rtt_us as number)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {d.related.tls.length > 0 && (
        <section class="related" data-testid="related-tls">
          <h3>TLS ClientHello</h3>
          {d.related.tls.map((t) => <div>{`SNI ${cellText(t.sni) || '–'}, ALPN ${cellText(t.alpn) || '–'}, ${cellText(t.tls_version)}, on ${deviceName(t as never)}`}</div>)}
        </section>
      )}
    </div>
  );
}
