import type { Migration } from '../migrator';

/**
 * A deck's own inbound price (issue 17: ictVoIP's package "inbound billing with its own rate and
 * increment", settable with `rates import --inbound-rate`): a flat price per minute and its
 * increments, used for inbound calls of plans on the deck that name no inbound rate or deck of their own.
 */
export const migration015: Migration = {
  version: '015-deck-inbound-rate',
  sql: `
ALTER TABLE rate_decks ADD COLUMN IF NOT EXISTS inbound_rate_per_minute numeric;
ALTER TABLE rate_decks ADD COLUMN IF NOT EXISTS inbound_increments text;
`,
};
