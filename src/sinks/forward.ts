/**
 * A sink stage that passes every event on to the next sink unchanged; a stage that changes one kind of event
 * (HopSink adds hops to transactions, PlacedHttpSink the namespace's place) overrides only that method.
 */
import type { HttpEventSink, HttpRequestEvent, HttpResponseEvent, HttpTransaction, TlsHelloEvent } from '../records.js';

export class ForwardingHttpSink implements HttpEventSink {
  constructor(protected readonly next: HttpEventSink) {}
  request(ev: HttpRequestEvent): void {
    this.next.request(ev);
  }
  response(ev: HttpResponseEvent): void {
    this.next.response(ev);
  }
  tls(ev: TlsHelloEvent): void {
    this.next.tls?.(ev);
  }
  transaction(tx: HttpTransaction): void {
    this.next.transaction(tx);
  }
}
