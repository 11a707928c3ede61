/** The parsed filter expression: typed by its fields (docs/query.md). Every leaf keeps its columns for messages. */
import type { FieldType } from './fields.js';
import type { Cidr } from './ip.js';

export type Leaf =
  /** `field op value`; value null only with = and != (`incomplete != null`) */
  | { k: 'cmp'; field: string; type: FieldType; op: '=' | '!=' | '<' | '<=' | '>' | '>=' | '^=' | '~'; value: string | number | boolean | null; col: number }
  /** `status = 4xx` (neg: `!=`): lo <= status < lo + 100 */
  | { k: 'class'; field: string; type: FieldType; lo: number; neg: boolean; col: number }
  /** `dst_ip in 10.0.0.0/8` (neg: `dst_ip != 10.0.0.1`, an address compared as a number) */
  | { k: 'cidr'; field: string; type: FieldType; cidr: Cidr; text: string; neg: boolean; col: number };

export type QueryAst =
  | { k: 'all' }
  | { k: 'and' | 'or'; a: QueryAst; b: QueryAst }
  | { k: 'not'; a: QueryAst }
  | Leaf;

/** How a string field's values are compared: `method` upper-cased, `host` lower-cased (ASCII letters only). */
export function foldOf(field: string): 'upper' | 'lower' | undefined {
  return field === 'method' ? 'upper' : field === 'host' ? 'lower' : undefined;
}

/** ASCII-only case folding, the same as SQLite's upper() and lower(). */
export const asciiUpper = (s: string): string => s.replace(/[a-z]+/g, (m) => m.toUpperCase());
export const asciiLower = (s: string): string => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
