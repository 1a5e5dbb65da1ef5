import type { Pool } from 'pg';
import { openSecrets, SealedSecretError, sealedKeyId, sealSecrets, type SealingKeyring } from './sealed-secrets';

/** Every column that holds sealed secrets, with the key of its table. */
export const SEALED_COLUMNS = [
  { table: 'webhook_inbox', key: 'event_id', column: 'sealed_secrets' },
  { table: 'tenant_writes', key: 'write_id', column: 'sealed_secrets' },
  { table: 'fusionpbx_servers', key: 'name', column: 'database_url' },
  { table: 'fusionpbx_servers', key: 'name', column: 'esl_password' },
] as const;

export interface ResealReport {
  /** Values re-sealed under the current key (or, with dryRun, that would be). */
  resealed: number;
  /** Values already under the current key. */
  current: number;
  /** Values no configured key opens: the key id they name (never a secret), by table and column. */
  unreadable: { table: string; column: string; row: string; keyId: string | null; code: string }[];
  /** How many values name each key id before the run (`legacy`: the old format under WEBHOOK_SECRET). */
  byKeyId: Record<string, number>;
}

const BATCH = 500;

/**
 * Re-seals every sealed value under the current (first) SEALING_KEY, so an older key can then be
 * removed from SEALING_KEY. Each value is replaced only if it has not changed meanwhile (a worker
 * may finish an event at the same time); values nothing opens are reported, left as they are.
 */
export async function resealAll(pool: Pool, keyring: SealingKeyring, options: { dryRun?: boolean } = {}): Promise<ResealReport> {
  const current = keyring.keys[0];
  if (!current) throw new SealedSecretError('SEALED_SECRET_UNKNOWN_KEY', null);
  const report: ResealReport = { resealed: 0, current: 0, unreadable: [], byKeyId: {} };
  for (const { table, key, column } of SEALED_COLUMNS) {
    let after = '';
    for (;;) {
      const { rows } = await pool.query<{ k: string; v: string }>(
        `SELECT ${key}::text AS k, ${column} AS v FROM ${table} WHERE ${column} IS NOT NULL AND ${key}::text > $1 ORDER BY ${key}::text LIMIT ${BATCH}`,
        [after],
      );
      for (const row of rows) {
        const keyId = sealedKeyId(row.v);
        report.byKeyId[keyId ?? 'unknown'] = (report.byKeyId[keyId ?? 'unknown'] ?? 0) + 1;
        if (keyId === current.id) {
          report.current += 1;
          continue;
        }
        let opened: Record<string, string>;
        try {
          opened = openSecrets(row.v, keyring);
        } catch (error) {
          if (!(error instanceof SealedSecretError)) throw error;
          report.unreadable.push({ table, column, row: row.k, keyId: error.keyId, code: error.code });
          continue;
        }
        if (!options.dryRun) {
          await pool.query(`UPDATE ${table} SET ${column} = $3 WHERE ${key}::text = $1 AND ${column} = $2`, [row.k, row.v, sealSecrets(opened, keyring)]);
        }
        report.resealed += 1;
      }
      if (rows.length < BATCH) break;
      after = rows[rows.length - 1]!.k;
    }
  }
  return report;
}
