/** The request topology: host ⊃ namespaces ⊃ devices, N/A outside, edges with counts and p50/p99 hop times. */
import { useEffect, useRef, useState } from 'preact/hooks';
import cytoscape from 'cytoscape';
import { ApiFailure, getJson, type TopoEdge, type TopoNode, type Topology } from './api';
import { href, type Route } from './route';
import { deviceName } from './format';
import { FilterBox, TimeRange, go, listQuery } from './list';

const ms = (v: number | null): string => (v === null ? '–' : `${v.toFixed(3)}ms`);
export const edgeLabel = (e: TopoEdge): string => `${e.requests} req · p50 ${ms(e.req_ms.p50)} p99 ${ms(e.req_ms.p99)}`;

export function nodeLabel(n: TopoNode): string {
  if (n.type === 'host') return 'host';
  if (n.type === 'outside') return 'N/A';
  if (n.type === 'netns') return `netns ${n.netns_name ?? n.netns ?? '?'}`;
  const addrs = (n.addrs ?? []).slice(0, 3).join('\n');
  return deviceName(n as never) + (addrs ? '\n' + addrs : '') + ((n.addrs?.length ?? 0) > 3 ? `\n(+${(n.addrs!.length - 3) + (n.addrs_more ?? 0)} more)` : '');
}

/**
 * Positions, left to right along the requests' paths: a device's column is its longest distance from a path's start
 * (N/A, when requests come from outside, first); each namespace has a band of its own, so namespace boxes do not
 * overlap; devices of one namespace in one column are stacked.
 */
