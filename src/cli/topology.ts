/** `wirelog topology [FILE|-] [--format text|json|dot]`: the request graph of a `capture --format jsonl` file. */
import { formatOptions, parseArgs, UsageError, type OptionSpec } from './args.js';
import { parseAddrs } from './config.js';
import { stderrLine, stdoutText } from './io.js';

export const TOPOLOGY_OPTIONS: readonly OptionSpec[] = [
  { name: 'format', value: true, valueName: 'F', help: 'text (default) | json | dot (Graphviz)' },
  { name: 'local-addr', value: true, multiple: true, valueName: 'A,B',
    help: 'addresses inside the watched namespaces, besides those the records show (decides N/A)' },
  { name: 'help', short: 'h', value: false, help: 'this help' },
];

export const TOPOLOGY_USAGE = `Usage: wirelog topology [FILE|-] [options]

Read JSON lines written by \`wirelog capture --format jsonl\` (FILE, or stdin when FILE is - or absent) and
print the request graph: namespaces, devices and the addresses seen on them, and the edges between consecutive
devices of the requests' paths with request counts and p50/p99 hop times. See docs/topology.md.

Options:
${formatOptions(TOPOLOGY_OPTIONS)}
`;

export type TopologyFormat = 'text' | 'json' | 'dot';

export async function topologyCommand(argv: readonly string[]): Promise<number> {
  let format: TopologyFormat = 'text';
  let file = '-';
  let localAddrs: string[] | undefined;
  try {
    const { flags, positionals } = parseArgs(argv, TOPOLOGY_OPTIONS);
    if (flags.has('help')) {
      stdoutText(TOPOLOGY_USAGE);
      return 0;
    }
    if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}' (one input file)`);
    if (positionals.length === 1) file = positionals[0]!;
    const f = flags.get('format');
    if (f !== undefined) {
      const v = f.values[f.values.length - 1]!.trim().toLowerCase();
      if (v !== 'text' && v !== 'json' && v !== 'dot') throw new UsageError(`${f.as}: unknown format '${v}' (want text, json or dot)`, f.as);
      format = v;
    }
    const la = flags.get('local-addr');
    if (la !== undefined) localAddrs = parseAddrs({ values: la.values, where: la.as });
  } catch (err) {
    if (err instanceof UsageError) {
      stderrLine(`wirelog: error: ${err.message}`);
      return 2;
    }
    throw err;
  }

  const pipeline = await import('../pipelines/topology.js');
  let result;
  try {
    result = await pipeline.runTopology({ path: file, localAddrs });
  } catch (err) {
    if (err instanceof pipeline.TopologyInputError) {
      stderrLine(`wirelog: error: ${err.message}`);
      return 2;
    }
    stderrLine(`wirelog: error: ${file === '-' ? 'stdin' : file}: ${(err as Error).message}`);
    return 1;
  }
  const { graph, input } = result;
  if (format === 'json') stdoutText((await import('../sinks/topology-json.js')).topologyJson(graph, input));
  else if (format === 'dot') stdoutText((await import('../sinks/topology-dot.js')).topologyDot(graph));
  else stdoutText((await import('../sinks/topology-text.js')).topologyText(graph));
  stderrLine(`wirelog: ${input.l7_records} HTTP records (${input.requests} requests), ${input.l4_records} L4 records, ` +
    `${input.skipped_lines} other lines skipped, ${input.bad_lines} unparsable lines`);
  return 0;
}
