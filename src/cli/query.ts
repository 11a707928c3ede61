/** `wirelog query`: records from the embedded store, filtered with the filter language (docs/query.md). */
import { formatOptions, parseArgs, UsageError, type OptionSpec } from './args.js';
import { stderrLine, stdoutText } from './io.js';
import { DEFAULT_STORE_PATH } from '../store/options.js';

export const QUERY_OPTIONS: readonly OptionSpec[] = [
  { name: 'store', value: true, valueName: 'PATH', help: `the store to read (default ${DEFAULT_STORE_PATH}); read-only` },
  { name: 'filter', short: 'f', value: true, valueName: 'EXPR', help: 'which records, in the filter language (docs/query.md), e.g. \'status >= 500 and host ^= "api."\'' },
  { name: 'record', value: true, valueName: 'TYPE', help: 'l7 (default, HTTP requests) | l4 (packet series) | tls (ClientHellos)' },
  { name: 'from', value: true, valueName: 'TIME', help: 'records from TIME on: ISO 8601 (UTC unless it says), or -15m, -2h, -7d before now' },
  { name: 'to', value: true, valueName: 'TIME', help: 'records before TIME (same forms)' },
  { name: 'format', value: true, valueName: 'F', help: 'jsonl (default: the lines capture --format jsonl wrote) | csv | text' },
  { name: 'limit', short: 'n', value: true, valueName: 'N', help: 'at most N records (default 1000); a line on stderr says when more matched' },
  { name: 'desc', value: false, help: 'newest first (default oldest first)' },
  { name: 'help', short: 'h', value: false, help: 'this help' },
];

export const QUERY_USAGE = `Usage: wirelog query [options]

Print records kept by \`wirelog capture --store\`, oldest first, filtered with the filter language of docs/query.md:
  wirelog query --filter 'status >= 500' --from -15m
  wirelog query --filter 'method = POST and path ^= "/api/"' --format csv
  wirelog query --record l4 --filter 'conn_trace_id = "1000_5000"'

Options:
${formatOptions(QUERY_OPTIONS)}
`;

export async function queryCommand(argv: readonly string[]): Promise<number> {
  const q = await import('../pipelines/query.js');
  const { QueryError, formatQueryError } = await import('../query/index.js');
  let opts: Parameters<typeof q.runQuery>[0];
  const lines: string[] = [];
  const flushEvery = 512;
  const out = (line: string): void => {
    lines.push(line);
    if (lines.length >= flushEvery) stdoutText(lines.splice(0).join('\n') + '\n');
  };
  try {
    const { flags, positionals } = parseArgs(argv, QUERY_OPTIONS);
    if (flags.has('help')) {
      stdoutText(QUERY_USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (the filter goes after --filter)`);
    const last = (k: string): { v: string; as: string } | undefined => {
      const f = flags.get(k);
      return f === undefined ? undefined : { v: f.values[f.values.length - 1]!, as: f.as };
    };
    const record = last('record')?.v ?? 'l7';
    if (record !== 'l7' && record !== 'l4' && record !== 'tls') throw new UsageError(`--record: unknown record type '${record}' (want l7, l4 or tls)`);
    const format = last('format')?.v ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'csv' && format !== 'text') throw new UsageError(`--format: unknown format '${format}' (want jsonl, csv or text)`);
    const limitArg = last('limit');
    const limit = limitArg === undefined ? 1000 : Number(limitArg.v);
    if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`${limitArg!.as}: not a count: '${limitArg!.v}'`);
    const time = (k: 'from' | 'to'): number | undefined => {
      const a = last(k);
      if (a === undefined) return undefined;
      const us = q.parseTimeArg(a.v);
      if (us === undefined) throw new UsageError(`--${k}: not a time: '${a.v}' (ISO 8601, now, or -15m / -2h / -7d)`);
      return us;
    };
    opts = {
      store: last('store')?.v || DEFAULT_STORE_PATH,
      record, format, limit,
      filter: last('filter')?.v ?? '',
      fromUs: time('from'),
      toUs: time('to'),
      newestFirst: flags.get('desc')?.values[0] === 'true',
      out,
    };
  } catch (err) {
    if (err instanceof UsageError) {
      stderrLine(`wirelog: error: ${err.message}`);
      stderrLine(`Try 'wirelog query --help'.`);
      return 2;
    }
    throw err;
  }
  try {
    const r = await q.runQuery(opts);
    if (lines.length > 0) stdoutText(lines.join('\n') + '\n');
    if (r.more) stderrLine(`wirelog: ${r.records} records shown; more match (--limit)`);
    return 0;
  } catch (err) {
    if (err instanceof QueryError) {
      stderrLine(`wirelog: error: --filter: ${err.message}`);
      stderrLine('  ' + formatQueryError(opts.filter, err, 2)); // the expression indented by two, the pointer under it
      return 2;
    }
    if (err instanceof q.QueryStoreError) {
      stderrLine(`wirelog: error: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
