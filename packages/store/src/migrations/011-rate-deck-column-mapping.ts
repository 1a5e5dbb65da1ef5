import type { Migration } from '../migrator';

/**
 * A deck's saved column mapping (issue 17): ictVoIP keeps the mapping of a tariff so the next file
 * from the same provider imports without mapping it again; `rates import --name <deck>` without
 * `--map` / `--format` reuses the mapping stored with the deck's last import. NULL: none saved.
 */
export const migration011: Migration = {
  version: '011-rate-deck-column-mapping',
  sql: `
ALTER TABLE rate_decks ADD COLUMN column_mapping jsonb;
`,
};
