/**
 * TLS key logs (the SSLKEYLOGFILE format NSS defined, written by OpenSSL, GnuTLS, BoringSSL, curl, browsers): one
 * `LABEL CLIENT_RANDOM_HEX SECRET_HEX` per line, `#` comments. The TLS 1.3 labels give the traffic secrets QUIC's
 * packet keys derive from (RFC 9001 §5.1); they are indexed by the ClientHello's random, which is how a connection
 * finds its own. The same text is what a pcapng Decryption Secrets Block of type 'TLSK' carries.
 *
 * Lines that do not parse are counted, never fatal: a key log is often appended to by several programs at once.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

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
/** A file that grows is looked at again at most this often (ms of wall time), and only on a lookup that misses. */
const REREAD_INTERVAL_MS = 1000;

export class TlsKeylog {
  /** client random (lowercase hex) → secrets */
  private readonly byRandom = new Map<string, TlsSecrets>();
  /** lines that are neither a comment, blank, nor `LABEL <64 hex> <hex>` */
  badLines = 0;
  /** secret lines kept */
  secrets = 0;
  /** bumped whenever secrets are added: a connection that found none may look again */
  generation = 0;
  /** the key log file, opened once and kept open: a run that dropped root (--user) can still follow it */
  private fd?: number;
  private fileOffset = 0;
  /** a last line not yet ended by a newline (the writer may be in the middle of it) */
  private partial = '';
  private lastRead = 0;

  /** Read a key log file, and follow it as it grows (SSLKEYLOGFILE of a program still running). Throws when unreadable. */
  static fromFile(path: string): TlsKeylog {
    const k = new TlsKeylog();
    k.fd = openSync(path, 'r');
    try {
      k.readMore();
    } catch (err) {
      k.close();
      throw err;
    }
    return k;
  }

  /** Stop following the file. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Read what was appended to the file since the last read; true when secrets were added. */
  readMore(): boolean {
    const fd = this.fd;
    if (fd === undefined) return false;
    this.lastRead = Date.now();
    const before = this.secrets;
    const size = fstatSync(fd).size;
    if (size < this.fileOffset) { this.fileOffset = 0; this.partial = ''; } // truncated and rewritten
    if (size === this.fileOffset) return false;
    const b = Buffer.alloc(size - this.fileOffset);
    const n = readSync(fd, b, 0, b.length, this.fileOffset);
    this.fileOffset += n;
    const text = this.partial + b.toString('latin1', 0, n);
    const cut = text.lastIndexOf('\n');
    this.partial = text.slice(cut + 1);
    this.addText(text.slice(0, cut + 1));
    return this.secrets > before;
  }

  /** A lookup missed: read the file again if it may have grown (rate-limited); errors now are not fatal. */
  private refresh(): boolean {
    if (this.fd === undefined || Date.now() - this.lastRead < REREAD_INTERVAL_MS) return false;
    try {
      return this.readMore();
    } catch {
      return false;
    }
  }

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
      if (s[label as KeylogLabelName] === undefined) { this.secrets++; this.generation++; }
      s[label as KeylogLabelName] = Buffer.from(secret, 'hex');
    }
  }

  /** The secrets logged for a client random (hex), undefined when none. */
  lookup(clientRandomHex: string): TlsSecrets | undefined {
    const key = clientRandomHex.toLowerCase();
    const s = this.byRandom.get(key);
    if (s !== undefined || !this.refresh()) return s;
    return this.byRandom.get(key);
  }

  get connections(): number {
    return this.byRandom.size;
  }
}
