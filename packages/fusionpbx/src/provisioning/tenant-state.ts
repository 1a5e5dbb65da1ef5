import type { Pool, PoolClient } from 'pg';
import type { FreeswitchStep } from '@ictvoip/freeswitch';
import { type CanonicalRow, type Tx, lockKey } from '../db';
import { findDomainByUuid, lockDomainRow, findDomainsBySetting, findSetting, upsertSetting, SettingsSnapshot } from '../tenant-rows';
import { type PhoneNumber, dialledForms } from '../destinations/numbers';
import type { NumberInput } from './input';
import type { SuspendMemory, TenantStatus } from './types';

/**
 * The bridge's own bookkeeping lives in two v_domain_settings rows of the tenant domain, category
 * `ictvoip`, with domain_setting_enabled = false so FusionPBX never loads them into a session:
 * - `ictvoip/service_id` (type text): the WHMCS service id. This is the ownership tag: a domain with
 *   this row for our service is adopted by create, one tagged for another service is a conflict.
 * - `ictvoip/state` (type text, JSON): status, generation, admin username, managed gateway uuid,
 *   suspend memory, the extensions disabled for the plan limit, and the uuids of the outbound-route
 *   dialplans and access-control nodes the bridge wrote.
 * Both disappear with the domain on purge, so a later create starts a new generation from scratch.
 */
export const META_CATEGORY = 'ictvoip';
const TAG = 'service_id';
const STATE = 'state';
const META_DESCRIPTION = 'ictVoIP bridge bookkeeping - do not edit';

export interface TenantState {
  status: TenantStatus;
  generation: number;
  adminUsername: string;
  /** v_users.user_uuid of that admin: followed when it is renamed on user_edit.php (absent in states written before). */
  adminUserUuid?: string;
  gatewayUuid: string | null;
  /** Set when the bridge, not FusionPBX's page, disabled the managed gateway (a plan without one; a terminate before a new generation): the next plan with a gateway enables it again (one switched off in FusionPBX stays off). */
  gatewayPlanDisabled?: boolean;
  suspendMemory: SuspendMemory | null;
  surplusDisabled: string[];
  terminatedAt: string | null;
  /** v_dialplans uuids of the outbound routes the bridge wrote (the only routes it changes or removes). */
  outboundRoutes: string[];
  /** v_access_control_nodes uuids of the plan's trunk CIDRs the bridge wrote. */
  trunkNodes: string[];
  /** Canonical numbers of the destinations the plan's DIDs made (change_package removes those the plan drops). */
  planNumbers?: string[];
  /** Set while credit control restricts outbound calls: each managed route's dialplan_enabled before (outbound-restriction.ts). */
  outboundRestricted?: Record<string, boolean> | null;
  /** Set with it: the tenant's own routes the restriction disabled (through a gateway kept up for emergency calls), each one's dialplan_enabled before. */
  ownRoutesRestricted?: Record<string, boolean> | null;
}

export interface Tenant {
  domain: CanonicalRow;
  domainUuid: string;
  domainName: string;
  state: TenantState;
  /** The domain row was inserted by this transaction: no setting row of it can exist but the ones it writes. */
  fresh?: true;
}

/** The settings of a domain this transaction inserted, before it writes any: none (no read needed). */
export const NO_SETTINGS = new SettingsSnapshot([]);

/*
 * Provisioning's advisory locks (transaction-scoped, in the FusionPBX database), named here so their
 * order can be checked in one place:
 * - the service's lock (`lockService`) first, in every writer of a tenant's rows;
 * - the locks tenants share after it, sorted: the plan's numbers (`planNumberLockKeys`) and, when the
 *   plan has trunk CIDRs, the server's one trunk-ACL key (`trunkLockKeys`), in the service's statement;
 *   a writer of numbers outside a plan (REST destinations) takes them sorted too (`lockNumbers`);
 * - a new tenant's domain name (`domainLockKey`) last, then the row of a domain of that name.
 * Domain rows are the exception: REST destinations hold their tenant's row before the numbers, while a
 * create that finds the name taken locks that row after its numbers. Should the two meet on one number,
 * PostgreSQL reports a deadlock and fails one of them.
 */

export function serviceLockKey(serviceId: string): string {
  return `ictvoip:service:${serviceId}`;
}

export function domainLockKey(domainName: string): string {
  return `ictvoip:domain:${domainName.toLowerCase()}`;
}

