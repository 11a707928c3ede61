/**
 * `wirelog topology --format dot`: Graphviz. The host is a cluster, each namespace a cluster inside it, each
 * device a box labelled with its name, ifindex and address pairs; N/A an ellipse outside; edges labelled with
 * request count and p50/p99 hop times. Render with `dot -Tsvg`.
 */
import { HOST_ID, OUTSIDE_ID, type HopTimes, type TopologyGraph } from '../views/topology-graph.js';
import { msText } from './topology-text.js';

/** A DOT quoted string: `"` and `\` escaped; newlines become `\n` (centred line breaks in labels). */
export function dotString(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n') + '"';
}

function times(what: string, t: HopTimes): string {
  return t.samples === 0 ? '' : `\n${what} p50 ${msText(t.p50!)} / p99 ${msText(t.p99!)} ms`;
}

export function topologyDot(g: TopologyGraph): string {
  const out: string[] = ['digraph wirelog_topology {', '  rankdir=LR;', '  node [shape=box, fontname="monospace", fontsize=10];',
    '  edge [fontname="monospace", fontsize=9];'];
  out.push(`  subgraph ${dotString('cluster_' + HOST_ID)} {`, `    label=${dotString(HOST_ID)};`);
  for (const ns of g.namespaces) {
    const label = (ns.netns === null ? 'netns unknown' : `netns ${ns.netns}`) + (ns.netnsName !== null ? ` (${ns.netnsName})` : '');
    out.push(`    subgraph ${dotString('cluster_' + ns.id)} {`, `      label=${dotString(label)};`);
    for (const d of g.devices.filter((x) => x.nsId === ns.id)) {
      const lines = [(d.ifname ?? '?') + (d.ifindex !== null ? ` (ifindex ${d.ifindex})` : ''), ...d.addrs];
      if (d.addrsMore > 0) lines.push(`(${d.addrsMore} more)`);
      out.push(`      ${dotString(d.id)} [label=${dotString(lines.join('\n'))}];`);
    }
    out.push('    }');
  }
  out.push('  }');
  if (g.outside) out.push(`  ${dotString(OUTSIDE_ID)} [shape=ellipse, label=${dotString(OUTSIDE_ID)}];`);
  for (const e of g.edges) {
    const label = `${e.requests} req${times('req', e.req)}${times('resp', e.resp)}`;
    out.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [label=${dotString(label)}];`);
  }
  out.push('}');
  return out.join('\n') + '\n';
}
