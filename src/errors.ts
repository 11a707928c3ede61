/**
 * One error model for the CLI, the library and the client: every error wirelog throws or reports carries a stable
 * `code` from the WL_ERR table below. Match on the code, never on the message (messages are for people and change).
 *
 * Thrown errors are `WirelogError`s (or subclasses, one per place that throws). Decoders do not throw on the hot
 * path: they return or count `DecodeErrorInfo` objects (src/records.ts), which carry a code from the same table.
 *
 * docs/errors.md is generated from WL_ERR (`node scripts/gen-errors-doc.mjs` after a build); a unit test fails when
 * the two differ, or when a `WL_ERR_*` literal in src/ is not in the table.
 */

/** Where a code arises: the part of wirelog that reports it. */
export type WlErrorArea =
  | 'cli' // argument, config and input problems before a run starts (exit 2)
  | 'capture-file' // reading pcap / pcapng files
  | 'decoder' // link, IP, TCP, UDP layers
  | 'http' // the HTTP/1 parser and the HTTP tracker
  | 'http2' // HTTP/2 frames and HPACK
  | 'tls' // the TLS ClientHello parser and the tracker's TLS detection
  | 'quic' // QUIC packets, frames and keys
  | 'sensor' // the eBPF sensor process and its record stream
  | 'sink' // log files and directories
  | 'store' // SQLite / ClickHouse stores
  | 'query' // the filter language
  | 'ui' // the explorer's server
  | 'client' // the traced HTTP client (library)
  | 'dns'; // the traced client's resolver

export interface WlErrorInfo {
  area: WlErrorArea;
  /** one line: what went wrong */
  meaning: string;
}

/**
 * Every code, with where it arises and what it means. Families (`WL_ERR_DNS_*`, `WL_ERR_H2_*`, …) are listed member
 * by member. Keep it sorted by area, then by code; docs/errors.md follows this order.
 */
