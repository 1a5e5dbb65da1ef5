import type { Pool } from 'pg';
import { type CanonicalRow, type TransactionMode, type Tx, inTransaction } from '../db';
import { TenantNotFoundError, TenantStateError, UniquenessError } from '../errors';
import { type FreeswitchStep, uniqueSteps } from '@ictvoip/freeswitch';
import { type ActionRequest, type ActionView, actionTargets, actionView, resolveAction } from '../destinations/actions';
import { type NumberPlan, normaliseNumber } from '../destinations/numbers';
import { numberPlanOf } from '../provisioning/input';
import { PLAN_NUMBER_DESCRIPTION, canonicalOfRow } from '../destinations/plan-numbers';
import {
  deleteInboundDestinations,
  destinationSteps,
  dialplanMode,
  insertInboundDestinations,
  listInboundDestinations,
  ownRowOfNumber,
  rewriteInboundDestination,
  setInboundDestinationDescription,
  setInboundDestinationEnabled,
  storedActionOf,
  unmodelledFeatures,
} from '../destinations/repository';
import { type Tenant, findTenant, lockService, planNumbersOf } from '../provisioning/tenant-state';
import { CustomisedInFusionpbxError, ManagedResourceError, ResourceNotFoundError } from './tenant-errors';
import { assertRoomFor, tenantQuota } from './tenant-quota';

/**
 * The tenant's inbound numbers for the REST API, written like destination_edit.php (see
 * destinations/rows.ts), under the same locks as the provisioner: the service advisory lock and
 * the number's own lock, so a number is never given to two tenants.
 */

export interface DestinationFields {
  action?: ActionRequest;
  callerIdNamePrefix?: string | null;
  description?: string | null;
  enabled?: boolean;
}

export interface DestinationView {
  destinationUuid: string;
  /** As stored (destination_number), and with the country when known (`+<digits>`). */
  number: string;
  prefix: string | null;
  e164: string | null;
  action: ActionView | null;
  callerIdNamePrefix: string | null;
  enabled: boolean;
  description: string | null;
  /** Made from the plan's DIDs: change_package adds and removes these; the API does not delete them. */
  managedByPlan: boolean;
  createdAt: string | null;
  updatedAt: string | null;
}

export interface DestinationWriteOptions {
  serviceId: number;
  numberPlan: NumberPlan;
  /** Destinations the plan allows (FusionPBX's limit/destinations counts every row of the domain); null: the plan states none, and `defaultMaxDestinations` applies. */
  maxDestinations: number | null;
  /** API_DEFAULT_MAX_DESTINATIONS: the limit of a tenant whose plan states none (absent: none). */
  defaultMaxDestinations?: number;
  actorUserUuid?: string | null;
  transaction?: TransactionMode;
  /** A later attempt of the same write: an earlier one may have committed before its worker died. */
  replay?: boolean;
}

export interface DestinationWriteResult {
  outcome: 'created' | 'updated' | 'unchanged' | 'deleted';
  destination: DestinationView | null;
  freeswitch: FreeswitchStep[];
}

/**
 * Whether a number is one the plan's DIDs made: the tenant state's planNumbers (canonical numbers), which
 * a description edited on destination_edit.php does not change; the description mark only for a state
 * written before planNumbers was kept.
 */
function isPlanNumber(row: CanonicalRow, plan: NumberPlan, planNumbers: readonly string[] | undefined): boolean {
  if (planNumbers === undefined) return row.destination_description === PLAN_NUMBER_DESCRIPTION;
  return planNumbers.includes(canonicalOfRow(row, plan));
}

function viewOf(row: CanonicalRow, plan: NumberPlan, targets: Awaited<ReturnType<typeof actionTargets>>, planNumbers: readonly string[] | undefined): DestinationView {
  const canonical = canonicalOfRow(row, plan);
  return {
    destinationUuid: row.destination_uuid as string,
    number: row.destination_number as string,
    prefix: row.destination_prefix,
    e164: canonical.startsWith('+') ? canonical : null,
    action: actionView(storedActionOf(row), targets),
    callerIdNamePrefix: row.destination_cid_name_prefix,
    enabled: row.destination_enabled === 'true',
    description: row.destination_description,
    managedByPlan: isPlanNumber(row, plan, planNumbers),
    createdAt: row.insert_date ?? null,
    updatedAt: row.update_date ?? null,
  };
}

