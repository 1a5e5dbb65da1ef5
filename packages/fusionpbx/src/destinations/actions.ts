import { type CanonicalRow, type Tx, selectRows } from '../db';
import { FusionpbxValidationError } from '../errors';
import { validateExtension } from '../provisioning/input';
import type { StoredAction } from './rows';

/**
 * Where an inbound number sends its calls. Each kind is one of the options FusionPBX's destination
 * page offers, written as that option's `select_value` (app_config.php `destinations` of each app,
 * 5.1.0 = 5.3.0), and accepted only when the page would list it (destinations->valid()):
 * - extension: `transfer:<alias, else extension> XML <user_context>`, an enabled extension (the page's
 *   option value is the first of `number_alias,extension`: an aliased extension is offered by its alias);
 * - voicemail: `transfer:*99<voicemail_id> XML <domain>`, an enabled mailbox;
 * - ring_group: `transfer:<ring_group_extension> XML <ring_group_context>`, an enabled ring group;
 * - dialplan: `transfer:<dialplan_number> XML <domain>`, an enabled dialplan of the domain marked as a destination.
 */
export const ACTION_TYPES = ['extension', 'voicemail', 'ring_group', 'dialplan'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

export interface ActionRequest {
  type: ActionType;
  /** Extension, mailbox, ring group extension or dialplan number; extension default: the tenant's first extension. */
  target?: string | null;
}

export interface ActionView {
  type: ActionType | 'other';
  target: string | null;
  /** As FusionPBX stores it: `<app>:<data>`. */
  raw: string;
}

const enabled = (column: string) => `${column}::text = 'true'`;

/** The tenant's (`$1`) lowest-numbered enabled extension: the default target of a new number. */
export const FIRST_EXTENSION_SQL = `select extension, number_alias, user_context from v_extensions where domain_uuid = $1 and ${enabled('enabled')} order by length(extension), extension, extension_uuid limit 1`;

/** The tenant's lowest-numbered enabled extension (the default target of a new number) with its context, or null. */
export async function firstExtension(tx: Tx, domainUuid: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, FIRST_EXTENSION_SQL, [domainUuid]);
  return rows[0] ?? null;
}

/** The default action (no target named): the first enabled extension, valid by construction. */
export function firstExtensionAction(first: CanonicalRow | null, domain: { name: string }, field: string): StoredAction {
  if (!first) throw new FusionpbxValidationError(`${field}.target`, 'the tenant has no enabled extension to send the number to; name a target');
  return { app: 'transfer', data: `${dialledName(first)} XML ${first.user_context ?? domain.name}` };
}

/** The name the destination page offers an extension by: its alias when it has one (`number_alias,extension`). */
function dialledName(row: CanonicalRow): string {
  return row.number_alias || (row.extension as string);
}

async function one(tx: Tx, sql: string, params: unknown[]): Promise<CanonicalRow | null> {
  return (await selectRows(tx, sql, params))[0] ?? null;
}

function missing(field: string, what: string, target: string): FusionpbxValidationError {
  return new FusionpbxValidationError(field, `${what} ${target} does not exist or is disabled in the tenant`);
}

/** The stored action for a request, checked against the tenant's rows like destinations->valid(). */
export async function resolveAction(tx: Tx, domain: { uuid: string; name: string }, request: ActionRequest, field = 'action'): Promise<StoredAction> {
  const target = request.target ?? null;
  if (request.type === 'extension' && !target) {
    // The first enabled extension is valid by construction: one read answers both.
    return firstExtensionAction(await firstExtension(tx, domain.uuid), domain, field);
  }
  if (!target) throw new FusionpbxValidationError(`${field}.target`, `is required for a ${request.type} action`);
  validateExtension(target, `${field}.target`);
  if (request.type === 'extension') {
    const row = await one(
      tx,
      `select extension, number_alias, user_context from v_extensions where domain_uuid = $1 and (extension = $2 or number_alias = $2) and ${enabled('enabled')} order by extension_uuid limit 1`,
      [domain.uuid, target],
    );
    if (!row) throw missing(`${field}.target`, 'extension', target);
    return { app: 'transfer', data: `${dialledName(row)} XML ${row.user_context ?? domain.name}` };
  }
  if (request.type === 'voicemail') {
    const row = await one(tx, `select voicemail_uuid from v_voicemails where domain_uuid = $1 and voicemail_id = $2 and ${enabled('voicemail_enabled')} limit 1`, [
      domain.uuid,
      target,
    ]);
    if (!row) throw missing(`${field}.target`, 'voicemail box', target);
    return { app: 'transfer', data: `*99${target} XML ${domain.name}` };
  }
  if (request.type === 'ring_group') {
    const row = tx.catalog.hasTable('v_ring_groups')
      ? await one(tx, `select ring_group_context from v_ring_groups where domain_uuid = $1 and ring_group_extension = $2 and ${enabled('ring_group_enabled')} limit 1`, [
          domain.uuid,
          target,
        ])
      : null;
    if (!row) throw missing(`${field}.target`, 'ring group', target);
    return { app: 'transfer', data: `${target} XML ${row.ring_group_context ?? domain.name}` };
  }
  const row = await one(
    tx,
    `select dialplan_uuid from v_dialplans where domain_uuid = $1 and dialplan_number = $2 and ${enabled('dialplan_destination')} and ${enabled('dialplan_enabled')} limit 1`,
    [domain.uuid, target],
  );
  if (!row) throw missing(`${field}.target`, 'dialplan number', target);
  return { app: 'transfer', data: `${target} XML ${domain.name}` };
}

/** What the tenant's numbers can point at, for reading actions back (one read each). */
export interface ActionTargets {
  ringGroups: Set<string>;
  extensions: Set<string>;
}

export async function actionTargets(tx: Tx, domainUuid: string): Promise<ActionTargets> {
  const ringGroups = tx.catalog.hasTable('v_ring_groups') ? await selectRows(tx, 'select ring_group_extension from v_ring_groups where domain_uuid = $1', [domainUuid]) : [];
  const extensions = await selectRows(tx, 'select extension, number_alias from v_extensions where domain_uuid = $1', [domainUuid]);
  return {
    ringGroups: new Set(ringGroups.map((row) => row.ring_group_extension).filter((name): name is string => !!name)),
    extensions: new Set(extensions.flatMap((row) => [row.extension, row.number_alias]).filter((name): name is string => !!name)),
  };
}

/** A stored action read back as a request would name it. */
export function actionView(action: StoredAction | null, targets: ActionTargets): ActionView | null {
  if (!action) return null;
  const raw = `${action.app}:${action.data}`;
  const match = action.app === 'transfer' ? /^(\S+) XML \S+$/.exec(action.data) : null;
  if (!match) return { type: 'other', target: null, raw };
  const destination = match[1];
  if (destination.startsWith('*99')) return { type: 'voicemail', target: destination.slice(3), raw };
  if (targets.ringGroups.has(destination)) return { type: 'ring_group', target: destination, raw };
  if (targets.extensions.has(destination)) return { type: 'extension', target: destination, raw };
  return { type: 'dialplan', target: destination, raw };
}
