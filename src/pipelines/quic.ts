/**
 * `wirelog quic -r FILE`: capture file → frames → UDP datagrams → QUIC packets → per-connection state → events
 * (h2olog's JSON shape: `time`, `type`, `conn`, then what the event knows). Passive, no keys: Initial packets are
 * decrypted (their keys come from the client's first Destination Connection ID, RFC 9001 §5.2); Handshake, 0-RTT and
 * 1-RTT packets are counted and reported as not decryptable.
 *
 * Connections are keyed by connection IDs — both sides' (the client's first DCID and SCID, the server's SCID, a
 * Retry's SCID, NEW_CONNECTION_ID frames when visible) — so the server's packets join the client's connection.
 * A short-header packet carries no DCID length: it is matched against the IDs of the connection its UDP flow belongs
 * to, then against every known ID length.
 */
import { readCaptureFile, readCaptureStream, type CaptureFileSummary } from '../decode/capture-file.js';
import { decodeFrame, newDecodeStats, type DecodeStats } from '../decode/frame.js';
import { PCAPNG_SECRETS_TLS } from '../decode/pcapng.js';
import type { Frame } from '../records.js';
import {
  PacketType, PnSpace, QuicErrorCode, QuicVersion, isKnownVersion, parseLongAs, looksLikeLongHeader, pnSpaceOf, splitDatagram, versionName,
  type PacketTypeName, type PnSpaceName, type QuicError, type QuicPacket,
} from '../proto/quic.js';
import {
  KEY_PHASE_BIT, TLS13_SUITES, initialSecrets, nextTrafficSecret, openPacket, packetKeysFromSecret, unprotectedFirstByte, verifyRetryIntegrity,
  type InitialSecrets, type PacketKeys, type UnprotectedPacket,
} from '../proto/quic-crypto.js';
import { KeylogLabel, type TlsKeylog, type TlsSecrets } from '../proto/tls-keylog.js';
import { Http3Connection, type Http3Message } from '../proto/http3.js';
import { shownValue } from '../sinks/redact.js';
import { CryptoStream, parseFrames, parseTransportParameters, type QuicFrame, type TransportParameters } from '../proto/quic-frames.js';
import { parseClientHelloMessage, type ClientHello } from '../proto/tls.js';

/** Event types (the `type` field of every line). */
export const QuicEventType = {
  ACCEPT: 'accept',
  CONNECT: 'connect',
  PACKET_RECEIVED: 'packet-received',
  PACKET_SENT: 'packet-sent',
  DECRYPT_FAILED: 'decrypt-failed',
  CRYPTO_DECRYPT: 'crypto-decrypt',
  CRYPTO_HANDSHAKE: 'crypto-handshake',
  KEY_UPDATE: 'key-update',
  STREAM_OPEN: 'stream-open',
  STREAM_CLOSE: 'stream-close',
  HTTP_REQUEST: 'http-request',
  HTTP_RESPONSE: 'http-response',
  RETRY: 'retry',
  VERSION_NEGOTIATION: 'version-negotiation',
  CLOSE: 'close',
  PACKET_DROPPED: 'packet-dropped',
  CONN_SUMMARY: 'conn-summary',
} as const;
export type QuicEventTypeName = (typeof QuicEventType)[keyof typeof QuicEventType];
export const QUIC_EVENT_TYPES: readonly string[] = Object.values(QuicEventType);

/** Whose view the packet events take: `packet-received` is what this side received. */
export const Vantage = { SERVER: 'server', CLIENT: 'client' } as const;
export type VantageName = (typeof Vantage)[keyof typeof Vantage];

/** Why a packet cannot be decrypted without a key log, per packet type. */
const NO_KEYS_REASON: Record<string, string> = {
  [PacketType.HANDSHAKE]: 'no keys: Handshake keys come from the TLS key exchange (give the secrets with --keylog)',
  [PacketType.ZERO_RTT]: 'no keys: 0-RTT keys come from a resumed TLS session (give the secrets with --keylog)',
  [PacketType.ONE_RTT]: 'no keys: 1-RTT keys come from the TLS key exchange (give the secrets with --keylog)',
};
/** The key-log line each packet type and sender needs. */
const SECRET_LABEL: Record<string, PerSide<string>> = {
  [PacketType.HANDSHAKE]: { client: KeylogLabel.CLIENT_HANDSHAKE, server: KeylogLabel.SERVER_HANDSHAKE },
  [PacketType.ZERO_RTT]: { client: KeylogLabel.CLIENT_EARLY, server: KeylogLabel.CLIENT_EARLY },
  [PacketType.ONE_RTT]: { client: KeylogLabel.CLIENT_APPLICATION, server: KeylogLabel.SERVER_APPLICATION },
};
/** Versions whose Initial protection is tried on a client's long header of an unknown version. */
const PROTECTION_GUESSES: readonly number[] = [QuicVersion.V1, QuicVersion.DRAFT29, QuicVersion.V2, QuicVersion.V2_DRAFT];
const ALPN_SELECTED_UNKNOWN = "the server's choice is in EncryptedExtensions, inside Handshake packets: not decryptable without keys";
const ALPN_SELECTED_NOT_SEEN = "the server's EncryptedExtensions was not seen in the decrypted Handshake packets";

/**
 * The ClientHello's random as key logs index secrets (hex): computed once per connection, since it is looked up for
 * every protected packet while the secrets are missing.
 */
function clientRandomHex(c: QuicConn): string | undefined {
  if (c.hello === undefined) return undefined;
  return (c.randomHex ??= Buffer.from(c.hello.random, 'latin1').toString('hex'));
}

export interface QuicEvent {
  time: number;
  type: QuicEventTypeName;
  conn?: number;
  [field: string]: unknown;
}

export interface QuicStats {
  frames: number;
  /** UDP datagrams looked at as QUIC */
  datagrams: number;
  /** UDP datagrams of other ports that did not look like QUIC */
  notQuic: number;
  packets: number;
  decrypted: number;
  /** packets of spaces we have no keys for */
  undecryptable: number;
  connections: number;
  /** packets or datagram tails dropped, by error code */
  errors: Record<string, number>;
  events: number;
  /** events dropped by -t or --filter */
  filtered: number;
  /** UDP GSO buffers recorded whole and split into their datagrams */
  gsoBuffers: number;
}

