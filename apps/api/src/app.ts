import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import type { ApiDeps } from './deps';
import { errorHandler, HttpError } from './errors';
import { REQUEST_ID_PATTERN } from './request-id';
import { adminBoardRouter } from './routes/admin-board';
import { adminDriftRouter } from './routes/admin-drift';
import { adminCreditRouter } from './routes/admin-credit';
import { chkconRouter } from './routes/chkcon';
import { compatRouter } from './routes/compat';
import { healthRouter } from './routes/health';
import { openApiRouter } from './routes/openapi';
import { statusRouter } from './routes/status';
import { v1Router } from './routes/v1';
import { webhookRouter, webhookDryRunRouter } from './routes/webhook';
import { adminPagesRouter } from './routes/whmcs-pages/admin-pages';
import { clientPagesRouter } from './routes/whmcs-pages/client-pages';

/** The HTTP face of the bridge; stateless, so any number of these may run behind a balancer. */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Peer addresses are decided by @ictvoip/whitelist from TRUST_PROXY, never by express guessing.
  app.set('trust proxy', false);

  app.use((req, res, next) => {
    const given = req.get('x-request-id');
    const requestId = given && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    res.on('finish', () => {
      deps.metrics?.httpResponse(req.route?.path ? String(req.route.path) : 'other', res.statusCode);
      if (req.method === 'POST' && req.path === '/webhooks/whmcs') deps.metrics?.webhookOutcome(String(res.locals.webhookAction ?? 'unknown'), res.statusCode);
    });
    next();
  });

  // The webhook first: it is the hot path, and every router in front of it is walked per event.
  // The paths do not overlap, so the order decides nothing else.
  // Before the webhook router: ?dryRun=1 is answered here and never reaches the inbox.
  app.use(webhookDryRunRouter(deps));
  app.use(webhookRouter(deps));
  app.use(healthRouter(deps));
  app.use(chkconRouter(deps));
  // Before statusRouter: it checks the credentials an ictVoIP script sends to the status page.
  app.use(compatRouter(deps));
  app.use(statusRouter(deps));
  app.use(adminBoardRouter(deps));
  app.use(adminDriftRouter(deps));
  app.use(adminCreditRouter(deps));
  app.use(adminPagesRouter(deps));
  app.use(clientPagesRouter(deps));
  app.use(openApiRouter(deps.config.compatIctvoip));
  app.use(v1Router(deps));

  app.use((req, _res, next) => next(new HttpError(404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(deps.logger));
  return app;
}
