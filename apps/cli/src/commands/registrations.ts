import { Command, InvalidArgumentError } from 'commander';
import type { Pool } from 'pg';
import {
  assertBridgeDatabaseMigrated,
  DEFAULT_FUSION_SERVER,
  effectiveWatchScope,
  GatewayMonitoringRepository,
  MonitoringWatchRepository,
  RegistrationsRepository,
  ServicesRepository,
  type RegistrationState,
  type GatewayHistoryEntry,
  type RegistrationHistoryEntry,
} from '@ictvoip/store';
import { watchMarkRefusal } from '@ictvoip/fusionpbx';
import { action, CliError, config, emit, positiveInt, type JsonOption } from '../output';
import { fusionDatabaseFor } from '../read-deps';
import { cliFusionPool, cliPool } from '../pool';

function line(entry: RegistrationHistoryEntry): string {
  const figures = entry.figures as { contactIp?: string | null; contactPort?: number | null; userAgent?: string | null };
  const contact = figures.contactIp ? `${figures.contactIp}${figures.contactPort ? `:${figures.contactPort}` : ''}` : '-';
  return `${entry.id}\t${entry.at.toISOString()}\t${entry.transition}\t${entry.extension}@${entry.domain}\tmissing since ${entry.missingSince.toISOString()}\t${contact}\t${figures.userAgent ?? '-'}\talert ${entry.alertSentAt ? `sent ${entry.alertSentAt.toISOString()}` : 'not sent'}`;
}

function gatewayLine(entry: GatewayHistoryEntry): string {
  const figures = entry.figures as { state?: string | null };
  return `${entry.id}\t${entry.at.toISOString()}\tgateway ${entry.transition}\t${entry.gatewayName ?? '-'} (${entry.gatewayUuid})@${entry.domain}\tfailing since ${entry.failingSince.toISOString()}\t${figures.state ?? '-'}\talert ${entry.alertSentAt ? `sent ${entry.alertSentAt.toISOString()}` : 'not sent'}`;
}

/**
 * The servers whose registrations the list cannot vouch for: not polled within three poll periods
 * (REGISTRATION_POLL_SECONDS), or never. With --service, that service's server only.
 */
async function stalePolls(pool: Pool, repository: RegistrationsRepository, serviceId: number | undefined): Promise<{ server: string; polledAt: Date | null }[]> {
  const { rows } = serviceId
    ? await pool.query<{ name: string }>(`SELECT COALESCE(fusionpbx_server, '${DEFAULT_FUSION_SERVER}') AS name FROM services WHERE service_id = $1`, [serviceId])
    : await pool.query<{ name: string }>(`SELECT '${DEFAULT_FUSION_SERVER}' AS name UNION SELECT name FROM fusionpbx_servers WHERE enabled ORDER BY 1`);
  const oldest = Date.now() - 3 * config().monitoring.pollSeconds * 1000;
  const states = await Promise.all(rows.map(async ({ name }) => ({ server: name, polledAt: (await repository.serverState(name)).polledAt })));
  return states.filter((state) => !state.polledAt || state.polledAt.getTime() < oldest);
}

function lostLine(state: RegistrationState): string {
  const contact = state.contactIp ? `${state.contactIp}${state.contactPort ? `:${state.contactPort}` : ''}` : '-';
  return `${state.serviceId}\t${state.extension}@${state.domain}\tlost, missing since ${state.missingSince?.toISOString() ?? '-'}\tlast seen ${state.lastSeen?.toISOString() ?? '-'}\t${contact}\t${state.userAgent ?? '-'}`;
}

/** Runs `work` on the bridge database (migrated) for a service the bridge knows; refuses an unknown one. */
async function withKnownService(serviceId: number, work: (pool: Pool) => Promise<void>): Promise<void> {
  await withBridgePool(async (pool) => {
    if (!(await new ServicesRepository(pool).get(serviceId))) throw new CliError('UNKNOWN_SERVICE', `service ${serviceId} is not known to the bridge`);
    await work(pool);
  });
}

