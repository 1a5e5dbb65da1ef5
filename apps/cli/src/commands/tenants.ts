import { Command, Option } from 'commander';
import { createPool, migrateBridgeDatabase, ServicesRepository, type ServiceRecord } from '@ictvoip/store';
import { action, config, emit, type JsonOption } from '../output';

function view(service: ServiceRecord) {
  return {
    serviceId: service.serviceId,
    clientId: service.clientId,
    domain: service.tenantDomain,
    desiredState: service.desiredState,
    observedState: service.observedState,
    pendingApply: service.pendingApply !== null && typeof service.pendingApply === 'object',
    maxExtensions: typeof service.plan.maxExtensions === 'number' ? service.plan.maxExtensions : null,
    updatedAt: service.updatedAt.toISOString(),
  };
}

/** `ictvoip tenants list`: the bridge's services table (desired vs observed state). */
export function tenantsCommand(): Command {
  const tenants = new Command('tenants').description('tenants (WHMCS services) the bridge manages');
  tenants
    .command('list')
    .description('every service with its desired and observed state')
    .addOption(new Option('--state <state>', 'only this desired state').choices(['active', 'suspended', 'terminated']))
    .option('--json', 'machine-readable output')
    .action(action(async (options: JsonOption & { state?: string }) => {
      const pool = createPool(config().database.url);
      try {
        await migrateBridgeDatabase(pool);
        const repository = new ServicesRepository(pool);
        const all: ServiceRecord[] = [];
        for (let after = 0; ;) {
          const page = await repository.list(1000, after);
          all.push(...page);
          if (page.length < 1000) break;
          after = page[page.length - 1].serviceId;
        }
        const rows = all.filter((s) => !options.state || s.desiredState === options.state).map(view);
        emit(options, { tenants: rows }, () => (rows.length
          ? rows.map((r) => `${r.serviceId}\t${r.domain ?? '-'}\tdesired ${r.desiredState}\tobserved ${r.observedState ?? '-'}${r.pendingApply ? '\tpending apply' : ''}`).join('\n')
          : 'no tenants'));
      } finally {
        await pool.end();
      }
    }));
  return tenants;
}
