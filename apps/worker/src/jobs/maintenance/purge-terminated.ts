import { applyFreeswitchSide } from '@ictvoip/freeswitch';
import { countKnownTenantDomains, type KnownTenant } from '@ictvoip/fusionpbx';
import { MAINTENANCE_JOBS, SCHEDULER_IDS } from '@ictvoip/queue';
import { parseMoney } from '@ictvoip/rating';
import {
  CREDIT_LEFT_MICRO,
  dropCdrSyncCursor,
  pendingSumsByCurrencySql,
  purgedServiceSql,
  syncedSinceChangeSql,
  terminatedAtSql,
  unbilledRatedChargeSql,
  withBillingLock,
  withServiceLock,
  type ServiceRecord,
} from '@ictvoip/store';
import type { ScopedDeps, WorkerDeps } from '../../deps';
import { isServerUnavailable, scopeForService } from '../../fusion-scope';
import { describeError } from '../../errors';

export const PURGE_JOB_NAME = MAINTENANCE_JOBS.purgeTerminated;
export const PURGE_SCHEDULER_ID = SCHEDULER_IDS.purgeTerminated;

export interface PurgeOutcome {
  purged: number[];
  waiting: { serviceId: number; reason: string }[];
}

const NOT_SYNCED = 'CDRs not synced since the termination';

/** Why a terminated tenant must keep its rows for now, or null when it may go. */
async function billingHold(deps: WorkerDeps, serviceId: number): Promise<string | null> {
  const { rows } = await deps.pool.query<{ unbilled: string; pending: { currency: string | null; amount: string; n: number }[]; synced: boolean }>(
    `SELECT
       (SELECT count(*) FROM cdr_charges c WHERE c.service_id = $1 AND ${unbilledRatedChargeSql('c')})::text AS unbilled,
       -- Per currency, as a bill takes them: summed across currencies a credit in one and a debt in another cancelled.
       COALESCE((SELECT jsonb_agg(jsonb_build_object('currency', l.currency, 'amount', l.amount::text,
                   'n', (SELECT count(*) FROM billing_adjustments x WHERE x.service_id = $1 AND x.batch_id IS NULL AND trim(x.currency) IS NOT DISTINCT FROM l.currency))
                   ORDER BY l.currency NULLS FIRST)
                 FROM (${pendingSumsByCurrencySql('$1')}) l), '[]') AS pending,
       ${syncedSinceChangeSql('s')} AS synced
     FROM services s WHERE s.service_id = $1`,
    [serviceId],
  );
  const row = rows[0];
  if (!row) return null;
  if (Number(row.unbilled) > 0) return `${row.unbilled} rated calls not billed yet`;
  // Before the credit: calls not read yet may take it, and `billing settle` refuses it until a sync read them.
  if (!row.synced) return NOT_SYNCED;
  // A sub-cent rounding remainder can never be invoiced; it must not hold the tenant forever.
  const amount = (sum: { amount: string }) => parseMoney(sum.amount, { allowNegative: true });
  const credits = row.pending.filter((sum) => amount(sum) <= -CREDIT_LEFT_MICRO);
  if (credits.length > 0) {
    const named = credits.map((sum) => `${sum.amount}${sum.currency === null ? '' : ` ${sum.currency}`}`).join(', ');
    const currency = credits.length > 1 ? ' --currency <each>' : '';
    return `credit ${named} left: settle it in WHMCS, then \`ictvoip billing settle --service ${serviceId}${currency}\``;
  }
  const owed = row.pending.filter((sum) => amount(sum) >= CREDIT_LEFT_MICRO);
  if (owed.length > 0) return `${owed.reduce((n, sum) => n + sum.n, 0)} adjustments not billed yet`;
  return null;
}

/**
 * The tenant's FusionPBX rows are already gone while the service is still 'terminated', past its
 * retention and with nothing left to bill: a purge cut short after its FusionPBX delete committed
 * (a worker killed before recording it), or a domain deleted by hand. Either way nothing is left to
 * delete, so the bookkeeping is finished; otherwise purgeTenant answers not_found forever.
 */