async function views(tx: Tx, domainUuid: string, plan: NumberPlan, rows: CanonicalRow[]): Promise<DestinationView[]> {
  const targets = await actionTargets(tx, domainUuid);
  const planNumbers = await planNumbersOf(tx, domainUuid);
  return rows.map((row) => viewOf(row, plan, targets, planNumbers));
}

/** Reads run in a transaction that takes no lock and is rolled back. */
const read = <T>(pool: Pool, work: (tx: Tx) => Promise<T>) => inTransaction(pool, null, work, { rollback: true });

/** The tenant's inbound numbers, by number. */
export function listTenantDestinations(pool: Pool, domainUuid: string, plan: NumberPlan): Promise<DestinationView[]> {
  return read(pool, async (tx) => views(tx, domainUuid, plan, await listInboundDestinations(tx, domainUuid)));
}

/** The tenant's row for a number written in any form; null when the tenant has no such number (another tenant's included). */
async function findOwn(tx: Tx, domainUuid: string, number: string, plan: NumberPlan): Promise<CanonicalRow | null> {
  const canonical = normaliseNumber(number, plan, 'number').canonical;
  return (await listInboundDestinations(tx, domainUuid)).find((row) => canonicalOfRow(row, plan) === canonical) ?? null;
}

export function getTenantDestination(pool: Pool, domainUuid: string, number: string, plan: NumberPlan): Promise<DestinationView | null> {
  return read(pool, async (tx) => {
    const row = await findOwn(tx, domainUuid, number, plan);
    return row ? (await views(tx, domainUuid, plan, [row]))[0] : null;
  });
}

async function lockedTenant(tx: Tx, serviceId: number): Promise<Tenant> {
  await lockService(tx, String(serviceId));
  const tenant = await findTenant(tx, String(serviceId));
  if (!tenant) throw new TenantNotFoundError(String(serviceId));
  if (tenant.state.status !== 'active') throw new TenantStateError(String(serviceId), `tenant is ${tenant.state.status}; numbers can only be changed while it is active`);
  return tenant;
}

async function reread(tx: Tx, tenant: Tenant, uuid: string, plan: NumberPlan): Promise<DestinationView> {
  const row = (await listInboundDestinations(tx, tenant.domainUuid)).find((candidate) => candidate.destination_uuid === uuid);
  if (!row) throw new ResourceNotFoundError('number', uuid);
  return (await views(tx, tenant.domainUuid, plan, [row]))[0];
}

const run = <T>(pool: Pool, options: DestinationWriteOptions, work: (tx: Tx) => Promise<T>) => inTransaction(pool, options.actorUserUuid ?? null, work, options.transaction);

/** Adds a number to the tenant (409 when the tenant or another tenant has it; 400 for a bad number or target). */
export function createTenantDestination(pool: Pool, number: string, fields: DestinationFields, options: DestinationWriteOptions): Promise<DestinationWriteResult> {
  const phone = normaliseNumber(number, options.numberPlan, 'number');
  return run(pool, options, async (tx) => {
    const tenant = await lockedTenant(tx, options.serviceId);
    const own = await ownRowOfNumber(tx, tenant.domainUuid, phone, options.numberPlan);
    const mode = await dialplanMode(tx);
    if (own && options.replay)
      return { outcome: 'created', destination: await reread(tx, tenant, own.destination_uuid as string, options.numberPlan), freeswitch: destinationSteps(mode, [own]) };
    if (own) throw new UniquenessError('number', phone.canonical, tenant.domainName);
    // destination_edit.php counts every destination of the domain against limit/destinations.
    await assertRoomFor(
      tx,
      'v_destinations',
      tenant.domainUuid,
      'destinations',
      tenantQuota(options.maxDestinations, options.defaultMaxDestinations, 'API_DEFAULT_MAX_DESTINATIONS'),
    );
    const action = await resolveAction(tx, { uuid: tenant.domainUuid, name: tenant.domainName }, fields.action ?? { type: 'extension' });
    const [spec] = await insertInboundDestinations(tx, tenant.domainUuid, tenant.domainName, [
      { phone, action, callerIdNamePrefix: fields.callerIdNamePrefix ?? null, enabled: fields.enabled ?? true, description: fields.description ?? null },
    ]);
    const row = { destination_prefix: spec.phone.prefix, destination_number: spec.phone.number, destination_context: 'public' };
    return { outcome: 'created', destination: await reread(tx, tenant, spec.destinationUuid, options.numberPlan), freeswitch: destinationSteps(mode, [row]) };
  });
}