/**
 * The advisory lock keys of a number: one per form a call reaching it may carry (dialledForms), so two
 * spellings FusionPBX would route one call to (`5551234567` with prefix 1 in one tenant, `15551234567`
 * stored as given in another) share a key and their check-then-insert writers are serialised.
 */
export function numberLockKeys(phone: Pick<PhoneNumber, 'prefix' | 'number'>): string[] {
  return dialledForms(phone).map((form) => `ictvoip:number:${form}`);
}

/** The advisory lock keys of the plan's numbers, for lockService to take with the service's (one statement). */
export function planNumberLockKeys(numbers: NumberInput): string[] {
  return (numbers.dids ?? []).flatMap(numberLockKeys);
}

/**
 * One lock for every plan's trunk CIDRs on the server: overlapping CIDRs share no per-CIDR key, so the
 * check-then-insert of two tenants claiming overlapping ranges is serialised by this one (taken with
 * the service's lock, in the same statement).
 */
export const TRUNK_ACL_LOCK_KEY = 'ictvoip:trunk-acl';

export function trunkLockKeys(cidrs: readonly string[]): string[] {
  return cidrs.length > 0 ? [TRUNK_ACL_LOCK_KEY] : [];
}

/**
 * The service's lock; `numberKeys` (the plan's numbers) are taken in the same statement, after it and
 * in sorted order, like every other writer of numbers (service first, then numbers sorted).
 */
export async function lockService(tx: Tx, serviceId: string, numberKeys: readonly string[] = []): Promise<void> {
  if (numberKeys.length === 0) return lockKey(tx, serviceLockKey(serviceId));
  await lockInOrder(tx, [serviceLockKey(serviceId), ...[...new Set(numberKeys)].sort()]);
}

/** The advisory locks of `keys`, taken in the order given, in one statement. */
async function lockInOrder(tx: Tx, keys: readonly string[]): Promise<void> {
  await tx.client.query('select count(pg_advisory_xact_lock(hashtextextended(k, 0))) from (select k from unnest($1::text[]) with ordinality as t(k, n) order by n) keys', [keys]);
}

/** The numbers' locks in one statement, always in the same (sorted) order so two writers never deadlock. */
export async function lockNumbers(tx: Tx, phones: readonly PhoneNumber[]): Promise<void> {
  const keys = [...new Set(phones.flatMap(numberLockKeys))].sort();
  if (keys.length === 0) return;
  // Sorted as lockService sorts the plan's numbers, so both take shared numbers in one order.
  await lockInOrder(tx, keys);
}

function parseState(row: CanonicalRow | null, fallbackUsername: string): TenantState {
  const empty: TenantState = {
    status: 'active',
    generation: 1,
    adminUsername: fallbackUsername,
    gatewayUuid: null,
    suspendMemory: null,
    surplusDisabled: [],
    terminatedAt: null,
    outboundRoutes: [],
    trunkNodes: [],
  };
  if (!row?.domain_setting_value) return empty;
  return { ...empty, ...(JSON.parse(row.domain_setting_value) as Partial<TenantState>) };
}

/**
 * The bridge's status of each named domain that exists, read without a lock (FusionPBX's spelling of
 * the name must match exactly). A state row that does not parse gives no status rather than an error.
 */
export async function statusesOfDomains(db: Pool | PoolClient, domainNames: readonly string[]): Promise<Map<string, TenantStatus>> {
  const { rows } = await db.query<{ domain_name: string; value: string | null }>(
    `select d.domain_name, s.domain_setting_value as value from v_domains d
      join v_domain_settings s on s.domain_uuid = d.domain_uuid and s.domain_setting_category = $2 and s.domain_setting_subcategory = $3
      where d.domain_name = any($1::text[])`,
    [domainNames, META_CATEGORY, STATE],
  );
  const statuses = new Map<string, TenantStatus>();
  for (const row of rows) {
    try {
      statuses.set(row.domain_name, parseState({ domain_setting_value: row.value }, 'admin').status);
    } catch {
      // Hand-edited into something else: not known to be suspended.
    }
  }
  return statuses;
}

/** Owner service id of a domain, or null when the bridge does not manage it. */
export async function ownerOf(tx: Tx, domainUuid: string): Promise<string | null> {
  const tag = await findSetting(tx, domainUuid, META_CATEGORY, TAG);
  return tag?.domain_setting_value ?? null;
}

