import { createCipheriv, createDecipheriv, hkdfSync, randomFillSync } from 'node:crypto';

export class SealedSecretError extends Error {
  readonly code = 'SEALED_SECRET_UNREADABLE';
  constructor() {
    super('a sealed secret could not be opened with any configured key');
    this.name = 'SealedSecretError';
  }
}

const derivedKeys = new Map<string, Buffer>();

/** HKDF once per secret (it costs more than the whole rest of sealing), then from memory. */
function deriveKey(secret: string): Buffer {
  let key = derivedKeys.get(secret);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', secret, 'ictvoip-inbox', 'sealed-secrets-v1', 32));
    if (derivedKeys.size > 16) derivedKeys.clear();
    derivedKeys.set(secret, key);
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
 * Secrets that a job needs later (the service password) are kept in the inbox encrypted
 * (AES-256-GCM, key derived from the webhook secret) so PostgreSQL stays the source of truth
 * while Redis, logs and dumps never hold them in clear text.
 */
export function sealSecrets(value: Record<string, string>, keySecret: string): string {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', deriveKey(keySecret), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
}

/** Opens a sealed value with the first key that fits (the current and the previous webhook secret). */
export function openSecrets(sealed: string, keySecrets: readonly string[]): Record<string, string> {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || !body) throw new SealedSecretError();
  for (const secret of keySecrets) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', deriveKey(secret), Buffer.from(iv, 'base64'));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      const text = Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
      return JSON.parse(text) as Record<string, string>;
    } catch {
      // wrong key: try the next one
    }
  }
  throw new SealedSecretError();
}
