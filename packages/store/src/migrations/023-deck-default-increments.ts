import type { Migration } from '../migrator';

/**
 * `rate_decks.default_increments`: what the deck's empty or 0 increment cells mean (`1/1`, `60/6`), as
 * its last import stated it (`rates import --default-increments`, the addon page's Default increments
 * field). Kept like the column mapping: a re-import of the same provider's sheet (ASTPP's template
 * writes 0) is not refused because the operator did not type them again. NULL: none stated.
 */
export const migration023: Migration = {
  version: '023-deck-default-increments',
  sql: `
ALTER TABLE rate_decks ADD COLUMN IF NOT EXISTS default_increments text;
`,
};