/** The tenant domain tagged with this service (domain row locked), or null. */
export async function findTenant(tx: Tx, serviceId: string, fallbackUsername = 'admin'): Promise<Tenant | null> {
  const [domainUuid] = await findDomainsBySetting(tx, META_CATEGORY, TAG, serviceId);
  if (!domainUuid) return null;
  await lockDomainRow(tx, domainUuid);
  const domain = await findDomainByUuid(tx, domainUuid);
  if (!domain) return null;
  const state = parseState(await findSetting(tx, domainUuid, META_CATEGORY, STATE), fallbackUsername);
  return { domain, domainUuid, domainName: domain.domain_name as string, state };
}

/** The state's planNumbers of a domain, read without a lock (REST reads); undefined when the state has none. */
export async function planNumbersOf(tx: Tx, domainUuid: string): Promise<string[] | undefined> {
  return parseState(await findSetting(tx, domainUuid, META_CATEGORY, STATE), 'admin').planNumbers;
}

/** The Tenant of a domain row just inserted in this transaction (no state row yet): no read needed. */
export function newTenant(domain: CanonicalRow, adminUsername: string): Tenant {
  return { domain, domainUuid: domain.domain_uuid as string, domainName: domain.domain_name as string, state: parseState(null, adminUsername), fresh: true };
}

/** `known`: the domain's settings when already known (NO_SETTINGS for a domain just inserted), instead of reading the row. */
export function writeTag(tx: Tx, domainUuid: string, serviceId: string, known?: SettingsSnapshot): Promise<boolean> {
  return upsertSetting(
    tx,
    domainUuid,
    { category: META_CATEGORY, subcategory: TAG, name: 'text', value: serviceId, order: 0, enabled: false, description: META_DESCRIPTION },
    known,
  );
}

/** Writes the state row only when its content changed (so replays leave update_date alone); `known` as for writeTag. */
export function writeState(tx: Tx, domainUuid: string, state: TenantState, known?: SettingsSnapshot): Promise<boolean> {
  return upsertSetting(
    tx,
    domainUuid,
    {
      category: META_CATEGORY,
      subcategory: STATE,
      name: 'text',
      value: JSON.stringify(state),
      order: 0,
      enabled: false,
      description: META_DESCRIPTION,
    },
    known,
  );
}

const CALLS_OFF = new Set(['suspended', 'terminated']);

/**
 * Drops the `hangup_calls` steps whose tenant is no longer suspended or terminated: after an
 * unsuspend (or its domain's purge) the calls up are the customer's paid-for calls again.
 */
export async function withoutStaleHangups(db: Pool | PoolClient, steps: FreeswitchStep[]): Promise<FreeswitchStep[]> {
  const domains = [...new Set(steps.flatMap((step) => (step.kind === 'hangup_calls' ? [step.domain] : [])))];
  if (domains.length === 0) return steps;
  const statuses = await statusesOfDomains(db, domains);
  return steps.filter((step) => step.kind !== 'hangup_calls' || CALLS_OFF.has(statuses.get(step.domain) ?? 'unknown'));
}

/**
 * Sends the service's steps through `send`, the hangups last and only while the tenant is still
 * suspended or terminated. A suspend's hangup can wait in the backlog through hours of event-socket
 * outage, and the client cannot take back a command once queued (it reconnects and sends it late):
 * so the hangups are checked holding the tenant's FusionPBX service lock, the one every suspend and
 * unsuspend commits under, until FreeSWITCH has answered them. An unsuspend committing meanwhile
 * waits for those commands (the listing and its kills), instead of its customer's new calls being cut. The lock is taken only
 * once FreeSWITCH has answered the other steps: an outage fails the send before it, so it never holds
 * up the database side of the service's next events (a suspend always has other steps: its cache
 * deletes). Returns how many steps were sent.
 */
export async function sendWithCurrentHangups(pool: Pool, serviceId: number | string, steps: FreeswitchStep[], send: (steps: FreeswitchStep[]) => Promise<void>): Promise<number> {
  const hangups = steps.filter((step) => step.kind === 'hangup_calls');
  const others = steps.filter((step) => step.kind !== 'hangup_calls');
  if (others.length > 0 || hangups.length === 0) await send(others);
  if (hangups.length === 0) return others.length;
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [serviceLockKey(String(serviceId))]);
    const current = await withoutStaleHangups(client, hangups);
    if (current.length > 0) await send(current);
    return others.length + current.length;
  } finally {
    // Read-only: ending it releases the lock.
    await client.query('rollback').catch(() => undefined);
    client.release();
  }
}