export interface QuicTrackerOptions {
  vantage: VantageName;
  /** UDP ports whose datagrams are all taken as QUIC; 'any': every UDP datagram. Others need a QUIC long header. */
  ports: number[] | 'any';
  /** per-connection filter (the `tls` record fields: sni, alpn, src_ip, src_port, dst_ip, dst_port; src = client) */
  connFilter?: (r: Readonly<Record<string, unknown>>) => boolean;
  emit: (e: QuicEvent) => void;
  /** TLS secrets (--keylog, pcapng Decryption Secrets Blocks): Handshake, 0-RTT and 1-RTT decryption */
  keylog?: TlsKeylog;
  /** no --keylog was given: a key log from the capture's Decryption Secrets Blocks only */
  keylogFromCaptureOnly?: boolean;
}

type Side = 'client' | 'server';

interface PerSide<T> { client: T; server: T }

interface PacketCounts { packets: number; bytes: number; byType: Record<string, number> }

/** 1-RTT keys of one sender: the current generation, the one before it (late packets), and its Key Phase bit. */
interface AppKeys {
  secret: Buffer;
  keys: PacketKeys;
  previous?: PacketKeys;
  phase: number;
  generation: number;
}

/** Where a connection's Handshake/1-RTT keys stand: derived, or why not. */
type KeyState = { ok: true; keys: PacketKeys } | { ok: false; reason: string };

/** What a stream has seen, per direction: for stream-open / stream-close. */
interface StreamState {
  fin: PerSide<boolean>;
  reset: boolean;
  closed: boolean;
}

class QuicConn {
  accepted = false;
  /** events held until `accept` is out (so it comes first) */
  pending: QuicEvent[] = [];
  /** false: --filter rejected it; undefined: not decided yet */
  passes: boolean | undefined;
  readonly cids = new Set<string>();
  readonly versions = new Set<number>();
  version: number;
  /** the DCID the client's Initial keys derive from (its first DCID; a Retry's SCID after a Retry) */
  initialDcid: Buffer;
  clientScid: Buffer;
  serverScid?: Buffer;
  readonly keys = new Map<number, InitialSecrets | undefined>();
  readonly largestPn: PerSide<Record<PnSpaceName, number>> = {
    client: { initial: -1, handshake: -1, application: -1 },
    server: { initial: -1, handshake: -1, application: -1 },
  };
  readonly crypto: PerSide<CryptoStream> = { client: new CryptoStream(), server: new CryptoStream() };
  /** the Handshake space's CRYPTO streams (EncryptedExtensions, certificates, Finished) */
  readonly hsCrypto: PerSide<CryptoStream> = { client: new CryptoStream(), server: new CryptoStream() };
  /** the ClientHello's random in hex, as key logs index secrets (clientRandomHex) */
  randomHex?: string;
  /** key-log secrets for this connection's client random; null when looked up and absent */
  secrets?: TlsSecrets | null;
  hsKeys?: PerSide<KeyState>;
  earlyKeys?: KeyState;
  /** the key log's generation when key states were last computed */
  keysGeneration = -1;
  /** the suite 0-RTT packets were found to use before the ServerHello was seen */
  earlySuite?: number;
  app?: PerSide<AppKeys | KeyState & { ok: false }>;
  /** "side/space" pairs whose first decrypted packet was reported (crypto-decrypt) */
  readonly decryptReported = new Set<string>();
  alpnSelected?: string;
  handshakeConfirmed = false;
  readonly streams = new Map<number, StreamState>();
  h3?: Http3Connection;
  hello?: ClientHello;
  transportParameters?: TransportParameters;
  helloError?: string;
  cipherSuite?: number;
  readonly decryptFailed = new Set<string>();
  readonly undecrypted: Record<string, number> = {};
  readonly counts: PerSide<PacketCounts> = {
    client: { packets: 0, bytes: 0, byType: {} },
    server: { packets: 0, bytes: 0, byType: {} },
  };
  retries = 0;
  versionNegotiations = 0;
  closedBy?: Side;
  /** the connection attempt on the same UDP flow this one replaces (after Version Negotiation) */
  previousAttempt?: number;
  firstUs: number;
  lastUs: number;

  constructor(readonly id: number, readonly clientKey: string, readonly serverKey: string, readonly odcid: Buffer, scid: Buffer, version: number, tsUs: number) {
    this.initialDcid = odcid;
    this.clientScid = scid;
    this.version = version;
    this.firstUs = tsUs;
    this.lastUs = tsUs;
  }

  initialKeys(version: number): InitialSecrets | undefined {
    if (!this.keys.has(version)) this.keys.set(version, initialSecrets(version, this.initialDcid));
    return this.keys.get(version);
  }
}

const hexOf = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('hex'));
const endpoint = (addr: string, port: number): string => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);

/** Turns UDP datagrams into QUIC events. Never throws on bad input: errors are counted and logged as events. */
export class QuicTracker {
  readonly stats: QuicStats = {
    frames: 0, datagrams: 0, notQuic: 0, packets: 0, decrypted: 0, undecryptable: 0, connections: 0, errors: {}, events: 0, filtered: 0, gsoBuffers: 0,
  };
  private readonly conns: QuicConn[] = [];
  private readonly byCid = new Map<string, QuicConn>();
  private readonly cidLengths = new Set<number>();
  /** "addr:port>addr:port" (both directions) → connection, for short headers and unknown-version long headers */
  private readonly byFlow = new Map<string, QuicConn>();
  private readonly ports: Set<number> | 'any';

  constructor(private readonly opts: QuicTrackerOptions) {
    this.ports = opts.ports === 'any' ? 'any' : new Set(opts.ports);
  }

