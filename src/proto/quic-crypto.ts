/**
 * QUIC packet protection (RFC 9001 §5; RFC 9369 §3.3 for v2; draft-29): Initial secrets from the client's first
 * Destination Connection ID, packet keys from any TLS traffic secret, header protection (AES-ECB or ChaCha20 masks),
 * AEAD payload decryption (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305), and the Retry integrity tag.
 * `node:crypto` only. Initial keys need nothing secret: anyone on the path can derive them (that is the point of §5.2).
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import {
  AEAD_TAG_LENGTH, HP_SAMPLE_LENGTH, PacketType, QuicErrorCode, QuicVersion, decodePacketNumber, type QuicError,
  type QuicPacket,
} from './quic.js';

/** AEADs QUIC uses with TLS 1.3 (AES-128-CCM is not offered by the stacks we meet and is not decoded). */
export const QuicCipher = {
  AES_128_GCM: 'aes-128-gcm',
  AES_256_GCM: 'aes-256-gcm',
  CHACHA20_POLY1305: 'chacha20-poly1305',
} as const;
export type QuicCipherName = (typeof QuicCipher)[keyof typeof QuicCipher];

/** TLS 1.3 cipher suite → AEAD, hash and key length */
export const TLS13_SUITES: Record<number, { cipher: QuicCipherName; hash: 'sha256' | 'sha384'; keyLength: number }> = {
  0x1301: { cipher: QuicCipher.AES_128_GCM, hash: 'sha256', keyLength: 16 },
  0x1302: { cipher: QuicCipher.AES_256_GCM, hash: 'sha384', keyLength: 32 },
  0x1303: { cipher: QuicCipher.CHACHA20_POLY1305, hash: 'sha256', keyLength: 32 },
};

/** Per-version constants: Initial salt, HKDF labels, Retry integrity key and nonce. */
interface VersionCrypto {
  salt: Buffer;
  keyLabel: string;
  ivLabel: string;
  hpLabel: string;
  kuLabel: string;
  retryKey: Buffer;
  retryNonce: Buffer;
}

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

const V1_LABELS = { keyLabel: 'quic key', ivLabel: 'quic iv', hpLabel: 'quic hp', kuLabel: 'quic ku' };

const VERSION_CRYPTO: ReadonlyMap<number, VersionCrypto> = new Map([
  // RFC 9001 §5.2 and §5.8
  [QuicVersion.V1, { salt: hex('38762cf7f55934b34d179ae6a4c80cadccbb7f0a'), ...V1_LABELS,
    retryKey: hex('be0c690b9f66575a1d766b54e368c84e'), retryNonce: hex('461599d35d632bf2239825bb') }],
  // RFC 9369 §3.3: new salt, "quicv2 …" labels, new Retry key
  [QuicVersion.V2, { salt: hex('0dede3def700a6db819381be6e269dcbf9bd2ed9'),
    keyLabel: 'quicv2 key', ivLabel: 'quicv2 iv', hpLabel: 'quicv2 hp', kuLabel: 'quicv2 ku',
    retryKey: hex('8fb4b01b56ac48e260fbcbcead7ccc92'), retryNonce: hex('d86969bc2d7c6d9990efb04a') }],
  // draft-ietf-quic-v2-01..05 §3.3 (version 0x709a50c4)
  [QuicVersion.V2_DRAFT, { salt: hex('a707c203a59b47184a1d62ca570406ea7ae3e5d3'),
    keyLabel: 'quicv2 key', ivLabel: 'quicv2 iv', hpLabel: 'quicv2 hp', kuLabel: 'quicv2 ku',
    retryKey: hex('ba858dc7b43de5dbf87617ff4ab253db'), retryNonce: hex('141b99c239b03e785d6a2e9f') }],
  // draft-ietf-quic-tls-29 §5.2 and §5.8 (Chrome's h3-29): v1's labels
  [QuicVersion.DRAFT29, { salt: hex('afbfec289993d24c9e9786f19c6111e04390a899'), ...V1_LABELS,
    retryKey: hex('ccce187ed09a09d05728155a6cb96be1'), retryNonce: hex('e54930f97f2136f0530a8c1c') }],
]);

export function hasInitialKeys(version: number): boolean {
  return VERSION_CRYPTO.has(version);
}

// ---- HKDF (RFC 5869) and TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1) ----

export function hkdfExtract(hash: string, salt: Buffer, ikm: Buffer): Buffer {
  return createHmac(hash, salt).update(ikm).digest();
}

export function hkdfExpand(hash: string, prk: Buffer, info: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let prev = Buffer.alloc(0);
  let have = 0;
  for (let i = 1; have < length; i++) {
    prev = createHmac(hash, prk).update(prev).update(info).update(Buffer.from([i])).digest();
    out.push(prev);
    have += prev.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** HKDF-Expand-Label(secret, label, "", length): the HkdfLabel structure with "tls13 " prefixed to the label. */
export function hkdfExpandLabel(hash: string, secret: Buffer, label: string, length: number, context: Buffer = Buffer.alloc(0)): Buffer {
  const full = Buffer.from('tls13 ' + label, 'latin1');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([context.length]), context]);
  return hkdfExpand(hash, secret, info, length);
}

