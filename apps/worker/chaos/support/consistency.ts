import type { ChaosBridge } from './chaos-bridge';
import { BASE_DOMAIN, TEMPLATE_DOMAIN } from './chaos-bridge';
import { MAX_EXTENSIONS, type ChaosAction, type DeliverableEvent, type ServicePlan } from './workload';

export interface ConsistencyReport {
  events: number;
  services: number;
  /** Events not applied: no inbox row, not succeeded, or no audit entry. */
  lost: number;
  /** Events applied more than once (several audit entries) and duplicate FusionPBX rows. */
  doubled: number;
  /** Human-readable list of every inconsistency found (empty when all is well). */
  problems: string[];
}

const STATE_AFTER: Record<ChaosAction, 'active' | 'suspended' | 'terminated'> = {
  create: 'active',
  suspend: 'suspended',
  unsuspend: 'active',
  terminate: 'terminated',
  change_package: 'active',
  change_password: 'active',
};

export const domainOf = (serviceId: number) => `t${serviceId}.${BASE_DOMAIN}`;

interface DomainRow {
  domain_name: string;
  domain_enabled: boolean | string | null;
  tags: number;
  state: string | null;
  extensions: number;
  distinct_extensions: number;
  enabled_extensions: number;
  voicemails: number;
  users: number;
  dialplans: number;
  distinct_dialplans: number;
}

const asBool = (value: unknown) => value === true || value === 'true';

/**
 * Every event in the inbox, `succeeded`, with exactly one audit entry of its action; no other inbox
 * row (test connections aside): lost = events not applied, doubled = events applied more than once.
 */
export async function checkInbox(bridge: ChaosBridge, events: readonly DeliverableEvent[]): Promise<Omit<ConsistencyReport, 'events' | 'services'>> {
  const problems: string[] = [];
  let lost = 0;
  let doubled = 0;
  const inbox = new Map(
    (
      await bridge.bridge.query<{ event_id: string; status: string; attempts: number }>(`SELECT event_id, status, attempts FROM webhook_inbox WHERE action <> 'test_connection'`)
    ).rows.map((r) => [r.event_id, r]),
  );
  const audit = new Map<string, number>();
  for (const row of (await bridge.bridge.query<{ event_id: string; action: string; n: number }>('SELECT event_id, action, count(*)::int AS n FROM audit_log GROUP BY 1, 2')).rows) {
    audit.set(`${row.event_id}/${row.action}`, row.n);
    if (row.action.endsWith('.failed')) problems.push(`event ${row.event_id}: audit says ${row.action}`);
  }
  for (const event of events) {
    const row = inbox.get(event.eventId);
    const applied = audit.get(`${event.eventId}/${event.action}`) ?? 0;
    if (!row || row.status !== 'succeeded' || applied === 0) {
      lost += 1;
      problems.push(`event ${event.eventId} (${event.action} ${event.serviceId}): inbox ${row?.status ?? 'missing'}, audit ${applied}`);
    } else if (applied > 1) {
      doubled += 1;
      problems.push(`event ${event.eventId} (${event.action} ${event.serviceId}): applied ${applied} times`);
    }
  }
  if (inbox.size !== events.length) problems.push(`inbox holds ${inbox.size} rows for ${events.length} events`);
  return { lost, doubled, problems };
}

/**
 * The end-state check every scenario ends with: the bridge database (inbox, audit, services), the
 * FusionPBX rows and the event-socket commands agree with "every event applied exactly once, the
 * last event per service decides its state", with no orphan or duplicate row anywhere.
 */
