import { HttpTracker } from '../../src/correlate/http-tracker.js';
import type { HttpEventSink, TransportSegment } from '../../src/records.js';
import { connections } from '../seeds.js';
import { connectionSeeds, readSegments } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

const sink: HttpEventSink = {
  request(ev) { check(typeof ev.req.method === 'string', 'request without a method'); },
  response(ev) { check(Number.isInteger(ev.res.status), `status ${ev.res.status}`); },
  transaction() {},
  tls() {},
};

/**
 * The whole TCP side of `wirelog capture`: segments of one connection (fuzzed sequence numbers, flags, payloads,
 * snaplen cuts) through HttpTracker with reassembly (TcpStream → HTTP/1 parser, HTTP/2 and TLS detection, the
 * request/response pairing). Every exception is a finding; the tracker's counters must stay sane.
 */
export const target: FuzzTarget = {
  name: 'http-tracker',
  what: 'HttpTracker with reassembly: TCP segments of a connection to HTTP/1, HTTP/2 (h2c) and TLS records',
  maxLen: 8192,
  seeds: () => connectionSeeds(connections()),
  dictionary: ['GET / HTTP/1.1\r\n', 'HTTP/1.1 200 OK\r\n', 'Content-Length: ', 'Transfer-Encoding: chunked\r\n', '\r\n\r\n', '0\r\n\r\n', 'Connection: close\r\n',
    'Upgrade: h2c\r\n', 'HTTP/1.1 101 Switching Protocols\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', Buffer.from('1603010100', 'hex')],
  fuzz(data) {
    const t = new HttpTracker({ reassembly: (data[0] ?? 0) % 5 !== 4, servicePorts: new Set([8080]), localAddrs: new Set(['10.0.0.2']) }, sink);
    const isn = [1000, 0xfffff000];
    let ts = 1_700_000_000_000_000;
    for (const s of readSegments(data.subarray(1))) {
      const c = s.fromClient;
      const payload = s.cut > 0 ? s.payload.subarray(0, Math.max(0, s.payload.length - s.cut)) : s.payload;
      const seg: TransportSegment = {
        tsUs: ts += 1000, ifindex: 1, family: 4, src: c ? '10.0.0.1' : '10.0.0.2', dst: c ? '10.0.0.2' : '10.0.0.1',
        sport: c ? 40000 : 8080, dport: c ? 8080 : 40000, proto: 6, seq: ((c ? isn[0]! : isn[1]!) + s.seqOff) >>> 0, ack: 0,
        flags: s.flags, window: 65535, payload, payloadLen: s.payload.length, fragment: false,
      };
      t.onSegment(seg);
    }
    t.tick(ts + 600_000_000);
    t.finish();
    const st = t.stats;
    for (const [k, v] of Object.entries(st)) if (typeof v === 'number') check(Number.isFinite(v) && v >= 0, `stats.${k} = ${v}`);
    check(st.activeConnections === 0, `${st.activeConnections} connections left after finish`);
  },
};
