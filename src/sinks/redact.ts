/**
 * What `wirelog trace` shows of header values (--headers): `none` (no headers), `names` (names only), `length`
 * (each value replaced by its length in bytes), `values` (everything as sent) and the default `redacted` (values,
 * with credentials replaced by `[redacted]`). Pseudo-headers (:authority, :method, :path, :scheme, :status) are
 * request/response fields, not headers: they are never affected.
 */
import type { HeaderList } from '../records.js';

export type HeaderMode = 'none' | 'names' | 'length' | 'values' | 'redacted';
export const HEADER_MODES: readonly HeaderMode[] = ['none', 'names', 'length', 'values', 'redacted'];
export const REDACTED = '[redacted]';

/** Headers whose values are credentials (lower case). */
export const SECRET_HEADERS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'set-cookie', 'proxy-authorization']);

export function isSecretHeader(name: string): boolean {
  // cheap length gate first: every secret name is 6..19 characters
  const n = name.length;
  if (n < 6 || n > 19) return false;
  return SECRET_HEADERS.has(name.toLowerCase());
}

export function parseHeaderMode(s: string): HeaderMode | undefined {
  return (HEADER_MODES as readonly string[]).includes(s) ? (s as HeaderMode) : undefined;
}

/** One header value as the mode shows it; undefined: the header is not shown at all; '' with `names`. */
export function shownValue(mode: HeaderMode, name: string, value: string): string | undefined {
  switch (mode) {
    case 'none':
      return undefined;
    case 'names':
      return '';
    case 'length':
      return String(Buffer.byteLength(value, 'latin1'));
    case 'values':
      return value;
    default:
      return isSecretHeader(name) ? REDACTED : value;
  }
}

/** A header list after the mode (names kept as given). */
export function applyHeaderMode(mode: HeaderMode, headers: HeaderList): HeaderList {
  if (mode === 'none') return [];
  const out: HeaderList = [];
  for (const [n, v] of headers) out.push([n, shownValue(mode, n, v) as string]);
  return out;
}