export function layoutPositions(g: Topology): Record<string, { x: number; y: number }> {
  const devices = g.nodes.filter((n) => n.type === 'device' || n.type === 'outside');
  const depth = new Map<string, number>(devices.map((n) => [n.id, 0]));
  const inner = g.edges.filter((e) => e.from !== 'N/A' && e.to !== 'N/A');
  // longest path by relaxation (paths are short; a cycle stops after |devices| rounds)
  for (let round = 0; round < devices.length; round++) {
    let changed = false;
    for (const e of inner) {
      const d = (depth.get(e.from) ?? 0) + 1;
      if (d > (depth.get(e.to) ?? 0)) {
        depth.set(e.to, d);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const fromOutside = g.edges.some((e) => e.from === 'N/A');
  const shift = fromOutside ? 1 : 0;
  const maxDepth = Math.max(0, ...[...depth.values()]);
  const nsOrder = g.nodes.filter((n) => n.type === 'netns').map((n) => n.id);
  const pos: Record<string, { x: number; y: number }> = {};
  const stack = new Map<string, number>();
  for (const n of devices) {
    if (n.type === 'outside') continue;
    const col = (depth.get(n.id) ?? 0) + shift;
    const band = Math.max(0, nsOrder.indexOf(n.parent ?? ''));
    const k = `${band} ${col}`;
    const i = stack.get(k) ?? 0;
    stack.set(k, i + 1);
    pos[n.id] = { x: col * 340, y: band * 170 + i * 70 };
  }
  if (devices.some((n) => n.type === 'outside')) pos['N/A'] = { x: fromOutside ? 0 : (maxDepth + 1) * 340, y: -120 };
  return pos;
}

export function TopologyPage({ route }: { route: Route }) {
  const q = listQuery(route.params);
  const [g, setG] = useState<Topology | null>(null);
  const [err, setErr] = useState<ApiFailure | null>(null);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    setErr(null);
    getJson<Topology>('/api/topology', { filter: q.filter, from: q.from, to: q.to }).then(setG, (e: unknown) => {
      setG(null);
      setErr(e instanceof ApiFailure ? e : new ApiFailure(0, { error: String(e) }));
    });
  }, [q.filter, q.from, q.to]);
  const openList = (filter: string | undefined): void => go('/', { filter: filter ?? q.filter, from: q.from, to: q.to });
  useEffect(() => {
    if (g === null || box.current === null) return;
    const cy = cytoscape({
      container: box.current,
      elements: [
        ...g.nodes.map((n) => ({ data: { id: n.id, parent: n.parent, label: nodeLabel(n), type: n.type, filter: n.filter } })),
        ...g.edges.map((e, i) => ({ data: { id: `e${i}`, source: e.from, target: e.to, label: edgeLabel(e), filter: e.filter, requests: e.requests } })),
      ],
      style: [
        { selector: 'node', style: { label: 'data(label)', 'text-wrap': 'wrap', 'font-size': 10, 'text-valign': 'center', 'text-halign': 'center', shape: 'round-rectangle', width: (n: cytoscape.NodeSingular) => Math.max(40, 7 * Math.max(...String(n.data('label')).split('\n').map((l) => l.length))), height: (n: cytoscape.NodeSingular) => 16 * String(n.data('label')).split('\n').length + 8, 'background-color': '#dbe8f7', 'border-width': 1, 'border-color': '#5b7fa6' } },
        { selector: 'node[type = "outside"]', style: { 'background-color': '#eee', 'border-style': 'dashed' } },
        { selector: ':parent', style: { 'text-valign': 'top', 'text-halign': 'center', 'background-opacity': 0.15, 'font-weight': 'bold' } },
        { selector: 'edge', style: { label: 'data(label)', 'font-size': 9, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', width: 'mapData(requests, 0, 100, 1, 6)', 'line-color': '#7a8ea6', 'target-arrow-color': '#7a8ea6', 'text-background-color': '#fff', 'text-background-opacity': 0.8, 'text-rotation': 'autorotate', 'text-margin-y': -10 } },
      ],
      layout: { name: 'preset', positions: layoutPositions(g), fit: true, padding: 30 },
    });
    cy.on('tap', 'node, edge', (ev) => openList(ev.target.data('filter') as string | undefined));
    (window as unknown as { wirelogCy?: unknown }).wirelogCy = cy;
    return () => {
      cy.destroy();
      (window as unknown as { wirelogCy?: unknown }).wirelogCy = undefined;
    };
  }, [g]);
  const byId = new Map((g?.nodes ?? []).map((n) => [n.id, n]));
  const name = (id: string): string => (byId.has(id) ? nodeLabel(byId.get(id)!).split('\n')[0]! : id);
  return (
    <div class="page topology-page" data-testid="topology-page">
      <div class="toolbar">
        <TimeRange from={q.from} to={q.to} onChange={(from, to) => go('/topology', { filter: q.filter, from, to })} />
        {g !== null && <span data-testid="topology-counts">{g.input.requests} requests, {g.edges.length} edges{g.truncated ? ' (first records only)' : ''}</span>}
      </div>
      <FilterBox value={q.filter} error={err?.body ?? null} onApply={(filter) => go('/topology', { filter, from: q.from, to: q.to })} />
      <div class="cy" ref={box} data-testid="topology-graph" data-nodes={g?.nodes.length ?? ''} data-edges={g?.edges.length ?? ''} />
      {g !== null && (
        <table class="edges" data-testid="topology-edges">
          <thead><tr><th>from</th><th>to</th><th>requests</th><th>request p50 / p99</th><th>response p50 / p99</th></tr></thead>
          <tbody>
            {g.edges.map((e) => (
              <tr data-testid="topology-edge" data-from={e.from} data-to={e.to} data-requests={e.requests}>
                <td>{name(e.from)}</td><td>{name(e.to)}</td>
                <td><a href={href('/', { filter: e.filter, from: q.from, to: q.to })} data-testid="edge-link">{e.requests}</a></td>
                <td>{ms(e.req_ms.p50)} / {ms(e.req_ms.p99)}</td><td>{ms(e.resp_ms.p50)} / {ms(e.resp_ms.p99)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
