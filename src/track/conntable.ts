/**
 * Connection table: entries keyed by flow key, with last-seen time, idle expiry and a size bound.
 *
 * Eviction is "second chance" (CLOCK): a Map keeps insertion order; touching an entry only sets a flag, and when
 * the table is full the oldest entry is evicted unless it was touched since it was last passed over, in which case
 * it moves to the back. That approximates least-recently-used without reordering the Map on every packet.
 */

export interface ConnEntry {
  lastSeenUs: number;
  /** touched since the eviction hand last passed it */
  referenced: boolean;
}

export const DEFAULT_MAX_CONNECTIONS = 100_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

export class ConnTable<T extends ConnEntry> {
  private readonly map = new Map<string, T>();
  /** entries removed because the table was full */
  evicted = 0;
  private nextScanUs = -Infinity;

  constructor(readonly maxConnections: number = DEFAULT_MAX_CONNECTIONS) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): T | undefined {
    return this.map.get(key);
  }

  /** Record activity on an entry. */
  touch(e: T, tsUs: number): void {
    if (tsUs > e.lastSeenUs) e.lastSeenUs = tsUs;
    e.referenced = true;
  }

  /** Add an entry; when the table is full, evict one first and hand it to `onEvict` (which must clean it up). */
  add(key: string, e: T, onEvict: (victim: T, key: string) => void): void {
    if (this.map.size >= this.maxConnections) this.evictOne(onEvict);
    this.map.set(key, e);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  private evictOne(onEvict: (victim: T, key: string) => void): void {
    // bounded: every entry is passed over at most once before one is taken
    for (let tries = this.map.size; tries >= 0; tries--) {
      const it = this.map.entries().next();
      if (it.done) return;
      const [k, e] = it.value;
      this.map.delete(k);
      if (e.referenced && tries > 0) {
        e.referenced = false;
        this.map.set(k, e);
        continue;
      }
      this.evicted++;
      onEvict(e, k);
      return;
    }
  }

  /**
   * Remove entries idle for longer than idleUs at time nowUs, handing each to `onExpire`. A full scan, so it runs
   * at most once per `minScanIntervalUs` of capture time however often it is called.
   */
  expire(nowUs: number, idleUs: number, onExpire: (e: T, key: string) => void, minScanIntervalUs = 0): number {
    if (nowUs < this.nextScanUs) return 0;
    this.nextScanUs = nowUs + minScanIntervalUs;
    let n = 0;
    for (const [k, e] of this.map) {
      if (nowUs - e.lastSeenUs > idleUs) {
        this.map.delete(k); // deleting the current entry while iterating a Map is safe
        n++;
        onExpire(e, k);
      }
    }
    return n;
  }

  /** Every entry, oldest first (entries must not be added or removed meanwhile). */
  forEach(fn: (e: T, key: string) => void): void {
    for (const [k, e] of this.map) fn(e, k);
  }

  /** Remove every entry, handing each to `onRemove` (end of input). */
  drain(onRemove: (e: T, key: string) => void): void {
    for (const [k, e] of this.map) {
      this.map.delete(k);
      onRemove(e, k);
    }
  }
}
