import { type CanonicalRow, type DesiredRow, type InsertBatch, type Tx, convergeRow, selectRows } from '../db';
import type { FreeswitchStep } from '@ictvoip/freeswitch';
import { outboundCallerIdColumns, type NumberInput } from '../provisioning/input';
import { firstExtensionAction, resolveAction } from './actions';
import { type NumberPlan, normaliseNumber } from './numbers';
import {
  type DialplanMode,
  deleteInboundDestinations,
  destinationSteps,
  dialplanMode,
  insertInboundDestinations,
  listInboundDestinations,
  planNumbersSnapshot,
  setInboundDestinationEnabled,
  storedActionOf,
} from './repository';
import { lockNumbers } from '../provisioning/tenant-state';
import { ensureRingGroup } from './ring-groups';
import { PUBLIC_CONTEXT, type StoredAction } from './rows';

/** Marks the destinations the plan made (v_destinations.destination_description), like the brand and limit rows. */
export const PLAN_NUMBER_DESCRIPTION = 'ictVoIP plan number';

/** How convergePlanNumbers writes: `batch` collects its inserts (the caller flushes it); `numbersLocked` when the caller holds the numbers' locks. */
export interface PlanNumbersWrite {
  batch?: InsertBatch;
  numbersLocked?: boolean;
}

export interface PlanNumbersResult {
  changed: boolean;
  steps: FreeswitchStep[];
  /** Canonical numbers the plan's destinations now hold (kept in the tenant state). */
  planNumbers: string[];
  created: string[];
  removed: string[];
}

interface TenantRef {
  domainUuid: string;
  domainName: string;
}

/** Extensions of the plan's range still without an outbound caller ID get the main DID; a value the tenant set is kept. */
async function defaultOutboundCallerId(tx: Tx, tenant: TenantRef, numbers: NumberInput, members: readonly string[], createdNow: readonly string[]): Promise<boolean> {
  const columns = outboundCallerIdColumns(numbers);
  if (!columns.outbound_caller_id_number || members.length === 0) return false;
  // Extensions this action created already carry it (outboundCallerIdColumns at insert): no read needed.
  if (members.every((member) => createdNow.includes(member))) return false;
  const rows = await selectRows(
    tx,
    'select extension_uuid, outbound_caller_id_name, outbound_caller_id_number from v_extensions where domain_uuid = $1 and extension = any($2) and outbound_caller_id_number is null',
    [tenant.domainUuid, members],
  );
  let wrote = false;
  for (const row of rows) {
    const desired: DesiredRow = { outbound_caller_id_number: columns.outbound_caller_id_number };
    if (!row.outbound_caller_id_name) desired.outbound_caller_id_name = columns.outbound_caller_id_name;
    wrote = (await convergeRow(tx, 'v_extensions', 'extension_uuid', row, desired)) || wrote;
  }
  return wrote;
}

/**
 * Brings the tenant's plan numbers to the plan: the ring group when asked for, a destination for
 * each DID it lacks (routed to the ring group, else its first extension), and removal of the numbers
 * the plan made earlier and no longer names. A number of another tenant stops the whole action
 * (NumberOwnedError) before anything is written for it; numbers the tenant added itself are not touched.
 */
export async function convergePlanNumbers(
  tx: Tx,
  tenant: TenantRef,
  numbers: NumberInput,
  previous: readonly string[],
  members: readonly string[],
  createdNow: readonly string[] = [],
  write: PlanNumbersWrite = {},
): Promise<PlanNumbersResult> {
  const result: PlanNumbersResult = { changed: false, steps: [], planNumbers: [...previous], created: [], removed: [] };
  const domain = { uuid: tenant.domainUuid, name: tenant.domainName };
  if (numbers.ringGroup) {
    const existing = await selectRows(
      tx,
      "select extension from v_extensions where domain_uuid = $1 and extension = any($2) and enabled::text = 'true' order by length(extension), extension",
      [tenant.domainUuid, members],
    );
    const steps = await ensureRingGroup(
      tx,
      domain,
      numbers.ringGroup,
      existing.map((row) => row.extension as string),
      () => planNumbersRing(tx, tenant.domainUuid, previous, numbers.plan, numbers.ringGroup!),
    );
    if (steps.length > 0) result.changed = true;
    result.steps.push(...steps);
  }
  result.changed = (await defaultOutboundCallerId(tx, tenant, numbers, members, createdNow)) || result.changed;
  if (numbers.dids === null) return result;

  if (!write.numbersLocked) await lockNumbers(tx, numbers.dids);
  // One read: ownership of every number, the dialplan mode and the default extension.
  const { owned, mode, firstExtension } = await planNumbersSnapshot(tx, tenant.domainUuid, numbers.dids, numbers.plan);
  const wanted = new Set(numbers.dids.map((phone) => phone.canonical));
  const missing = numbers.dids.filter((_, index) => owned[index] === null);
  if (missing.length > 0) {
    const action = numbers.ringGroup ? await planRingGroupAction(tx, domain, numbers.ringGroup) : firstExtensionAction(firstExtension, domain, 'plan.dids');
    const created = await insertInboundDestinations(
      tx,
      tenant.domainUuid,
      tenant.domainName,
      missing.map((phone) => ({ phone, action, callerIdNamePrefix: numbers.callerIdNamePrefix, enabled: true, description: PLAN_NUMBER_DESCRIPTION })),
      write.batch,
    );
    result.changed = true;
    result.created = missing.map((phone) => phone.canonical);
    result.steps.push(
      ...destinationSteps(
        mode,
        created.map((spec) => rowForSteps(spec.phone)),
      ),
    );
  }

  const dropped = previous.filter((canonical) => !wanted.has(canonical));
  if (dropped.length > 0) {
    const rows = await rowsOfNumbers(tx, tenant.domainUuid, dropped, numbers.plan);
    await deleteInboundDestinations(tx, rows);
    result.steps.push(...destinationSteps(mode, rows));
    result.removed = dropped;
    if (rows.length > 0) result.changed = true;
  }
  // A number the tenant already had on its own stays the tenant's: the plan does not adopt (and later remove) it.
  const planMade = new Set([...previous, ...result.created]);
  result.planNumbers = numbers.dids.map((phone) => phone.canonical).filter((canonical) => planMade.has(canonical));
  return result;
}

