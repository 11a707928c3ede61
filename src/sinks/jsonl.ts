/** JSON lines sink: one object per transaction (docs/schema.md); request()/response() are ignored. */
import type { HttpEventSink, HttpRequestEvent, HttpResponseEvent, HttpTransaction } from '../records.js';
import type { LineSink } from './log-writer.js';
import { IsoTimeFormatter } from './local-time.js';
import { serializeTransaction, transactionTsUs } from './schema.js';

export class JsonlSink implements HttpEventSink {
  private readonly iso = new IsoTimeFormatter();

  constructor(private readonly out: LineSink) {}

  request(_ev: HttpRequestEvent): void {}
  response(_ev: HttpResponseEvent): void {}

  transaction(tx: HttpTransaction): void {
    // Filed under the request's local day, like the text lines; split routes by CQ/SQ.
    this.out.write(serializeTransaction(tx, this.iso), transactionTsUs(tx), tx.conn.kind);
  }
}
