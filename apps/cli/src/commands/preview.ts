import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { Pool } from 'pg';
import {
  cacheOptionsFromConfig,
  createProvisioner,
  FusionServerDisabledError,
  previewTenantEvent,
  PreviewUnavailableError,
  provisionerOptionsFrom,
  serverCacheOptions,
  serverForEvent,
  tenantDomainName,
  type EventPreview,
} from '@ictvoip/fusionpbx';
import type { BridgeConfig } from '@ictvoip/config';
import type { CacheOptions } from '@ictvoip/freeswitch';
import { FusionServersRepository, assertBridgeDatabaseMigrated, ServicesRepository } from '@ictvoip/store';
import { EventValidationError, parseTenantCommand, type TenantCommand, type ValidationDetail } from '@ictvoip/whmcs';
import { action, CliError, config, emit, type JsonOption } from '../output';
import { defaultFusionDatabase } from '../read-deps';
import { cliFusionPool, cliPool, type FusionDatabase } from '../pool';

/** A refused event: the same code, message and field list as the webhook's 400 answer. */
export class EventRefusedError extends CliError {
  constructor(
    code: string,
    message: string,
    readonly details: ValidationDetail[],
  ) {
    super(code, message);
    this.name = 'EventRefusedError';
  }
}

function readSource(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new CliError('FILE_UNREADABLE', `${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Parsed and validated exactly like the webhook body (minus the signature: the operator is not WHMCS). */
export function eventFromText(text: string): TenantCommand {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EventRefusedError('INVALID_JSON', 'request body is not valid JSON', []);
  }
  try {
    return parseTenantCommand(parsed);
  } catch (error) {
    if (error instanceof EventValidationError) throw new EventRefusedError('VALIDATION_FAILED', 'webhook event is invalid', error.details);
    throw error;
  }
}

function previewText(preview: EventPreview): string {
  if (preview.result === 'error') return `would fail: ${preview.code}: ${preview.message}`;
  const rows = preview.rows.map(
    (row) =>
      `  ${row.op} ${row.table}${row.key ? ` ${row.key}` : ''} ${Object.entries(row.columns)
        .map(([column, value]) => `${column}=${value ?? 'NULL'}`)
        .join(' ')}`,
  );
  return [
    `${preview.action} service ${preview.serviceId} → ${preview.domainName} (${preview.status}); dry run, nothing written`,
    `FusionPBX rows (${preview.rows.length}):`,
    ...(rows.length ? rows : ['  none']),
    `event-socket commands (${preview.eslCommands.length}):`,
    ...(preview.eslCommands.length ? preview.eslCommands.map((command) => `  ${command}`) : ['  none']),
  ].join('\n');
}

function serverUnavailable(name: string): CliError {
  return new CliError('SERVER_UNAVAILABLE', `the event goes to FusionPBX server ${name}, which is disabled or not registered`);
}

/** The FusionPBX database the webhook would use for this event (serverForEvent, the worker's rule), and how that server's cache is cleared. */
async function fusionDatabaseForEvent(cfg: BridgeConfig, event: TenantCommand): Promise<{ database: FusionDatabase; cache: CacheOptions } | { conflict: string }> {
  const pool = cliPool(cfg.database.url, { max: 1 });
  try {
    await assertBridgeDatabaseMigrated(pool);
    // The worker refuses a create naming a domain another service has (any server) before FusionPBX is read.
    const conflict = event.action === 'create' ? await domainConflictOf(pool, cfg, event) : null;
    if (conflict) return { conflict };
    const servers = new FusionServersRepository(pool, cfg.sealing);
    const service = await new ServicesRepository(pool).get(event.service.id);
    const name = await serverForEvent(servers, service, event).catch((error: unknown) => {
      if (error instanceof FusionServerDisabledError) throw serverUnavailable(error.serverName);
      throw error;
    });
    if (name === null) return { database: defaultFusionDatabase(cfg), cache: cacheOptionsFromConfig(cfg) };
    const spec = await servers.spec(name);
    if (!spec || !spec.enabled) throw serverUnavailable(name);
    return { database: { server: name, url: spec.databaseUrl }, cache: serverCacheOptions(spec, cacheOptionsFromConfig(cfg)) };
  } finally {
    await pool.end();
  }
}

/** The create's domain when another service has it (TENANT_CONFLICT's message); null otherwise, or when the domain is invalid (the preview refuses that itself). */
async function domainConflictOf(pool: Pool, cfg: BridgeConfig, event: TenantCommand): Promise<string | null> {
  let domain: string;
  try {
    domain = tenantDomainName(event, provisionerOptionsFrom(cfg), String(event.service.id));
  } catch {
    return null;
  }
  return new ServicesRepository(pool).domainConflict(domain, event.service.id);
}

/**
 * Runs the shared dry-run against FusionPBX's database (read-only use of the bridge's); no queue, no
 * event socket. `shared`: the pool of the service's server and how its cache is cleared (reconcile).
 */
export async function previewWebhookEvent(event: TenantCommand, shared?: { pool: Pool; cache: CacheOptions }): Promise<EventPreview> {
  const cfg = config();
  const target = shared ?? (await fusionDatabaseForEvent(cfg, event));
  if ('conflict' in target) return { result: 'error', code: 'TENANT_CONFLICT', message: target.conflict, retryable: false };
  const fusionPool = 'pool' in target ? target.pool : cliFusionPool(target.database, { max: 1 });
  try {
    const provisioner = createProvisioner({ pool: fusionPool, options: provisionerOptionsFrom(cfg) });
    return await previewTenantEvent(provisioner, event.action, event, target.cache);
  } catch (error) {
    if (error instanceof PreviewUnavailableError)
      throw new EventRefusedError('VALIDATION_FAILED', error.message, [{ path: 'action', message: `dryRun supports ${error.supported.join(', ')}` }]);
    throw error;
  } finally {
    if (!shared) await fusionPool.end();
  }
}

function refused(error: EventRefusedError, options: JsonOption): void {
  const body = { error: { code: error.code, message: error.message, ...(error.details.length ? { details: error.details } : {}) } };
  if (options.json) process.stdout.write(`${JSON.stringify(body)}\n`);
  process.stderr.write(`ictvoip: ${error.message}\n${error.details.map((detail) => `  ${detail.path}: ${detail.message}`).join('\n')}${error.details.length ? '\n' : ''}`);
  process.exitCode = 1;
}

/**
 * `ictvoip preview <event.json|->`: what a WHMCS webhook event would write to FusionPBX (secrets
 * masked) and which event-socket commands it would send — the webhook's `?dryRun=1`, offline.
 */
export function previewCommand(): Command {
  return new Command('preview')
    .description('dry-run a WHMCS webhook event (file or - for stdin): the FusionPBX rows and event-socket commands it would apply; writes nothing')
    .argument('<event>', 'the event JSON the WHMCS module posts, or - to read stdin')
    .option('--json', "machine-readable output (the webhook's ?dryRun=1 answer)")
    .action(
      action(async (file: string, options: JsonOption) => {
        let preview: EventPreview;
        try {
          preview = await previewWebhookEvent(eventFromText(readSource(file)));
        } catch (error) {
          if (error instanceof EventRefusedError) return refused(error, options);
          throw error;
        }
        emit(options, preview, () => previewText(preview));
        // The event would fail for good (e.g. the domain belongs to another service): say so in the exit code.
        if (preview.result === 'error') process.exitCode = 1;
      }),
    );
}
