import { parseClientHello, parseClientHelloMessage, looksLikeClientHello } from '../../src/proto/tls.js';
import { fixture, streams } from '../seeds.js';
import { chunked } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

/**
 * TLS ClientHello parser over records (split across records and across chunks) and as a bare handshake message
 * (the QUIC CRYPTO path). Byte 0: chunk sizes. A thrown exception it catches itself is reported as
 * "ClientHello parser: …": that is a finding too. Whole and chunked parses must agree.
 */
export const target: FuzzTarget = {
  name: 'tls',
  what: 'TLS ClientHello parser (records, fragments, extensions: SNI, ALPN, versions, QUIC transport parameters)',
  maxLen: 4096,
  seeds: () => [fixture('tls-client-hello.bin'), ...streams((b) => b[0] === 0x16 && b[5] === 1)].map((s) => Buffer.concat([Buffer.from([0x55]), s])),
  dictionary: [Buffer.from('160301', 'hex'), Buffer.from('160303', 'hex'), Buffer.from('0000', 'hex'), Buffer.from('0010', 'hex'), Buffer.from('002b', 'hex'), Buffer.from('0039', 'hex'), Buffer.from('0304', 'hex'), Buffer.from('0a0a', 'hex')],
  fuzz(data) {
    if (data.length < 1) return;
    const body = data.subarray(1);
    void looksLikeClientHello(body);
    const whole = parseClientHello(body);
    const parts: Buffer[] = [];
    chunked(body, data[0]!, (c) => parts.push(c));
    const split = parseClientHello(parts);
    for (const r of [whole, split]) {
      if (r.status === 'error') check(!r.error.message.startsWith('ClientHello parser:'), `parser threw: ${r.error.message}`);
      if (r.status === 'ok') check(r.hello.consumed <= body.length, `consumed ${r.hello.consumed} of ${body.length}`);
    }
    check(whole.status === split.status, `whole: ${whole.status}, chunked: ${split.status}`);
    if (whole.status === 'ok' && split.status === 'ok') check(JSON.stringify(whole.hello) === JSON.stringify(split.hello), 'whole and chunked hellos differ');
    const m = parseClientHelloMessage(body.length > 5 ? body.subarray(5) : body);
    if (m.status === 'error') check(!m.error.message.startsWith('ClientHello parser:'), `parser threw: ${m.error.message}`);
  },
};
