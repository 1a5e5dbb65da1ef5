import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { WEBHOOK_BODY_LIMIT } from './webhook';
import { previewTenantEvent, PreviewUnavailableError, type EventPreview, type Provisioner } from '@ictvoip/fusionpbx';
import { EventValidationError, parseTenantCommand, type TenantCommand } from '@ictvoip/whmcs';
import type { ApiDeps } from '../deps';
import { HttpError } from '../errors';
import { signedJson } from '../signed-body';
import { cacheOptionsFrom } from './v1/freeswitch';
import { targetForEvent } from '../fusion-scope';
import { ServicesRepository } from '@ictvoip/store';

/** The dry-run answer; `ictvoip preview --json` prints the same shape (both come from previewTenantEvent). */
export type DryRunReply = EventPreview;

function isDryRun(req: Request): boolean {
  const flag = req.query.dryRun;
  return flag === '1' || flag === 'true';
}

function verifiedEvent(deps: ApiDeps, req: Request): TenantCommand {
  if (!req.is('application/json')) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
  const parsed = signedJson(deps, req);
  try {
    return parseTenantCommand(parsed);
  } catch (error) {
    if (error instanceof EventValidationError) throw new HttpError(400, 'VALIDATION_FAILED', 'webhook event is invalid', error.details);
    throw error;
  }
}

/** The provisioner of the server the event's service lives on (or, for a new one, would be created on). */
async function provisionerFor(deps: ApiDeps, event: TenantCommand): Promise<Provisioner> {
  const service = await new ServicesRepository(deps.pool).get(event.service.id);
  return (await targetForEvent(deps, service ? service.fusionpbxServer : undefined, event)).provisioner;
}

/** Runs the event's provisioning in a rolled-back FusionPBX transaction: no inbox row, no job, no change. */
export async function previewEvent(deps: ApiDeps, event: TenantCommand): Promise<DryRunReply> {
  try {
    return await previewTenantEvent(await provisionerFor(deps, event), event.action, event, cacheOptionsFrom(deps));
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
