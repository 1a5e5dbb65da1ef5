import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { createHmac, randomUUID } from 'node:crypto';
import { assertStorableJson, canonicalJson, EventValidationError, parseTenantCommand, redactCommand, signedJson, verifySignedRequest, type TenantCommand } from '@ictvoip/whmcs';
import { addJobs, eventJobId, isProvisioningAction, isRedisUnavailable, PROVISIONING_JOBS, type ProvisioningAction, type ProvisioningJobData } from '@ictvoip/queue';
import { derivedHmacKey, FINISH_CHANNELS, sealSecrets, type InboxEvent, type NewInboxEvent, type SealingKeyring, ServicesRepository } from '@ictvoip/store';
import { DependencyUnavailableError, HttpError } from '../errors';
import type { ApiDeps } from '../deps';
import { redisReady, withEnqueueTimeout, allFailed, Batcher, clientGone, finishNotification, waitForRow, type Settled } from '../enqueue';
import { serviceStatus } from './service-status';
import type { Pool } from 'pg';
import { previewTenantEvent, PreviewUnavailableError, tenantDomainName, type EventPreview, type FusionTarget, type ProvisionerOptions } from '@ictvoip/fusionpbx';
import { targetForEvent } from '../fusion-scope';

export const WEBHOOK_BODY_LIMIT = '256kb';

type EventReply =
  | { status: 200; body: { result: 'success'; message: string; serviceProperties: Record<string, unknown>; eventId: string } }
  | { status: 200; body: { result: 'error'; message: string; retryable: boolean; eventId: string } }
  | {
      status: 202;
      body: {
        result: 'pending';
        eventId: string;
        jobId: string | null;
        statusUrl: string;
        state: string;
        /** pending_apply: what the FusionPBX side did (WHMCS's state change is made) and why FreeSWITCH waits. */
        message?: string;
        serviceProperties?: Record<string, unknown>;
      };
    };

function statusUrlFor(eventId: string): string {
  return `/webhooks/whmcs/events/${eventId}`;
}

/** What WHMCS is told about an event, from its inbox row alone (so any API process answers alike). */
function replyFor(event: InboxEvent): EventReply {
  if (event.status === 'succeeded') {
    const result = event.result ?? {};
    return {
      status: 200,
      body: {
        result: 'success',
        message: typeof result.message === 'string' ? result.message : 'done',
        serviceProperties: (result.serviceProperties as Record<string, unknown> | undefined) ?? {},
        eventId: event.eventId,
      },
    };
  }
  if (event.status === 'failed') {
    return { status: 200, body: { result: 'error', message: event.lastError ?? 'failed', retryable: event.retryable ?? false, eventId: event.eventId } };
  }
  const pending = { result: 'pending' as const, eventId: event.eventId, jobId: event.jobId, statusUrl: statusUrlFor(event.eventId), state: event.status };
  if (event.status !== 'pending_apply') return { status: 202, body: pending };
  const done = event.result ?? {};
  return {
    status: 202,
    body: {
      ...pending,
      message: `${typeof done.message === 'string' ? `${done.message}; ` : ''}${event.lastError ?? 'FreeSWITCH side pending'}`,
      serviceProperties: (done.serviceProperties as Record<string, unknown> | undefined) ?? {},
    },
  };
}

/**
 * Waits until the event is finished, or its FusionPBX side is committed with FreeSWITCH behind
 * (`pending_apply`: an event-socket outage must not hold WHMCS's suspend for the whole wait), or the
 * deadline passes: woken by its commit, else by polling.
 */
function waitForOutcome(deps: ApiDeps, eventId: string, waitSeconds: number, signal: AbortSignal): Promise<InboxEvent | null> {
  return waitForRow(
    () => deps.inbox.get(eventId),
    (event) => event.status === 'succeeded' || event.status === 'failed' || event.status === 'pending_apply',
    waitSeconds * 1000,
    { signal, notification: finishNotification(deps, FINISH_CHANNELS.inbox, eventId) },
  );
}

