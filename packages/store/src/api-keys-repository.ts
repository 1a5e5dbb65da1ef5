import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';

export type ApiKeyScope = 'tenant' | 'admin';
export type ApiKeyAccess = 'read' | 'read-write';

export interface ApiKeyRecord {
  id: string;
  prefix: string;
  name: string;
  scope: ApiKeyScope;
  /** WHMCS service id of a tenant key; null for admin keys. */
  serviceId: number | null;
  access: ApiKeyAccess;
  createdAt: Date;
  createdBy: string;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
}

export interface NewApiKey {
  name: string;
  scope: ApiKeyScope;
  serviceId?: number | null;
  access: ApiKeyAccess;
  createdBy: string;
}

export class ApiKeyInputError extends Error {
  readonly code = 'API_KEY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ApiKeyInputError';
  }
}

interface ApiKeyRow {
  id: string;
  prefix: string;
  secret_sha256: Buffer;
  name: string;
  scope: ApiKeyScope;
  service_id: string | null;
  access: ApiKeyAccess;
  created_at: Date;
  created_by: string;
  revoked_at: Date | null;
  last_used_at: Date | null;
  last_used_ip: string | null;
}

/** `ivk_<prefix>_<secret>`: 12 lower-case alphanumerics, then 43 base64url characters (256 bits). */
export const API_KEY_PATTERN = /^ivk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
// Throttles the last-use write so a busy key does not update its row on every request.
const LAST_USE_RESOLUTION_SECONDS = 60;

function randomPrefix(): string {
  const bytes = randomBytes(12);
  let prefix = '';
  // 256 is not a multiple of 36; the small bias only affects the lookup prefix, not the secret.
  for (const byte of bytes) prefix += PREFIX_ALPHABET[byte % PREFIX_ALPHABET.length];
  return prefix;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: String(row.id),
    prefix: row.prefix,
    name: row.name,
    scope: row.scope,
    serviceId: row.service_id === null ? null : Number(row.service_id),
    access: row.access,
    createdAt: row.created_at,
    createdBy: row.created_by,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
    lastUsedIp: row.last_used_ip,
  };
}

/** The checks create makes before writing (a dry-run makes them too); returns the key's service id, null for an admin key. */
export function checkNewApiKey(input: NewApiKey): number | null {
  const serviceId = input.scope === 'tenant' ? (input.serviceId ?? null) : null;
  if (input.scope === 'tenant' && (!Number.isSafeInteger(serviceId) || (serviceId as number) <= 0)) {
    throw new ApiKeyInputError('a tenant key needs a positive integer serviceId');
  }
  if (input.scope === 'admin' && input.serviceId !== undefined && input.serviceId !== null) {
    throw new ApiKeyInputError('an admin key has no serviceId');
  }
  return serviceId;
}

/**
 * API keys, stored as sha256 of a 256-bit random secret. A fast hash is the right tool here: the
 * secret is not a human password, so there is nothing to slow down for, and each request verifies it.
 */
export class ApiKeysRepository {
  constructor(private readonly db: Pool | PoolClient) {}

  /** Creates a key; the returned `token` is the only time the secret exists outside the caller. */
  async create(input: NewApiKey): Promise<{ record: ApiKeyRecord; token: string }> {
    const serviceId = checkNewApiKey(input);
    const secret = randomBytes(32).toString('base64url');
    for (;;) {
      const prefix = randomPrefix();
      const { rows } = await this.db.query<ApiKeyRow>(
        `INSERT INTO api_keys (prefix, secret_sha256, name, scope, service_id, access, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (prefix) DO NOTHING RETURNING *`,
        [prefix, sha256(secret), input.name, input.scope, serviceId, input.access, input.createdBy],
      );
      if (rows[0]) return { record: toRecord(rows[0]), token: `ivk_${prefix}_${secret}` };
    }
  }

  /** The key a presented token belongs to, if the token is well-formed, matches and is not revoked. */
  async verify(token: string): Promise<ApiKeyRecord | null> {
    const match = API_KEY_PATTERN.exec(token);
    if (!match) return null;
    const { rows } = await this.db.query<ApiKeyRow>('SELECT * FROM api_keys WHERE prefix = $1', [match[1]]);
    const row = rows[0];
    if (!row || !timingSafeEqual(row.secret_sha256, sha256(match[2]))) return null;
    if (row.revoked_at !== null) return null;
    return toRecord(row);
  }

  async get(id: string): Promise<ApiKeyRecord | null> {
    if (!/^\d{1,18}$/.test(id)) return null;
    const { rows } = await this.db.query<ApiKeyRow>('SELECT * FROM api_keys WHERE id = $1', [id]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async list(filter: { serviceId?: number; includeRevoked?: boolean } = {}): Promise<ApiKeyRecord[]> {
    const { rows } = await this.db.query<ApiKeyRow>(`SELECT * FROM api_keys WHERE ($1::bigint IS NULL OR service_id = $1) AND ($2 OR revoked_at IS NULL) ORDER BY id`, [
      filter.serviceId ?? null,
      filter.includeRevoked === true,
    ]);
    return rows.map(toRecord);
  }

  /** Revokes the key (idempotent: a second call keeps the first revocation time). */
  async revoke(id: string): Promise<ApiKeyRecord | null> {
    if (!/^\d{1,18}$/.test(id)) return null;
    const { rows } = await this.db.query<ApiKeyRow>('UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING *', [id]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** Records a use, at most once per minute per key. */
  async recordUse(id: string, ip: string | null): Promise<void> {
    await this.db.query(
      `UPDATE api_keys SET last_used_at = now(), last_used_ip = $2
        WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $3))`,
      [id, ip, LAST_USE_RESOLUTION_SECONDS],
    );
  }
}