async function finishCutShortPurge(deps: ScopedDeps, serviceId: number, domain: string | null): Promise<void> {
  await deps.services.recordObserved(serviceId, { state: 'purged', pendingApply: null });
  await deps.audit.append({ actor: 'worker', action: 'purge', serviceId, detail: { domain, deleted: {}, fusionRowsAlreadyGone: true } });
  deps.logger.warn({ serviceId, domain }, 'terminated tenant already gone from FusionPBX: purge bookkeeping finished');
}

/** Per server (stored name; null = the default one) in one run: why its database cannot vouch that a tenant is gone, or null. */
type DatabaseChecks = Map<string | null, Promise<string | null>>;

/** Tenants the bridge placed on this server and has not purged, with their domain: live ones, or else the terminated ones. */
async function knownTenantsOfServer(deps: ScopedDeps, live: boolean): Promise<KnownTenant[]> {
  const { rows } = await deps.pool.query<{ service_id: string; tenant_domain: string }>(
    `SELECT service_id, tenant_domain FROM services s
     WHERE s.fusionpbx_server IS NOT DISTINCT FROM $1 AND s.tenant_domain IS NOT NULL AND NOT ${purgedServiceSql('s')}
       AND (s.desired_state <> 'terminated') = $2
     ORDER BY s.updated_at DESC LIMIT 200`,
    [deps.fusion.storedName, live],
  );
  return rows.map((row) => ({ serviceId: Number(row.service_id), domainName: row.tenant_domain }));
}

/**
 * A FusionPBX URL pointing at the wrong database (an empty restore, a staging copy, a typo) answers
 * not_found for every tenant; finishing those purges would mark them all purged and leave their real
 * rows behind for good. So "already gone" is believed only from a database that holds at least one
 * tenant the bridge knows on that server (by name and service-id tag): a live one; with no live
 * tenant, another terminated one not purged yet. With neither, nothing can vouch for the database and
 * the tenant waits (conservative: an empty or foreign FusionPBX database looks exactly like that).
 */
async function databaseDoubt(deps: ScopedDeps): Promise<string | null> {
  const live = await knownTenantsOfServer(deps, true);
  const known = live.length > 0 ? live : await knownTenantsOfServer(deps, false);
  if ((await countKnownTenantDomains(deps.fusion.pool, known)) > 0) return null;
  const server = deps.fusion.storedName ?? 'default';
  const reason =
    live.length > 0
      ? `FusionPBX database of server ${server} holds none of its ${live.length} live tenants: not trusted to say the tenant is gone`
      : `FusionPBX database of server ${server} holds no tenant the bridge knows there: not trusted to say the tenant is gone`;
  deps.logger.warn({ server, liveTenants: live.length, checkedTenants: known.length }, `${reason}; tenants missing from it are not marked purged`);
  return reason;
}

function checkedDatabaseDoubt(checks: DatabaseChecks, deps: ScopedDeps): Promise<string | null> {
  let check = checks.get(deps.fusion.storedName);
  if (!check) checks.set(deps.fusion.storedName, (check = databaseDoubt(deps)));
  return check;
}

const DUE_PAGE = 500;

/**
 * Every terminated tenant past its retention and not purged, in service-id order, read in keyset
 * pages: tenants held back (unbilled calls, a disabled server) never keep the ones after them waiting.
 * The retention counts from the termination (terminatedAtSql), not the row's last write: the observed
 * state or a FreeSWITCH backlog written later must not put the purge off.
 */
