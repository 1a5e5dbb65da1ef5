import { Router, type Response } from 'express';
import Joi from 'joi';
import { iterateCdrs, listTenantExtensions, readCdrPage, type CdrFilter, type CdrRecord, type ExtensionView } from '@ictvoip/fusionpbx';
import { chargeTotals, periodOf, previousPeriod, RegistrationsRepository, type RegistrationState } from '@ictvoip/store';
import type { ApiDeps } from '../../deps';
import { csvHeader, csvLines, withCharges } from '../v1/cdr-format';
import { chargesFor } from '../v1/charges';
import { encodeCursor, decodeCursorFor, writeWithBackPressure } from '../v1/cdrs';
import { requireDomain, resolveTenant, type TenantContext } from '../v1/tenant-context';
import { rawPageBody, signedBody } from './signed-request';

/** Periods offered in the client area's picker: this one and the eleven before it. */
const PERIODS_SHOWN = 12;
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
const period = Joi.string().pattern(/^\d{4}-(0[1-9]|1[0-2])$/, 'YYYY-MM');

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

/** The period's first and last instant in BILLING_TIMEZONE, computed by PostgreSQL (DST-exact). */
async function periodBounds(deps: ApiDeps, value: string): Promise<{ from: Date; to: Date }> {
  const { rows } = await deps.pool.query<{ from: Date; to: Date }>(
    `SELECT (($1 || '-01')::timestamp AT TIME ZONE $2) AS "from", ((($1 || '-01')::date + interval '1 month')::timestamp AT TIME ZONE $2) AS "to"`,
    [value, deps.config.billing.timeZone],
  );
  return rows[0]!;
}

function periodsUpTo(current: string): string[] {
  const periods = [current];
  while (periods.length < PERIODS_SHOWN) periods.push(previousPeriod(periods[periods.length - 1]!));
  return periods;
}

async function tenantOf(deps: ApiDeps, id: number): Promise<TenantContext> {
  return resolveTenant(deps, SIGNED_ADMIN, String(id));
}

async function filterFor(context: TenantContext, value: string, number: string | undefined): Promise<CdrFilter> {
  const domain = requireDomain(context);
  const bounds = await periodBounds(context.deps, value);
  return { domainUuid: domain.domainUuid, from: bounds.from, to: bounds.to, number: number ? number : undefined, leg: 'a' };
}

async function callsPage(deps: ApiDeps, input: CallsRequest) {
  const context = await tenantOf(deps, input.serviceId);
  const current = periodOf(new Date(), deps.config.billing.timeZone);
  const selected = input.period ?? current;
  const filter = await filterFor(context, selected, input.number);
  const after = input.cursor ? decodeCursorFor(input.cursor, filter, 'cursor') : null;
  const page = await readCdrPage(context.deps.fusionPool, filter, after, input.limit);
  const ledger = await ledgerOf(
    deps,
    input.serviceId,
    page.records.map((record) => record.uuid),
  );
  const totals = await chargeTotals(deps.pool, input.serviceId, selected);
  const includedMinutes = context.service.plan.includedMinutes;
  return {
    serviceId: input.serviceId,
    period: selected,
    periods: periodsUpTo(current),
    timeZone: deps.config.billing.timeZone,
    number: input.number ?? '',
    calls: page.records.map((record) => toClientCall(record, ledger.get(record.uuid))),
    nextCursor: page.next ? encodeCursor(page.next, filter) : null,
    totals: { ratedCalls: totals.rated, unratedCalls: totals.unrated, notBillableCalls: totals.notBillable, amount: totals.ratedAmount },
    includedMinutes: typeof includedMinutes === 'number' ? includedMinutes : null,
    portalUrl: portalUrlOf(deps, requireDomain(context).domainName),
  };
}

/** FUSIONPBX_PORTAL_URL when set (as reported to WHMCS at create), else the tenant's own domain. */
function portalUrlOf(deps: ApiDeps, domainName: string): string {
  const configured = deps.config.fusionpbx.portalUrl;
  return configured ? configured : `https://${domainName}/`;
}

async function streamCalls(deps: ApiDeps, res: Response, input: { serviceId: number; period?: string; number?: string }): Promise<void> {
  const context = await tenantOf(deps, input.serviceId);
  const selected = input.period ?? periodOf(new Date(), deps.config.billing.timeZone);
  const filter = await filterFor(context, selected, input.number);
  const domain = requireDomain(context);
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  res.status(200);
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="calls-${domain.domainName}-${selected}.csv"`);
  const batches = iterateCdrs(context.deps.fusionPool, filter, EXPORT_BATCH);
  try {
    await writeWithBackPressure(res, csvHeader());
    for await (const batch of batches) {
      if (closed) break;
      const charges = await chargesFor(
        deps.pool,
        input.serviceId,
        batch.map((record) => record.uuid),
      );
      await writeWithBackPressure(res, csvLines(withCharges(batch, charges)));
    }
    res.end();
  } catch (error) {
    // Headers are out: the only honest signal left is a cut-short stream.
    res.destroy(error instanceof Error ? error : undefined);
  }
}

export interface ClientPhone {
  extension: string;
  name: string;
  enabled: boolean;
  registered: boolean;
  lost: boolean;
  device: string;
  since: string | null;
}

function phoneOf(extension: ExtensionView, state: RegistrationState | undefined): ClientPhone {
  const registered = state?.registered ?? false;
  // Registered: since the first poll that saw it; not registered: since it went missing (last change).
  const since = registered ? (state?.firstSeen ?? state?.lastChange) : state?.lastChange;
  return {
    extension: extension.extension,
    name: extension.callerIdName ?? extension.description ?? '',
    enabled: extension.enabled,
    registered,
    lost: state?.lost ?? false,
    device: state?.userAgent ?? '',
    since: since ? since.toISOString() : null,
  };
}

async function phones(deps: ApiDeps, id: number) {
  const context = await tenantOf(deps, id);
  const domain = requireDomain(context);
  const [extensions, states] = await Promise.all([listTenantExtensions(context.deps.fusionPool, domain.domainUuid), new RegistrationsRepository(deps.pool).states(id)]);
  const byExtension = new Map(states.map((state) => [state.extension, state]));
  return {
    serviceId: id,
    phones: extensions.map((extension) => phoneOf(extension, byExtension.get(extension.extension))),
    portalUrl: portalUrlOf(deps, domain.domainName),
  };
}

/**
 * What the WHMCS module's client area shows: a period's calls (paged, searchable), the period as a
 * CSV stream, and the phones. POST only, each body signed with WEBHOOK_SECRET by the module.
 */
export function clientPagesRouter(deps: ApiDeps): Router {
  const router = Router();
  router.post('/whmcs/client/calls', ...rawPageBody, async (req, res) => {
    res.json(await callsPage(deps, signedBody(deps, req, callsSchema)));
  });
  router.post('/whmcs/client/calls.csv', ...rawPageBody, async (req, res) => {
    const input = signedBody(deps, req, callsSchema);
    await streamCalls(deps, res, input);
  });
  router.post('/whmcs/client/phones', ...rawPageBody, async (req, res) => {
    res.json(await phones(deps, signedBody(deps, req, serviceSchema).serviceId));
  });
  return router;
}
