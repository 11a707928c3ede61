import { QuicTracker } from '../../src/pipelines/quic.js';
import { QuicErrorCode } from '../../src/proto/quic.js';
import * as V from '../../test/unit/quic-rfc-vectors.js';
import { InputReader, check, type FuzzTarget } from '../target.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** Datagrams as [direction bit + u16 length][bytes], through one QuicTracker; no INTERNAL error may be counted. */
export function runTracker(datagrams: Array<{ fromClient: boolean; data: Buffer }>, ports: number[] | 'any'): void {
  const t = new QuicTracker({ vantage: 'server', ports, emit: (e) => check(typeof e.type === 'string', 'event without type') });
  let ts = 1_700_000_000_000_000;
  for (const d of datagrams) {
    if (d.fromClient) t.datagram(ts += 1000, '10.0.0.1', 50000, '10.0.0.2', 443, d.data);
    else t.datagram(ts += 1000, '10.0.0.2', 443, '10.0.0.1', 50000, d.data);
  }
  t.finish();
  const internal = t.stats.errors[QuicErrorCode.INTERNAL];
  check(internal === undefined, `QUIC tracker caught ${internal} internal errors`);
}

export function encodeDatagrams(ds: Array<{ fromClient: boolean; data: Buffer }>): Buffer {
  return Buffer.concat(ds.flatMap((d) => {
    const h = Buffer.alloc(3);
    h[0] = d.fromClient ? 0 : 1;
    h.writeUInt16BE(d.data.length, 1);
    return [h, d.data];
  }));
}

/**
 * Raw UDP datagrams between a client and a server port 443 through the QUIC tracker: long and short headers,
 * coalesced packets, Version Negotiation, Retry, every version's Initial keys (decryption fails on almost every
 * mutation, so this target covers the header and split paths; quic-initial covers what follows decryption).
 */
export const target: FuzzTarget = {
  name: 'quic-datagram',
  what: 'QUIC datagrams through QuicTracker: header parsing, coalesced packets, VN, Retry, Initial key derivation',
  maxLen: 4096,
  seeds: () => {
    const c = [V.V1_CLIENT_INITIAL, V.V2_CLIENT_INITIAL, V.D29_CLIENT_INITIAL, V.V2DRAFT_CLIENT_INITIAL];
    const s = [V.V1_SERVER_INITIAL, V.V2_SERVER_INITIAL, V.D29_SERVER_INITIAL, V.V2DRAFT_SERVER_INITIAL];
    const r = [V.V1_RETRY, V.V2_RETRY, V.V2DRAFT_RETRY];
    const out = c.map((ci, i) => Buffer.concat([Buffer.from([0]), encodeDatagrams([{ fromClient: true, data: hex(ci) }, { fromClient: false, data: hex(s[i]!) }])]));
    out.push(...r.map((x, i) => Buffer.concat([Buffer.from([0]), encodeDatagrams([{ fromClient: true, data: hex(c[i]!) }, { fromClient: false, data: hex(x) }])])));
    out.push(Buffer.concat([Buffer.from([0]), encodeDatagrams([{ fromClient: true, data: hex(V.V1_CLIENT_INITIAL) }, { fromClient: false, data: hex(V.V1_CHACHA_SHORT) }])]));
    return out;
  },
  fuzz(data) {
    const r = new InputReader(data);
    const ports = (r.u8() & 1) === 0 ? [443] : 'any';
    const ds: Array<{ fromClient: boolean; data: Buffer }> = [];
    while (r.left > 0 && ds.length < 16) {
      const b = r.u8();
      ds.push({ fromClient: (b & 1) === 0, data: r.bytes(r.u16()) });
    }
    runTracker(ds, ports);
  },
};
