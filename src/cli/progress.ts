/**
 * The progress line of long file work (`capture -r`): percent of the file read, packets per second, records
 * written and the time left, redrawn in place on stderr (`\r` + erase to end of line) at most every `everyMs`, and
 * erased when the work ends so the summary line takes its place. Only on a terminal: the caller decides
 * (stderr.isTTY and not --quiet).
 */
export interface ProgressSample {
  bytesRead: number;
  packets: number;
  records: number;
}

export interface ProgressOptions {
  /** the file's size in bytes; undefined for a stream (stdin): bytes read are shown instead of a percentage */
  totalBytes?: number;
  /** the name shown */
  name: string;
  /** how often the line may be redrawn (default 250 ms: four times a second) */
  everyMs?: number;
  write: (text: string) => void;
  now?: () => number;
}

const ERASE = '\r\x1b[K';

/** 1234567 → "1.2M", 12345 → "12.3k", 999 → "999" */
export function shortCount(n: number): string {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(Math.round(n));
}

/** seconds → "42s", "3m05s", "1h02m" */
export function shortDuration(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class ProgressLine {
  private readonly startMs: number;
  private lastDrawMs = -Infinity;
  private drawn = false;
  private readonly now: () => number;
  private readonly everyMs: number;

  constructor(private readonly o: ProgressOptions) {
    this.now = o.now ?? (() => performance.now());
    this.everyMs = o.everyMs ?? 250;
    this.startMs = this.now();
  }

  /** the line for a sample, without the leading erase */
  text(p: ProgressSample, atMs: number = this.now()): string {
    const elapsed = Math.max((atMs - this.startMs) / 1000, 1e-3);
    const rate = `${shortCount(p.packets / elapsed)} packets/s`;
    const records = `${shortCount(p.records)} records`;
    const total = this.o.totalBytes;
    if (total === undefined || total <= 0) return `wirelog: ${this.o.name}: ${shortCount(p.bytesRead)}B read, ${rate}, ${records}`;
    const frac = Math.min(p.bytesRead / total, 1);
    const eta = frac > 0 ? shortDuration((elapsed * (1 - frac)) / frac) : '?';
    return `wirelog: ${this.o.name}: ${(frac * 100).toFixed(0)}%, ${rate}, ${records}, ETA ${eta}`;
  }

  /** redraw when the last draw is at least everyMs old */
  update(p: ProgressSample): void {
    const t = this.now();
    if (t - this.lastDrawMs < this.everyMs) return;
    this.lastDrawMs = t;
    this.drawn = true;
    this.o.write(ERASE + this.text(p, t));
  }

  /** erase the line (the summary follows) */
  done(): void {
    if (this.drawn) this.o.write(ERASE);
    this.drawn = false;
  }
}