/**
 * The first is stored. Keyed, so a stored hash is no offline oracle for the service password inside
 * the body: by a key derived from each sealing key (a WEBHOOK_SECRET rotation changes nothing), then
 * (with `legacy`) by the webhook secrets, which events stored before SEALING_KEY existed were hashed with.
 */
function bodyHashes(keyring: SealingKeyring, parsedBody: unknown, legacy = false): string[] {
  const canonical = canonicalJson(parsedBody);
  const keys = legacy ? keyring.legacySecrets : keyring.keys.map((key) => derivedHmacKey(key, 'webhook-body-hash'));
  return keys.map((key) => createHmac('sha256', key).update(canonical).digest('hex'));
}

function requireJsonContentType(req: Request): void {
  if (!req.is('application/json')) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
}

/**
 * The one validation of the event: its command (plan folded in) is what is stored and what the worker
 * runs. `storable`: a body the inbox cannot store is refused first (a dry run stores nothing).
 */
function validate(body: unknown, storable: boolean): TenantCommand {
  try {
    if (storable) assertStorableJson(body);
    return parseTenantCommand(body);
  } catch (error) {
    if (error instanceof EventValidationError) throw new HttpError(400, 'VALIDATION_FAILED', 'webhook event is invalid', error.details);
    throw error;
  }
}

function parseWait(req: Request, max: number): number {
  const raw = req.query.wait;
  if (raw === undefined) return 0;
  if (typeof raw !== 'string' || !/^\d{1,3}$/.test(raw))
    throw new HttpError(400, 'VALIDATION_FAILED', 'query parameter wait must be whole seconds', [{ path: 'wait', message: `must be an integer from 0 to ${max}` }]);
  return Math.min(Number(raw), max);
}

interface JobRequest {
  event: InboxEvent;
  action: ProvisioningAction;
  requestId: string;
}

/** The committed rows of concurrent webhooks: one INSERT for the batch; should it fail, each row alone (one bad row fails only its own request). */
function inboxBatcher(deps: ApiDeps): Batcher<NewInboxEvent, { inserted: boolean; event: InboxEvent }> {
  return new Batcher(async (rows) => {
    try {
      const recorded = await deps.inbox.recordMany(rows);
      deps.metrics?.webhookGroupCommit(rows.length, 'committed');
      return recorded.map((value) => ({ ok: true as const, value }));
    } catch {
      deps.metrics?.webhookGroupCommit(rows.length, 'split');
      const settled = await Promise.allSettled(rows.map((row) => deps.inbox.record(row)));
      return settled.map((outcome) => (outcome.status === 'fulfilled' ? { ok: true as const, value: outcome.value } : { ok: false as const, error: outcome.reason }));
    }
  });
}

/** The jobs of concurrent webhooks: one bulk add per job name. */
function jobBatcher(deps: ApiDeps): Batcher<JobRequest, void> {
  return new Batcher(async (requests): Promise<Settled<void>[]> => {
    // With no offline queue a down Redis would still make BullMQ wait for readiness: answer quickly.
    if (!(await redisReady(deps.redis))) return allFailed(requests.length, new DependencyUnavailableError('the job queue (Redis)'));
    const byName = new Map<ProvisioningAction, { data: ProvisioningJobData; opts: { jobId?: string } }[]>();
    for (const { event, action, requestId } of requests) {
      const jobs = byName.get(action) ?? [];
      jobs.push({ data: { eventId: event.eventId, serviceId: event.serviceId, action, requestId }, opts: { jobId: event.jobId ?? undefined } });
      byName.set(action, jobs);
    }
    try {
      await withEnqueueTimeout(Promise.all([...byName].map(([name, jobs]) => addJobs(deps.queues, PROVISIONING_JOBS[name], jobs))));
      return requests.map(() => ({ ok: true as const, value: undefined }));
    } catch (error) {
      // The events are safe in PostgreSQL; the reconciler enqueues them once Redis is back.
      const down = isRedisUnavailable(error) || (error instanceof Error && /connection|redis|ECONN|closed/i.test(error.message));
      return allFailed(requests.length, down ? new DependencyUnavailableError('the job queue (Redis)') : error);
    }
  });
}

