import type { Pool } from 'pg';
import type { Charge } from './cdr-format';

const UNDEFINED_TABLE = '42P01';
const UNDEFINED_COLUMN = '42703';

/**
 * Rated amounts from the bridge's ledger (`cdr_charges`, keyed by xml_cdr_uuid). The CDRs live in
 * FusionPBX's database, so there is no join: one lookup per page by uuid. Returns null while the
 * ledger does not exist (then answers carry no amount fields at all). Amounts stay decimal strings.
 */
export async function chargesFor(pool: Pool, serviceId: number, uuids: string[]): Promise<Map<string, Charge> | null> {
  try {
    const { rows } = await pool.query<{ xml_cdr_uuid: string; amount: string | null; status: string | null }>(
      'SELECT xml_cdr_uuid::text, amount::text, status FROM cdr_charges WHERE xml_cdr_uuid = ANY($1::uuid[]) AND service_id = $2',
      [uuids, serviceId],
    );
    return new Map(rows.map((row) => [row.xml_cdr_uuid, { amount: row.amount, status: row.status }]));
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === UNDEFINED_TABLE || code === UNDEFINED_COLUMN) return null;
    throw error;
  }
}