  /** One UDP datagram. `payload` is only read during the call. */
  datagram(tsUs: number, src: string, sport: number, dst: string, dport: number, payload: Buffer, gso = false): void {
    const from = endpoint(src, sport), to = endpoint(dst, dport);
    const flowConn = this.byFlow.get(`${from}>${to}`);
    const onPort = this.ports === 'any' || this.ports.has(sport) || this.ports.has(dport);
    // content detection: other ports (and 'any') need a long header of a known version, or a known flow
    if (flowConn === undefined && (!onPort || this.ports === 'any') && !looksLikeLongHeader(payload)) {
      this.stats.notQuic++;
      return;
    }
    const split = splitDatagram(payload, (d, off) => this.shortDcid(d, off, flowConn));
    const stride = gso ? 0 : gsoStride(payload, split.packets[split.packets.length - 1]);
    if (stride > 0) {
      // a UDP GSO buffer recorded whole (tcpdump on lo): the datagrams the receiver got are its segments
      this.stats.gsoBuffers++;
      for (let at = 0; at < payload.length; at += stride) {
        this.datagram(tsUs, src, sport, dst, dport, payload.subarray(at, Math.min(payload.length, at + stride)), true);
      }
      return;
    }
    this.stats.datagrams++;
    let lastConn = flowConn;
    for (const p of split.packets) {
      try {
        lastConn = this.packet(tsUs, from, to, p, flowConn) ?? lastConn;
      } catch (e) {
        this.drop(tsUs, lastConn, from, to, { code: QuicErrorCode.INTERNAL, offset: p.start, message: `internal error: ${(e as Error).message}` });
      }
    }
    if (split.error !== undefined) this.drop(tsUs, lastConn, from, to, split.error);
  }

  /** End of input: a summary per connection, in connection order. */
  finish(): void {
    for (const c of this.conns) {
      if (!c.accepted) this.accept(c);
      c.h3?.finish(ms(c.lastUs));
      this.summary(c);
    }
  }

  private shortDcid(d: Buffer, off: number, flowConn: QuicConn | undefined): { length: number; version: number } | undefined {
    if (flowConn !== undefined) {
      for (const cid of flowConn.cids) {
        const n = cid.length / 2;
        if (n > 0 && off + n <= d.length && d.toString('hex', off, off + n) === cid) return { length: n, version: flowConn.version };
      }
    }
    for (const n of this.cidLengths) {
      if (off + n > d.length) continue;
      const c = this.byCid.get(d.toString('hex', off, off + n));
      if (c !== undefined) return { length: n, version: c.version };
    }
    // zero-length connection IDs: only the flow tells
    if (flowConn !== undefined && flowConn.cids.has('')) return { length: 0, version: flowConn.version };
    return undefined;
  }

  private addCid(c: QuicConn, cid: Buffer | string | undefined): void {
    const h = typeof cid === 'string' ? cid : hexOf(cid);
    c.cids.add(h);
    if (h.length === 0) return; // zero-length IDs key nothing: the flow does
    this.byCid.set(h, c);
    this.cidLengths.add(h.length / 2);
  }

  private findConn(p: QuicPacket, flowConn: QuicConn | undefined): QuicConn | undefined {
    if (p.dcid.length > 0) {
      const c = this.byCid.get(p.dcid.toString('hex'));
      if (c !== undefined) return c;
    }
    if (p.long && p.scid !== undefined && p.scid.length > 0 && p.type !== PacketType.VERSION_NEGOTIATION) {
      const c = this.byCid.get(p.scid.toString('hex'));
      if (c !== undefined) return c;
    }
    return flowConn;
  }

  /** Process one packet; returns its connection. */
  private packet(tsUs: number, from: string, to: string, p: QuicPacket, flowConn: QuicConn | undefined): QuicConn | undefined {
    this.stats.packets++;
    let c = this.findConn(p, flowConn);
    // a client Initial with IDs never seen is a new connection attempt, even on a known flow (after Version Negotiation
    // the client starts again with new IDs, RFC 9000 §6.2, and its keys derive from the new DCID)
    let previous: QuicConn | undefined;
    if (c !== undefined && c === flowConn && p.type === PacketType.INITIAL && from === c.clientKey &&
      !c.cids.has(hexOf(p.dcid)) && !c.cids.has(hexOf(p.scid))) {
      previous = c;
      c = undefined;
    }
    if (c === undefined) {
      // a connection starts with a client's Initial (or 0-RTT, or a long header of a version we cannot read)
      if (p.type === PacketType.INITIAL || p.type === PacketType.ZERO_RTT || p.type === PacketType.UNKNOWN_VERSION) {
        c = this.newConn(tsUs, from, to, p);
        if (previous !== undefined) c.previousAttempt = previous.id;
      } else {
        this.drop(tsUs, undefined, from, to, { code: QuicErrorCode.UNKNOWN_CONNECTION, offset: p.start, message: `${p.type} packet of no connection seen (DCID ${hexOf(p.dcid)})` });
        return undefined;
      }
    }
    c.lastUs = tsUs;
    const side: Side = from === c.clientKey ? 'client' : 'server';
    if (p.long && isKnownVersion(p.version)) {
      c.versions.add(p.version);
      c.version = p.version;
    }
    const len = p.end - p.start;
    const counts = c.counts[side];
    counts.packets++;
    counts.bytes += len;
    counts.byType[p.type] = (counts.byType[p.type] ?? 0) + 1;

    const ev: QuicEvent = { time: ms(tsUs), type: this.packetEventType(side), conn: c.id, packet_type: p.type, len };
    if (p.long) {
      ev.version = versionName(p.version);
      ev.dcid = hexOf(p.dcid);
      ev.scid = hexOf(p.scid);
    } else {
      ev.dcid = hexOf(p.dcid);
    }

    switch (p.type) {
      case PacketType.VERSION_NEGOTIATION: {
        c.versionNegotiations++;
        ev.supported_versions = p.supportedVersions!.map(versionName);
        if (!c.accepted) this.accept(c); // the attempt ends here: its lines need not wait for the end of input
        this.out(c, ev);
        this.out(c, { time: ms(tsUs), type: QuicEventType.VERSION_NEGOTIATION, conn: c.id, by: side, supported_versions: ev.supported_versions, offered_version: versionName(c.version) });
        return c;
      }
      case PacketType.RETRY: {
        const integrity = verifyRetryIntegrity(p, c.initialDcid);
        c.retries++;
        ev.token_length = p.token!.length;
        this.out(c, ev);
        this.out(c, { time: ms(tsUs), type: QuicEventType.RETRY, conn: c.id, scid: hexOf(p.scid), token_length: p.token!.length, integrity: integrity ? 'ok' : 'failed' });
        if (integrity) {
          // the client's next Initial goes to the Retry's SCID and its keys derive from it (RFC 9001 §5.2)
          this.addCid(c, p.scid);
          c.serverScid = Buffer.from(p.scid!); // a copy: the datagram is reused after the callback
          c.initialDcid = Buffer.from(p.scid!);
          c.keys.clear();
          c.crypto.client.reset();
          c.crypto.server.reset();
          // packet numbers go on after a Retry (RFC 9000 §17.2.5.3): largestPn stays
        } else {
          this.count(QuicErrorCode.RETRY_INTEGRITY);
        }
        return c;
      }
      case PacketType.UNKNOWN_VERSION: {
        // a client Initial of a version we do not know may still be laid out and protected like a known one (ngtcp2
        // 0.12 uses draft-29's salt for versions it does not speak): try each; only a verified AEAD tag counts
        if (side === 'client') {
          for (const guess of PROTECTION_GUESSES) {
            const as = parseLongAs(p.datagram, p.start, guess);
            if (as === undefined || as.type !== PacketType.INITIAL) continue;
            const keys = initialSecrets(guess, as.dcid);
            const opened = keys !== undefined ? openPacket(as, keys.client, c.largestPn.client.initial) : undefined;
            if (opened !== undefined && opened.ok) {
              this.initialPacket(tsUs, from, to, c, side, as, opened.packet, { ...ev, protected_as: versionName(guess) });
              return c;
            }
          }
        }
        this.out(c, ev);
        return c;
      }
      default:
        break;
    }

    if (p.type === PacketType.INITIAL && side === 'server' && p.scid !== undefined && !c.cids.has(hexOf(p.scid))) {
      this.addCid(c, p.scid);
      c.serverScid = Buffer.from(p.scid!); // a copy: the datagram is reused after the callback
    }
    const space = pnSpaceOf(p.type)!;
    if (p.type !== PacketType.INITIAL) {
      // Handshake, 0-RTT, 1-RTT: decrypted with key-log secrets when there are some, else counted and reported once
      // per space as not decryptable
      const r = this.protectedPacket(c, side, p);
      if (r.ok) {
        this.decryptedPacket(tsUs, from, to, c, side, p, r.packet, ev, space);
        return c;
      }
      this.stats.undecryptable++;
      c.undecrypted[p.type] = (c.undecrypted[p.type] ?? 0) + 1;
      ev.decrypted = false;
      if (r.aead) ev.error = QuicErrorCode.AEAD_FAILED;
      this.out(c, ev);
      if (r.aead) this.count(QuicErrorCode.AEAD_FAILED);
      // once per connection and space (the first packet's sender and reason)
      if (!c.decryptFailed.has(space)) {
        c.decryptFailed.add(space);
        this.out(c, { time: ms(tsUs), type: QuicEventType.DECRYPT_FAILED, conn: c.id, by: side, packet_type: p.type, space, reason: r.reason });
      }
      return c;
    }

    const keys = c.initialKeys(p.version);
    if (keys === undefined) return c; // not reached: Initial implies a known version
    const opened = openPacket(p, side === 'client' ? keys.client : keys.server, c.largestPn[side][PnSpace.INITIAL]);
    if (!opened.ok) {
      c.undecrypted[p.type] = (c.undecrypted[p.type] ?? 0) + 1;
      ev.decrypted = false;
      ev.error = opened.error.code;
      this.out(c, ev);
      this.drop(tsUs, c, from, to, opened.error);
      return c;
    }
    this.initialPacket(tsUs, from, to, c, side, p, opened.packet, ev);
    return c;
  }

