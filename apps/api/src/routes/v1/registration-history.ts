import Joi from 'joi';
import { RegistrationsRepository, type RegistrationHistoryEntry } from '@ictvoip/store';
import { HttpError } from '../../errors';
import type { RouteDefinition } from './define';
import { tenantParam } from './common-schemas';
import { resolveService } from './tenant-context';

const CURSOR = /^h([1-9][0-9]{0,17})$/;

/** Opaque to clients: `h<id>` base64url-encoded, the last id of the page (pages go newest first). */
const encodeCursor = (id: number) => Buffer.from(`h${id}`, 'utf8').toString('base64url');

function decodeCursor(cursor: string): number {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new HttpError(400, 'BAD_CURSOR', 'cursor is not one this API returned');
  return Number(match[1]);
}

function view(entry: RegistrationHistoryEntry) {
  return {
    id: entry.id,
    type: `registration.${entry.transition}`,
    extension: entry.extension,
    domain: entry.domain,
    at: entry.at.toISOString(),
    missingSince: entry.missingSince.toISOString(),
    figures: entry.figures,
    alertSentAt: entry.alertSentAt?.toISOString() ?? null,
  };
}

export const registrationHistoryRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/registrations/history',
    summary: 'Registration transitions of the tenant (lost / restored, recorded by the monitoring poll), newest first, keyset pages',
    params: Joi.object({ tenant: tenantParam }),
    query: Joi.object({
      limit: Joi.number().integer().min(1).max(1000).default(100),
      cursor: Joi.string()
        .max(100)
        .pattern(/^[A-Za-z0-9_-]+$/, 'opaque cursor'),
    }),
    responses: { '200': '{data:[transition], nextCursor}', '400': 'bad cursor', '404': 'unknown tenant' },
  },
  async handler({ deps, res, principal, input }) {
    const service = await resolveService(deps, principal, input.params.tenant as string);
    const limit = input.query.limit as number;
    const cursor = input.query.cursor as string | undefined;
    const rows = await new RegistrationsRepository(deps.pool).history(service.serviceId, { limit: limit + 1, beforeId: cursor ? decodeCursor(cursor) : undefined });
    const page = rows.slice(0, limit);
    res.json({ data: page.map(view), nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null });
  },
};
