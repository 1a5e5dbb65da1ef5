import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { addJob, CREDIT_JOBS } from '@ictvoip/queue';
import { listCreditMails, listCreditStates } from '@ictvoip/store';
import { requireAdminToken } from '../admin-auth';
import type { ApiDeps } from '../deps';
import { HttpError } from '../errors';

function idParameter(req: Request, name: string): number | undefined {
  const raw = req.query[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^[1-9]\d{0,15}$/.test(raw)) {
    throw new HttpError(400, 'VALIDATION_FAILED', `query parameter ${name} must be a positive integer`, [{ path: name, message: 'must be a positive integer' }]);
  }
  return Number(raw);
}

/**
 * `GET /admin/credit[?service=N][&client=N]`: credit control's state per service (balance, usage,
 * available credit, state, who restricted it, pending action, last transition) and its mails.
 * `POST /admin/credit/check?client=N`: a check of that client now, on a worker (202 with the job id).
 */
export function adminCreditRouter(deps: ApiDeps): Router {
  const router = Router();
  router.use('/admin/credit', requireAdminToken(deps.config.adminToken));
  router.get('/admin/credit', async (req, res) => {
    const serviceId = idParameter(req, 'service');
    const clientId = idParameter(req, 'client');
    const services = await listCreditStates(deps.pool, { serviceId, clientId });
    const mails =
      serviceId === undefined && clientId === undefined ? [] : (await Promise.all(services.map((row) => listCreditMails(deps.pool, { serviceId: row.serviceId })))).flat();
    res.json({ services, mails });
  });
  router.post('/admin/credit/check', async (req, res) => {
    const clientId = idParameter(req, 'client');
    if (clientId === undefined) throw new HttpError(400, 'VALIDATION_FAILED', 'query parameter client is required', [{ path: 'client', message: 'is required' }]);
    const job = await addJob(deps.queues, CREDIT_JOBS.checkClient, { clientId }, { jobId: `credit-check-manual-${randomUUID()}` });
    res.status(202).json({ jobId: job.id, clientId });
  });
  return router;
}