  private initialPacket(tsUs: number, from: string, to: string, c: QuicConn, side: Side, p: QuicPacket, opened: UnprotectedPacket, ev: QuicEvent): void {
    this.decryptedPacket(tsUs, from, to, c, side, p, opened, ev, PnSpace.INITIAL);
  }

  /** Keys for a Handshake, 0-RTT or 1-RTT packet from the key log, derived once the ClientHello and ServerHello are seen. */
  private keyState(c: QuicConn, side: Side, type: PacketTypeName, suiteGuess?: number): KeyState {
    const keylog = this.opts.keylog;
    if (keylog === undefined || (this.opts.keylogFromCaptureOnly === true && keylog.connections === 0)) return { ok: false, reason: NO_KEYS_REASON[type]! };
    if (c.hello === undefined) return { ok: false, reason: 'no ClientHello seen: the client random that finds the secrets in the key log is unknown' };
    const random = clientRandomHex(c)!;
    if (c.secrets === undefined) c.secrets = keylog.lookup(random) ?? null;
    if (c.secrets === null) return { ok: false, reason: `the key log has no secrets for this connection's client random ${random}` };
    const suiteId = c.cipherSuite ?? suiteGuess;
    if (suiteId === undefined) return { ok: false, reason: "the ServerHello (its cipher suite) was not seen in the server's Initial packets" };
    const suite = TLS13_SUITES[suiteId];
    if (suite === undefined) return { ok: false, reason: `cipher suite 0x${suiteId.toString(16).padStart(4, '0')} is not decrypted (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 are)` };
    const label = SECRET_LABEL[type]![side];
    const secret = c.secrets[label as keyof TlsSecrets];
    if (secret === undefined) return { ok: false, reason: `the key log has no ${label} for this connection` };
    return { ok: true, keys: packetKeysFromSecret(c.version, secret, suite.cipher, suite.hash) };
  }

