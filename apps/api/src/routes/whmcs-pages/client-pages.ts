import { Router, type Response } from 'express';
import Joi from 'joi';
import { iterateCdrs, readCdrPage, tenantPortalUrl, type CdrFilter, type CdrRecord } from '@ictvoip/fusionpbx';
import type { ApiDeps } from '../../deps';
import { csvHeader, csvLines, withCharges } from '../v1/cdr-format';
import { chargesFor } from '../v1/charges';
import { encodeCursor, decodeCursorFor } from '../v1/cdrs';
import { streamChunks } from '../../streamed-response';
import { requireDomain, resolveTenant, type TenantContext } from '../v1/tenant-context';
import { usageOf } from '../service-status';
import { choosePeriod, PERIOD_LABEL, type PeriodChoice } from './client-periods';
import { creditOf, numbersOf, phonesOf, type ClientCredit } from './client-service';
import { resetPasswordRoute } from './client-reset-password';
import { rawPageBody, signedBody } from './signed-request';

const DEFAULT_PAGE_SIZE = 25;
const EXPORT_BATCH = 1000;
const SIGNED_ADMIN = { kind: 'admin-token' } as const;

interface CallsRequest {
  serviceId: number;
  period?: string;
  number?: string;
  cursor?: string;
  limit: number;
}

const serviceId = Joi.number().integer().min(1).max(Number.MAX_SAFE_INTEGER).required();
const period = Joi.string().pattern(PERIOD_LABEL, 'YYYY-MM or YYYY-MM-DD');

