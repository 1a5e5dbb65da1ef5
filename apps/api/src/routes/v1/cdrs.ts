import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import Joi from 'joi';
import { iterateCdrs, readCdrPage, type CdrFilter, type CdrKey } from '@ictvoip/fusionpbx';
import { HttpError } from '../../errors';
import type { RouteDefinition } from './define';
import { extensionNumber, tenantParam } from './common-schemas';
import { csvHeader, csvLines, ndjsonLine, withCharges } from './cdr-format';
import { chargesFor } from './charges';
import { requireDomain, resolveTenant } from './tenant-context';
import { streamChunks } from '../../streamed-response';
import type { Logger } from '@ictvoip/config';

const EXPORT_BATCH = 1000;

const query = Joi.object({
  from: Joi.date().iso().description('start_stamp >= from (ISO-8601)'),
  to: Joi.date().iso().greater(Joi.ref('from')).description('start_stamp < to (ISO-8601)'),
  direction: Joi.string().valid('inbound', 'outbound', 'local'),
  extension: extensionNumber,
  destination: Joi.string()
    .max(64)
    .pattern(/^[A-Za-z0-9+*#._@-]+$/, 'dialled number'),
  hangupCause: Joi.string()
    .max(64)
    .pattern(/^[A-Z0-9_]+$/, 'Q.850 cause name, e.g. NORMAL_CLEARING'),
  answeredOnly: Joi.boolean().default(false),
  leg: Joi.string().valid('a', 'b', 'all').default('a'),
  limit: Joi.number().integer().min(1).max(1000).default(100),
  cursor: Joi.string()
    .max(500)
    .pattern(/^[A-Za-z0-9_-]+$/, 'opaque cursor'),
  format: Joi.string().valid('json', 'csv', 'ndjson').description('overrides the Accept header'),
});

type Format = 'json' | 'csv' | 'ndjson';

/** `?format=` wins; otherwise the Accept header picks CSV or NDJSON; JSON pages by default. */
export function formatOf(req: Request): Format {
  const explicit = req.query.format;
  if (explicit === 'csv' || explicit === 'ndjson' || explicit === 'json') return explicit;
  const accept = req.get('accept') ?? '';
  if (/\btext\/csv\b/i.test(accept)) return 'csv';
  if (/\bapplication\/(x-)?ndjson\b/i.test(accept)) return 'ndjson';
  return 'json';
}

function filterOf(domainUuid: string, values: Record<string, unknown>): CdrFilter {
  return {
    domainUuid,
    from: values.from as Date | undefined,
    to: values.to as Date | undefined,
    direction: values.direction as CdrFilter['direction'],
    extension: values.extension as string | undefined,
    destination: values.destination as string | undefined,
    hangupCause: values.hangupCause as string | undefined,
    answeredOnly: values.answeredOnly as boolean,
    leg: values.leg as CdrFilter['leg'],
  };
}

/** Binds a cursor to its filter, so a cursor reused with other filters is refused instead of skipping rows. */
function filterFingerprint(filter: CdrFilter): string {
  const canonical = JSON.stringify([
    filter.domainUuid,
    filter.from?.toISOString(),
    filter.to?.toISOString(),
    filter.direction,
    filter.extension,
    filter.destination,
    filter.hangupCause,
    filter.answeredOnly,
    filter.leg,
    // Only the WHMCS pages search by number; left out otherwise so cursors already issued stay valid.
    ...(filter.number ? [filter.number] : []),
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

export function encodeCursor(key: CdrKey, filter: CdrFilter): string {
  return Buffer.from(JSON.stringify({ v: 1, s: key.startStamp, u: key.uuid, f: filterFingerprint(filter) })).toString('base64url');
}

function decodeCursor(cursor: string, filter: CdrFilter): CdrKey {
  return decodeCursorFor(cursor, filter, 'query.cursor');
}

/** `path` names the field the cursor came in (a query parameter here, a body field for the WHMCS pages). */
export function decodeCursorFor(cursor: string, filter: CdrFilter, path: string): CdrKey {
  const invalid = (message: string) => new HttpError(400, 'VALIDATION_FAILED', 'request is invalid (1 problem)', [{ path, message }]);
  let parsed: { v?: unknown; s?: unknown; u?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as typeof parsed;
  } catch {
    throw invalid('is not a cursor returned by this API');
  }
  if (parsed.v !== 1 || typeof parsed.s !== 'string' || typeof parsed.u !== 'string' || !/^[0-9a-f-]{36}$/.test(parsed.u) || !/^[0-9 :.+-]{10,40}$/.test(parsed.s)) {
    throw invalid('is not a cursor returned by this API');
  }
  if (parsed.f !== filterFingerprint(filter)) throw invalid('belongs to a different set of filters; start again without a cursor');
  return { startStamp: parsed.s, uuid: parsed.u };
}

export const listCdrsRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/cdrs',
    needsDomain: true,
    summary: 'Call records (a-leg by default), newest first; JSON pages with an opaque cursor, or the whole selection streamed as CSV / NDJSON',
    params: Joi.object({ tenant: tenantParam }),
    query,
    produces: ['text/csv', 'application/x-ndjson'],
    responses: { '200': '{data:[cdr], nextCursor} or a CSV / NDJSON stream', '400': 'bad filter or cursor', '404': 'unknown tenant' },
  },
  bucketOf: (req) => (formatOf(req) === 'json' ? 'standard' : 'cdrExport'),
  async handler({ deps: base, req, res, principal, input }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const { deps } = context;
    const domain = requireDomain(context);
    const filter = filterOf(domain.domainUuid, input.query);
    const format = formatOf(req);
    if (format === 'json') {
      const after = input.query.cursor ? decodeCursor(input.query.cursor as string, filter) : null;
      const page = await readCdrPage(deps.fusion.pool, filter, after, input.query.limit as number);
      const charges = await chargesFor(
        deps.pool,
        context.service.serviceId,
        page.records.map((record) => record.uuid),
      );
      res.json({ data: withCharges(page.records, charges), nextCursor: page.next ? encodeCursor(page.next, filter) : null });
      return;
    }
    await stream(res, base.logger, format, domain.domainName, async function* () {
      for await (const batch of iterateCdrs(deps.fusion.pool, filter, EXPORT_BATCH)) {
        yield withCharges(
          batch,
          await chargesFor(
            deps.pool,
            context.service.serviceId,
            batch.map((record) => record.uuid),
          ),
        );
      }
    });
  },
};

/**
 * Streams batch by batch with back-pressure, so memory is bounded by one batch however many rows
 * match. The first batch is read before anything is sent; a failure after that drops the connection.
 */
async function stream(res: Response, logger: Logger, format: 'csv' | 'ndjson', domainName: string, batches: () => AsyncGenerator<ReturnType<typeof withCharges>>): Promise<void> {
  const headers: Record<string, string> = { 'Content-Type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8' };
  if (format === 'csv') headers['Content-Disposition'] = `attachment; filename="cdrs-${domainName}.csv"`;
  await streamChunks(res, logger, { status: 200, headers }, lines(format, batches()), `cdrs ${format}`);
}

async function* lines(format: 'csv' | 'ndjson', batches: AsyncGenerator<ReturnType<typeof withCharges>>): AsyncGenerator<string> {
  try {
    let current = await batches.next();
    if (format === 'csv') yield csvHeader();
    for (; !current.done; current = await batches.next()) yield format === 'csv' ? csvLines(current.value) : current.value.map(ndjsonLine).join('');
  } finally {
    await batches.return(undefined);
  }
}