async function withBridgePool(work: (pool: Pool) => Promise<void>): Promise<void> {
  const pool = cliPool(config().database.url, { max: 2 });
  try {
    await assertBridgeDatabaseMigrated(pool);
    await work(pool);
  } finally {
    await pool.end();
  }
}

/**
 * The numbers to mark must be the tenant's extensions in FusionPBX (its own server's), within the
 * limit: the check the REST route makes (watchMarkRefusal), refused as a CliError naming --mark.
 */
async function refuseBadMarks(pool: Pool, repository: MonitoringWatchRepository, serviceId: number, mark: string[], unmark: string[]): Promise<void> {
  const service = (await new ServicesRepository(pool).get(serviceId))!;
  const fusionPool = cliFusionPool(await fusionDatabaseFor(pool, config(), serviceId), { max: 1 });
  try {
    const marked = (await repository.get(serviceId)).marked;
    const refusal = await watchMarkRefusal(fusionPool, { serviceId, tenantDomain: service.tenantDomain, marked }, mark, unmark);
    if (refusal) throw new CliError(refusal.code, `--mark: ${refusal.message}; nothing was changed`);
  } finally {
    await fusionPool.end();
  }
}

/** `--mark 101,102`: extension numbers, comma-separated. */
function extensionList(name: string): (value: string) => string[] {
  return (value: string) => {
    const list = value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
    if (list.length === 0 || !list.every((item) => /^[0-9]{2,15}$/.test(item))) throw new InvalidArgumentError(`${name} takes extension numbers (2-15 digits), comma-separated`);
    return list;
  };
}

