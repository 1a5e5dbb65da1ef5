import express, { Router } from 'express';
import type { ApiDeps } from '../../deps';
import { HttpError } from '../../errors';
import { authenticate } from '../../api-keys/principal';
import { RateLimiter } from '../../api-keys/rate-limiter';
import { createKeyRoute, listKeysRoute, revokeKeyRoute } from './admin-keys';
import { listCdrsRoute } from './cdrs';
import { mount, type RouteDefinition } from './define';
import { expressPath } from './route-spec';
import { createDestinationRoute, deleteDestinationRoute, getDestinationRoute, listDestinationsRoute, updateDestinationRoute } from './destinations';
import { withDryRunQuery } from './dry-run';
import { createExtensionRoute, deleteExtensionRoute, getExtensionRoute, listExtensionsRoute, putExtensionRoute } from './extensions';
import { createGatewayRoute, deleteGatewayRoute, gatewayStatusRoute, getGatewayRoute, listGatewaysRoute, updateGatewayRoute } from './gateways';
import { getJobRoute } from './jobs';
import { gatewayHistoryRoute, registrationHistoryRoute } from './registration-history';
import { getRegistrationWatchRoute, lostRegistrationsRoute, putRegistrationWatchRoute } from './registration-watch';
import { extensionRegistrationRoute, listRegistrationsRoute } from './registrations';
import { getTenant, listTenants } from './tenants';

/** Every /v1 route; the router and /openapi.json are both built from this list. Write routes take ?dryRun=1. */
export const V1_ROUTES: readonly RouteDefinition[] = [
  listTenants,
  getTenant,
  listExtensionsRoute,
  createExtensionRoute,
  getExtensionRoute,
  putExtensionRoute,
  deleteExtensionRoute,
  extensionRegistrationRoute,
  listRegistrationsRoute,
  registrationHistoryRoute,
  getRegistrationWatchRoute,
  putRegistrationWatchRoute,
  lostRegistrationsRoute,
  listGatewaysRoute,
  createGatewayRoute,
  getGatewayRoute,
  updateGatewayRoute,
  deleteGatewayRoute,
  gatewayStatusRoute,
  listDestinationsRoute,
  createDestinationRoute,
  getDestinationRoute,
  updateDestinationRoute,
  deleteDestinationRoute,
  gatewayHistoryRoute,
  listCdrsRoute,
  getJobRoute,
  createKeyRoute,
  listKeysRoute,
  revokeKeyRoute,
].map(withDryRunQuery);

export const V1_BODY_LIMIT = '64kb';

export function v1Router(deps: ApiDeps): Router {
  const router = Router();
  const limiter = new RateLimiter(deps.redis, deps.config.redis.queuePrefix, deps.config.api.rateLimitWindowSeconds);
  router.use('/v1', authenticate(deps.apiKeys, deps.config.adminToken, deps.logger));
  router.use('/v1', (req, _res, next) => {
    // Bodies are JSON only; anything else is refused before parsing.
    if (req.method === 'GET' || req.method === 'DELETE' || (!req.headers['content-length'] && !req.headers['transfer-encoding'])) return next();
    next(req.is('application/json') ? undefined : new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json'));
  });
  router.use('/v1', express.json({ limit: V1_BODY_LIMIT, strict: true }));
  for (const definition of V1_ROUTES) mount(router, deps, limiter, definition);
  // A path served with other methods: 405 with Allow (a 404 would say the resource is not there).
  for (const [path, allow] of allowedMethods(V1_ROUTES)) {
    router.all(expressPath(path), function methodNotAllowed(req, res, next) {
      res.setHeader('Allow', allow);
      if (req.method === 'OPTIONS') return void res.status(204).end();
      next(new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed here; this path takes ${allow}`));
    });
  }
  return router;
}

const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'];

/** Each /v1 path with the methods its routes take, as an Allow header (a GET takes HEAD too). */
function allowedMethods(routes: readonly RouteDefinition[]): Map<string, string> {
  const methods = new Map<string, Set<string>>();
  for (const { spec } of routes) {
    const set = methods.get(spec.path) ?? new Set<string>();
    set.add(spec.method.toUpperCase());
    if (spec.method === 'get') set.add('HEAD');
    methods.set(spec.path, set);
  }
  return new Map([...methods].map(([path, set]) => [path, METHOD_ORDER.filter((method) => set.has(method)).join(', ')]));
}

export { v1OpenApiPaths } from './openapi-v1';