/** Whether a number the plan made rings `target` (the plan's ring group made before, and deleted in FusionPBX since). */
async function planNumbersRing(tx: Tx, domainUuid: string, previous: readonly string[], plan: NumberPlan, target: string): Promise<boolean> {
  if (previous.length === 0) return false;
  const rows = await rowsOfNumbers(tx, domainUuid, previous, plan);
  return rows.some((row) => storedActionOf(row)?.data.startsWith(`${target} XML `) === true);
}

/**
 * What a new plan number rings with a plan ring group: the group whatever its state (one the tenant
 * switched off on ring_groups.php is still what the plan's other numbers ring), else the extension the
 * tenant has given the group's number since deleting the group (the transfer reaches it the same way).
 */
async function planRingGroupAction(tx: Tx, domain: { uuid: string; name: string }, ringGroup: string): Promise<StoredAction> {
  const [group] = tx.catalog.hasTable('v_ring_groups')
    ? await selectRows(tx, 'select ring_group_context from v_ring_groups where domain_uuid = $1 and ring_group_extension = $2 order by ring_group_uuid limit 1', [
        domain.uuid,
        ringGroup,
      ])
    : [];
  if (group) return { app: 'transfer', data: `${ringGroup} XML ${group.ring_group_context ?? domain.name}` };
  return resolveAction(tx, domain, { type: 'extension', target: ringGroup }, 'plan.ringGroup');
}

function rowForSteps(phone: { prefix: string | null; number: string }): Pick<CanonicalRow, string> {
  return { destination_prefix: phone.prefix, destination_number: phone.number, destination_context: PUBLIC_CONTEXT };
}

/** The tenant's destinations holding these canonical numbers (in whichever format they were stored). */
async function rowsOfNumbers(tx: Tx, domainUuid: string, canonicals: readonly string[], plan: NumberPlan): Promise<CanonicalRow[]> {
  const wanted = new Set(canonicals);
  const rows = await listInboundDestinations(tx, domainUuid);
  return rows.filter((row) => wanted.has(canonicalOfRow(row, plan)));
}

/** A stored destination's canonical number under the plan's numbering. */
export function canonicalOfRow(row: Pick<CanonicalRow, string>, plan: NumberPlan): string {
  const number = row.destination_number ?? '';
  const written = row.destination_prefix ? `+${row.destination_prefix}${number}` : number;
  try {
    return normaliseNumber(written, plan, 'destination_number').canonical;
  } catch {
    return written;
  }
}

/** Suspend: every inbound destination disabled; returns what each was, by destination_uuid. */
export async function disableDestinations(tx: Tx, domainUuid: string): Promise<{ memory: Record<string, boolean>; changed: boolean }> {
  const memory: Record<string, boolean> = {};
  if (!tx.catalog.hasTable('v_destinations')) return { memory, changed: false };
  let changed = false;
  for (const row of await listInboundDestinations(tx, domainUuid)) {
    memory[row.destination_uuid as string] = row.destination_enabled === 'true';
    changed = (await setInboundDestinationEnabled(tx, row, false)) || changed;
  }
  return { memory, changed };
}

/** Unsuspend: exactly the remembered state back; destinations added since (none can be, while suspended) are left alone. */
export async function restoreDestinations(tx: Tx, domainUuid: string, memory: Record<string, boolean>): Promise<boolean> {
  let changed = false;
  if (!tx.catalog.hasTable('v_destinations')) return false;
  for (const row of await listInboundDestinations(tx, domainUuid)) {
    const previous = memory[row.destination_uuid as string];
    if (previous !== undefined) changed = (await setInboundDestinationEnabled(tx, row, previous)) || changed;
  }
  return changed;
}

/** A new generation after terminate: every inbound destination of the tenant enabled again. */
export async function enableAllDestinations(tx: Tx, domainUuid: string): Promise<boolean> {
  let changed = false;
  for (const row of await listInboundDestinations(tx, domainUuid)) changed = (await setInboundDestinationEnabled(tx, row, true)) || changed;
  return changed;
}

/** The cache deletes for every inbound destination of the tenant (suspend, unsuspend, terminate, purge). */
export async function tenantDestinationSteps(tx: Tx, domainUuid: string): Promise<FreeswitchStep[]> {
  if (!tx.catalog.hasTable('v_destinations')) return [];
  const rows = await listInboundDestinations(tx, domainUuid);
  if (rows.length === 0) return [];
  return destinationSteps(await dialplanMode(tx), rows);
}

export type { DialplanMode };