function urlList(value: string): string[] {
  const list = value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const item of list) {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw new InvalidArgumentError(`--recipients: "${item.slice(0, 80)}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('--recipients takes http(s) URLs, comma-separated (an empty string clears them)');
  }
  return list;
}

function watchScope(value: string): 'all' | 'marked' | 'off' | null {
  if (value === 'plan') return null;
  if (value === 'all' || value === 'marked' || value === 'off') return value;
  throw new InvalidArgumentError('--scope must be all, marked, off or plan (back to the WHMCS module setting)');
}

/** Resolves after `ms`, or at once when `signal` is aborted. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * `history --follow`: the last transitions oldest first, then every new one as it is recorded, read
 * with a keyset cursor (id > the last printed) every `interval` ms; SIGINT or SIGTERM ends it with
 * status 0. Ids come from one sequence, so a transition is printed once; one committed after a higher
 * id was already read (two servers' polls recording at the same moment) would be missed, which the
 * poll's per-server lock makes rare.
 */
async function followHistory(repository: RegistrationsRepository, options: JsonOption & { service: number; limit: number; interval: number }): Promise<void> {
  const stop = new AbortController();
  const interrupted = () => stop.abort();
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const show = (entry: RegistrationHistoryEntry) => emit(options, { transition: entry }, () => line(entry));
    // The newest id first: a transition recorded meanwhile is in the backlog or after the cursor, not lost.
    const newest = await repository.lastHistoryId();
    const backlog = (await repository.history(options.service, { limit: options.limit })).reverse();
    let cursor = Math.max(newest, ...backlog.map((entry) => entry.id));
    backlog.forEach(show);
    if (!options.json) process.stderr.write(`… following service ${options.service}'s transitions (Ctrl-C ends)\n`);
    while (!stop.signal.aborted) {
      await pause(options.interval, stop.signal);
      if (stop.signal.aborted) break;
      for (const entry of await repository.historySince(options.service, cursor, 500)) {
        show(entry);
        cursor = entry.id;
      }
    }
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
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
    .option('--follow', 'after the last --limit transitions (oldest first), print each new one as it is recorded, until interrupted (Ctrl-C); with --json one object per line')
    .option('--interval <ms>', 'with --follow: how often the history is read (default 2000)', positiveInt('--interval'), 2000)
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { service: number; limit: number; before?: number; follow?: boolean; interval: number }) => {
        await withKnownService(options.service, async (pool) => {
          const repository = new RegistrationsRepository(pool);
          if (options.follow) return followHistory(repository, options);
          const entries = await repository.history(options.service, { limit: options.limit, beforeId: options.before });
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
  registrations
    .command('lost')
    .description('extensions currently lost (missing past REGISTRATION_LOST_AFTER_SECONDS), longest lost first; exit 2 when any')
    .option('--service <id>', 'only this WHMCS service', positiveInt('--service'))
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { service?: number }) => {
        const run = async (pool: Pool) => {
          const repository = new RegistrationsRepository(pool);
          const lost = await repository.lost(options.service);
          const stale = await stalePolls(pool, repository, options.service);
          emit(options, { lost, stale }, () => (lost.length ? lost.map(lostLine).join('\n') : 'no extension is lost'));
          for (const server of stale) {
            process.stderr.write(
              `ictvoip: server ${server.server}'s registrations ${server.polledAt ? `were last polled at ${server.polledAt.toISOString()}` : 'were never polled'}: a lost extension there would not be listed (is a worker running, does its event socket answer?)\n`,
            );
          }
          // Like `reconcile`: scripts and monitoring checks can test the exit code (3: unknown, as a monitoring plugin says it).
          if (lost.length > 0) process.exitCode = 2;
          else if (stale.length > 0) process.exitCode = 3;
        };
        if (options.service) await withKnownService(options.service, run);
        else await withBridgePool(run);
      }),
    );
  registrations
    .command('watch')
    .description('show or set what registration monitoring watches for a tenant: scope all|marked|off (or plan), marked extensions, extra alert webhooks')
    .requiredOption('--service <id>', 'WHMCS service id', positiveInt('--service'))
    .option('--scope <scope>', 'all, marked, off, or plan (the WHMCS module setting "Registration watch")', watchScope)
    .option('--mark <extensions>', 'mark extensions for the marked scope (comma-separated)', extensionList('--mark'))
    .option('--unmark <extensions>', 'unmark extensions (comma-separated)', extensionList('--unmark'))
    .option('--recipients <urls>', "replace the tenant's extra alert webhook URLs (comma-separated; '' clears them)", urlList)
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { service: number; scope?: 'all' | 'marked' | 'off' | null; mark?: string[]; unmark?: string[]; recipients?: string[] }) => {
        await withKnownService(options.service, async (pool) => {
          const repository = new MonitoringWatchRepository(pool);
          // Everything is checked before anything is written: a refused mark changes nothing.
          if (options.mark) await refuseBadMarks(pool, repository, options.service, options.mark, options.unmark ?? []);
          if (options.scope !== undefined || options.recipients) await repository.set(options.service, { scope: options.scope, recipients: options.recipients });
          if (options.mark) await repository.mark(options.service, options.mark, true);
          if (options.unmark) await repository.mark(options.service, options.unmark, false);
          const watch = await repository.get(options.service);
          const service = (await new ServicesRepository(pool).get(options.service))!;
          const scope = effectiveWatchScope(watch.scopeOverride, service.plan);
          const value = {
            serviceId: options.service,
            scope,
            scopeOverride: watch.scopeOverride,
            marked: watch.marked,
            recipients: watch.recipients,
            watched: service.desiredState === 'active',
          };
          emit(options, value, () =>
            [
              `service ${options.service}: scope ${scope}${watch.scopeOverride ? ' (set here)' : ' (from the plan)'}${service.desiredState === 'active' ? '' : `, not watched while ${service.desiredState}`}`,
              `marked: ${watch.marked.length ? watch.marked.join(', ') : '-'}`,
              `extra alert webhooks: ${watch.recipients.length ? watch.recipients.join(', ') : '-'}`,
            ].join('\n'),
          );
        });
      }),
    );
  return registrations;
}