async function duePurges(base: WorkerDeps, now: Date, retentionDays: number): Promise<number[]> {
  const due: number[] = [];
  for (let after = 0; ;) {
    const { rows } = await base.pool.query<{ service_id: string }>(
      `SELECT service_id FROM services s
       WHERE s.desired_state = 'terminated' AND NOT ${purgedServiceSql('s')}
         AND ${terminatedAtSql('s')} < $1::timestamptz - make_interval(days => $2) AND service_id > $3
       ORDER BY service_id LIMIT $4`,
      [now, retentionDays, after, DUE_PAGE],
    );
    due.push(...rows.map((row) => Number(row.service_id)));
    if (rows.length < DUE_PAGE) return due;
    after = due[due.length - 1]!;
  }
}

/**
 * Deletes the FusionPBX rows of tenants terminated longer than TERMINATE_RETENTION_DAYS ago, once
 * nothing of theirs is left to bill. v_xml_cdr rows are never deleted (the provisioner keeps them).
 */
export async function purgeTerminatedTenants(base: WorkerDeps, now = new Date()): Promise<PurgeOutcome> {
  const retentionDays = base.config.fusionpbx.terminateRetentionDays;
  const outcome: PurgeOutcome = { purged: [], waiting: [] };
  const databaseChecks: DatabaseChecks = new Map();
  for (const serviceId of await duePurges(base, now, retentionDays)) {
    const hold = await billingHold(base, serviceId);
    if (hold) {
      outcome.waiting.push({ serviceId, reason: hold });
      continue;
    }
    const service = await base.services.get(serviceId);
    if (!service) continue;
    let deps: ScopedDeps;
    try {
      deps = await scopeForService(base, service);
    } catch (error) {
      if (!isServerUnavailable(error)) throw error;
      outcome.waiting.push({ serviceId, reason: error.message });
      continue;
    }
    // One tenant's failure (its server's database or event socket down) leaves it waiting; the others, on every server, go on.
    const purged = await purgeOne(deps, service, { retentionDays, now, databaseChecks, outcome }).catch((error: unknown) => {
      const reason = `FusionPBX server ${deps.fusion.storedName ?? 'default'}: ${describeError(error)}`;
      deps.logger.warn({ serviceId, server: deps.fusion.storedName ?? 'default', err: describeError(error) }, 'terminated tenant not purged this run; retried at the next');
      outcome.waiting.push({ serviceId, reason });
      return false;
    });
    // After the service lock, under the billing lock: a sync still running finishes first and cannot write the old cursor back.
    if (purged) await withBillingLock(base.pool, serviceId, (client) => dropCdrSyncCursor(client, serviceId));
  }
  return outcome;
}

/** One tenant's purge under its service lock; true when it is purged (its outcome entry written). */
async function purgeOne(
  deps: ScopedDeps,
  service: ServiceRecord,
  run: { retentionDays: number; now: Date; databaseChecks: DatabaseChecks; outcome: PurgeOutcome },
): Promise<boolean> {
  const { retentionDays, now, databaseChecks, outcome } = run;
  const { serviceId, tenantDomain } = service;
  return withServiceLock(deps.pool, serviceId, async () => {
    const result = await deps.fusion.provisioner.purgeTenant(serviceId, { retentionDays, now });
    if (result.reason === 'not_found') {
      const doubt = await checkedDatabaseDoubt(databaseChecks, deps);
      if (doubt) {
        outcome.waiting.push({ serviceId, reason: doubt });
        return false;
      }
      await finishCutShortPurge(deps, serviceId, tenantDomain);
      outcome.purged.push(serviceId);
      return true;
    }
    if (!result.purged) {
      outcome.waiting.push({ serviceId, reason: result.reason ?? 'not purged' });
      return false;
    }
    await applyFreeswitchSide(deps.fusion.esl, result.freeswitch, { cache: deps.fusion.cacheOptions });
    await deps.services.recordObserved(serviceId, { state: 'purged', pendingApply: null });
    await deps.audit.append({ actor: 'worker', action: 'purge', serviceId, detail: { domain: result.domainName, deleted: result.deleted } });
    outcome.purged.push(serviceId);
    deps.logger.info({ serviceId, domain: result.domainName, deleted: result.deleted }, 'terminated tenant purged after retention');
    return true;
  });
}