type Batchers = { inbox: ReturnType<typeof inboxBatcher>; jobs: ReturnType<typeof jobBatcher> };

function addJob(batchers: Batchers, event: InboxEvent, requestId: string): Promise<void> {
  // A stored row's action is a string (a redelivery enqueues the row's): one no job serves is refused, not queued.
  if (!isProvisioningAction(event.action)) return Promise.reject(new HttpError(500, 'ACTION_UNSERVED', `no job serves action ${event.action}`));
  return batchers.jobs.submit({ event, action: event.action, requestId });
}

/**
 * Adds the job of a row committed as `queued` (the first delivery: one commit per webhook). When
 * the add fails the row goes back to `received`, so the next delivery of the event adds the job as
 * before; if the process dies first, the reconciler finds the row without a job.
 */
async function enqueueCommitted(deps: ApiDeps, batchers: Batchers, event: InboxEvent, requestId: string): Promise<void> {
  try {
    await addJob(batchers, event, requestId);
  } catch (error) {
    // A failed revert (the database gone as well) leaves the row queued: the reconciler still finds it.
    await deps.inbox.markNotQueued(event.eventId).catch(() => undefined);
    throw error;
  }
}

/** Adds the job of a row still `received` (an earlier delivery could not), then marks it queued. */
async function enqueueReceived(deps: ApiDeps, batchers: Batchers, event: InboxEvent, requestId: string): Promise<void> {
  await addJob(batchers, event, requestId);
  await deps.inbox.markQueued(event.eventId);
}

async function record(deps: ApiDeps, batchers: Batchers, event: TenantCommand, hash: string, requestId: string): Promise<{ inserted: boolean; event: InboxEvent }> {
  const secrets = event.secrets?.servicePassword ? sealSecrets({ servicePassword: event.secrets.servicePassword }, deps.config.sealing) : null;
  return batchers.inbox.submit({
    eventId: event.eventId,
    bodyHash: hash,
    action: event.action,
    serviceId: event.service.id,
    clientId: event.client.id,
    payload: { ...redactCommand(event) },
    sealedSecrets: secrets,
    jobId: eventJobId(event.service.id, event.action, event.eventId),
    requestId,
    status: 'queued',
  });
}

async function respond(deps: ApiDeps, res: Response, event: InboxEvent, waitSeconds: number): Promise<void> {
  const latest = waitSeconds > 0 ? ((await waitForOutcome(deps, event.eventId, waitSeconds, clientGone(res))) ?? event) : event;
  const reply = replyFor(latest);
  res.status(reply.status).json(reply.body);
}

export function webhookRouter(deps: ApiDeps): Router {
  const router = Router();
  const batchers: Batchers = { inbox: inboxBatcher(deps), jobs: jobBatcher(deps) };
  const rawJson = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT });

  router.post(
    '/webhooks/whmcs',
    (req, _res, next) => next(req.is('application/json') ? undefined : new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json')),
    rawJson,
    async (req, res) => {
      requireJsonContentType(req);
      const parsed = signedJson(deps.config.webhook.secrets, req);
      const event = validate(parsed, true);
      res.locals.webhookAction = event.action;
      if (event.action === 'status') return void res.json(await serviceStatus(deps, event));
      const waitSeconds = parseWait(req, deps.config.webhook.maxWaitSeconds);
      const hashes = bodyHashes(deps.config.sealing, parsed);
      const requestId = String(res.locals.requestId ?? randomUUID());
      const { inserted, event: stored } = await record(deps, batchers, event, hashes[0], requestId);
      if (!inserted && !hashes.includes(stored.bodyHash) && !bodyHashes(deps.config.sealing, parsed, true).includes(stored.bodyHash)) {
        throw new HttpError(409, 'EVENT_CONFLICT', `event ${event.eventId} was already received with a different body`);
      }
      deps.metrics?.webhookReceived(event.action, inserted ? 'new' : 'repeat');
      deps.logger.info({ requestId, eventId: event.eventId, action: event.action, serviceId: event.service.id, repeat: !inserted }, 'webhook event recorded');
      if (inserted) {
        await enqueueCommitted(deps, batchers, stored, requestId);
        return respond(deps, res, stored, waitSeconds);
      }
      if (stored.status === 'received') {
        await enqueueReceived(deps, batchers, stored, requestId);
        // Known without another round trip: the row was just moved from received to queued.
        return respond(deps, res, { ...stored, status: 'queued' }, waitSeconds);
      }
      await respond(deps, res, stored, waitSeconds);
    },
  );

  router.get('/webhooks/whmcs/events/:eventId', async (req, res) => {
    // Signed over an empty body: the route has no body parser.
    verifySignedRequest(deps.config.webhook.secrets, req);
    const eventId = String(req.params.eventId);
    if (!/^[0-9a-f-]{36}$/i.test(eventId)) throw new HttpError(404, 'NOT_FOUND', 'no such event');
    const event = await deps.inbox.get(eventId);
    if (!event) throw new HttpError(404, 'NOT_FOUND', 'no such event');
    await respond(deps, res, event, parseWait(req, deps.config.webhook.maxWaitSeconds));
  });

  return router;
}

