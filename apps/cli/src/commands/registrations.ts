import { Command } from 'commander';
import type { Pool } from 'pg';
import {
  assertBridgeDatabaseMigrated,
  createPool,
  GatewayMonitoringRepository,
  RegistrationsRepository,
  ServicesRepository,
  type GatewayHistoryEntry,
  type RegistrationHistoryEntry,
} from '@ictvoip/store';
import { action, CliError, config, emit, positiveInt, type JsonOption } from '../output';

function line(entry: RegistrationHistoryEntry): string {
  const figures = entry.figures as { contactIp?: string | null; contactPort?: number | null; userAgent?: string | null };
  const contact = figures.contactIp ? `${figures.contactIp}${figures.contactPort ? `:${figures.contactPort}` : ''}` : '-';
  return `${entry.id}\t${entry.at.toISOString()}\t${entry.transition}\t${entry.extension}@${entry.domain}\tmissing since ${entry.missingSince.toISOString()}\t${contact}\t${figures.userAgent ?? '-'}\talert ${entry.alertSentAt ? `sent ${entry.alertSentAt.toISOString()}` : 'not sent'}`;
}

function gatewayLine(entry: GatewayHistoryEntry): string {
  const figures = entry.figures as { state?: string | null };
  return `${entry.id}\t${entry.at.toISOString()}\tgateway ${entry.transition}\t${entry.gatewayName ?? '-'} (${entry.gatewayUuid})@${entry.domain}\tfailing since ${entry.failingSince.toISOString()}\t${figures.state ?? '-'}\talert ${entry.alertSentAt ? `sent ${entry.alertSentAt.toISOString()}` : 'not sent'}`;
}

/** Runs `work` on the bridge database (migrated) for a service the bridge knows; refuses an unknown one. */
async function withKnownService(serviceId: number, work: (pool: Pool) => Promise<void>): Promise<void> {
  const pool = createPool(config().database.url, { max: 2 });
  try {
    await assertBridgeDatabaseMigrated(pool);
    if (!(await new ServicesRepository(pool).get(serviceId))) throw new CliError('UNKNOWN_SERVICE', `service ${serviceId} is not known to the bridge`);
    await work(pool);
  } finally {
    await pool.end();
  }
}

/** `ictvoip registrations history`: a tenant's recorded lost / restored transitions, newest first. */
export function registrationsCommand(): Command {
  const registrations = new Command('registrations').description('registration monitoring');
  registrations
    .command('history')
    .description('lost / restored transitions of a tenant, newest first')
    .requiredOption('--service <id>', 'WHMCS service id', positiveInt('--service'))
    .option('--limit <n>', 'how many (default 50)', positiveInt('--limit'), 50)
    .option('--before <id>', 'only transitions older than this id (the last id of the previous page)', positiveInt('--before'))
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { service: number; limit: number; before?: number }) => {
        await withKnownService(options.service, async (pool) => {
          const entries = await new RegistrationsRepository(pool).history(options.service, { limit: options.limit, beforeId: options.before });
          emit(options, { transitions: entries }, () => (entries.length ? entries.map(line).join('\n') : `no registration transitions for service ${options.service}`));
        });
      }),
    );
  registrations
    .command('gateways')
    .description("a tenant's monitored gateways (state, failing since) and their down / up transitions, newest first")
    .requiredOption('--service <id>', 'WHMCS service id', positiveInt('--service'))
    .option('--limit <n>', 'how many transitions (default 50)', positiveInt('--limit'), 50)
    .option('--before <id>', 'only transitions older than this id (the last id of the previous page)', positiveInt('--before'))
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { service: number; limit: number; before?: number }) => {
        await withKnownService(options.service, async (pool) => {
          const repository = new GatewayMonitoringRepository(pool);
          const [gateways, transitions] = await Promise.all([
            repository.states(options.service),
            repository.history(options.service, { limit: options.limit, beforeId: options.before }),
          ]);
          emit(options, { gateways, transitions }, () =>
            [
              ...gateways.map(
                (gateway) =>
                  `${gateway.gatewayName ?? '-'} (${gateway.gatewayUuid})\t${gateway.state ?? '-'}\t${gateway.down ? 'DOWN' : gateway.failingSince ? 'failing' : 'ok'}${gateway.failingSince ? ` since ${gateway.failingSince.toISOString()}` : ''}`,
              ),
              ...(transitions.length ? transitions.map(gatewayLine) : [`no gateway transitions for service ${options.service}`]),
            ].join('\n'),
          );
        });
      }),
    );
  return registrations;
}
