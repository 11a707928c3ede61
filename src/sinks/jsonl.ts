/** JSON lines sink: one object per transaction and one per TLS ClientHello (docs/schema.md); request()/response() are ignored. */
import type { HttpEventSink, HttpRequestEvent, HttpResponseEvent, HttpTransaction, TlsHelloEvent } from '../records.js';
import type { LineSink } from './log-writer.js';
import { IsoTimeFormatter } from './local-time.js';
import { serializeTls, serializeTransaction, transactionTsUs } from './schema.js';

export class JsonlSink implements HttpEventSink {
  private readonly iso = new IsoTimeFormatter();

  constructor(private readonly out: LineSink) {}

  request(_ev: HttpRequestEvent): void {}
  response(_ev: HttpResponseEvent): void {}

  transaction(tx: HttpTransaction): void {
    // Filed under the request's local day, like the text lines; split routes by CQ/SQ.
    this.out.write(serializeTransaction(tx, this.iso), transactionTsUs(tx), tx.conn.kind);
  }

  /** a TLS connection's ClientHello: a `"record":"tls"` line (docs/schema.md) */
  tls(ev: TlsHelloEvent): void {
    this.out.write(serializeTls(ev, this.iso), ev.tsUs, ev.conn.kind);
  }
}