  /** Open a Handshake, 0-RTT or 1-RTT packet; 1-RTT follows key updates by the Key Phase bit (RFC 9001 §6). */
  private protectedPacket(c: QuicConn, side: Side, p: QuicPacket): { ok: true; packet: UnprotectedPacket & { keyUpdate?: number } } | { ok: false; reason: string; aead: boolean } {
    const space = pnSpaceOf(p.type)!;
    this.retryKeys(c);
    const largest = c.largestPn[side][space];
    let keys: KeyState;
    if (p.type === PacketType.HANDSHAKE) {
      c.hsKeys ??= { client: this.keyState(c, 'client', p.type), server: this.keyState(c, 'server', p.type) };
      keys = c.hsKeys[side];
    } else if (p.type === PacketType.ZERO_RTT) {
      if (c.earlyKeys === undefined && c.cipherSuite === undefined) {
        // 0-RTT usually comes before the ServerHello names the suite (the resumed session's): each suite's keys are
        // tried, and the one whose AEAD tag verifies is kept
        let first: KeyState | undefined;
        for (const guess of Object.keys(TLS13_SUITES).map(Number)) {
          const k = this.keyState(c, 'client', p.type, guess);
          first ??= k;
          if (!k.ok) break;
          const o = openPacket(p, k.keys, largest);
          if (o.ok) {
            c.earlyKeys = k;
            c.earlySuite = guess;
            return { ok: true, packet: o.packet };
          }
        }
        return { ok: false, reason: first !== undefined && !first.ok ? first.reason : "0-RTT packet: no cipher suite's keys from the key log's CLIENT_EARLY_TRAFFIC_SECRET verify", aead: first?.ok === true };
      }
      c.earlyKeys ??= this.keyState(c, 'client', p.type);
      keys = c.earlyKeys;
    } else {
      c.app ??= { client: this.appKeys(c, 'client'), server: this.appKeys(c, 'server') };
      const a = c.app[side];
      if (!('secret' in a)) return { ok: false, reason: a.reason, aead: false };
      const first = unprotectedFirstByte(p, a.keys);
      if (first === undefined) return { ok: false, reason: '1-RTT packet too short for a header-protection sample', aead: true };
      const phase = (first & KEY_PHASE_BIT) !== 0 ? 1 : 0;
      if (phase === a.phase) {
        const o = openPacket(p, a.keys, largest);
        return o.ok ? { ok: true, packet: o.packet } : { ok: false, reason: `${o.error.message} with the key log's secrets`, aead: true };
      }
      // the other phase: the next generation (a key update) or the previous one (a packet sent before it)
      const suite = TLS13_SUITES[c.cipherSuite!]!;
      const nextSecret = nextTrafficSecret(c.version, a.secret, suite.hash);
      const next = { ...packetKeysFromSecret(c.version, nextSecret, suite.cipher, suite.hash), hp: a.keys.hp };
      const o = openPacket(p, next, largest);
      if (o.ok) {
        a.previous = a.keys;
        a.keys = next;
        a.secret = nextSecret;
        a.phase = phase;
        a.generation++;
        return { ok: true, packet: { ...o.packet, keyUpdate: a.generation } };
      }
      if (a.previous !== undefined) {
        const old = openPacket(p, a.previous, largest);
        if (old.ok) return { ok: true, packet: old.packet };
      }
      return { ok: false, reason: `1-RTT packet with Key Phase ${phase}: AEAD tag does not verify with the next or previous generation of keys`, aead: true };
    }
    if (!keys.ok) return { ok: false, reason: keys.reason, aead: false };
    const o = openPacket(p, keys.keys, largest);
    return o.ok ? { ok: true, packet: o.packet } : { ok: false, reason: `${o.error.message} with the key log's secrets`, aead: true };
  }

  /**
   * Key states that failed for want of secrets are computed again once the key log has more (a key log file that
   * grows while a capture is read from a pipe, a Decryption Secrets Block later in the file).
   */
  private retryKeys(c: QuicConn): void {
    const keylog = this.opts.keylog;
    if (keylog === undefined) return;
    if (c.secrets === null) {
      // a miss: look again (the key log re-reads its file, rate-limited, when a lookup misses)
      const random = clientRandomHex(c);
      if (random === undefined || keylog.lookup(random) === undefined) return;
    } else if (c.keysGeneration === keylog.generation) {
      return;
    }
    c.keysGeneration = keylog.generation;
    if (c.secrets === null) c.secrets = undefined;
    if (c.hsKeys !== undefined && (!c.hsKeys.client.ok || !c.hsKeys.server.ok)) c.hsKeys = undefined;
    if (c.earlyKeys !== undefined && !c.earlyKeys.ok) c.earlyKeys = undefined;
    if (c.app !== undefined) {
      // only a side without keys: a side with keys keeps its key-update state
      for (const side of ['client', 'server'] as const) if (!('secret' in c.app[side])) c.app[side] = this.appKeys(c, side);
    }
  }

  private appKeys(c: QuicConn, side: Side): AppKeys | (KeyState & { ok: false }) {
    const k = this.keyState(c, side, PacketType.ONE_RTT);
    if (!k.ok) return k;
    const secret = c.secrets![(side === 'client' ? KeylogLabel.CLIENT_APPLICATION : KeylogLabel.SERVER_APPLICATION)]!;
    return { secret, keys: k.keys, phase: 0, generation: 0 };
  }

  /** A decrypted packet: its frames feed the connection, then its event. */
  private decryptedPacket(tsUs: number, from: string, to: string, c: QuicConn, side: Side, p: QuicPacket, opened: UnprotectedPacket & { keyUpdate?: number }, ev: QuicEvent, space: PnSpaceName): void {
    const len = p.end - p.start;
    this.stats.decrypted++;
    const pn = opened.packetNumber;
    if (pn > c.largestPn[side][space]) c.largestPn[side][space] = pn;
    if (space !== PnSpace.INITIAL) {
      const key = `${side}/${p.type}`;
      if (!c.decryptReported.has(key)) {
        c.decryptReported.add(key);
        this.out(c, { time: ms(tsUs), type: QuicEventType.CRYPTO_DECRYPT, conn: c.id, by: side, packet_type: p.type, space, pn, cipher_suite: suiteName(c.cipherSuite ?? c.earlySuite), source: 'keylog' });
      }
      if (opened.keyUpdate !== undefined) {
        this.out(c, { time: ms(tsUs), type: QuicEventType.KEY_UPDATE, conn: c.id, by: side, pn, generation: opened.keyUpdate, key_phase: (opened.firstByte & KEY_PHASE_BIT) !== 0 ? 1 : 0 });
      }
    }
    const frames = parseFrames(opened.payload);
    for (const f of frames.frames) this.frame(tsUs, c, side, f, space);
    // accept before the packet that completed the ClientHello, so it is the connection's first line
    if (!c.accepted && c.hello !== undefined) this.accept(c);
    const out: QuicEvent = { time: ev.time, type: ev.type, conn: c.id, pn, packet_type: p.type, len };
    if (p.long) { out.version = ev.version; out.dcid = ev.dcid; out.scid = ev.scid; } else {
      out.dcid = ev.dcid;
      out.key_phase = (opened.firstByte & KEY_PHASE_BIT) !== 0 ? 1 : 0;
    }
    if (ev.protected_as !== undefined) out.protected_as = ev.protected_as;
    if (p.token !== undefined && p.token.length > 0) out.token_length = p.token.length;
    out.frames = frames.frames.map(frameJson);
    if (frames.error !== undefined) out.frames_error = frames.error.code;
    this.out(c, out);
    if (frames.error !== undefined) this.drop(tsUs, c, from, to, frames.error);
    if (!c.accepted && side === 'server') this.accept(c); // the server answered a hello we could not read
  }

