import { Command, Option } from 'commander';
import { assertBridgeDatabaseMigrated, ServicesRepository, TenantWritesRepository, type OwedGlobalApply, type ServiceRecord } from '@ictvoip/store';
import { action, config, emit, type JsonOption } from '../output';
import { cliPool } from '../pool';

function view(service: ServiceRecord) {
  return {
    serviceId: service.serviceId,
    clientId: service.clientId,
    domain: service.tenantDomain,
    desiredState: service.desiredState,
    observedState: service.observedState,
    pendingApply: service.pendingApply !== null,
    /** FreeSWITCH behind FusionPBX (event socket not answering): since when, how much, the last error. */
    freeswitchBehind: service.pendingApply
      ? { since: service.pendingApply.since, steps: service.pendingApply.steps.length, events: service.pendingApply.events.length, lastError: service.pendingApply.lastError }
      : null,
    /** The registered FusionPBX server the tenant lives on; null: the default server (FUSIONPBX_DATABASE_URL). */
    server: service.fusionpbxServer,
    maxExtensions: typeof service.plan.maxExtensions === 'number' ? service.plan.maxExtensions : null,
    updatedAt: service.updatedAt.toISOString(),
  };
}

/**
 * A global gateway write whose FreeSWITCH apply is still owed: no tenant, so no backlog of a service,
 * but the same kind of owed FreeSWITCH work, listed beside the tenants that are behind.
 */
function globalApplyView(owed: OwedGlobalApply) {
  return { jobId: owed.jobId, writeId: owed.writeId, server: owed.server, since: owed.since.toISOString(), steps: owed.steps.length };
}

type GlobalApplyView = ReturnType<typeof globalApplyView>;

const globalApplyLine = (owed: GlobalApplyView) =>
  `global gateway write ${owed.writeId}	${owed.server ?? 'default'}	FreeSWITCH behind since ${owed.since} (${owed.steps} steps; job ${owed.jobId})`;

/** The global applies a listing shows: none when it asks for a tenant state (they have none), else those of the asked server. */
async function owedGlobalApplies(repository: TenantWritesRepository, state: string | undefined, server: string | null | undefined): Promise<GlobalApplyView[]> {
  if (state) return [];
  return (await repository.globalAppliesOwed(0, 1000)).filter((owed) => server === undefined || owed.server === server).map(globalApplyView);
}

/** `ictvoip tenants list`: the bridge's services table (desired vs observed state). */
export function tenantsCommand(): Command {
  const tenants = new Command('tenants').description('tenants (WHMCS services) the bridge manages');
  tenants
    .command('list')
    .description('every service with its desired and observed state')
    .addOption(new Option('--state <state>', 'only this desired state').choices(['active', 'suspended', 'terminated']))
    .option(
      '--freeswitch-behind',
      'only the tenants whose FreeSWITCH side is behind FusionPBX (event socket not answering); global gateway writes whose FreeSWITCH apply is owed are listed too',
    )
    .option('--server <name>', "only the tenants on this registered FusionPBX server ('default' for the default server)")
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { state?: string; server?: string; freeswitchBehind?: boolean }) => {
        const pool = cliPool(config().database.url);
        try {
          await assertBridgeDatabaseMigrated(pool);
          const wantedServer = options.server === undefined ? undefined : options.server === 'default' ? null : options.server;
          const rows = (await new ServicesRepository(pool).listAll())
            .filter((s) => !options.state || s.desiredState === options.state)
            .filter((s) => wantedServer === undefined || s.fusionpbxServer === wantedServer)
            .filter((s) => !options.freeswitchBehind || s.pendingApply !== null)
            .map(view);
          const globalApplies = await owedGlobalApplies(new TenantWritesRepository(pool), options.state, wantedServer);
          emit(options, { tenants: rows, globalApplies }, () => {
            const tenantLines = rows.map(
              (r) =>
                `${r.serviceId}\t${r.domain ?? '-'}\t${r.server ?? 'default'}\tdesired ${r.desiredState}\tobserved ${r.observedState ?? '-'}${r.freeswitchBehind ? `\tFreeSWITCH behind since ${r.freeswitchBehind.since} (${r.freeswitchBehind.steps} steps${r.freeswitchBehind.lastError ? `; ${r.freeswitchBehind.lastError}` : ''})` : ''}`,
            );
            return [...(tenantLines.length ? tenantLines : ['no tenants']), ...globalApplies.map(globalApplyLine)].join('\n');
          });
        } finally {
          await pool.end();
        }
      }),
    );
  return tenants;
}
