/** The store's defaults and option parsers, without the database module (the CLI loads this for every command). */
export const DEFAULT_STORE_PATH = '/var/lib/wirelog/wirelog.db';
export const DEFAULT_RETENTION_BYTES = 1024 ** 3; // 1 GiB
export const DEFAULT_RETENTION_AGE_US = 7 * 86_400 * 1_000_000; // 7 days

/** `1G`, `512M`, `100k`, `2048` (bytes; K/M/G/T are powers of 1024, an optional trailing B or iB); 0 = off. */
export function parseSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(s.trim());
  if (m === null) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

/** `7d`, `12h`, `30m`, `90s`, `1w` → µs; a bare number is seconds; 0 = off. */
export function parseDurationUs(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?$/i.exec(s.trim());
  if (m === null) return undefined;
  const sec = { s: 1, m: 60, h: 3600, d: 86_400, w: 7 * 86_400 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd' | 'w'];
  return Math.round(Number(m[1]) * sec * 1_000_000);
}
