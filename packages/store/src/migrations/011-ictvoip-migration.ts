import type { Migration } from '../migrator';

/**
 * Coming from ictVoIP (issue 17).
 * - `rate_decks.column_mapping`: a deck's saved column mapping. ictVoIP keeps the mapping of a tariff
 *   so the next file from the same provider imports without mapping it again; `rates import --name
 *   <deck>` without `--map` / `--format` reuses the mapping of the deck's last import. NULL: none.
 * - `services.adopted_at`: when `ictvoip adopt --apply` took the tenant over (NULL: the bridge made it).
 * - `services.cdr_billing_from`: no call that started before this is ever billed by the bridge, look-back
 *   and backfill included (the old system billed it). NULL: no floor.
 */
export const migration011: Migration = {
  version: '011-ictvoip-migration',
  sql: `
ALTER TABLE rate_decks ADD COLUMN column_mapping jsonb;
ALTER TABLE services ADD COLUMN adopted_at timestamptz;
ALTER TABLE services ADD COLUMN cdr_billing_from timestamptz;
`,
};
