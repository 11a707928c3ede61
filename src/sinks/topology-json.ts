/**
 * `wirelog topology --format json`: one JSON object, `{"nodes":[…],"edges":[…],"input":{…}}`, shape in
 * docs/topology.md. Node ids are the ones edges refer to: `host`, `ns:<inode>`, `dev:<netns>:<ifindex>:<ifname>`
 * (`-` for an unknown part), `N/A`.
 */
import { HOST_ID, OUTSIDE_ID, type HopTimes, type TopologyGraph } from '../views/topology-graph.js';

export interface TopologyInputCounts {
  l7_records: number;
  requests: number;
  l4_records: number;
  skipped_lines: number;
  bad_lines: number;
}

const times = (t: HopTimes): Record<string, number | null> => ({ samples: t.samples, p50: t.p50, p99: t.p99 });

export function topologyJsonValue(g: TopologyGraph, input: TopologyInputCounts): Record<string, unknown> {
  const nodes: Array<Record<string, unknown>> = [{ id: HOST_ID, type: 'host' }];
  for (const ns of g.namespaces) nodes.push({ id: ns.id, type: 'netns', parent: HOST_ID, netns: ns.netns, netns_name: ns.netnsName });
  for (const d of g.devices) {
    nodes.push({
      id: d.id, type: 'device', parent: d.nsId, netns: d.netns, netns_name: d.netnsName, ifindex: d.ifindex,
      ifname: d.ifname, requests: d.requests, addrs: d.addrs, addrs_more: d.addrsMore,
    });
  }
  if (g.outside) nodes.push({ id: OUTSIDE_ID, type: 'outside' });
  const edges = g.edges.map((e) => ({ from: e.from, to: e.to, requests: e.requests, req_ms: times(e.req), resp_ms: times(e.resp) }));
  return { nodes, edges, input };
}

export function topologyJson(g: TopologyGraph, input: TopologyInputCounts): string {
  return JSON.stringify(topologyJsonValue(g, input)) + '\n';
}