/** What it takes to remove header protection and open packets of one sender at one encryption level. */
export interface PacketKeys {
  cipher: QuicCipherName;
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

/** Packet keys from a traffic secret (RFC 9001 §5.1) with the version's labels. */
export function packetKeysFromSecret(version: number, secret: Buffer, cipher: QuicCipherName = QuicCipher.AES_128_GCM, hash = 'sha256'): PacketKeys {
  const vc = VERSION_CRYPTO.get(version) ?? VERSION_CRYPTO.get(QuicVersion.V1)!;
  const keyLength = cipher === QuicCipher.AES_128_GCM ? 16 : 32;
  return {
    cipher,
    key: hkdfExpandLabel(hash, secret, vc.keyLabel, keyLength),
    iv: hkdfExpandLabel(hash, secret, vc.ivLabel, 12),
    hp: hkdfExpandLabel(hash, secret, vc.hpLabel, keyLength),
  };
}

/** The next generation's secret after a key update (RFC 9001 §6.1). */
export function nextTrafficSecret(version: number, secret: Buffer, hash = 'sha256'): Buffer {
  const vc = VERSION_CRYPTO.get(version) ?? VERSION_CRYPTO.get(QuicVersion.V1)!;
  return hkdfExpandLabel(hash, secret, vc.kuLabel, secret.length);
}

export interface InitialSecrets {
  initialSecret: Buffer;
  clientSecret: Buffer;
  serverSecret: Buffer;
  client: PacketKeys;
  server: PacketKeys;
}

/** Initial secrets and keys for `version` from the client's first Destination Connection ID (RFC 9001 §5.2). */
export function initialSecrets(version: number, clientDcid: Buffer): InitialSecrets | undefined {
  const vc = VERSION_CRYPTO.get(version);
  if (vc === undefined) return undefined;
  const initialSecret = hkdfExtract('sha256', vc.salt, clientDcid);
  const clientSecret = hkdfExpandLabel('sha256', initialSecret, 'client in', 32);
  const serverSecret = hkdfExpandLabel('sha256', initialSecret, 'server in', 32);
  return {
    initialSecret, clientSecret, serverSecret,
    client: packetKeysFromSecret(version, clientSecret),
    server: packetKeysFromSecret(version, serverSecret),
  };
}

// ---- header protection (RFC 9001 §5.4) ----

/** The 5-byte mask from a 16-byte sample. */
export function headerProtectionMask(keys: Pick<PacketKeys, 'cipher' | 'hp'>, sample: Buffer): Buffer {
  if (keys.cipher === QuicCipher.CHACHA20_POLY1305) {
    // counter = sample[0..4] (little-endian), nonce = sample[4..16]; node's chacha20 takes them as one 16-byte IV
    const c = createCipheriv('chacha20', keys.hp, sample.subarray(0, 16));
    return c.update(Buffer.alloc(5));
  }
  const alg = keys.hp.length === 32 ? 'aes-256-ecb' : 'aes-128-ecb';
  const c = createCipheriv(alg, keys.hp, null);
  c.setAutoPadding(false);
  return c.update(sample.subarray(0, 16)).subarray(0, 5);
}

export interface UnprotectedPacket {
  packetNumber: number;
  pnLength: number;
  /** the header with protection removed (first byte through the packet number): the AEAD's associated data */
  header: Buffer;
  /** the decrypted frames */
  payload: Buffer;
  /** the first byte after header protection removal (key phase, reserved bits) */
  firstByte: number;
}

export type OpenResult = { ok: true; packet: UnprotectedPacket } | { ok: false; error: QuicError };

/**
 * Remove header protection and decrypt one packet. `largestPn` is the largest packet number received in the
 * packet's space so far (-1 for none), for packet-number decoding.
 */
export function openPacket(p: QuicPacket, keys: PacketKeys, largestPn: number): OpenResult {
  const d = p.datagram;
  const sampleAt = p.pnOffset + 4;
  if (p.pnOffset < 0 || sampleAt + HP_SAMPLE_LENGTH > p.end) {
    return { ok: false, error: { code: QuicErrorCode.BAD_LENGTH, offset: p.start, message: `${p.type} packet too short for a header-protection sample` } };
  }
  let mask: Buffer;
  try {
    mask = headerProtectionMask(keys, d.subarray(sampleAt, sampleAt + HP_SAMPLE_LENGTH));
  } catch (e) {
    return { ok: false, error: { code: QuicErrorCode.INTERNAL, offset: p.start, message: `header protection: ${(e as Error).message}` } };
  }
  // a copy of the header: the datagram stays as captured (other consumers, and a second try with other keys)
  const firstByte = d[p.start]! ^ (mask[0]! & (p.long ? 0x0f : 0x1f));
  const pnLength = (firstByte & 0x03) + 1;
  const headerEnd = p.pnOffset + pnLength;
  if (headerEnd + AEAD_TAG_LENGTH > p.end) {
    return { ok: false, error: { code: QuicErrorCode.BAD_LENGTH, offset: p.start, message: `${p.type} packet too short for its packet number and AEAD tag` } };
  }
  const header = Buffer.from(d.subarray(p.start, headerEnd));
  header[0] = firstByte;
  let truncated = 0;
  for (let i = 0; i < pnLength; i++) {
    const at = p.pnOffset - p.start + i;
    header[at] = header[at]! ^ mask[1 + i]!;
    truncated = truncated * 256 + header[at]!;
  }
  const packetNumber = decodePacketNumber(largestPn, truncated, pnLength * 8);
  const payload = aeadOpen(keys, packetNumber, header, d.subarray(headerEnd, p.end));
  if (payload === undefined) {
    return { ok: false, error: { code: QuicErrorCode.AEAD_FAILED, offset: p.start, message: `${p.type} packet ${packetNumber}: AEAD tag does not verify` } };
  }
  return { ok: true, packet: { packetNumber, pnLength, header, payload, firstByte } };
}

/** The AEAD nonce: the IV XOR the packet number, left-padded to the IV's length (RFC 9001 §5.3). */
export function packetNonce(iv: Buffer, packetNumber: number): Buffer {
  const nonce = Buffer.from(iv);
  let pn = packetNumber;
  for (let i = nonce.length - 1; i >= nonce.length - 8 && pn > 0; i--) {
    nonce[i] = nonce[i]! ^ (pn % 256);
    pn = Math.floor(pn / 256);
  }
  return nonce;
}

/** Decrypt ciphertext||tag; undefined when the tag does not verify. */
export function aeadOpen(keys: Pick<PacketKeys, 'cipher' | 'key' | 'iv'>, packetNumber: number, aad: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < AEAD_TAG_LENGTH) return undefined;
  const nonce = packetNonce(keys.iv, packetNumber);
  const ct = sealed.subarray(0, sealed.length - AEAD_TAG_LENGTH);
  const tag = sealed.subarray(sealed.length - AEAD_TAG_LENGTH);
  try {
    const dc = keys.cipher === QuicCipher.CHACHA20_POLY1305
      ? createDecipheriv('chacha20-poly1305', keys.key, nonce, { authTagLength: AEAD_TAG_LENGTH })
      : createDecipheriv(keys.cipher, keys.key, nonce);
    dc.setAAD(aad, { plaintextLength: ct.length });
    dc.setAuthTag(tag);
    return Buffer.concat([dc.update(ct), dc.final()]);
  } catch {
    return undefined;
  }
}

