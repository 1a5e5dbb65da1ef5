import { Command } from 'commander';
import type { Pool } from 'pg';
import { checkClientCredit, serviceBillingView, ServiceUnknownError, type CreditCheckOutcome, type ServiceBillingView, type ServiceCreditOutcome } from '@ictvoip/operations';
import { assertBridgeDatabaseMigrated, clientsUnderCreditControl, dayBefore, listCreditStates, ServicesRepository, type CreditStateRecord } from '@ictvoip/store';
import { WhmcsApiClient } from '@ictvoip/whmcs';
import { action, CliError, config, emit, positiveInt, type JsonOption } from '../output';
import { cliPool } from '../pool';

async function withBridgeDb<T>(work: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = cliPool(config().database.url, { max: 3 });
  try {
    await assertBridgeDatabaseMigrated(pool);
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** The WHMCS API client of the configured WHMCS_API_* (null when not set). */
export function whmcsClient(): WhmcsApiClient | null {
  const { apiUrl, identifier, secret, timeoutMs } = config().whmcs;
  if (!apiUrl || !identifier || !secret) return null;
  return new WhmcsApiClient({ url: apiUrl, identifier, secret, timeoutMs });
}

function statusLine(row: CreditStateRecord): string {
  const restricted = row.suspendedBy ? `restricted by ${row.suspendedBy}` : 'not restricted';
  const pending = row.pendingAction ? `, pending ${row.pendingAction}` : '';
  const last = row.lastTransition ? `${row.lastTransition} at ${row.lastTransitionAt?.toISOString()}` : 'none';
  const balance = row.credit === null ? 'unreadable' : `${row.credit} ${row.currency ?? ''}`.trim();
  return `service ${row.serviceId}\tclient ${row.clientId}\t${row.state}\tbalance ${balance}\tusage ${row.usage}\tavailable ${row.available ?? '-'}\tthreshold ${row.threshold}\t${restricted}${pending}\tlast transition ${last}${row.lastError ? `\terror: ${row.lastError}` : ''}`;
}

function checkLine(service: ServiceCreditOutcome): string {
  const change = service.before === service.after ? service.after : `${service.before} → ${service.after}`;
  const actions = service.actions.length ? `\twould: ${service.actions.join(', ')}` : '';
  return `service ${service.serviceId}\tclient ${service.clientId}\t${service.billingMode}\t${change}\tbalance ${service.figures.credit ?? 'unreadable'}\tusage ${service.figures.usage}\tavailable ${service.figures.available ?? '-'}\tthreshold ${service.figures.threshold}${service.manualHold ? '\tManual VoIP Suspend set' : ''}${actions}`;
}

/** The service's billing view, or the CLI's UNKNOWN_SERVICE error. */
export async function viewOf(pool: Pool, serviceId: number): Promise<ServiceBillingView> {
  try {
    return await serviceBillingView(pool, config().billing, serviceId);
  } catch (error) {
    if (error instanceof ServiceUnknownError) throw new CliError(error.code, error.message);
    throw error;
  }
}

/** `2025-01-15 (2025-01-15 to 2025-04-14)`: a period's label and its first and last local day. */
export function periodText(period: ServiceBillingView['periods']['current']): string {
  return `${period.label} (${period.start} to ${dayBefore(period.end)})`;
}

function showText(view: ServiceBillingView): string {
  const state = view.credit;
  const lines = [
    `service ${view.serviceId} (client ${view.clientId})`,
    `billing mode     ${view.billingMode}${view.creditControlled ? `, under credit control (restriction: ${view.creditRestriction})` : ', not under credit control'}`,
    `credit limit     ${view.creditLimit ?? '-'}`,
    `low threshold    ${state?.threshold ?? view.lowBalanceThreshold ?? '-'}`,
    `state            ${state ? `${state.state}${state.lastTransitionAt ? ` since ${state.lastTransitionAt.toISOString()}` : ''}` : 'never checked'}`,
  ];
  if (state) {
    lines.push(
      `balance          ${state.credit === null ? 'unreadable' : `${state.credit} ${state.currency ?? ''}`.trim()}`,
      `usage            ${state.usage} (rated, not yet on a WHMCS invoice)`,
      `available        ${state.available ?? '-'}`,
      `restricted by    ${state.suspendedBy ?? '-'}${state.pendingAction ? ` (pending ${state.pendingAction})` : ''}`,
      `last checked     ${state.lastCheckedAt?.toISOString() ?? '-'}${state.lastError ? ` (error: ${state.lastError})` : ''}`,
    );
  }
  lines.push(`billing period   ${periodText(view.periods.current)}, ${view.periods.mode} periods`);
  return lines.join('\n');
}

/** `ictvoip credit status|check`: what credit control knows and what a check would do. */
export function creditCommand(): Command {
  const credit = new Command('credit').description('credit control of prepaid and credit-limited services');
  credit
    .command('status')
    .description('per service: balance, uninvoiced usage, available credit, state, who restricted it, last transition')
    .option('--service <id>', 'only this WHMCS service', positiveInt('--service'))
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { service?: number }) => {
        await withBridgeDb(async (pool) => {
          if (options.service !== undefined && !(await new ServicesRepository(pool).get(options.service))) {
            throw new CliError('UNKNOWN_SERVICE', `service ${options.service} is not known to the bridge`);
          }
          const rows = await listCreditStates(pool, { serviceId: options.service });
          emit(options, { services: rows }, () => (rows.length ? rows.map(statusLine).join('\n') : 'no service under credit control has been checked yet'));
        });
      }),
    );
  credit
    .command('show')
    .description('one service: billing mode, credit limit, threshold, state, balance, usage and available credit (exact decimals), current billing period')
    .requiredOption('--service <id>', 'the WHMCS service', positiveInt('--service'))
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { service: number }) => {
        await withBridgeDb(async (pool) => {
          const view = await viewOf(pool, options.service);
          emit(options, { service: view }, () => showText(view));
        });
      }),
    );
  credit
    .command('check')
    .description("check clients' credit now (with --dry-run: report what would change, change nothing)")
    .option('--client <id>', 'only this WHMCS client', positiveInt('--client'))
    .option('--service <id>', "only this service's client", positiveInt('--service'))
    .option('--dry-run', 'read WHMCS and the usage, decide, and change nothing (no state, mail or WHMCS write)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { client?: number; service?: number; dryRun?: boolean }) => {
        await withBridgeDb(async (pool) => {
          let clients: number[];
          if (options.service !== undefined) {
            const service = await new ServicesRepository(pool).get(options.service);
            if (!service) throw new CliError('UNKNOWN_SERVICE', `service ${options.service} is not known to the bridge`);
            clients = [service.clientId];
          } else clients = options.client !== undefined ? [options.client] : await clientsUnderCreditControl(pool);
          const deps = { config: config(), pool, whmcs: whmcsClient() };
          const outcomes: CreditCheckOutcome[] = [];
          for (const clientId of clients) outcomes.push(await checkClientCredit(deps, clientId, { dryRun: options.dryRun === true }));
          const services = outcomes.flatMap((outcome) => outcome.services).filter((service) => options.service === undefined || service.serviceId === options.service);
          emit(options, { dryRun: options.dryRun === true, services }, () => (services.length ? services.map(checkLine).join('\n') : 'no service under credit control'));
        });
      }),
    );
  return credit;
}
