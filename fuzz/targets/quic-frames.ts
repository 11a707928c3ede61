import { CryptoStream, MAX_CRYPTO_STREAM, parseFrames, parseTransportParameters } from '../../src/proto/quic-frames.js';
import { QuicErrorCode } from '../../src/proto/quic.js';
import * as V from '../../test/unit/quic-rfc-vectors.js';
import { check, type FuzzTarget } from '../target.js';

/**
 * QUIC frame decoding on its own (every frame type, varints, ACK ranges), CRYPTO frames through a CryptoStream,
 * and the same bytes as transport parameters. Faster than quic-initial (no AEAD), so it goes deeper in frames.
 */
export const target: FuzzTarget = {
  name: 'quic-frames',
  what: 'QUIC frames (parseFrames), CRYPTO stream reassembly (CryptoStream), transport parameters',
  maxLen: 2048,
  seeds: () => [V.V1_CLIENT_CRYPTO_FRAME, V.V1_SERVER_PAYLOAD, V.V2_CLIENT_CRYPTO_FRAME, V.D29_CLIENT_CRYPTO_FRAME,
    '0408ffffffffffffffff05048000ffff07048000ffff08011001048000753009011004',
    '02000000000100', '0300000000000102010203', '1c00000d6869', '1d0100', '18010008aabbccddeeff001100112233445566778899aabbccddeeff',
    '0f00'].map((h) => Buffer.from(h, 'hex')),
  fuzz(data) {
    const r = parseFrames(data);
    if (r.error !== undefined) check(r.error.code !== QuicErrorCode.INTERNAL, `internal frame error: ${r.error.message}`);
    const cs = new CryptoStream();
    for (const f of r.frames) {
      check(typeof f.type === 'string', 'frame without type');
      if (f.acked_ranges !== undefined) check(f.acked_ranges.length <= 257, `${f.acked_ranges.length} ACK ranges`);
      if (f.type === 'crypto' && f.data !== undefined && f.offset !== undefined) cs.add(f.offset, f.data);
    }
    check(cs.contiguous().length <= MAX_CRYPTO_STREAM, 'CRYPTO stream above its bound');
    const tp = parseTransportParameters(data);
    if (tp.error !== undefined) check(tp.error.code !== QuicErrorCode.INTERNAL, `internal transport-parameter error: ${tp.error.message}`);
  },
};
