import Joi from 'joi';
import { ServicesRepository, type ApiKeyRecord } from '@ictvoip/store';
import { actorOf } from '../../api-keys/principal';
import { HttpError } from '../../errors';
import type { RouteDefinition } from './define';
import { safeText } from './common-schemas';
import { sendDryRun } from './dry-run';
import { MASKED_VALUE } from '@ictvoip/fusionpbx';

function view(record: ApiKeyRecord) {
  return {
    id: record.id,
    prefix: record.prefix,
    name: record.name,
    scope: record.scope,
    serviceId: record.serviceId,
    access: record.access,
    createdAt: record.createdAt.toISOString(),
    createdBy: record.createdBy,
    revokedAt: record.revokedAt?.toISOString() ?? null,
    lastUsedAt: record.lastUsedAt?.toISOString() ?? null,
    lastUsedIp: record.lastUsedIp,
  };
}

const keyId = Joi.object({
  id: Joi.string()
    .pattern(/^[0-9]{1,18}$/, 'key id')
    .required(),
});

export const createKeyRoute: RouteDefinition = {
  spec: {
    method: 'post',
    path: '/v1/admin/api-keys',
    summary: 'Create an API key; the token (ivk_<prefix>_<secret>) is in this answer only',
    adminOnly: true,
    body: Joi.object({
      name: safeText(100).min(1).required(),
      scope: Joi.string().valid('tenant', 'admin').required(),
      serviceId: Joi.number().integer().min(1).max(Number.MAX_SAFE_INTEGER).when('scope', { is: 'tenant', then: Joi.required(), otherwise: Joi.forbidden() }),
      access: Joi.string().valid('read', 'read-write').default('read-write'),
    }),
    responses: { '201': '{key, token}', '400': 'validation failed (or unknown serviceId)', '403': 'not an admin' },
  },
  async handler({ deps, res, principal, input, dryRun }) {
    const body = input.body as unknown as { name: string; scope: 'tenant' | 'admin'; serviceId?: number; access: 'read' | 'read-write' };
    if (body.scope === 'tenant' && !(await new ServicesRepository(deps.pool).get(body.serviceId as number))) {
      throw new HttpError(400, 'VALIDATION_FAILED', 'request is invalid (1 problem)', [{ path: 'body.serviceId', message: 'no such service in the bridge' }]);
    }
    if (dryRun) {
      // No key is made, so there is no token to show; prefix and secret are drawn only when it is.
      const columns = {
        prefix: MASKED_VALUE,
        secret_sha256: MASKED_VALUE,
        name: body.name,
        scope: body.scope,
        service_id: body.serviceId === undefined ? null : String(body.serviceId),
        access: body.access,
        created_by: actorOf(principal),
      };
      sendDryRun(res, { outcome: 'created', rows: [{ table: 'api_keys', op: 'insert', key: null, columns }], eslCommands: [], freeswitch: [] });
      return;
    }
    const { record, token } = await deps.apiKeys.create({ ...body, createdBy: actorOf(principal) });
    res.status(201).json({ key: view(record), token });
  },
};

export const listKeysRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/admin/api-keys',
    summary: 'API keys (never their secrets)',
    adminOnly: true,
    query: Joi.object({ serviceId: Joi.number().integer().min(1), includeRevoked: Joi.boolean().default(false) }),
    responses: { '200': '{data:[key]}', '403': 'not an admin' },
  },
  async handler({ deps, res, input }) {
    const keys = await deps.apiKeys.list({ serviceId: input.query.serviceId as number | undefined, includeRevoked: input.query.includeRevoked as boolean });
    res.json({ data: keys.map(view) });
  },
};

export const revokeKeyRoute: RouteDefinition = {
  spec: {
    method: 'delete',
    path: '/v1/admin/api-keys/{id}',
    summary: 'Revoke an API key (idempotent); it answers 401 from then on',
    adminOnly: true,
    params: keyId,
    responses: { '200': 'the revoked key', '404': 'unknown key' },
  },
  async handler({ deps, res, input, dryRun }) {
    if (dryRun) {
      const existing = await deps.apiKeys.get(input.params.id as string);
      if (!existing) throw new HttpError(404, 'NOT_FOUND', `api key ${String(input.params.id)} not found`);
      const rows = existing.revokedAt ? [] : [{ table: 'api_keys', op: 'update' as const, key: existing.id, columns: { revoked_at: new Date().toISOString() } }];
      sendDryRun(res, { outcome: existing.revokedAt ? 'unchanged' : 'revoked', rows, eslCommands: [], freeswitch: [] }, { key: view(existing) });
      return;
    }
    const record = await deps.apiKeys.revoke(input.params.id as string);
    if (!record) throw new HttpError(404, 'NOT_FOUND', `api key ${String(input.params.id)} not found`);
    res.json(view(record));
  },
};