/** The dry-run answer; `ictvoip preview --json` prints the same shape (both come from previewTenantEvent). */
export type DryRunReply = EventPreview;

function isDryRun(req: Request): boolean {
  const flag = req.query.dryRun;
  return flag === '1' || flag === 'true';
}

function verifiedEvent(deps: ApiDeps, req: Request): TenantCommand {
  if (!req.is('application/json')) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
  return validate(signedJson(deps.config.webhook.secrets, req), false);
}

/** The server the event's service lives on (or, for a new one, would be created on): its provisioner and cache options. */
async function targetFor(deps: ApiDeps, event: TenantCommand): Promise<FusionTarget> {
  const service = await new ServicesRepository(deps.pool).get(event.service.id);
  return targetForEvent(deps, service, event);
}

/** The create's domain when another service has it (TENANT_CONFLICT's message); null otherwise, or when the domain is invalid (the preview refuses that itself). */
export async function domainConflictOf(pool: Pool, options: ProvisionerOptions, event: TenantCommand): Promise<string | null> {
  let domain: string;
  try {
    domain = tenantDomainName(event, options, String(event.service.id));
  } catch {
    return null;
  }
  return new ServicesRepository(pool).domainConflict(domain, event.service.id);
}

/** Runs the event's provisioning in a rolled-back FusionPBX transaction: no inbox row, no job, no change. */
export async function previewEvent(deps: ApiDeps, event: TenantCommand): Promise<DryRunReply> {
  try {
    const target = await targetFor(deps, event);
    // The worker's refusal of a create naming another service's domain (any server), before FusionPBX is read.
    const conflict = event.action === 'create' ? await domainConflictOf(deps.pool, deps.targets.provisionerOptions, event) : null;
    if (conflict) return { result: 'error', code: 'TENANT_CONFLICT', message: conflict, retryable: false };
    return await previewTenantEvent(target.provisioner, event.action, event, target.cacheOptions);
  } catch (error) {
    if (!(error instanceof PreviewUnavailableError)) throw error;
    throw new HttpError(400, 'VALIDATION_FAILED', error.message, [{ path: 'action', message: `dryRun supports ${error.supported.join(', ')}` }]);
  }
}

/**
 * `POST /webhooks/whmcs?dryRun=1`: signed like any event; answers what the event would write and
 * which event-socket steps it would run. Mounted before the webhook router; without the flag the
 * request passes through untouched (its body not yet read).
 */
export function webhookDryRunRouter(deps: ApiDeps): Router {
  const router = Router();
  const rawJson = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT });
  router.post(
    '/webhooks/whmcs',
    (req: Request, _res: Response, next: NextFunction) => next(isDryRun(req) ? undefined : 'router'),
    rawJson,
    async (req, res) => {
      const event = verifiedEvent(deps, req);
      res.locals.webhookAction = event.action;
      const reply = await previewEvent(deps, event);
      deps.logger.info({ requestId: res.locals.requestId, eventId: event.eventId, action: event.action, serviceId: event.service.id, result: reply.result }, 'webhook dry-run');
      res.status(200).json(reply);
    },
  );
  return router;
}
