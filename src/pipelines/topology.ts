/**
 * `wirelog topology`'s run: a JSON lines source (a file, or stdin) → line classifier → graph builder → the graph
 * and the input counts. The CLI picks the output format and turns problems into messages and exit codes.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { parseTopoLine } from '../views/topology-input.js';
import { TopologyBuilder, type TopologyGraph } from '../views/topology-graph.js';
import type { TopologyInputCounts } from '../sinks/topology-json.js';
import { WirelogError } from '../errors.js';

export interface TopologyRunOptions {
  /** a file name, or '-' for stdin */
  path: string;
  localAddrs?: string[];
}

export interface TopologyResult {
  graph: TopologyGraph;
  input: TopologyInputCounts;
}

/** The file could not be opened (missing, a directory, no permission): a usage problem, exit 2. */
export class TopologyInputError extends WirelogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WL_ERR_INPUT', message, options);
  }
}

/** Open the source: stdin for '-', else the file (opened here, so a missing file is reported before reading). */
export function openSource(path: string): Readable {
  if (path === '-') return process.stdin;
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
    if (fs.fstatSync(fd).isDirectory()) {
      fs.closeSync(fd);
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new TopologyInputError(`${path}: ${why}`);
  }
  return fs.createReadStream('', { fd });
}

/** Graph of the lines of `input`. */
export async function topologyOfStream(input: Readable, localAddrs?: string[]): Promise<TopologyResult> {
  const builder = new TopologyBuilder({ localAddrs });
  const counts = { skipped: 0, bad: 0 };
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  for await (const line of rl) {
    const l = parseTopoLine(line);
    if (l.type === 'l7') builder.addL7(l.rec);
    else if (l.type === 'l4') builder.addL4(l.rec);
    else if (l.type === 'bad') counts.bad++;
    else if (line.trim() !== '') counts.skipped++;
  }
  const graph = builder.build();
  return {
    graph,
    input: {
      l7_records: graph.counts.l7Records, requests: graph.counts.requests, l4_records: graph.counts.l4Records,
      skipped_lines: counts.skipped, bad_lines: counts.bad,
    },
  };
}

export async function runTopology(opts: TopologyRunOptions): Promise<TopologyResult> {
  return topologyOfStream(openSource(opts.path), opts.localAddrs);
}