  private frame(tsUs: number, c: QuicConn, side: Side, f: QuicFrame, space: PnSpaceName): void {
    if (f.type === 'crypto' && f.data !== undefined && space !== PnSpace.INITIAL) {
      // Handshake-level CRYPTO: the server's EncryptedExtensions names the chosen ALPN (1-RTT CRYPTO carries only
      // post-handshake messages such as NewSessionTicket)
      if (space !== PnSpace.HANDSHAKE || side !== 'server' || c.alpnSelected !== undefined) return;
      const stream = c.hsCrypto.server;
      if (!stream.add(f.offset!, f.data)) { this.count(QuicErrorCode.CRYPTO_LIMIT); return; }
      const alpn = encryptedExtensionsAlpn(stream.contiguous());
      if (alpn !== undefined) {
        c.alpnSelected = alpn ?? '';
        this.out(c, { time: ms(tsUs), type: QuicEventType.CRYPTO_HANDSHAKE, conn: c.id, by: side, message: 'encrypted_extensions', alpn: alpn === '' ? null : alpn });
      }
    } else if (f.type === 'crypto' && f.data !== undefined) {
      const stream = c.crypto[side];
      if (!stream.add(f.offset!, f.data)) {
        this.count(QuicErrorCode.CRYPTO_LIMIT);
        return;
      }
      if (side === 'client' && c.hello === undefined && c.helloError === undefined) {
        const r = parseClientHelloMessage(stream.contiguous());
        if (r.status === 'ok') {
          c.hello = r.hello;
          if (r.hello.quicTransportParameters !== undefined) c.transportParameters = parseTransportParameters(r.hello.quicTransportParameters).params;
        } else if (r.status === 'error') {
          c.helloError = `${r.error.code}: ${r.error.message}`;
          this.count(QuicErrorCode.TLS);
        }
      } else if (side === 'server' && c.cipherSuite === undefined) {
        c.cipherSuite = serverHelloCipherSuite(stream.contiguous());
      }
    } else if (f.type === 'stream' && f.stream_id !== undefined) {
      this.streamFrame(tsUs, c, side, f);
    } else if (f.type === 'reset_stream' && f.stream_id !== undefined) {
      const st = this.streamState(tsUs, c, side, f.stream_id);
      st.reset = true;
      c.h3?.streamReset(side, f.stream_id, ms(tsUs));
      this.streamClosed(tsUs, c, f.stream_id, st, 'reset', f.error_code);
    } else if (f.type === 'handshake_done' && !c.handshakeConfirmed) {
      c.handshakeConfirmed = true;
      this.out(c, { time: ms(tsUs), type: QuicEventType.CRYPTO_HANDSHAKE, conn: c.id, by: side, message: 'handshake_done' });
    } else if (f.type === 'new_connection_id' && f.connection_id !== undefined) {
      this.addCid(c, f.connection_id);
    } else if (f.type === 'connection_close') {
      c.closedBy ??= side;
      const e: QuicEvent = { time: ms(tsUs), type: QuicEventType.CLOSE, conn: c.id, by: side, error_space: f.error_space, error_code: f.error_code };
      if (f.trigger_frame_type !== undefined) e.trigger_frame_type = f.trigger_frame_type;
      e.reason = f.reason;
      this.out(c, e);
    }
  }

  private streamState(tsUs: number, c: QuicConn, side: Side, id: number): StreamState {
    let st = c.streams.get(id);
    if (st === undefined) {
      st = { fin: { client: false, server: false }, reset: false, closed: false };
      c.streams.set(id, st);
      // the low bits of a stream ID say who opened it and whether it is unidirectional (RFC 9000 §2.1)
      this.out(c, { time: ms(tsUs), type: QuicEventType.STREAM_OPEN, conn: c.id, stream_id: id, by: (id & 1) !== 0 ? 'server' : 'client', stream_type: (id & 2) !== 0 ? 'unidirectional' : 'bidirectional' });
    }
    return st;
  }

  private streamFrame(tsUs: number, c: QuicConn, side: Side, f: QuicFrame): void {
    const id = f.stream_id!;
    const st = this.streamState(tsUs, c, side, id);
    if (f.fin) st.fin[side] = true;
    if (this.isHttp3(c)) {
      c.h3 ??= new Http3Connection((m) => this.httpMessage(c, m));
      c.h3.streamData(side, id, f.offset!, f.data ?? Buffer.alloc(0), f.fin === true, ms(tsUs));
    }
    const uni = (id & 2) !== 0;
    const opener: Side = (id & 1) !== 0 ? 'server' : 'client';
    if (uni ? st.fin[opener] : st.fin.client && st.fin.server) this.streamClosed(tsUs, c, id, st, 'fin');
  }

  private streamClosed(tsUs: number, c: QuicConn, id: number, st: StreamState, how: 'fin' | 'reset', errorCode?: number): void {
    if (st.closed) return;
    st.closed = true;
    const e: QuicEvent = { time: ms(tsUs), type: QuicEventType.STREAM_CLOSE, conn: c.id, stream_id: id, how };
    if (errorCode !== undefined) e.error_code = errorCode;
    this.out(c, e);
  }

  /** HTTP/3 is parsed when the server chose an h3 ALPN, or, its choice unseen, when the client offered one. */
  private isHttp3(c: QuicConn): boolean {
    if (c.alpnSelected !== undefined) return c.alpnSelected.startsWith('h3');
    return c.hello?.alpn.some((a) => a.startsWith('h3')) ?? false;
  }

  private httpMessage(c: QuicConn, m: Http3Message): void {
    this.out(c, http3Event(c.id, m));
  }

  private newConn(tsUs: number, from: string, to: string, p: QuicPacket): QuicConn {
    const c = new QuicConn(this.conns.length + 1, from, to, Buffer.from(p.dcid), Buffer.from(p.scid ?? Buffer.alloc(0)), p.version, tsUs);
    this.conns.push(c);
    this.stats.connections++;
    this.addCid(c, p.dcid);
    this.addCid(c, p.scid);
    this.byFlow.set(`${from}>${to}`, c);
    this.byFlow.set(`${to}>${from}`, c);
    return c;
  }

  private packetEventType(side: Side): QuicEventTypeName {
    // server vantage: what the client sent is what the server received
    const received = (side === 'client') === (this.opts.vantage === Vantage.SERVER);
    return received ? QuicEventType.PACKET_RECEIVED : QuicEventType.PACKET_SENT;
  }

