/**
 * The last stage before the sinks in live capture: names the namespace of each record and of each of its hops
 * (`netns_name`, `container_id`, `pod_uid`, docs/attribution.md). Lookups are cached per namespace; the /proc scan
 * behind them runs again when a namespace appears that the cache does not know, at most once per `rescanMs`.
 * The capture's own namespace (the host's) is not attributed: it holds every host process, and no container.
 */
import type { HttpEventSink, HttpTransaction, L4Chunk, L4Sink, NetnsPlace } from '../records.js';
import { ForwardingHttpSink } from '../sinks/forward.js';
import { NetnsAttribution, type NetnsInfo } from '../source/attribution.js';

const NO_PLACE: NetnsPlace = { netnsName: null, containerId: null, podUid: null };

export class NetnsPlaces {
  private readonly cache = new Map<number, NetnsPlace>();
  /** namespaces that had no entry at their last lookup, and when to look again */
  private readonly misses = new Map<number, number>();
  private lastRefreshMs = -Infinity;
  /** a namespace appeared since the last scan: the next lookup of an unknown one scans at once */
  private stale = false;

  constructor(
    private readonly attribution: NetnsAttribution,
    /** the capture's own namespace: left unattributed */
    private readonly ownNetns: number | undefined,
    /** told once per namespace when it is first attributed (the `"record":"netns"` lines) */
    private readonly onAttributed?: (info: NetnsInfo) => void,
    private readonly rescanMs = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A namespace was watched or is gone: its entry is read again at its next use, after a new scan. */
  forget(netns: number): void {
    this.cache.delete(netns);
    this.misses.delete(netns);
    this.stale = true;
  }

  of(netns: number | undefined): NetnsPlace {
    if (netns === undefined || netns === this.ownNetns) return NO_PLACE;
    const known = this.cache.get(netns);
    if (known !== undefined) return known;
    const t = this.now();
    const retryAt = this.misses.get(netns);
    if (retryAt !== undefined && t < retryAt) return NO_PLACE;
    if (this.stale || t - this.lastRefreshMs >= this.rescanMs) {
      this.lastRefreshMs = t;
      this.stale = false;
      this.attribution.refresh();
    }
    const info = this.attribution.lookup(netns);
    if (info === undefined) {
      this.misses.set(netns, t + this.rescanMs);
      return NO_PLACE;
    }
    const place: NetnsPlace = { netnsName: info.netns_name, containerId: info.container_id, podUid: info.pod_uid };
    this.cache.set(netns, place);
    this.onAttributed?.(info);
    return place;
  }
}

/** HTTP transactions (and their hops) with their namespaces' places. */
export class PlacedHttpSink extends ForwardingHttpSink {
  constructor(private readonly places: NetnsPlaces, next: HttpEventSink) {
    super(next);
  }
  override transaction(tx: HttpTransaction): void {
    tx.conn.place = this.places.of(tx.conn.netns);
    for (const h of tx.hops ?? []) h.netnsName = this.places.of(h.netns).netnsName;
    this.next.transaction(tx);
  }
}

/** L4 chunks with their device's namespace place. */
export class PlacedL4Sink implements L4Sink {
  constructor(private readonly places: NetnsPlaces, private readonly next: L4Sink) {}
  l4(chunk: L4Chunk): void {
    chunk.place = this.places.of(chunk.netns);
    this.next.l4(chunk);
  }
}
