import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { WEBHOOK_BODY_LIMIT } from './webhook';
import {
  describeFreeswitchSide,
  FusionpbxConfigError,
  FusionpbxValidationError,
  TenantConflictError,
  TenantNotFoundError,
  TenantStateError,
  UniquenessError,
  type FreeswitchStep,
  type PreviewCall,
  type Provisioner,
  type RecordedWrite,
  type TenantEvent,
} from '@ictvoip/fusionpbx';
import { effectivePlan, EventValidationError, parseWebhookEvent, SignatureError, verifySignature, type WebhookEvent } from '@ictvoip/whmcs';
import type { ApiDeps } from '../deps';
import { HttpError } from '../errors';
import { cacheOptionsFrom } from './v1/freeswitch';
import { targetForEvent } from '../fusion-scope';
import { ServicesRepository } from '@ictvoip/store';

/** Webhook action → provisioner call (the same mapping the worker's tenant jobs use). */
const PREVIEW_CALLS: Readonly<Record<string, PreviewCall>> = {
  create: 'create',
  suspend: 'suspend',
  unsuspend: 'unsuspend',
  terminate: 'terminate',
  change_package: 'changePackage',
  change_password: 'changePassword',
};

/** The errors a real run turns into a permanent `result: error` (see the worker's run-tenant-action). */
const PERMANENT_ERRORS = [FusionpbxValidationError, TenantConflictError, TenantNotFoundError, TenantStateError, FusionpbxConfigError, UniquenessError];

export type DryRunReply =
  | { result: 'dry_run'; action: string; serviceId: number; domainName: string; status: string; rows: RecordedWrite[]; freeswitch: FreeswitchStep[]; eslCommands: string[] }
  | { result: 'error'; message: string; code: string; retryable: false };

function isDryRun(req: Request): boolean {
  const flag = req.query.dryRun;
  return flag === '1' || flag === 'true';
}

function verifiedEvent(deps: ApiDeps, req: Request): WebhookEvent {
  if (!req.is('application/json')) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
  const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  try {
    verifySignature({ secrets: deps.config.webhook.secrets, timestampHeader: req.get('x-ictvoip-timestamp'), signatureHeader: req.get('x-ictvoip-signature'), rawBody });
  } catch (error) {
    if (error instanceof SignatureError) throw new HttpError(401, 'UNAUTHORIZED', error.message);
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new HttpError(400, 'INVALID_JSON', 'request body is not valid JSON');
  }
  try {
    return parseWebhookEvent(parsed);
  } catch (error) {
    if (error instanceof EventValidationError) throw new HttpError(400, 'VALIDATION_FAILED', 'webhook event is invalid', error.details);
    throw error;
  }
}

/** Configurable options are folded into the plan exactly as the worker does before provisioning. */
function tenantEventOf(event: WebhookEvent): TenantEvent {
  return { ...event, plan: effectivePlan(event), configurableOptions: {} } as unknown as TenantEvent;
}

/** The provisioner of the server the event's service lives on (or, for a new one, would be created on). */
async function provisionerFor(deps: ApiDeps, event: WebhookEvent): Promise<Provisioner> {
  const service = await new ServicesRepository(deps.pool).get(event.service.id);
  return (await targetForEvent(deps, service ? service.fusionpbxServer : undefined, event)).provisioner;
}

/** Runs the event's provisioning in a rolled-back FusionPBX transaction: no inbox row, no job, no change. */
export async function previewEvent(deps: ApiDeps, event: WebhookEvent): Promise<DryRunReply> {
  const call = PREVIEW_CALLS[event.action];
  if (!call) throw new HttpError(400, 'VALIDATION_FAILED', `dryRun is not available for action ${event.action}`, [{ path: 'action', message: `dryRun supports ${Object.keys(PREVIEW_CALLS).join(', ')}` }]);
  try {
    const { result, rows } = await (await provisionerFor(deps, event)).preview(call, tenantEventOf(event));
    return { result: 'dry_run', action: event.action, serviceId: event.service.id, domainName: result.domainName, status: result.status, rows, freeswitch: result.freeswitch, eslCommands: describeFreeswitchSide(result.freeswitch, { cache: cacheOptionsFrom(deps) }) };
  } catch (error) {
    if (!PERMANENT_ERRORS.some((type) => error instanceof type)) throw error;
    return { result: 'error', message: (error as Error).message, code: (error as { code: string }).code, retryable: false };
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
  router.post('/webhooks/whmcs', (req: Request, _res: Response, next: NextFunction) => next(isDryRun(req) ? undefined : 'router'), rawJson, async (req, res) => {
    const event = verifiedEvent(deps, req);
    res.locals.webhookAction = event.action;
    const reply = await previewEvent(deps, event);
    deps.logger.info({ requestId: res.locals.requestId, eventId: event.eventId, action: event.action, serviceId: event.service.id, result: reply.result }, 'webhook dry-run');
    res.status(200).json(reply);
  });
  return router;
}
