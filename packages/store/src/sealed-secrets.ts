import { createCipheriv, createDecipheriv, hkdfSync, randomFillSync } from 'node:crypto';

/** One sealing key: its id (written into every value it seals) and its 32 bytes. */
export interface SealingKey {
  id: string;
  key: Buffer;
}

/**
 * The keys sealed secrets are opened with: `keys[0]` (the first of SEALING_KEY) seals, every key
 * opens the values carrying its id. `legacySecrets` (the webhook secrets) open only values sealed
 * before SEALING_KEY existed (format v1), until `ictvoip secrets reseal` has re-sealed them.
 */
export interface SealingKeyring {
  keys: readonly SealingKey[];
  legacySecrets: readonly string[];
}

export type SealedSecretErrorCode = 'SEALED_SECRET_UNREADABLE' | 'SEALED_SECRET_UNKNOWN_KEY';

/** A sealed value that cannot be opened; the message names the key id, never a key or a secret. */
export class SealedSecretError extends Error {
  constructor(
    readonly code: SealedSecretErrorCode = 'SEALED_SECRET_UNREADABLE',
    /** The key id the value names (`legacy` for a value sealed under the webhook secret), when known. */
    readonly keyId: string | null = null,
  ) {
    super(
      code === 'SEALED_SECRET_UNKNOWN_KEY'
        ? `a sealed secret names key id "${keyId}", which is not in SEALING_KEY`
        : keyId === LEGACY_KEY_ID
          ? 'a sealed secret of the old format could not be opened with WEBHOOK_SECRET or WEBHOOK_SECRET_PREVIOUS'
          : keyId
            ? `a sealed secret could not be opened with key id "${keyId}" (damaged, or another key with that id)`
            : 'a sealed secret is not in a known format',
    );
    this.name = 'SealedSecretError';
  }
}

/** The key id reported for values of the old format (sealed under a webhook secret). */
export const LEGACY_KEY_ID = 'legacy';
export const SEALING_KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

const legacyKeys = new Map<string, Buffer>();

/** HKDF once per secret (it costs more than the whole rest of sealing), then from memory. */
function legacyKey(secret: string): Buffer {
  let key = legacyKeys.get(secret);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', secret, 'ictvoip-inbox', 'sealed-secrets-v1', 32));
    if (legacyKeys.size > 16) legacyKeys.clear();
    legacyKeys.set(secret, key);
  }
  return key;
}

const IV_BYTES = 12;
const ivPool = Buffer.alloc(IV_BYTES * 256);
let ivOffset = ivPool.length;

/**
 * A fresh random IV. One randomBytes(12) call per webhook cost more than the encryption itself, so
 * the random bytes are drawn 256 IVs at a time; each IV is copied out and used once.
 */
function nextIv(): Buffer {
  if (ivOffset + IV_BYTES > ivPool.length) {
    randomFillSync(ivPool);
    ivOffset = 0;
  }
  const iv = Buffer.from(ivPool.subarray(ivOffset, ivOffset + IV_BYTES));
  ivOffset += IV_BYTES;
  return iv;
}

/**
 * Secrets that a job needs later (the service password, a REST write's password, a registered
 * server's credentials) are kept in PostgreSQL encrypted: AES-256-GCM under the first SEALING_KEY,
 * as `v2.<key id>.<iv>.<tag>.<ciphertext>` (base64; `v2.<key id>` is authenticated too), so Redis,
 * logs and dumps never hold them in clear text and a rotation knows which key opens which value.
 */
export function sealSecrets(value: Record<string, string>, keyring: SealingKeyring): string {
  const current = keyring.keys[0];
  if (!current) throw new SealedSecretError('SEALED_SECRET_UNKNOWN_KEY', null);
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', current.key, iv);
  cipher.setAAD(Buffer.from(`v2.${current.id}`));
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return ['v2', current.id, iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
}

/** The key id a sealed value names (`legacy` for the old format), or null when it is no sealed value. */
export function sealedKeyId(sealed: string): string | null {
  const parts = sealed.split('.');
  if (parts[0] === 'v2' && parts.length === 5) return parts[1]!;
  if (parts[0] === 'v1' && parts.length === 4) return LEGACY_KEY_ID;
  return null;
}

function decrypt(key: Buffer, iv: string, tag: string, body: string, aad: string | null): Record<string, string> {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
  if (aad) decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return JSON.parse(Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8')) as Record<string, string>;
}

/**
 * Opens a sealed value with the key its id names; a value of the old format (v1) with the first
 * webhook secret that fits. Throws SealedSecretError: SEALED_SECRET_UNKNOWN_KEY when the key id is
 * not configured, SEALED_SECRET_UNREADABLE when the key does not fit or the value is damaged.
 */
export function openSecrets(sealed: string, keyring: SealingKeyring): Record<string, string> {
  const parts = sealed.split('.');
  if (parts[0] === 'v2' && parts.length === 5) {
    const [, kid, iv, tag, body] = parts as [string, string, string, string, string];
    const key = keyring.keys.find((k) => k.id === kid);
    if (!key) throw new SealedSecretError('SEALED_SECRET_UNKNOWN_KEY', SEALING_KEY_ID.test(kid) ? kid : '?');
    try {
      return decrypt(key.key, iv, tag, body, `v2.${kid}`);
    } catch {
      throw new SealedSecretError('SEALED_SECRET_UNREADABLE', kid);
    }
  }
  if (parts[0] === 'v1' && parts.length === 4) {
    const [, iv, tag, body] = parts as [string, string, string, string];
    for (const secret of keyring.legacySecrets) {
      try {
        return decrypt(legacyKey(secret), iv, tag, body, null);
      } catch {
        // wrong key: try the next one
      }
    }
    throw new SealedSecretError('SEALED_SECRET_UNREADABLE', LEGACY_KEY_ID);
  }
  throw new SealedSecretError('SEALED_SECRET_UNREADABLE', null);
}

/** True when the value is sealed with the current (first) key: `secrets reseal` leaves it alone. */
export function sealedWithCurrentKey(sealed: string, keyring: SealingKeyring): boolean {
  return keyring.keys.length > 0 && sealedKeyId(sealed) === keyring.keys[0]!.id;
}

/**
 * A key for HMACs that must not change when WEBHOOK_SECRET rotates (the REST write id), derived
 * from one sealing key so it is never the sealing key itself.
 */
export function derivedHmacKey(key: SealingKey, purpose: string): Buffer {
  let byPurpose = hmacKeys.get(key.key);
  if (!byPurpose) hmacKeys.set(key.key, (byPurpose = new Map()));
  let derived = byPurpose.get(purpose);
  if (!derived) byPurpose.set(purpose, (derived = Buffer.from(hkdfSync('sha256', key.key, 'ictvoip-sealing', purpose, 32))));
  return derived;
}

const hmacKeys = new WeakMap<Buffer, Map<string, Buffer>>();
