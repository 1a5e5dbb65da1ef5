import type { Request, Response } from 'express';
import Joi from 'joi';
import { getTenantGateway } from '@ictvoip/fusionpbx';
import { GatewayMonitoringRepository, RegistrationsRepository, type GatewayHistoryEntry, type RegistrationHistoryEntry } from '@ictvoip/store';
import { HttpError } from '../../errors';
import type { RouteDefinition } from './define';
import { extensionNumber, tenantParam } from './common-schemas';
import { csvTable } from './cdr-format';
import { formatOf } from './cdrs';
import { resolveService, tenantContextOf } from './tenant-context';
import { streamChunks } from '../../streamed-response';
import type { Logger } from '@ictvoip/config';

const CURSOR = /^h([1-9][0-9]{0,17})$/;
/** A CSV export reads the history in pages of this many rows (it is bounded by the retention). */
const EXPORT_PAGE = 1000;

/** Opaque to clients: `h<id>` base64url-encoded, the last id of the page (pages go newest first; any filter continues below it). */
const encodeCursor = (id: number) => Buffer.from(`h${id}`, 'utf8').toString('base64url');

function decodeCursor(cursor: string): number {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  // The same 400 as any bad query parameter (and as the CDR listing's cursor): details name the field.
  if (!match) throw new HttpError(400, 'VALIDATION_FAILED', 'request is invalid (1 problem)', [{ path: 'query.cursor', message: 'is not a cursor returned by this API' }]);
  return Number(match[1]);
}

const pageQuery = {
  from: Joi.date().iso().description('at >= from (ISO-8601)'),
  to: Joi.date().iso().greater(Joi.ref('from')).description('at < to (ISO-8601)'),
  limit: Joi.number().integer().min(1).max(1000).default(100),
  cursor: Joi.string()
    .max(100)
    .pattern(/^[A-Za-z0-9_-]+$/, 'opaque cursor'),
  format: Joi.string().valid('json', 'csv').description('overrides the Accept header (text/csv: every matching transition, not one page)'),
};

