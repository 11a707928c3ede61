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

/** name equals lower-case ASCII `lc`, ignoring ASCII case (same length checked by the caller) */
function equalsLower(name: string, lc: string): boolean {
  for (let i = 0; i < lc.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c |= 0x20;
    if (c !== lc.charCodeAt(i)) return false;
  }
  return true;
}

export function isSecretHeader(name: string): boolean {
  // called for every header shown: a length switch and an in-place compare, no lower-cased copy
  switch (name.length) {
    case 6:
      return equalsLower(name, 'cookie');
    case 10:
      return equalsLower(name, 'set-cookie');
    case 13:
      return equalsLower(name, 'authorization');
    case 19:
      return equalsLower(name, 'proxy-authorization');
    default:
      return false;
  }
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
