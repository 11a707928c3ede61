/**
 * Fast timestamp formatting for the sinks. Formatting a Date per line is the slowest part of a log line, so the
 * text up to the second is cached and only the sub-second digits are appended from a table: one Date per
 * distinct second of traffic, none per line.
 */

/** Milliseconds to add to a UTC instant to get local wall-clock time at that instant. */
export type OffsetFn = (utcMs: number) => number;

/** The process's time zone (honours TZ), per instant, so DST changes are right. */
export const systemOffset: OffsetFn = (utcMs) => -new Date(utcMs).getTimezoneOffset() * 60_000;

/** A fixed offset in minutes east of UTC (tests, or users who want UTC lines: fixedOffset(0)). */
export function fixedOffset(minutesEast: number): OffsetFn {
  const ms = minutesEast * 60_000;
  return () => ms;
}

/** '000'..'999' */
const DIGITS3: string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

function pad4(n: number): string {
  return n >= 1000 ? String(n) : String(n).padStart(4, '0');
}

/** Local time `YYYY-MM-DD HH:MM:SS.mmm` and local day `YYYYMMDD` of microsecond timestamps. */
export class LocalTimeFormatter {
  private sec = Number.NaN;
  private prefix = '';
  private dayStr = '';

  constructor(private readonly offset: OffsetFn = systemOffset) {}

  private load(sec: number): void {
    const utcMs = sec * 1000;
    // Shift by the offset and read UTC fields: the same arithmetic for the system zone and injected ones.
    const d = new Date(utcMs + this.offset(utcMs));
    const y = pad4(d.getUTCFullYear());
    const mo = pad2(d.getUTCMonth() + 1);
    const da = pad2(d.getUTCDate());
    this.sec = sec;
    this.dayStr = y + mo + da;
    this.prefix = `${y}-${mo}-${da} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.`;
  }

  /** `YYYY-MM-DD HH:MM:SS.mmm` in local time (milliseconds truncated, as httplog). */
  stamp(tsUs: number): string {
    const ms = Math.floor(tsUs / 1000);
    const sec = Math.floor(ms / 1000);
    if (sec !== this.sec) this.load(sec);
    return this.prefix + DIGITS3[ms - sec * 1000];
  }

  /** stamp()'s text up to the second, `YYYY-MM-DD HH:MM:SS.` (for sinks that append the milliseconds themselves). */
  secondPrefix(tsUs: number): string {
    const sec = Math.floor(Math.floor(tsUs / 1000) / 1000);
    if (sec !== this.sec) this.load(sec);
    return this.prefix;
  }

  /** Local calendar day `YYYYMMDD` (log file names). */
  day(tsUs: number): string {
    const sec = Math.floor(tsUs / 1_000_000);
    if (sec !== this.sec) this.load(sec);
    return this.dayStr;
  }
}

/** ISO 8601 UTC with microseconds: `2026-11-23T10:00:00.123456Z`. */
export class IsoTimeFormatter {
  private sec = Number.NaN;
  private prefix = '';

  format(tsUs: number): string {
    const us = Math.floor(tsUs);
    const sec = Math.floor(us / 1_000_000);
    if (sec !== this.sec) {
      this.sec = sec;
      // toISOString gives 'YYYY-MM-DDTHH:MM:SS.000Z'; keep through the dot.
      this.prefix = new Date(sec * 1000).toISOString().slice(0, 20);
    }
    const frac = us - sec * 1_000_000;
    const hi = Math.floor(frac / 1000);
    return this.prefix + DIGITS3[hi] + DIGITS3[frac - hi * 1000] + 'Z';
  }
}