function registrationView(entry: RegistrationHistoryEntry) {
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

function gatewayView(entry: GatewayHistoryEntry) {
  return {
    id: entry.id,
    type: `gateway.${entry.transition}`,
    gatewayUuid: entry.gatewayUuid,
    gatewayName: entry.gatewayName,
    domain: entry.domain,
    at: entry.at.toISOString(),
    failingSince: entry.failingSince.toISOString(),
    figures: entry.figures,
    alertSentAt: entry.alertSentAt?.toISOString() ?? null,
  };
}

const figure = (figures: Record<string, unknown>, key: string) => {
  const value = figures[key];
  return value === undefined || value === null ? null : String(value);
};

const REGISTRATION_CSV: readonly [string, (entry: RegistrationHistoryEntry) => unknown][] = [
  ['id', (entry) => entry.id],
  ['type', (entry) => `registration.${entry.transition}`],
  ['extension', (entry) => entry.extension],
  ['domain', (entry) => entry.domain],
  ['at', (entry) => entry.at.toISOString()],
  ['missingSince', (entry) => entry.missingSince.toISOString()],
  ['contactIp', (entry) => figure(entry.figures, 'contactIp')],
  ['contactPort', (entry) => figure(entry.figures, 'contactPort')],
  ['lanIp', (entry) => figure(entry.figures, 'lanIp')],
  ['userAgent', (entry) => figure(entry.figures, 'userAgent')],
  ['profile', (entry) => figure(entry.figures, 'profile')],
  ['alertSentAt', (entry) => entry.alertSentAt?.toISOString() ?? null],
];

const GATEWAY_CSV: readonly [string, (entry: GatewayHistoryEntry) => unknown][] = [
  ['id', (entry) => entry.id],
  ['type', (entry) => `gateway.${entry.transition}`],
  ['gatewayUuid', (entry) => entry.gatewayUuid],
  ['gatewayName', (entry) => entry.gatewayName],
  ['domain', (entry) => entry.domain],
  ['at', (entry) => entry.at.toISOString()],
  ['failingSince', (entry) => entry.failingSince.toISOString()],
  ['state', (entry) => figure(entry.figures, 'state')],
  ['status', (entry) => figure(entry.figures, 'status')],
  ['alertSentAt', (entry) => entry.alertSentAt?.toISOString() ?? null],
];

/** The CSV: every matching transition in keyset pages, the first read before the header row (a failure there is a clean error). */
async function* historyCsv<T extends { id: number }>(
  read: (limit: number, beforeId: number | undefined) => Promise<T[]>,
  csv: readonly [string, (entry: T) => unknown][],
  beforeId: number | undefined,
): AsyncGenerator<string> {
  let page = await read(EXPORT_PAGE, beforeId);
  yield csvTable([csv.map(([name]) => name)]);
  for (;;) {
    if (page.length > 0) yield csvTable(page.map((entry) => csv.map(([, value]) => value(entry))));
    if (page.length < EXPORT_PAGE) return;
    page = await read(EXPORT_PAGE, page[page.length - 1]!.id);
  }
}

/**
 * One history listing: JSON pages newest first (`limit`, opaque `cursor`), or with `Accept: text/csv`
 * (`?format=csv`) every matching transition, read in keyset pages and written as they come.
 */
async function sendHistory<T extends { id: number }>(
  logger: Logger,
  req: Request,
  res: Response,
  read: (limit: number, beforeId: number | undefined) => Promise<T[]>,
  view: (entry: T) => unknown,
  csv: readonly [string, (entry: T) => unknown][],
  filename: string,
  query: Record<string, unknown>,
): Promise<void> {
  const cursor = query.cursor as string | undefined;
  const beforeId = cursor ? decodeCursor(cursor) : undefined;
  if (formatOf(req) === 'csv') {
    const headers = { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="${filename}.csv"` };
    await streamChunks(res, logger, { status: 200, headers }, historyCsv(read, csv, beforeId), filename);
    return;
  }
  const limit = query.limit as number;
  const rows = await read(limit + 1, beforeId);
  const page = rows.slice(0, limit);
  res.json({ data: page.map(view), nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null });
}

export const registrationHistoryRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/registrations/history',
    summary: 'Registration transitions of the tenant (lost / restored, recorded by the monitoring poll), newest first, keyset pages; CSV with Accept: text/csv',
    params: Joi.object({ tenant: tenantParam }),
    query: Joi.object({ ...pageQuery, extension: extensionNumber, type: Joi.string().valid('lost', 'restored') }),
    produces: ['text/csv'],
    responses: { '200': '{data:[transition], nextCursor} (or CSV)', '400': 'bad filter or cursor', '404': 'unknown tenant' },
  },
  async handler({ deps, req, res, principal, input }) {
    const service = await resolveService(deps, principal, input.params.tenant as string);
    const query = input.query;
    const repository = new RegistrationsRepository(deps.pool);
    const read = (limit: number, beforeId: number | undefined) =>
      repository.history(service.serviceId, {
        limit,
        beforeId,
        extension: query.extension as string | undefined,
        transition: query.type as 'lost' | 'restored' | undefined,
        from: query.from as Date | undefined,
        to: query.to as Date | undefined,
      });
    await sendHistory(deps.logger, req, res, read, registrationView, REGISTRATION_CSV, `registrations-${service.serviceId}`, query);
  },
};

export const gatewayHistoryRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/gateways/{gateway}/history',
    summary: 'Down / up transitions of one gateway (recorded by gateway monitoring), newest first, keyset pages; CSV with Accept: text/csv',
    params: Joi.object({ tenant: tenantParam, gateway: Joi.string().guid().required().description('the gateway uuid') }),
    query: Joi.object({ ...pageQuery, type: Joi.string().valid('down', 'up') }),
    bucket: 'gateways',
    produces: ['text/csv'],
    responses: {
      '200': '{data:[transition], nextCursor} (or CSV)',
      '400': 'bad filter or cursor',
      '404': 'unknown tenant, or a gateway the tenant neither has nor had any transition of',
    },
  },
  async handler({ deps, req, res, principal, input }) {
    const service = await resolveService(deps, principal, input.params.tenant as string);
    const query = input.query;
    const gatewayUuid = (input.params.gateway as string).toLowerCase();
    const repository = new GatewayMonitoringRepository(deps.pool);
    // A deleted gateway keeps its history; one never seen (no transition, not in FusionPBX) is unknown, as everywhere else.
    if (!query.cursor && (await repository.history(service.serviceId, { limit: 1, gatewayUuid })).length === 0) {
      const { deps: scoped, domain } = await tenantContextOf(deps, service);
      if (!domain || !(await getTenantGateway(scoped.fusion.pool, domain.domainUuid, gatewayUuid, domain.managedGatewayUuid))) {
        throw new HttpError(404, 'NOT_FOUND', `gateway ${gatewayUuid} not found`);
      }
    }
    const read = (limit: number, beforeId: number | undefined) =>
      repository.history(service.serviceId, {
        limit,
        beforeId,
        gatewayUuid,
        transition: query.type as 'down' | 'up' | undefined,
        from: query.from as Date | undefined,
        to: query.to as Date | undefined,
      });
    await sendHistory(deps.logger, req, res, read, gatewayView, GATEWAY_CSV, `gateway-${gatewayUuid}`, query);
  },
};
