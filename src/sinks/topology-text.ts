/** `wirelog topology --format text`: namespaces → devices (with their address pairs), then the edges by request count. */
import { HOST_ID, nodeLabel, type HopTimes, type TopologyGraph } from '../views/topology-graph.js';

/** Milliseconds with µs precision: `0.012`. */
export function msText(ms: number): string {
  return ms.toFixed(3);
}

function timesText(what: string, t: HopTimes): string {
  if (t.samples === 0) return '';
  return `; ${what} p50 ${msText(t.p50!)} ms p99 ${msText(t.p99!)} ms (${t.samples} sample${t.samples === 1 ? '' : 's'})`;
}

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

export function topologyText(g: TopologyGraph): string {
  const out: string[] = [HOST_ID];
  for (const ns of g.namespaces) {
    const name = ns.netns === null ? 'netns unknown' : `netns ${ns.netns}`;
    out.push(`  ${name}${ns.netnsName !== null ? ` (${ns.netnsName})` : ''}`);
    for (const d of g.devices.filter((x) => x.nsId === ns.id)) {
      const idx = d.ifindex !== null ? ` ifindex ${d.ifindex}` : '';
      out.push(`    ${d.ifname ?? '?'}${idx}: ${plural(d.requests, 'request')}`);
      for (const a of d.addrs) out.push(`      ${a}`);
      if (d.addrsMore > 0) out.push(`      (${d.addrsMore} more)`);
    }
  }
  if (g.outside) out.push('N/A (outside: an address not in a watched namespace)');
  out.push('');
  out.push(g.edges.length === 0 ? 'edges: none' : 'edges (by requests):');
  for (const e of g.edges) {
    out.push(`  ${nodeLabel(g, e.from)} → ${nodeLabel(g, e.to)}: ${plural(e.requests, 'request')}` +
      timesText('request', e.req) + timesText('response', e.resp));
  }
  return out.join('\n') + '\n';
}
