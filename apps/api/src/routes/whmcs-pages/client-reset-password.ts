import type { Request, RequestHandler, Response } from 'express';
import Joi from 'joi';
import { getTenantExtension, newSipPassword } from '@ictvoip/fusionpbx';
import { AuditRepository, inTransaction, openSecrets } from '@ictvoip/store';
import type { ApiDeps } from '../../deps';
import { HttpError } from '../../errors';
import { isFinishedWrite, performWrite, writeFailure } from '../v1/tenant-write';
import { requireDomainScope, resolveTenant } from '../v1/tenant-context';
import { signedBody } from './signed-request';

/** Resets a customer may ask for per service within RESET_WINDOW_SECONDS (audit rows count them). */
export const RESETS_PER_WINDOW = 5;
export const RESET_WINDOW_SECONDS = 3600;
export const RESET_AUDIT_ACTION = 'client.sip-password.reset';
/**
 * How long the reset waits for its job before answering `pending` with the password: well inside the
 * module's 10 s page read (PageClient::READ_TIMEOUT_SECONDS). Waiting the full API_WRITE_WAIT_MS
 * (10 s by default) the module would give up first, and the worker would then set a password nobody
 * was shown.
 */
export const RESET_WAIT_MS = 5000;
/** Keys the per-service advisory lock, so two presses at once cannot both pass the limit. */
const RESET_LOCK_CLASS = 0x1c7_5e7;

interface ResetRequest {
  serviceId: number;
  extension: string;
  clientId?: number;
}

const resetSchema = Joi.object<ResetRequest>({
  serviceId: Joi.number().integer().min(1).max(Number.MAX_SAFE_INTEGER).required(),
  extension: Joi.string()
    .pattern(/^[0-9]{1,15}$/, 'extension number')
    .required(),
  clientId: Joi.number().integer().min(1).max(Number.MAX_SAFE_INTEGER),
});

/**
 * Counts this service's resets in the window and, under the limit, records this one (before the
 * write, so a failed reset still counts: the limit is on asking). Over it: 429 with Retry-After.
 */
async function admitReset(deps: ApiDeps, input: ResetRequest, requestId: string): Promise<void> {
  const client = await deps.pool.connect();
  try {
    await inTransaction(client, async () => {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [RESET_LOCK_CLASS, input.serviceId % 2 ** 31]);
      const { rows } = await client.query<{ n: number; oldest: Date | null }>(
        `SELECT count(*)::int AS n, min(at) AS oldest FROM audit_log WHERE service_id = $1 AND action = $2 AND at > now() - make_interval(secs => $3)`,
        [input.serviceId, RESET_AUDIT_ACTION, RESET_WINDOW_SECONDS],
      );
      const { n, oldest } = rows[0]!;
      if (n >= RESETS_PER_WINDOW) {
        const retryAfter = oldest ? Math.max(1, Math.ceil(RESET_WINDOW_SECONDS - (Date.now() - oldest.getTime()) / 1000)) : RESET_WINDOW_SECONDS;
        throw new HttpError(429, 'RATE_LIMITED', `at most ${RESETS_PER_WINDOW} SIP password resets per hour for this service`, undefined, retryAfter);
      }
      await new AuditRepository(client).append({
        actor: input.clientId ? `whmcs-client:${input.clientId}` : 'whmcs-client',
        action: RESET_AUDIT_ACTION,
        serviceId: input.serviceId,
        detail: { extension: input.extension, requestId },
      });
    });
  } finally {
    client.release();
  }
}

async function resetPassword(deps: ApiDeps, req: Request, res: Response) {
  const input = signedBody(deps, req, resetSchema);
  const context = await resolveTenant(deps, { kind: 'admin-token' }, String(input.serviceId));
  const { deps: scoped, domain } = requireDomainScope(context);
  if (!(await getTenantExtension(scoped.fusion.pool, domain.domainUuid, input.extension))) throw new HttpError(404, 'NOT_FOUND', `extension ${input.extension} not found`);
  await admitReset(deps, input, String(res.locals.requestId));
  // The same job as a REST extension write: tenant_writes row (password sealed), worker, service lock, FreeSWITCH cache.
  const write = await performWrite(
    context,
    res,
    { resource: 'extension', operation: 'update', target: input.extension, input: { fields: {}, resetPassword: true } },
    () => ({ secrets: { password: newSipPassword() } }),
    RESET_WAIT_MS,
  );
  const failure = isFinishedWrite(write) ? writeFailure(write) : null;
  if (failure) throw failure;
  const { password } = openSecrets(write.sealedSecrets!, deps.config.sealing);
  const freeswitch = (write.result as { freeswitch?: { applied?: boolean } } | null)?.freeswitch;
  return {
    extension: input.extension,
    password,
    // Pending: FusionPBX has not been written yet; the worker will, with exactly this password.
    state: !isFinishedWrite(write) ? 'pending' : freeswitch?.applied === false ? 'freeswitch-pending' : 'applied',
    job: { id: write.writeId },
  };
}

/** `POST /whmcs/client/phones/reset-password`: a new SIP password for one extension, answered once and never stored in clear. */
export function resetPasswordRoute(deps: ApiDeps): RequestHandler {
  return async (req, res) => {
    const answer = await resetPassword(deps, req, res);
    res.setHeader('Cache-Control', 'no-store');
    res.json(answer);
  };
}