/** Encrypt (for tests that build packets): ciphertext||tag. */
export function aeadSeal(keys: Pick<PacketKeys, 'cipher' | 'key' | 'iv'>, packetNumber: number, aad: Buffer, plaintext: Buffer): Buffer {
  const nonce = packetNonce(keys.iv, packetNumber);
  const c = keys.cipher === QuicCipher.CHACHA20_POLY1305
    ? createCipheriv('chacha20-poly1305', keys.key, nonce, { authTagLength: AEAD_TAG_LENGTH })
    : createCipheriv(keys.cipher, keys.key, nonce);
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([ct, c.getAuthTag()]);
}

/**
 * Does a Retry's integrity tag verify against the client's original DCID (RFC 9001 §5.8)? The tag is AES-128-GCM
 * over the Retry pseudo-packet (ODCID length, ODCID, the Retry without its tag) with an empty plaintext.
 */
export function verifyRetryIntegrity(p: QuicPacket, originalDcid: Buffer): boolean {
  const vc = VERSION_CRYPTO.get(p.version);
  if (vc === undefined || p.type !== PacketType.RETRY || p.retryTag === undefined) return false;
  const pseudo = Buffer.concat([Buffer.from([originalDcid.length]), originalDcid, p.datagram.subarray(p.start, p.end - AEAD_TAG_LENGTH)]);
  try {
    const dc = createDecipheriv('aes-128-gcm', vc.retryKey, vc.retryNonce);
    dc.setAAD(pseudo);
    dc.setAuthTag(p.retryTag);
    dc.final();
    return true;
  } catch {
    return false;
  }
}

/**
 * The first byte of a packet with header protection removed, without opening it: a short header's Key Phase bit
 * (0x04) says which generation of 1-RTT keys the payload needs (RFC 9001 §6), and header protection keys do not
 * change with key updates. Undefined when the packet is too short for a sample.
 */
export function unprotectedFirstByte(p: QuicPacket, keys: Pick<PacketKeys, 'cipher' | 'hp'>): number | undefined {
  const sampleAt = p.pnOffset + 4;
  if (p.pnOffset < 0 || sampleAt + HP_SAMPLE_LENGTH > p.end) return undefined;
  try {
    const mask = headerProtectionMask(keys, p.datagram.subarray(sampleAt, sampleAt + HP_SAMPLE_LENGTH));
    return p.datagram[p.start]! ^ (mask[0]! & (p.long ? 0x0f : 0x1f));
  } catch {
    return undefined;
  }
}

/** Short-header Key Phase bit (RFC 9000 §17.3.1) */
export const KEY_PHASE_BIT = 0x04;
