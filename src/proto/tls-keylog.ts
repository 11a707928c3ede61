/**
 * TLS key logs (the SSLKEYLOGFILE format NSS defined, written by OpenSSL, GnuTLS, BoringSSL, curl, browsers): one
 * `LABEL CLIENT_RANDOM_HEX SECRET_HEX` per line, `#` comments. The TLS 1.3 labels give the traffic secrets QUIC's
 * packet keys derive from (RFC 9001 §5.1); they are indexed by the ClientHello's random, which is how a connection
 * finds its own. The same text is what a pcapng Decryption Secrets Block of type 'TLSK' carries.
 *
 * Lines that do not parse are counted, never fatal: a key log is often appended to by several programs at once.
 */

/** The labels kept (TLS 1.3). Others (CLIENT_RANDOM for TLS 1.2, EXPORTER_SECRET) are read and ignored. */
export const KeylogLabel = {
  CLIENT_EARLY: 'CLIENT_EARLY_TRAFFIC_SECRET',
  CLIENT_HANDSHAKE: 'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
  SERVER_HANDSHAKE: 'SERVER_HANDSHAKE_TRAFFIC_SECRET',
  CLIENT_APPLICATION: 'CLIENT_TRAFFIC_SECRET_0',
  SERVER_APPLICATION: 'SERVER_TRAFFIC_SECRET_0',
} as const;
type KeylogLabelName = (typeof KeylogLabel)[keyof typeof KeylogLabel];
const KEPT: ReadonlySet<string> = new Set(Object.values(KeylogLabel));
/** Labels known but not used for QUIC: not counted as bad lines */
const IGNORED: ReadonlySet<string> = new Set(['CLIENT_RANDOM', 'EXPORTER_SECRET', 'EARLY_EXPORTER_SECRET', 'EARLY_EXPORTER_MASTER_SECRET', 'EXPORTER_MASTER_SECRET']);

/** One connection's secrets (each present when its line was seen). */
export type TlsSecrets = Partial<Record<KeylogLabelName, Buffer>>;

const HEX = /^[0-9a-fA-F]+$/;

export class TlsKeylog {
  /** client random (lowercase hex) → secrets */
  private readonly byRandom = new Map<string, TlsSecrets>();
  /** lines that are neither a comment, blank, nor `LABEL <64 hex> <hex>` */
  badLines = 0;
  /** secret lines kept */
  secrets = 0;

  /** Add the lines of `text` (a whole file, or a pcapng DSB's payload). */
  addText(text: string): void {
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const parts = line.split(/\s+/);
      if (parts.length !== 3) { this.badLines++; continue; }
      const [label, random, secret] = parts as [string, string, string];
      if (random.length !== 64 || !HEX.test(random) || secret.length === 0 || secret.length % 2 !== 0 || !HEX.test(secret)) {
        this.badLines++;
        continue;
      }
      if (IGNORED.has(label)) continue;
      if (!KEPT.has(label)) { this.badLines++; continue; }
      const key = random.toLowerCase();
      let s = this.byRandom.get(key);
      if (s === undefined) { s = {}; this.byRandom.set(key, s); }
      if (s[label as KeylogLabelName] === undefined) this.secrets++;
      s[label as KeylogLabelName] = Buffer.from(secret, 'hex');
    }
  }

  /** The secrets logged for a client random (hex), undefined when none. */
  lookup(clientRandomHex: string): TlsSecrets | undefined {
    return this.byRandom.get(clientRandomHex.toLowerCase());
  }

  get connections(): number {
    return this.byRandom.size;
  }
}