export async function checkConsistency(bridge: ChaosBridge, plans: ServicePlan[], options: SettleOptions = {}): Promise<ConsistencyReport> {
  const problems: string[] = [];
  let lost = 0;
  let doubled = 0;
  const events = plans.flatMap((plan) => plan.events);

  const inbox = await checkInbox(bridge, events);
  problems.push(...inbox.problems);
  lost += inbox.lost;
  doubled += inbox.doubled;

  const services = new Map(
    (
      await bridge.bridge.query<{ service_id: string; desired_state: string; observed_state: string | null; pending: boolean }>(
        'SELECT service_id, desired_state, observed_state, pending_apply IS NOT NULL AS pending FROM services',
      )
    ).rows.map((r) => [Number(r.service_id), r]),
  );
  const { rows: templateRows } = await bridge.fusion.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM v_dialplans dp JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1',
    [TEMPLATE_DOMAIN],
  );
  const templateDialplans = templateRows[0].n;
  const { rows: domainRows } = await bridge.fusion.query<DomainRow>(
    `SELECT d.domain_name, d.domain_enabled,
       (SELECT count(*)::int FROM v_domain_settings s WHERE s.domain_uuid = d.domain_uuid AND s.domain_setting_category = 'ictvoip' AND s.domain_setting_subcategory = 'service_id') AS tags,
       (SELECT max(s.domain_setting_value) FROM v_domain_settings s WHERE s.domain_uuid = d.domain_uuid AND s.domain_setting_category = 'ictvoip' AND s.domain_setting_subcategory = 'state') AS state,
       (SELECT count(*)::int FROM v_extensions e WHERE e.domain_uuid = d.domain_uuid) AS extensions,
       (SELECT count(DISTINCT e.extension)::int FROM v_extensions e WHERE e.domain_uuid = d.domain_uuid) AS distinct_extensions,
       (SELECT count(*)::int FROM v_extensions e WHERE e.domain_uuid = d.domain_uuid AND e.enabled = 'true') AS enabled_extensions,
       (SELECT count(*)::int FROM v_voicemails v WHERE v.domain_uuid = d.domain_uuid) AS voicemails,
       (SELECT count(*)::int FROM v_users u WHERE u.domain_uuid = d.domain_uuid) AS users,
       (SELECT count(*)::int FROM v_dialplans dp WHERE dp.domain_uuid = d.domain_uuid) AS dialplans,
       (SELECT count(DISTINCT dp.app_uuid)::int FROM v_dialplans dp WHERE dp.domain_uuid = d.domain_uuid) AS distinct_dialplans
     FROM v_domains d WHERE d.domain_name <> $1`,
    [TEMPLATE_DOMAIN],
  );
  const domains = new Map<string, DomainRow[]>();
  for (const row of domainRows) domains.set(row.domain_name, [...(domains.get(row.domain_name) ?? []), row]);
  const expectedDomains = new Set([...plans.map((plan) => domainOf(plan.serviceId)), ...(options.otherDomains ?? [])]);
  for (const name of domains.keys()) if (!expectedDomains.has(name)) problems.push(`orphan FusionPBX domain ${name}`);
  const commands = new Set(bridge.esl.apiCommands);

  for (const plan of plans) {
    const last = plan.events[plan.events.length - 1];
    const expected = STATE_AFTER[last.action];
    const name = domainOf(plan.serviceId);
    const where = `service ${plan.serviceId} (last ${last.action})`;
    const service = services.get(plan.serviceId);
    if (!service) problems.push(`${where}: no services row`);
    else {
      if (service.desired_state !== expected) problems.push(`${where}: desired_state ${service.desired_state}, expected ${expected}`);
      if (service.observed_state !== expected) problems.push(`${where}: observed_state ${service.observed_state}, expected ${expected}`);
      if (service.pending) problems.push(`${where}: FreeSWITCH apply still pending`);
    }
    const rows = domains.get(name) ?? [];
    if (rows.length !== 1) {
      problems.push(`${where}: ${rows.length} FusionPBX domains named ${name}`);
      if (rows.length > 1) doubled += 1;
      continue;
    }
    const row = rows[0];
    const status = row.state ? (JSON.parse(row.state) as { status?: string }).status : null;
    const enabledWanted = expected === 'active';
    const duplicateRows =
      row.extensions !== row.distinct_extensions || row.dialplans !== row.distinct_dialplans || row.tags > 1 || row.users > 1 || row.voicemails > MAX_EXTENSIONS;
    if (duplicateRows) doubled += 1;
    const checks: [boolean, string][] = [
      [row.tags === 1, `${row.tags} ownership tags`],
      [status === expected, `tenant state ${status}`],
      [asBool(row.domain_enabled) === enabledWanted, `domain_enabled ${row.domain_enabled}`],
      [row.extensions === MAX_EXTENSIONS && row.distinct_extensions === MAX_EXTENSIONS, `${row.extensions} extensions (${row.distinct_extensions} distinct)`],
      [row.enabled_extensions === (enabledWanted ? MAX_EXTENSIONS : 0), `${row.enabled_extensions} enabled extensions`],
      [row.voicemails === MAX_EXTENSIONS, `${row.voicemails} voicemails`],
      [row.users === 1, `${row.users} users`],
      [
        row.dialplans === templateDialplans && row.distinct_dialplans === templateDialplans,
        `${row.dialplans} dialplans (${row.distinct_dialplans} distinct, template ${templateDialplans})`,
      ],
      [commands.has(`memcache delete directory:100@${name}`), 'directory cache never invalidated on FreeSWITCH'],
    ];
    for (const [ok, text] of checks) if (!ok) problems.push(`${where}: ${text}`);
  }

  const orphans = await bridge.fusion.query<{ table: string; n: number }>(
    `SELECT 'v_extensions' AS table, count(*)::int AS n FROM v_extensions x WHERE NOT EXISTS (SELECT 1 FROM v_domains d WHERE d.domain_uuid = x.domain_uuid)
     UNION ALL SELECT 'v_voicemails', count(*)::int FROM v_voicemails x WHERE NOT EXISTS (SELECT 1 FROM v_domains d WHERE d.domain_uuid = x.domain_uuid)
     UNION ALL SELECT 'v_dialplans', count(*)::int FROM v_dialplans x WHERE x.domain_uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM v_domains d WHERE d.domain_uuid = x.domain_uuid)
     UNION ALL SELECT 'v_domain_settings', count(*)::int FROM v_domain_settings x WHERE NOT EXISTS (SELECT 1 FROM v_domains d WHERE d.domain_uuid = x.domain_uuid)
     UNION ALL SELECT 'v_users', count(*)::int FROM v_users x WHERE x.domain_uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM v_domains d WHERE d.domain_uuid = x.domain_uuid)`,
  );
  for (const row of orphans.rows) if (row.n > 0) problems.push(`${row.n} orphan rows in ${row.table}`);
  return { events: events.length, services: plans.length, lost, doubled, problems };
}

