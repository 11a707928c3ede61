import { WirelogError } from '../errors.js';
/** Errors of the filter language: a stable code and the 0-based column of the offending token. */
export class QueryError extends WirelogError {
  constructor(message: string, readonly column: number) {
    super('WL_ERR_QUERY', message);
    this.name = 'QueryError';
  }
}

/**
 * The expression with a caret under the offending column, for the CLI:
 * ```
 * status >= 5xx
 *           ^ expected a number (a status class only works with = and !=)
 * ```
 * `indent` is the width of whatever the caller prints before the expression on its line.
 */
export function formatQueryError(expr: string, err: QueryError, indent = 0): string {
  return `${expr}\n${' '.repeat(indent + Math.max(0, Math.min(err.column, expr.length)))}^ ${err.message}`;
}