const callsSchema = Joi.object<CallsRequest>({
  serviceId,
  period,
  number: Joi.string()
    .trim()
    .allow('')
    .max(32)
    .pattern(/^[0-9+*#]*$/, 'digits, +, * or #'),
  cursor: Joi.string()
    .max(500)
    .pattern(/^[A-Za-z0-9_-]+$/, 'opaque cursor'),
  limit: Joi.number().integer().min(1).max(100).default(DEFAULT_PAGE_SIZE),
});
const serviceSchema = Joi.object<{ serviceId: number }>({ serviceId });

/** Why a call shows no amount, in words a customer understands (the ledger's reason when it has one). */
function whyNoAmount(status: string | null, reason: string | null, billsec: number | null): string {
  if (status === 'not_billable') return reason ?? (billsec === 0 ? 'not answered' : 'not billed for this direction');
  if (status === 'unrated') return reason ?? 'no rate found for this destination';
  return 'calls are collected and rated every few minutes';
}

export interface ClientCall {
  uuid: string;
  start: string;
  from: string;
  fromName: string;
  to: string;
  direction: string;
  duration: number;
  billsec: number;
  status: 'rated' | 'unrated' | 'not_billable' | 'pending';
  amount: string | null;
  currency: string | null;
  reason: string | null;
}

interface LedgerRow {
  xml_cdr_uuid: string;
  amount: string | null;
  currency: string | null;
  status: string;
  reason: string | null;
}

async function ledgerOf(deps: ApiDeps, serviceIdValue: number, uuids: string[]): Promise<Map<string, LedgerRow>> {
  const { rows } = await deps.pool.query<LedgerRow>(
    'SELECT xml_cdr_uuid::text, amount::text, currency, status, reason FROM cdr_charges WHERE service_id = $1 AND xml_cdr_uuid = ANY($2::uuid[])',
    [serviceIdValue, uuids],
  );
  return new Map(rows.map((row) => [row.xml_cdr_uuid, row]));
}

function toClientCall(record: CdrRecord, charge: LedgerRow | undefined): ClientCall {
  const status = (charge?.status ?? 'pending') as ClientCall['status'];
  return {
    uuid: record.uuid,
    start: record.startStamp,
    from: record.callerIdNumber ?? '',
    fromName: record.callerIdName ?? '',
    to: record.destinationNumber ?? '',
    direction: record.direction ?? '',
    duration: record.duration ?? 0,
    billsec: record.billsec ?? 0,
    status,
    amount: status === 'rated' ? (charge?.amount ?? null) : null,
    currency: charge?.currency ?? null,
    reason: status === 'rated' ? null : whyNoAmount(charge?.status ?? null, charge?.reason ?? null, record.billsec),
  };
}

async function tenantOf(deps: ApiDeps, id: number): Promise<TenantContext> {
  return resolveTenant(deps, SIGNED_ADMIN, String(id));
}

function filterFor(context: TenantContext, choice: PeriodChoice, number: string | undefined): CdrFilter {
  const domain = requireDomain(context);
  return { domainUuid: domain.domainUuid, from: choice.from, to: choice.to, number: number ? number : undefined, leg: 'a' };
}

/** One page of the selected period's calls with their amounts, the period's totals (with currency) and the picker's periods. */
async function callsPage(deps: ApiDeps, context: TenantContext, input: CallsRequest) {
  const choice = await choosePeriod(deps, input.serviceId, input.period);
  const filter = filterFor(context, choice, input.number);
  const after = input.cursor ? decodeCursorFor(input.cursor, filter, 'cursor') : null;
  const page = await readCdrPage(context.deps.fusion.pool, filter, after, input.limit);
  const ledger = await ledgerOf(
    deps,
    input.serviceId,
    page.records.map((record) => record.uuid),
  );
  const includedMinutes = context.service.plan.includedMinutes;
  const totals = await usageOf(deps, input.serviceId, context.service.plan, choice.selected.label);
  return {
    serviceId: input.serviceId,
    period: choice.selected.label,
    periodStart: choice.selected.start,
    periodEnd: choice.selected.end,
    periods: choice.periods,
    timeZone: deps.config.billing.timeZone,
    number: input.number ?? '',
    calls: page.records.map((record) => toClientCall(record, ledger.get(record.uuid))),
    nextCursor: page.next ? encodeCursor(page.next, filter) : null,
    totals: {
      ratedCalls: totals.calls,
      unratedCalls: totals.unratedCalls,
      amount: totals.amount,
      adjustments: totals.adjustments,
      adjustmentsByCurrency: totals.adjustmentsByCurrency,
      total: totals.total,
      currency: totals.currency,
      minutes: totals.minutes,
    },
    includedMinutes: typeof includedMinutes === 'number' ? includedMinutes : null,
    portalUrl: tenantPortalUrl(deps.config.fusionpbx.portalUrl, requireDomain(context).domainName),
  };
}

async function streamCalls(deps: ApiDeps, res: Response, input: { serviceId: number; period?: string; number?: string }): Promise<void> {
  const context = await tenantOf(deps, input.serviceId);
  const choice = await choosePeriod(deps, input.serviceId, input.period);
  const filter = filterFor(context, choice, input.number);
  const domain = requireDomain(context);
  const headers = {
    'Content-Type': 'text/csv; charset=utf-8',
    'Content-Disposition': `attachment; filename="calls-${domain.domainName}-${choice.selected.label}.csv"`,
  };
  await streamChunks(res, deps.logger, { status: 200, headers }, callsCsv(deps, iterateCdrs(context.deps.fusion.pool, filter, EXPORT_BATCH), input.serviceId), 'calls.csv');
}

/** The calls as CSV: the first batch is read before the header row, so a failure there is a clean error status. */
async function* callsCsv(deps: ApiDeps, batches: AsyncGenerator<CdrRecord[]>, serviceId: number): AsyncGenerator<string> {
  try {
    let current = await batches.next();
    yield csvHeader();
    for (; !current.done; current = await batches.next()) {
      const charges = await chargesFor(
        deps.pool,
        serviceId,
        current.value.map((record) => record.uuid),
      );
      yield csvLines(withCharges(current.value, charges));
    }
  } finally {
    await batches.return(undefined);
  }
}

async function phonesPage(deps: ApiDeps, id: number) {
  const context = await tenantOf(deps, id);
  const domain = requireDomain(context);
  return { serviceId: id, phones: await phonesOf(deps, context), portalUrl: tenantPortalUrl(deps.config.fusionpbx.portalUrl, domain.domainName) };
}

/**
 * The currency "charges so far" is in when this period has no rated call yet: the one the service's
 * calls were charged in before, else its credit's (the WHMCS client currency); '' when neither is known.
 */
async function serviceCurrency(deps: ApiDeps, serviceIdValue: number, credit: ClientCredit | null): Promise<string> {
  const { rows } = await deps.pool.query<{ currency: string | null }>(
    "SELECT max(currency) AS currency FROM cdr_charges WHERE service_id = $1 AND status = 'rated' AND currency IS NOT NULL",
    [serviceIdValue],
  );
  return rows[0]?.currency ?? credit?.currency ?? '';
}

/**
 * Everything the client area's product page shows, in one signed call: the selected period's calls
 * and totals, this period's usage against the included minutes, the phones (registration and
 * voicemail), the numbers and where they ring, and the prepaid credit state.
 */
async function overview(deps: ApiDeps, input: CallsRequest) {
  const context = await tenantOf(deps, input.serviceId);
  const [calls, usage, phones, numbers, credit] = await Promise.all([
    callsPage(deps, context, input),
    usageOf(deps, input.serviceId, context.service.plan),
    phonesOf(deps, context),
    numbersOf(context),
    creditOf(deps, input.serviceId),
  ]);
  const currency = usage.currency || (await serviceCurrency(deps, input.serviceId, credit));
  return { ...calls, usage: { ...usage, currency }, phones, numbers, credit };
}

/**
 * What the WHMCS module's client area shows and does: the product page's data (`overview`), a
 * period's calls (paged, searchable) and its CSV stream, the phones, and a phone's SIP password
 * reset. POST only, each body signed with WEBHOOK_SECRET by the module.
 */
export function clientPagesRouter(deps: ApiDeps): Router {
  const router = Router();
  router.post('/whmcs/client/overview', ...rawPageBody, async (req, res) => {
    res.json(await overview(deps, signedBody(deps, req, callsSchema)));
  });
  router.post('/whmcs/client/calls', ...rawPageBody, async (req, res) => {
    const input = signedBody(deps, req, callsSchema);
    res.json(await callsPage(deps, await tenantOf(deps, input.serviceId), input));
  });
  router.post('/whmcs/client/calls.csv', ...rawPageBody, async (req, res) => {
    const input = signedBody(deps, req, callsSchema);
    await streamCalls(deps, res, input);
  });
  router.post('/whmcs/client/phones', ...rawPageBody, async (req, res) => {
    res.json(await phonesPage(deps, signedBody(deps, req, serviceSchema).serviceId));
  });
  router.post('/whmcs/client/phones/reset-password', ...rawPageBody, resetPasswordRoute(deps));
  return router;
}
