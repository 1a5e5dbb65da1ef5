import type { Migration } from '../migrator';

/**
 * Outbound restriction (issue 16), what else dials straight through a gateway kept up for emergency
 * calls: the domain's other enabled dialplans (custom dialplans, inbound destinations, time
 * conditions… whose dialplan_xml bridges `sofia/gateway/<kept>/…`), ring-group destinations whose
 * number is such a dial string and IVR menu options that bridge one. Each is recorded here before it is disabled, as the gateways
 * are, so the lift enables exactly these (and a domain without the bridge's tenant state is covered too).
 */
export const migration019: Migration = {
  version: '019-credit-restricted-dialers',
  sql: `
ALTER TABLE credit_states
  ADD COLUMN restricted_dialplans         text[] NOT NULL DEFAULT '{}',
  ADD COLUMN restricted_ring_destinations text[] NOT NULL DEFAULT '{}',
  ADD COLUMN restricted_ivr_options       text[] NOT NULL DEFAULT '{}';
`,
};