export const WL_ERR = {
  // cli
  WL_ERR_USAGE: { area: 'cli', meaning: 'A command-line argument, environment variable or option value is not valid (exit 2).' },
  WL_ERR_CONFIG: { area: 'cli', meaning: 'A config file cannot be read (exit 2); its bad lines are WL_ERR_USAGE naming FILE:LINE.' },
  WL_ERR_INPUT: { area: 'cli', meaning: 'The input file of `wirelog topology` cannot be opened: missing, a directory, no permission (exit 2).' },
  WL_ERR_PRIVILEGES: { area: 'cli', meaning: 'Dropping root to the `--user` account after the sensor started failed.' },
  WL_ERR_NETNS: { area: 'cli', meaning: 'A `--netns` name, path or PID does not name a network namespace.' },
  WL_ERR_QUIC_TYPE: { area: 'cli', meaning: '`wirelog quic -t` names an event type that does not exist.' },
  // capture-file
  WL_ERR_IO: { area: 'capture-file', meaning: 'Reading the capture file failed (cannot open, read error); the errno is in the message and the cause.' },
  WL_ERR_TRUNCATED: { area: 'capture-file', meaning: 'A header or record ends before the length it needs (file or frame cut short).' },
  WL_ERR_MALFORMED: { area: 'capture-file', meaning: 'A field holds an impossible value: bad version, header length below the minimum, inconsistent lengths.' },
  WL_ERR_UNSUPPORTED: { area: 'capture-file', meaning: 'Well-formed but not decoded: unknown file magic, unknown link type, ESP.' },
  WL_ERR_LIMIT: { area: 'decoder', meaning: 'A safety bound was hit: too many IPv6 extension headers, an absurd record length.' },
  WL_ERR_INTERNAL: { area: 'decoder', meaning: 'A decoder threw (a bug); caught and counted so that the run goes on.' },
  // http
  WL_ERR_HTTP_BAD_START_LINE: { area: 'http', meaning: 'Bytes where a message should start are not an HTTP/1.x request or status line.' },
  WL_ERR_HTTP_HEAD_TOO_LARGE: { area: 'http', meaning: 'A message head is longer than the parser keeps: logged from its beginning, the rest skipped.' },
  WL_ERR_HTTP_BAD_CHUNK: { area: 'http', meaning: 'A chunked body has a chunk-size line or chunk end that is not valid: framing lost.' },
  WL_ERR_HTTP_CHUNK_OVERFLOW: { area: 'http', meaning: 'A chunk size is larger than the parser accepts: framing lost.' },
  WL_ERR_HTTP_BAD_FRAMING: { area: 'http', meaning: 'A request body length cannot be determined (Transfer-Encoding / Content-Length conflict).' },
  WL_ERR_HTTP_NOT_HTTP: { area: 'http', meaning: 'A connection sent many bytes without one HTTP message: given up on as not HTTP.' },
  // http2
  WL_ERR_H2_PREFACE: { area: 'http2', meaning: 'The client direction does not start with the HTTP/2 preface: not HTTP/2.' },
  WL_ERR_H2_FRAME_SIZE: { area: 'http2', meaning: 'A frame length does not fit its type (SETTINGS not a multiple of 6, padding past the end, ...).' },
  WL_ERR_H2_PROTOCOL: { area: 'http2', meaning: 'A frame where it cannot be (DATA on stream 0, CONTINUATION out of sequence, ...).' },
  WL_ERR_H2_LIMIT: { area: 'http2', meaning: 'A frame or header block larger than the parser buffers: skipped.' },
  WL_ERR_H2_GAP: { area: 'http2', meaning: 'Bytes were lost where the framing cannot be recovered by counting.' },
  WL_ERR_HPACK_TRUNCATED: { area: 'http2', meaning: 'An HPACK header block ends inside a field representation.' },
  WL_ERR_HPACK_INTEGER: { area: 'http2', meaning: 'An HPACK integer does not fit in 32 bits or uses too many continuation bytes.' },
  WL_ERR_HPACK_INDEX: { area: 'http2', meaning: 'An HPACK index 0, or past the static and dynamic tables while the table is known complete.' },
  WL_ERR_HPACK_HUFFMAN: { area: 'http2', meaning: 'An HPACK Huffman string is not valid (EOS decoded, bad padding).' },
  WL_ERR_HPACK_TABLE_SIZE: { area: 'http2', meaning: 'An HPACK dynamic table size update out of place or above the maximum.' },
  // tls
  WL_ERR_TLS_NOT_HANDSHAKE: { area: 'tls', meaning: 'The bytes are not a TLS handshake record.' },
  WL_ERR_TLS_RECORD: { area: 'tls', meaning: 'A TLS record header that is not valid (zero or too long a length, a non-handshake record inside the hello).' },
  WL_ERR_TLS_NOT_CLIENT_HELLO: { area: 'tls', meaning: 'The first handshake message is not a ClientHello.' },
  WL_ERR_TLS_LENGTH: { area: 'tls', meaning: 'A length inside the ClientHello runs past its container, or the hello is larger than the parser keeps.' },
  WL_ERR_TLS_EXTENSION: { area: 'tls', meaning: 'A ClientHello extension (server_name, ALPN, supported_versions) does not parse.' },
  WL_ERR_TLS_TRUNCATED: { area: 'tls', meaning: 'The connection ended before the whole ClientHello was seen.' },
  WL_ERR_TLS_SERVER_FIRST: { area: 'tls', meaning: 'The server sent bytes before the ClientHello was complete.' },
  WL_ERR_TLS_GAP: { area: 'tls', meaning: 'Bytes of the ClientHello were lost (capture gap).' },
  WL_ERR_TLS_PLAINTEXT_ANSWER: { area: 'tls', meaning: 'A connection that started like TLS was answered in plain text.' },
  // quic
  WL_ERR_QUIC_TRUNCATED: { area: 'quic', meaning: 'A QUIC datagram ends inside a header field or before the length its header announces.' },
  WL_ERR_QUIC_BAD_LENGTH: { area: 'quic', meaning: 'A QUIC length field that cannot be right (connection ID over 20 bytes, Length too small).' },
  WL_ERR_QUIC_UNKNOWN_CONNECTION: { area: 'quic', meaning: 'A short-header packet whose connection ID matches no connection seen.' },
  WL_ERR_QUIC_AEAD_FAILED: { area: 'quic', meaning: 'A QUIC packet whose AEAD tag did not verify (wrong keys, corrupted packet).' },
  WL_ERR_QUIC_RETRY_INTEGRITY: { area: 'quic', meaning: 'A QUIC Retry whose integrity tag does not verify.' },
  WL_ERR_QUIC_FRAME: { area: 'quic', meaning: 'A QUIC frame runs past the packet or has an impossible field.' },
  WL_ERR_QUIC_UNKNOWN_FRAME: { area: 'quic', meaning: 'A QUIC frame type not known: the rest of the packet cannot be delimited.' },
  WL_ERR_QUIC_CRYPTO_LIMIT: { area: 'quic', meaning: 'The CRYPTO stream of a packet-number space grew beyond the bound kept.' },
  WL_ERR_QUIC_TLS: { area: 'quic', meaning: 'The TLS ClientHello in the QUIC CRYPTO stream does not parse.' },
  WL_ERR_QUIC_INTERNAL: { area: 'quic', meaning: 'A QUIC decoder threw (a bug); caught so that the run goes on.' },
  WL_ERR_QPACK: { area: 'quic', meaning: 'A QPACK instruction or field section that cannot be right (HTTP/3).' },
  // sensor
  WL_ERR_SENSOR: { area: 'sensor', meaning: 'The sensor could not be started or ended with an error; its own line is in the message.' },
  WL_ERR_SENSOR_ABI: { area: 'sensor', meaning: 'The sensor binary speaks another record ABI than this agent: rebuild the sensor.' },
  WL_ERR_SENSOR_BAD_LENGTH: { area: 'sensor', meaning: 'A record length in the sensor stream is not valid: the framing is lost, the stream is given up.' },
  WL_ERR_SENSOR_SHORT_RECORD: { area: 'sensor', meaning: 'A sensor record is shorter than its type needs: skipped.' },
  WL_ERR_SENSOR_UNKNOWN_RECORD: { area: 'sensor', meaning: 'A sensor record of an unknown type: skipped.' },
  WL_ERR_SENSOR_TRUNCATED: { area: 'sensor', meaning: 'The sensor stream ended inside a record.' },
  // sink
  WL_ERR_LOG_DIR: { area: 'sink', meaning: 'The log directory cannot be created or written (checked before any traffic is read).' },
  WL_ERR_LOG_OPEN: { area: 'sink', meaning: 'A log file cannot be opened.' },
  WL_ERR_LOG_WRITE: { area: 'sink', meaning: 'Writing a log file or stdout failed.' },
  WL_ERR_TRACE_FILTER: { area: 'sink', meaning: '`wirelog trace --filter` does not parse, or uses a field known only when the transaction ends.' },
  // store
  WL_ERR_STORE: { area: 'store', meaning: 'A store cannot be opened or read: missing file, not a wirelog store, server down.' },
  WL_ERR_STORE_SCHEMA: { area: 'store', meaning: 'A store file is not a wirelog store, or has a newer schema version than this wirelog.' },
  WL_ERR_STORE_URL: { area: 'store', meaning: 'A `clickhouse://` store location that is not valid (syntax, port, database name).' },
  WL_ERR_CLICKHOUSE: { area: 'store', meaning: 'ClickHouse answered other than 200, or did not answer (refused, reset, timeout).' },
  // query
  WL_ERR_QUERY: { area: 'query', meaning: 'A filter expression does not parse or names an unknown field; the column is given.' },
  // ui
  WL_ERR_WEB: { area: 'ui', meaning: "The explorer's page is not built (run npm run build)." },
  WL_ERR_API: { area: 'ui', meaning: 'An explorer API request that cannot be answered (bad parameter, no such record); the HTTP status is given.' },
  // client
  WL_ERR_CLOSED: { area: 'client', meaning: 'The traced client was used after close().' },
  WL_ERR_PCAP: { area: 'client', meaning: "The traced client's packet capture did not start." },
  WL_ERR_PACKET_CAPTURE: { area: 'client', meaning: "The traced client's packet capture failed on an interface." },
  WL_ERR_DIAL: { area: 'client', meaning: 'No address of the host could be connected to; every address tried and why is in the message.' },
  WL_ERR_TCP_HANDSHAKE_TIMEOUT: { area: 'client', meaning: 'The TCP handshake did not finish within the connect timeout.' },
  WL_ERR_TLS_HANDSHAKE: { area: 'client', meaning: 'The TLS handshake failed or the connection closed during it.' },
  WL_ERR_TLS_HANDSHAKE_TIMEOUT: { area: 'client', meaning: 'The TLS handshake did not finish within its timeout.' },
  WL_ERR_TLS_VERIFY: { area: 'client', meaning: "The server's certificate did not verify." },
  WL_ERR_PROXY_URL: { area: 'client', meaning: 'The proxy is not an http:// or https:// URL.' },
  WL_ERR_PROXY_CONNECT: { area: 'client', meaning: 'The proxy did not establish the CONNECT tunnel (refused, bad answer, no answer).' },
  // dns
  WL_ERR_DNS_BAD_NAME: { area: 'dns', meaning: 'The host is not a valid DNS name (empty label, label over 63, name over 253, not ASCII).' },
  WL_ERR_DNS_NO_NAMES: { area: 'dns', meaning: 'No name to query for the host (.onion names are not resolved).' },
  WL_ERR_DNS_ABORTED: { area: 'dns', meaning: 'The lookup was aborted by its signal.' },
  WL_ERR_DNS_TIMEOUT: { area: 'dns', meaning: 'No name server answered within the timeout, in any attempt.' },
  WL_ERR_DNS_NETWORK: { area: 'dns', meaning: 'The name servers could not be reached (network error).' },
  WL_ERR_DNS_SERVFAIL: { area: 'dns', meaning: 'The last name server asked answered SERVFAIL.' },
  WL_ERR_DNS_REFUSED: { area: 'dns', meaning: 'The last name server asked answered REFUSED.' },
  WL_ERR_DNS_SERVER_MISBEHAVING: { area: 'dns', meaning: 'A name server answered with an unexpected rcode or a lame referral.' },
  WL_ERR_DNS_BAD_REPLY: { area: 'dns', meaning: 'A matching reply that could not be parsed, or a mismatched reply over TCP.' },
  WL_ERR_DNS_NO_NAMESERVERS: { area: 'dns', meaning: 'Every name server was skipped (skipNameserver), so none was asked.' },
  WL_ERR_DNS_NXDOMAIN: { area: 'dns', meaning: 'The name does not exist.' },
  WL_ERR_DNS_NO_ANSWER: { area: 'dns', meaning: 'The name exists but has no A or AAAA record.' },
} as const satisfies Record<`WL_ERR_${string}`, WlErrorInfo>;

/** Every code wirelog uses. */
export type WlErrorCode = keyof typeof WL_ERR;

export const isWlErrorCode = (s: unknown): s is WlErrorCode => typeof s === 'string' && Object.hasOwn(WL_ERR, s);

/**
 * The brand: `Symbol.for` gives the same symbol to every copy of this module (two installs of wirelog in one
 * process, or a dist/ and a src/ import), so `instanceof WirelogError` holds for an error from either copy.
 */
const kWirelogError = Symbol.for('wirelog.error');

/** The base of every error wirelog throws: a stable `code` from WL_ERR; errno and library errors kept as `cause`. */
export class WirelogError extends Error {
  readonly code: WlErrorCode;

  constructor(code: WlErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** on the prototype, so every instance of every copy has it, and it stays out of own keys and JSON */
  get [kWirelogError](): true {
    return true;
  }

  /**
   * `x instanceof WirelogError` checks the brand (undici's way); a subclass inherits this static method, so for
   * `x instanceof UsageError` it falls back to the ordinary prototype chain test.
   */
  static override [Symbol.hasInstance](x: unknown): boolean {
    if (this !== WirelogError) return Function.prototype[Symbol.hasInstance].call(this, x);
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[kWirelogError] === true;
  }
}
