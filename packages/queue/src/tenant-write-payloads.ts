import { createHmac } from 'node:crypto';
import Joi from 'joi';

/**
 * A tenant-write job carries only a reference: the request (and its sealed password) stays in
 * PostgreSQL's tenant_writes table, like a webhook event stays in the inbox.
 */
export interface TenantWriteJobData {
  writeId: string;
  serviceId: number;
  requestId: string;
}

export const tenantWriteJobDataSchema = Joi.object<TenantWriteJobData>({
  writeId: Joi.string()
    .max(100)
    .pattern(/^tw-[0-9]+-[0-9a-f]{32}$/)
    .required(),
  serviceId: Joi.number().integer().min(0).required(),
  requestId: Joi.string().max(100).required(),
});

/**
 * Deterministic for one request: its id (X-Request-Id), what it asks and any secret it carries,
 * under an HMAC so the id reveals nothing of a password. The same request repeated is the same write.
 * The API keys it with a key derived from the sealing key, so a WEBHOOK_SECRET rotation keeps ids.
 */
export function tenantWriteId(serviceId: number, request: unknown, key: string | Buffer): string {
  const digest = createHmac('sha256', key).update(JSON.stringify(request)).digest('hex').slice(0, 32);
  return `tw-${serviceId}-${digest}`;
}
