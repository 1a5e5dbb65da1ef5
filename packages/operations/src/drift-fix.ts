import { createHash, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { addJob, eventJobId, PROVISIONING_JOBS, type ProvisioningAction, type ProvisioningJobData, type QueueSet } from '@ictvoip/queue';
import { AuditRepository, InboxRepository, ServicesRepository, type ServiceRecord } from '@ictvoip/store';
import { parseTenantCommand, redactCommand, type TenantCommand, type WebhookAction } from '@ictvoip/whmcs';
import type { DriftItem, DriftReport } from './drift-report';

/** The request id every drift-fix event carries, so its jobs are easy to follow in the logs. */
export const DRIFT_FIX_REQUEST_ID = 'drift-fix';

export interface DriftFix {
  serviceId: number;
  action: WebhookAction;
  /** Why this action: the kinds of difference it converges. */
  kinds: string[];
  outcome: 'enqueued' | 'already_pending' | 'recorded';
  eventId: string | null;
}

export interface DriftFixResult {
  fixes: DriftFix[];
  /** Differences no job can converge (a person has to look). */
  manual: DriftItem[];
}

export interface DriftFixTargets {
  pool: Pool;
  /** Null when Redis is not at hand: the events are recorded and the inbox reconciler enqueues them. */
  queues: QueueSet | null;
}

const WHMCS_KINDS = new Set(['whmcs_status_mismatch', 'plan_mismatch']);

interface PlannedFix {
  action: ProvisioningAction;
  kinds: string[];
  /** A plan_mismatch fix: the plan WHMCS's answer says the service has (else the stored plan is sent). */
  plan?: Record<string, unknown>;
}

/** One action per service: WHMCS first (it is the source of truth: status, then package), then the first FusionPBX fix. */
export function planFixes(report: DriftReport): { planned: Map<number, PlannedFix>; manual: DriftItem[] } {
  const planned = new Map<number, PlannedFix>();
  const manual: DriftItem[] = [];
  const ordered = [...report.items].sort((a, b) => Number(WHMCS_KINDS.has(b.kind)) - Number(WHMCS_KINDS.has(a.kind)));
  for (const item of ordered) {
    if (item.serviceId === null || item.fixAction === null) {
      manual.push(item);
      continue;
    }
    const existing = planned.get(item.serviceId);
    if (!existing) planned.set(item.serviceId, { action: item.fixAction, kinds: [item.kind], ...(item.fixPlan ? { plan: item.fixPlan } : {}) });
    else if (existing.action === item.fixAction) {
      existing.kinds.push(item.kind);
      if (item.fixPlan && !existing.plan) existing.plan = item.fixPlan;
    }
  }
  return { planned, manual };
}

/** A webhook-shaped event from the bridge's own record of the service (validated like any webhook). */
function syntheticEvent(service: ServiceRecord, action: WebhookAction, eventId: string, plan: Record<string, unknown>): TenantCommand {
  const adminUsername = typeof service.properties.adminUsername === 'string' ? service.properties.adminUsername : undefined;
  return parseTenantCommand({
    schemaVersion: 1,
    eventId,
    action,
    occurredAt: new Date().toISOString(),
    service: { id: service.serviceId, domain: service.tenantDomain ?? '', ...(adminUsername ? { username: adminUsername } : {}) },
    client: { id: service.clientId },
    plan,
    configurableOptions: {},
    customFields: {},
    origin: 'drift-fix',
  });
}

async function hasUnfinishedEvent(pool: Pool, serviceId: number): Promise<boolean> {
  // An event waiting only for FreeSWITCH (pending_apply) has its database side done: it does not count.
  const { rows } = await pool.query("SELECT 1 FROM webhook_inbox WHERE service_id = $1 AND status NOT IN ('succeeded', 'failed', 'pending_apply') LIMIT 1", [serviceId]);
  return rows.length > 0;
}

async function enqueueFix(targets: DriftFixTargets, service: ServiceRecord, { action, kinds, plan }: PlannedFix): Promise<DriftFix> {
  if (await hasUnfinishedEvent(targets.pool, service.serviceId)) {
    // Either an earlier fix or a real WHMCS event is still on its way: do not stack another one.
    return { serviceId: service.serviceId, action, kinds, outcome: 'already_pending', eventId: null };
  }
  const eventId = randomUUID();
  const payload = { ...redactCommand(syntheticEvent(service, action, eventId, plan ?? service.plan)) };
  const jobId = eventJobId(service.serviceId, action, eventId);
  const inbox = new InboxRepository(targets.pool);
  await inbox.record({
    eventId,
    bodyHash: createHash('sha256').update(JSON.stringify(payload)).digest('hex'),
    action,
    serviceId: service.serviceId,
    clientId: service.clientId,
    payload,
    sealedSecrets: null,
    jobId,
    requestId: DRIFT_FIX_REQUEST_ID,
  });
  await new AuditRepository(targets.pool).append({ actor: 'drift-fix', action: `drift.${action}`, serviceId: service.serviceId, eventId, detail: { kinds } });
  if (!targets.queues) return { serviceId: service.serviceId, action, kinds, outcome: 'recorded', eventId };
  const data: ProvisioningJobData = { eventId, serviceId: service.serviceId, action, requestId: DRIFT_FIX_REQUEST_ID };
  await addJob(targets.queues, PROVISIONING_JOBS[action], data, { jobId });
  await inbox.markQueued(eventId);
  return { serviceId: service.serviceId, action, kinds, outcome: 'enqueued', eventId };
}

/**
 * Converges through the normal jobs: for each service with a fixable difference, one synthetic
 * event (fresh event id, request id `drift-fix`) goes into the inbox and onto the provisioning queue.
 * A service that already has an unfinished event is left alone, so running the fix twice is harmless.
 */
export async function fixDrift(report: DriftReport, targets: DriftFixTargets): Promise<DriftFixResult> {
  const { planned, manual } = planFixes(report);
  const services = new ServicesRepository(targets.pool);
  const fixes: DriftFix[] = [];
  for (const [serviceId, fix] of planned) {
    const service = await services.get(serviceId);
    if (!service) continue;
    fixes.push(await enqueueFix(targets, service, fix));
  }
  return { fixes, manual };
}

export interface DriftFixPreview {
  serviceId: number;
  action: WebhookAction;
  kinds: string[];
  /** `already_pending`: an unfinished event of the service exists, so --fix would add nothing */
  outcome: 'would_enqueue' | 'already_pending';
  /** the synthetic event --fix would record and enqueue (its event id is drawn afresh by the real run) */
  event: TenantCommand | null;
}

/** `reconcile --fix --dry-run`: the events fixDrift would enqueue, per service; reads only. */
export async function previewDriftFix(report: DriftReport, pool: Pool): Promise<{ fixes: DriftFixPreview[]; manual: DriftItem[] }> {
  const { planned, manual } = planFixes(report);
  const services = new ServicesRepository(pool);
  const fixes: DriftFixPreview[] = [];
  for (const [serviceId, { action, kinds, plan }] of planned) {
    const service = await services.get(serviceId);
    if (!service) continue;
    if (await hasUnfinishedEvent(pool, serviceId)) {
      fixes.push({ serviceId, action, kinds, outcome: 'already_pending', event: null });
      continue;
    }
    const event = syntheticEvent(service, action, randomUUID(), plan ?? service.plan);
    fixes.push({ serviceId, action, kinds, outcome: 'would_enqueue', event });
  }
  return { fixes, manual };
}
