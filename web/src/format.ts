/** Small display helpers. */

/** `12.345 ms` from µs, exact to the µs. */
export function msText(us: number | null | undefined): string {
  if (us === null || us === undefined || !Number.isFinite(us)) return '–';
  const neg = us < 0;
  const a = Math.abs(Math.round(us));
  return `${neg ? '-' : ''}${Math.floor(a / 1000)}.${String(a % 1000).padStart(3, '0')} ms`;
}

/** µs since the epoch of an ISO-8601 UTC time with up to 9 fraction digits; null if not one. */
export function isoUs(s: string | null | undefined): number | null {
  if (!s) return null;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(s);
  if (!m) return null;
  const ms = Date.parse(m[1] + 'Z');
  return Number.isFinite(ms) ? ms * 1000 + Number((m[2] ?? '').padEnd(6, '0').slice(0, 6)) : null;
}

export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function deviceName(d: { ifname?: string | null; ifindex?: number | null; netns?: number | null; netns_name?: string | null }): string {
  const name = d.ifname ?? (d.ifindex !== null && d.ifindex !== undefined ? `if${d.ifindex}` : '?');
  const where = d.netns_name ?? (d.netns !== null && d.netns !== undefined ? String(d.netns) : null);
  return where === null ? name : `${name}@${where}`;
}

export function endpoint(ip: unknown, port: unknown): string {
  const s = String(ip);
  return s.includes(':') ? `[${s}]:${port}` : `${s}:${port}`;
}
