import { Command } from 'commander';
import { provisionerOptionsFrom } from '@ictvoip/fusionpbx';
import { adoptTenants, type AdoptLine, type AdoptSummary } from '@ictvoip/operations';
import { assertBridgeDatabaseMigrated, FusionServersRepository } from '@ictvoip/store';
import { WhmcsApiClient } from '@ictvoip/whmcs';
import { action, CliError, config, emit, type JsonOption } from '../output';
import { defaultFusionDatabase } from '../read-deps';
import { cliFusionPool, cliPool, type FusionDatabase } from '../pool';

interface AdoptCommandOptions extends JsonOption {
  apply?: boolean;
  cdrFrom?: string;
  pid: string[];
  server?: string;
  gatewayTemplate?: string;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',')];
}

function productIds(values: readonly string[]): number[] {
  const ids = values.map((value) => value.trim()).filter(Boolean);
  if (ids.length === 0 || ids.some((id) => !/^[1-9][0-9]{0,9}$/.test(id)))
    throw new CliError('INVALID_ARGUMENT', '--pid: the WHMCS product id(s) of the module, e.g. --pid 12 --pid 14');
  return ids.map(Number);
}

function cdrFromDate(value: string | undefined): Date {
  if (!value) throw new CliError('INVALID_ARGUMENT', '--cdr-from is required: the first call start the bridge bills (the day the old autobill stops), e.g. --cdr-from 2026-12-01');
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime()))
    throw new CliError('INVALID_ARGUMENT', `--cdr-from: "${value}" is not a date (YYYY-MM-DD, UTC) or ISO-8601 time`);
  return date;
}

function lineText(line: AdoptLine): string {
  return `service ${line.serviceId}\t${line.domain ?? '-'}\t${line.outcome}${line.reason ? `: ${line.reason}` : ''}`;
}

function summaryText(summary: AdoptSummary): string {
  const skipped = Object.entries(summary.skippedBy)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(', ');
  // The domain's gateway named as the plan's gateway template: change_package rewrites it from the template.
  const gateways = `plan gateway taken over: ${summary.planGateways}`;
  const head = summary.apply
    ? `${summary.services} service(s): ${summary.adopted} adopted (${gateways}), ${summary.skipped} skipped${skipped ? ` (${skipped})` : ''}; calls from ${summary.cdrFrom} on are the bridge's to bill`
    : `${summary.services} service(s): ${summary.wouldAdopt} would be adopted (${gateways}), ${summary.skipped} skipped${skipped ? ` (${skipped})` : ''}; dry run, nothing written (--apply to adopt)`;
  if (!summary.apply) return head;
  if (summary.drift.length === 0) return `${head}\ndrift: none`;
  const drift = summary.drift.map(
    (item) =>
      `${item.kind}\tservice ${item.serviceId ?? '-'}\t${item.domain ?? '-'}\texpected ${item.expected}; actual ${item.actual}\t${item.fixAction ? `fix: ${item.fixAction}` : 'fix: manual'}`,
  );
  return `${head}\ndrift: ${summary.drift.length} difference(s) (ictvoip reconcile --fix converges those with a fix, or leave them):\n${drift.join('\n')}`;
}

async function adoptAction(options: AdoptCommandOptions): Promise<void> {
  const pids = productIds(options.pid ?? []);
  const cdrFrom = cdrFromDate(options.cdrFrom);
  const cfg = config();
  const { apiUrl, identifier, secret, timeoutMs } = cfg.whmcs;
  if (!apiUrl || !identifier || !secret)
    throw new CliError('WHMCS_NOT_CONFIGURED', 'adopt reads the services from the WHMCS API: set WHMCS_API_URL, WHMCS_API_IDENTIFIER and WHMCS_API_SECRET');
  const whmcs = new WhmcsApiClient({ url: apiUrl, identifier, secret, timeoutMs });
  const pool = cliPool(cfg.database.url, { max: 2 });
  let fusionPool: ReturnType<typeof cliPool> | null = null;
  try {
    await assertBridgeDatabaseMigrated(pool);
    const server = options.server && options.server !== 'default' ? options.server : null;
    let fusionDatabase: FusionDatabase = defaultFusionDatabase(cfg);
    if (server !== null) {
      const spec = await new FusionServersRepository(pool, cfg.sealing).spec(server);
      if (!spec || !spec.enabled) throw new CliError('SERVER_UNAVAILABLE', `FusionPBX server ${server} is disabled or not registered (ictvoip servers list)`);
      fusionDatabase = { server, url: spec.databaseUrl };
    }
    const gatewayTemplates = provisionerOptionsFrom(cfg).gatewayTemplates ?? {};
    const gatewayTemplate = options.gatewayTemplate?.trim() || undefined;
    if (gatewayTemplate && !Object.hasOwn(gatewayTemplates, gatewayTemplate))
      throw new CliError('INVALID_ARGUMENT', `--gateway-template: no gateway template "${gatewayTemplate}" in PROVISIONING_FILE`);
    fusionPool = cliFusionPool(fusionDatabase, { max: 2 });
    const summary = await adoptTenants(
      { pool, whmcs, fusionPool },
      {
        apply: options.apply === true,
        cdrFrom,
        pids,
        server,
        gatewayTemplate,
        gatewayTemplates,
        // One line per service as it is done: a run stopped half-way shows how far it got.
        onProgress: (line) => void process.stderr.write(`${lineText(line)}\n`),
      },
    );
    emit(options, { ...summary, dryRun: !summary.apply }, () => summaryText(summary));
  } finally {
    await Promise.allSettled([pool.end(), fusionPool?.end()]);
  }
}

/** `ictvoip adopt`: take over the tenants ictVoIP made (dry run unless --apply). */
export function adoptCommand(): Command {
  return new Command('adopt')
    .description("take over existing FusionPBX tenants of WHMCS services (ictVoIP's): tag each domain, record the service, start billing at --cdr-from; dry run unless --apply")
    .option('--pid <ids>', 'WHMCS product id(s) of the module whose services are adopted (repeatable, or comma-separated)', collect, [])
    .option('--cdr-from <date>', 'the first call start the bridge bills (YYYY-MM-DD UTC or ISO-8601): the day the old autobill stops')
    .option('--server <name>', 'the FusionPBX server the tenants are on (default: the default server)')
    .option('--gateway-template <key>', "the products' Gateway template module setting: the domain's gateway of that template's name becomes the plan's gateway")
    .option('--apply', 'adopt; without it nothing is written')
    .option('--json', 'machine-readable output (progress lines stay on stderr)')
    .action(action(adoptAction));
}