  private accept(c: QuicConn): void {
    c.accepted = true;
    const [clientAddr, clientPort] = splitEndpoint(c.clientKey);
    const [serverAddr, serverPort] = splitEndpoint(c.serverKey);
    if (this.opts.connFilter !== undefined) {
      c.passes = this.opts.connFilter({
        sni: c.hello?.sni ?? null, alpn: c.hello?.alpn ?? [], src_ip: clientAddr, src_port: clientPort, dst_ip: serverAddr, dst_port: serverPort,
      });
    } else c.passes = true;
    const e: QuicEvent = {
      time: ms(c.firstUs), type: this.opts.vantage === Vantage.SERVER ? QuicEventType.ACCEPT : QuicEventType.CONNECT, conn: c.id,
      dcid: hexOf(c.odcid), scid: hexOf(c.clientScid), version: versionName(c.version),
      client: c.clientKey, server: c.serverKey,
    };
    if (c.previousAttempt !== undefined) e.previous_attempt = c.previousAttempt;
    if (c.hello !== undefined) {
      e.sni = c.hello.sni ?? null;
      e.alpn = c.hello.alpn;
      if (c.transportParameters !== undefined) e.transport_parameters = c.transportParameters;
    } else {
      e.sni = null;
      e.alpn = null;
      e.hello = c.helloError ?? 'no ClientHello seen in decryptable Initial packets';
    }
    this.out(c, e);
    const held = c.pending;
    c.pending = [];
    for (const h of held) this.out(c, h);
  }

  private summary(c: QuicConn): void {
    const side = (s: Side): Record<string, unknown> => ({ packets: c.counts[s].packets, bytes: c.counts[s].bytes, by_type: c.counts[s].byType });
    const sent: Side = this.opts.vantage === Vantage.SERVER ? 'server' : 'client';
    const received: Side = sent === 'server' ? 'client' : 'server';
    const e: QuicEvent = {
      time: ms(c.lastUs), type: QuicEventType.CONN_SUMMARY, conn: c.id,
      dcid: hexOf(c.odcid), scid: hexOf(c.clientScid), server_scid: c.serverScid === undefined ? null : hexOf(c.serverScid),
      versions: [...c.versions].map(versionName), sni: c.hello?.sni ?? null, alpn_offered: c.hello?.alpn ?? null,
      alpn_selected: c.alpnSelected === undefined || c.alpnSelected === '' ? null : c.alpnSelected,
      cipher_suite: suiteName(c.cipherSuite),
      sent: side(sent), received: side(received), undecrypted: c.undecrypted,
      retries: c.retries, version_negotiations: c.versionNegotiations, closed_by: c.closedBy ?? null,
      duration_ms: Math.round((c.lastUs - c.firstUs) / 1000),
    };
    if (c.alpnSelected === undefined) e.alpn_selected_unknown = this.opts.keylog === undefined || c.hsKeys?.server.ok !== true ? ALPN_SELECTED_UNKNOWN : ALPN_SELECTED_NOT_SEEN;
    if (c.app !== undefined) {
      const gen = (s: Side): number | null => { const a = c.app![s]; return 'generation' in a ? a.generation : null; };
      e.key_updates = { client: gen('client'), server: gen('server') };
    }
    if (c.streams.size > 0) e.streams = c.streams.size;
    if (c.h3 !== undefined) {
      // each side's SETTINGS (by identifier, RFC 9114 §7.2.4.1 and RFC 9204 §5) and GOAWAY, when seen
      const settings = (m: Map<number, number> | undefined): Record<string, number> | null =>
        m === undefined ? null : Object.fromEntries([...m].map(([k, v]) => [H3_SETTING_NAMES[k] ?? `0x${k.toString(16)}`, v]));
      e.http3 = {
        settings: { client: settings(c.h3.settings.client), server: settings(c.h3.settings.server) },
        goaway: { client: c.h3.goaway.client ?? null, server: c.h3.goaway.server ?? null },
      };
      if (c.h3.errors.length > 0) e.http3_errors = c.h3.errors;
    }
    this.out(c, e);
  }

  private count(code: string): void {
    this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
  }

  private drop(tsUs: number, c: QuicConn | undefined, from: string, to: string, err: QuicError): void {
    this.count(err.code);
    const e: QuicEvent = { time: ms(tsUs), type: QuicEventType.PACKET_DROPPED, from, to, code: err.code, offset: err.offset, reason: err.message };
    if (c !== undefined) {
      e.conn = c.id;
      this.out(c, e);
    } else {
      this.send(e);
    }
  }

  private out(c: QuicConn, e: QuicEvent): void {
    if (!c.accepted) {
      c.pending.push(e);
      return;
    }
    if (c.passes === false) {
      this.stats.filtered++;
      return;
    }
    this.send(e);
  }

  private send(e: QuicEvent): void {
    this.stats.events++;
    this.opts.emit(e);
  }
}

function ms(tsUs: number): number {
  return Math.floor(tsUs / 1000);
}

function splitEndpoint(k: string): [string, number] {
  const i = k.lastIndexOf(':');
  const a = k.slice(0, i);
  return [a.startsWith('[') ? a.slice(1, -1) : a, Number(k.slice(i + 1))];
}

/** The cipher suite of a ServerHello at the start of the server's Initial CRYPTO stream (it is not encrypted there). */
function serverHelloCipherSuite(hs: Buffer): number | undefined {
  // type (2), length (3), legacy_version (2), random (32), session id (1 + n), cipher_suite (2)
  if (hs.length < 39 || hs[0] !== 2) return undefined;
  const sidLen = hs[38]!;
  const at = 39 + sidLen;
  return at + 2 <= hs.length ? hs.readUInt16BE(at) : undefined;
}

/**
 * The segment size of a UDP GSO buffer seen whole, or 0. The sender cut one buffer into datagrams of `stride` bytes
 * (the last may be shorter), each starting with a packet to the same connection ID; a capture on lo records the buffer
 * before the cut, so its first short-header packet seems to run to the end. Found by the next short header with the
 * same DCID, checked at every multiple of the stride.
 */