export interface SettleOptions {
  /** FusionPBX domains the scenario made itself, outside the events (not orphans). */
  otherDomains?: readonly string[];
}

/** Waits until every planned event is finished in the inbox (or the deadline passes), then checks. */
export async function settle(bridge: ChaosBridge, plans: ServicePlan[], timeoutMs: number, options: SettleOptions = {}): Promise<{ report: ConsistencyReport; settledMs: number }> {
  const started = Date.now();
  const ids = plans.flatMap((plan) => plan.events.map((event) => event.eventId));
  const total = ids.length;
  for (;;) {
    const { rows } = await bridge.bridge
      .query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_inbox WHERE status IN ('succeeded', 'failed') AND event_id = ANY($1::uuid[])`, [ids])
      .catch(() => ({ rows: [{ n: -1 }] }));
    if (rows[0].n >= total || Date.now() - started > timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const settledMs = Date.now() - started;
  // The audit entry follows the inbox update by one statement: give a finished event a moment to get it.
  const graceUntil = Date.now() + 5000;
  for (;;) {
    const { rows } = await bridge.bridge
      .query<{ n: number }>('SELECT count(DISTINCT event_id)::int AS n FROM audit_log WHERE event_id = ANY($1::uuid[])', [ids])
      .catch(() => ({ rows: [{ n: -1 }] }));
    if (rows[0].n >= total || Date.now() > graceUntil) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { report: await checkConsistency(bridge, plans, options), settledMs };
}