/**
 * Changes a number's action, caller-id prefix, description or enabled state (omitted fields keep their
 * value). Only an action or prefix change rebuilds the dialplan, and not for a number whose dialplan
 * holds what the rewrite would drop (CustomisedInFusionpbxError).
 */
export function updateTenantDestination(pool: Pool, number: string, fields: DestinationFields, options: DestinationWriteOptions): Promise<DestinationWriteResult> {
  normaliseNumber(number, options.numberPlan, 'number');
  return run(pool, options, async (tx) => {
    const tenant = await lockedTenant(tx, options.serviceId);
    const own = await findOwn(tx, tenant.domainUuid, number, options.numberPlan);
    if (!own) throw new ResourceNotFoundError('number', number);
    const current = storedActionOf(own);
    const action = fields.action ? await resolveAction(tx, { uuid: tenant.domainUuid, name: tenant.domainName }, fields.action) : current;
    if (!action) throw new ResourceNotFoundError('action of number', number);
    const callerIdNamePrefix = fields.callerIdNamePrefix === undefined ? own.destination_cid_name_prefix : fields.callerIdNamePrefix;
    const rebuilds = action.app !== current?.app || action.data !== current?.data || (callerIdNamePrefix ?? '') !== (own.destination_cid_name_prefix ?? '');
    let wrote = false;
    if (rebuilds) {
      const features = unmodelledFeatures(own);
      if (features.length > 0) throw new CustomisedInFusionpbxError('number', number, features);
      wrote = await rewriteInboundDestination(tx, own, tenant.domainName, { action, callerIdNamePrefix, description: fields.description });
    } else if (fields.description !== undefined) {
      wrote = await setInboundDestinationDescription(tx, own, fields.description);
    }
    if (fields.enabled !== undefined) {
      const [fresh] = (await listInboundDestinations(tx, tenant.domainUuid)).filter((row) => row.destination_uuid === own.destination_uuid);
      wrote = (await setInboundDestinationEnabled(tx, fresh, fields.enabled)) || wrote;
    }
    const steps = wrote || options.replay ? destinationSteps(await dialplanMode(tx), [own]) : [];
    return { outcome: wrote ? 'updated' : 'unchanged', destination: await reread(tx, tenant, own.destination_uuid as string, options.numberPlan), freeswitch: uniqueSteps(steps) };
  });
}

/** Removes one of the tenant's own numbers (destinations->delete()); the plan's numbers are changed in WHMCS. */
export function deleteTenantDestination(pool: Pool, number: string, options: DestinationWriteOptions): Promise<DestinationWriteResult> {
  const phone = normaliseNumber(number, options.numberPlan, 'number');
  return run(pool, options, async (tx) => {
    const tenant = await lockedTenant(tx, options.serviceId);
    const own = await findOwn(tx, tenant.domainUuid, number, options.numberPlan);
    const mode = await dialplanMode(tx);
    if (!own && options.replay) {
      // An earlier attempt removed it and died before its answer was stored.
      return {
        outcome: 'deleted',
        destination: null,
        freeswitch: destinationSteps(mode, [{ destination_prefix: phone.prefix, destination_number: phone.number, destination_context: 'public' }]),
      };
    }
    if (!own) throw new ResourceNotFoundError('number', number);
    if (isPlanNumber(own, options.numberPlan, tenant.state.planNumbers)) throw new ManagedResourceError('number', phone.canonical);
    await deleteInboundDestinations(tx, [own]);
    return { outcome: 'deleted', destination: null, freeswitch: destinationSteps(mode, [own]) };
  });
}

/** The write options a service's stored plan gives: its numbering (countryCode, numberFormat) and maxDestinations (else `defaultMaxDestinations`). */
export function destinationWriteOptions(
  serviceId: number,
  plan: Record<string, unknown>,
  defaultMaxDestinations?: number,
): Omit<DestinationWriteOptions, 'transaction' | 'replay'> {
  const limit = plan.maxDestinations;
  return {
    serviceId,
    numberPlan: numberPlanOf(plan.countryCode, plan.numberFormat),
    maxDestinations: typeof limit === 'number' && Number.isInteger(limit) ? limit : null,
    defaultMaxDestinations,
  };
}