function gsoStride(d: Buffer, last: QuicPacket | undefined): number {
  if (last === undefined || last.long || last.dcid.length < 4 || d.length - last.start < 2 * 64) return 0;
  let at = last.start + 1;
  for (;;) {
    const i = d.indexOf(last.dcid, at + 1);
    if (i < 0) return 0;
    const stride = i - 1;
    at = i;
    if ((d[stride]! & 0x80) !== 0 || stride <= last.start) continue; // short header (the fixed bit may be greased, RFC 9287)
    let ok = true;
    for (let k = 2 * stride; k < d.length && ok; k += stride) {
      ok = k + 1 + last.dcid.length <= d.length && (d[k]! & 0x80) === 0 && d.subarray(k + 1, k + 1 + last.dcid.length).equals(last.dcid);
    }
    if (ok) return stride;
  }
}

const H3_SETTING_NAMES: Record<number, string> = {
  0x01: 'qpack_max_table_capacity', 0x06: 'max_field_section_size', 0x07: 'qpack_blocked_streams',
  0x08: 'enable_connect_protocol', 0x33: 'h3_datagram',
};

function suiteName(s: number | undefined): string | null {
  return s === undefined ? null : '0x' + s.toString(16).padStart(4, '0');
}

/**
 * The ALPN protocol in the server's EncryptedExtensions (the first message of its Handshake CRYPTO stream): the
 * protocol, '' when the message has no ALPN extension, undefined while the message is incomplete or not there.
 */
function encryptedExtensionsAlpn(hs: Buffer): string | undefined {
  const ENCRYPTED_EXTENSIONS = 8, EXT_ALPN = 16;
  if (hs.length < 6 || hs[0] !== ENCRYPTED_EXTENSIONS) return undefined;
  const end = 4 + hs.readUIntBE(1, 3);
  if (hs.length < end) return undefined;
  let p = 6;
  const extEnd = Math.min(end, 6 + hs.readUInt16BE(4));
  while (p + 4 <= extEnd) {
    const type = hs.readUInt16BE(p), len = hs.readUInt16BE(p + 2);
    // ALPN: list length (2), then one protocol: length (1) and name
    if (type === EXT_ALPN && len >= 3 && p + 7 <= extEnd) return hs.toString('latin1', p + 7, Math.min(extEnd, p + 7 + hs[p + 6]!));
    p += 4 + len;
  }
  return '';
}

/**
 * An HTTP/3 message as an `http-request` / `http-response` line: pseudo-headers as fields, the other headers as
 * [name, value] pairs with credentials (Authorization, Cookie, Set-Cookie, Proxy-Authorization) shown as
 * `[redacted]`, as `wirelog trace` shows them by default.
 */
export function http3Event(conn: number, m: Http3Message): QuicEvent {
  const e: QuicEvent = { time: m.time, type: m.kind === 'request' ? QuicEventType.HTTP_REQUEST : QuicEventType.HTTP_RESPONSE, conn, stream_id: m.streamId };
  const pseudo = m.kind === 'request' ? ['method', 'scheme', 'authority', 'path'] : ['status'];
  const headers: Array<[string, string]> = [];
  if (m.fields !== undefined) {
    for (const [n, v] of m.fields) {
      if (n.startsWith(':')) {
        const k = n.slice(1);
        if (pseudo.includes(k) && e[k] === undefined) e[k] = k === 'status' ? Number(v) : v;
      } else {
        headers.push([n, shownValue('redacted', n, v)!]);
      }
    }
    e.headers = headers;
  } else {
    for (const k of pseudo) e[k] = null;
    e.headers_undecodable = m.fieldsError ?? 'no HEADERS frame seen';
  }
  e.body_length = m.bodyLength;
  e.complete = m.complete;
  if (m.error !== undefined) e.error = m.error;
  return e;
}

/** A frame as a line shows it: the qlog name and the fields that matter; data itself is left out. */
export function frameJson(f: QuicFrame): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) {
    if (k === 'data' || v === undefined) continue;
    o[k] = v;
  }
  return o;
}

// ---- file source ----

export interface QuicFileOptions {
  path: string;
  tracker: QuicTracker;
  /** once the input is open, before parsing: the CLI drops root there (src/cli/privileges.ts) */
  afterOpen?: () => void;
  /** where pcapng Decryption Secrets Blocks of TLS key-log text go (the same key log as --keylog, or a new one) */
  keylog?: TlsKeylog;
}

export interface QuicFileResult {
  capture: CaptureFileSummary;
  decode: DecodeStats;
  stats: QuicStats;
}

/** Read a capture file (or '-' for stdin) through the tracker; every complete frame before an error is processed. */
export async function runQuicFile(o: QuicFileOptions): Promise<QuicFileResult> {
  const dstats = newDecodeStats();
  const t = o.tracker;
  const onFrame = (f: Frame): void => {
    t.stats.frames++;
    const seg = decodeFrame(f, dstats);
    if (seg === undefined || seg.proto !== 17 || seg.fragment) return;
    t.datagram(seg.tsUs, seg.src, seg.sport, seg.dst, seg.dport, seg.payload);
  };
  const onSecrets = (type: number, data: Buffer): void => {
    if (type === PCAPNG_SECRETS_TLS) o.keylog?.addText(data.toString('latin1'));
  };
  const capture = o.path === '-'
    ? await readCaptureStream(process.stdin, onFrame, { name: 'stdin', afterOpen: o.afterOpen, onSecrets })
    : readCaptureFile(o.path, onFrame, { afterOpen: o.afterOpen, onSecrets });
  t.finish();
  return { capture, decode: dstats, stats: t.stats };
}

/** The stderr summary: `wirelog: quic: N frames, N datagrams, N packets (N decrypted, N without keys), N connections, N events[, errors …]` */
export function quicSummaryLine(r: QuicFileResult, keylog?: TlsKeylog): string {
  const s = r.stats;
  let line = `wirelog: quic: ${s.frames} frames, ${s.datagrams} datagrams, ${s.packets} packets (${s.decrypted} decrypted, ${s.undecryptable} without keys), ${s.connections} connections, ${s.events} events`;
  if (s.filtered > 0) line += `, ${s.filtered} filtered`;
  if (s.gsoBuffers > 0) line += `, ${s.gsoBuffers} GSO buffers split`;
  const errs = Object.entries(s.errors);
  if (errs.length > 0) line += `, dropped: ${errs.map(([k, v]) => `${k} ${v}`).join(', ')}`;
  if (r.decode.errors > 0) line += `, ${r.decode.errors} frames not decodable`;
  if (keylog !== undefined) line += `, key log: ${keylog.connections} connections${keylog.badLines > 0 ? `, ${keylog.badLines} bad lines` : ''}`;
  return line;
}
