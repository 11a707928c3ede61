import { WirelogError } from '../errors.js';
/**
 * A small flag parser: short flags with values (`-p 80`, `-p80`), long flags (`--ports 80`, `--ports=80`),
 * repeated flags, booleans with `--no-…` negations, `--` ending options. Errors are UsageError naming the flag,
 * which the CLI turns into exit code 2.
 */

export class UsageError extends WirelogError {
  constructor(
    message: string,
    /** the flag (as the user typed it), env variable or config line the error is about */
    readonly flag?: string,
  ) {
    super('WL_ERR_USAGE', message);
  }
}

export interface OptionSpec {
  /** long name, also the key in config files: `ports`, `log-split` */
  name: string;
  short?: string;
  /** takes a value (else a boolean) */
  value: boolean;
  /** a value flag whose value may be left out (`--store` alone, or followed by another option): it is then '' */
  optionalValue?: boolean;
  /** a value flag that may repeat; every occurrence is kept */
  multiple?: boolean;
  /** boolean: also accept `--no-NAME` (sets false) */
  negatable?: boolean;
  /** boolean: another long name that sets it false (`--reassembly` for `no-reassembly`) */
  negatedBy?: string;
  /** environment variable, when the setting may come from the environment */
  env?: string;
  /** may appear in a config file */
  inFile?: boolean;
  /** help text, and the value's name in it */
  help?: string;
  valueName?: string;
}

/** One flag occurrence. For booleans `value` is 'true' or 'false'. */
export interface FlagValue {
  values: string[];
  /** the flag as last typed, for messages: `-p`, `--ports` */
  as: string;
}

export interface ParsedArgs {
  flags: Map<string, FlagValue>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const byShort = new Map<string, OptionSpec>();
  const byLong = new Map<string, { spec: OptionSpec; negated: boolean }>();
  for (const s of specs) {
    if (s.short !== undefined) byShort.set(s.short, s);
    byLong.set(s.name, { spec: s, negated: false });
    if (!s.value && s.negatable) byLong.set('no-' + s.name, { spec: s, negated: true });
    if (!s.value && s.negatedBy !== undefined) byLong.set(s.negatedBy, { spec: s, negated: true });
  }
  const flags = new Map<string, FlagValue>();
  const positionals: string[] = [];

  const record = (spec: OptionSpec, as: string, value: string): void => {
    const prev = flags.get(spec.name);
    if (prev !== undefined && spec.multiple) {
      prev.values.push(value);
      prev.as = as;
    } else {
      flags.set(spec.name, { values: [value], as }); // a single-valued flag given twice: the last wins
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const hit = byLong.get(name);
      const as = '--' + name;
      if (hit === undefined) throw new UsageError(`unknown option ${as}`, as);
      if (hit.spec.value) {
        let value: string;
        if (eq >= 0) value = arg.slice(eq + 1);
        else if (hit.spec.optionalValue && (i + 1 >= argv.length || argv[i + 1].startsWith('-'))) value = '';
        else if (i + 1 < argv.length) value = argv[++i];
        else throw new UsageError(`option ${as} needs a value`, as);
        record(hit.spec, as, value);
      } else {
        if (eq >= 0) throw new UsageError(`option ${as} takes no value`, as);
        record(hit.spec, as, hit.negated ? 'false' : 'true');
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // -p80, -p 80; booleans may be grouped (-hv)
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j];
        const spec = byShort.get(ch);
        const as = '-' + ch;
        if (spec === undefined) throw new UsageError(`unknown option ${as}`, as);
        if (spec.value) {
          let value: string;
          if (j + 1 < arg.length) value = arg.slice(j + 1);
          else if (i + 1 < argv.length) value = argv[++i];
          else throw new UsageError(`option ${as} needs a value`, as);
          record(spec, as, value);
          break;
        }
        record(spec, as, 'true');
      }
      continue;
    }
    positionals.push(arg);
  }
  return { flags, positionals };
}

/** Usage text of a flag table. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const rows: Array<[string, string]> = [];
  for (const s of specs) {
    if (s.help === undefined) continue;
    const vn = s.valueName ?? s.name.toUpperCase();
    const v = s.value ? (s.optionalValue ? ` [${vn}]` : ' ' + vn) : '';
    const names = (s.short !== undefined ? `-${s.short}, ` : '    ') + `--${s.name}` + v;
    rows.push([names, s.help]);
  }
  const width = Math.min(30, Math.max(...rows.map((r) => r[0].length)) + 2);
  return rows
    .map(([n, h]) => {
      const pad = n.length + 2 <= width ? n.padEnd(width) : n + '\n' + ' '.repeat(width + 2);
      return '  ' + pad + h.replace(/\n/g, '\n' + ' '.repeat(width + 2));
    })
    .join('\n');
}
