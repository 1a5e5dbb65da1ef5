import { Command } from 'commander';
import type { Pool } from 'pg';
import type { QueueSet } from '@ictvoip/queue';
import { openQueues } from '../redis';
import { FusionServersRepository, assertBridgeDatabaseMigrated, ServicesRepository } from '@ictvoip/store';
import { WhmcsApiClient } from '@ictvoip/whmcs';
// The worker is loaded only when this command runs: it pulls in most of the bridge and slows every other command's start.
import { buildDriftReport, fixDrift, previewDriftFix, type DriftFixPreview, type DriftFixResult, type DriftReport } from '@ictvoip/operations';
import { cacheOptionsFromConfig, provisionerOptionsFrom, serverCacheOptions, type EventPreview } from '@ictvoip/fusionpbx';
import type { CacheOptions } from '@ictvoip/freeswitch';
import { action, CliError, config, emit, progress, type JsonOption } from '../output';
import { previewWebhookEvent } from './preview';
import { defaultFusionDatabase } from '../read-deps';
import { cliFusionPool, cliPool } from '../pool';

function whmcsClient(): WhmcsApiClient | null {
  const { apiUrl, identifier, secret, timeoutMs } = config().whmcs;
  if (!apiUrl || !identifier || !secret) return null;
  return new WhmcsApiClient({ url: apiUrl, identifier, secret, timeoutMs });
}

/** The queues when Redis answers; otherwise null and the inbox reconciler enqueues the fix events later. */
function reachableQueues(): Promise<{ queues: QueueSet; close(): Promise<void> } | null> {
  return openQueues(config()).catch(() => null);
}

function reportText(report: DriftReport): string {
  const header = `checked ${report.services} service(s), ${report.tenants} FusionPBX tenant(s)${report.whmcsChecked ? ', WHMCS statuses and packages' : ' (WHMCS not configured: not compared)'}`;
  if (report.items.length === 0) return `${header}\nno drift`;
  const lines = report.items.map(
    (item) =>
      `${item.kind}\tservice ${item.serviceId ?? '-'}\t${item.domain ?? '-'}\texpected ${item.expected}; actual ${item.actual}\t${item.fixAction ? `fix: ${item.fixAction}` : `fix: manual${item.note ? ` (${item.note})` : ''}`}`,
  );
  return `${header}\n${report.items.length} difference(s):\n${lines.join('\n')}`;
}

function fixText(fix: DriftFixResult): string {
  const lines = fix.fixes.map((f) => `service ${f.serviceId}: ${f.action} ${f.outcome}${f.eventId ? ` (event ${f.eventId})` : ''} for ${f.kinds.join(', ')}`);
  if (fix.manual.length) lines.push(`${fix.manual.length} difference(s) need a person (see above)`);
  return lines.length ? lines.join('\n') : 'nothing to fix';
}

/** `unavailable`: why no preview could be computed (the service's server is disabled, unregistered or not answering). */
type PlannedFix = DriftFixPreview & { preview: EventPreview | null; unavailable?: string };

/**
 * The rows and commands of each event --fix would enqueue: one rolled-back FusionPBX transaction per
 * service, on the service's own server (`serverPools` by name; the default server otherwise). A server
 * that cannot be read marks its services' fixes unavailable; the other services are still previewed.
 * The event-socket commands are described with each server's cache method (`caches`; the default's otherwise).
 */
async function previewFixes(
  fixes: DriftFixPreview[],
  pool: Pool,
  fusionPool: Pool,
  serverPools: ReadonlyMap<string, Pool>,
  caches: { default: CacheOptions; servers: ReadonlyMap<string, CacheOptions> },
): Promise<PlannedFix[]> {
  const services = new ServicesRepository(pool);
  const planned: PlannedFix[] = [];
  for (const fix of fixes) {
    if (!fix.event) {
      planned.push({ ...fix, preview: null });
      continue;
    }
    const server = (await services.get(fix.serviceId))?.fusionpbxServer ?? null;
    const target = server === null ? fusionPool : serverPools.get(server);
    if (!target) {
      planned.push({ ...fix, preview: null, unavailable: `FusionPBX server ${server} is disabled or not registered` });
      continue;
    }
    try {
      const cache = (server === null ? undefined : caches.servers.get(server)) ?? caches.default;
      planned.push({ ...fix, preview: await previewWebhookEvent(fix.event, { pool: target, cache }) });
    } catch (error) {
      if (error instanceof CliError) throw error;
      planned.push({
        ...fix,
        preview: null,
        unavailable: `${server === null ? 'the default FusionPBX server' : `FusionPBX server ${server}`} did not answer: ${error instanceof Error ? error.message : 'failed'}`,
      });
    }
  }
  return planned;
}

function plannedText(fixes: readonly PlannedFix[]): string {
  const lines = fixes.map((fix) => {
    const head = `service ${fix.serviceId}: would ${fix.outcome === 'would_enqueue' ? 'enqueue' : 'skip (an event is already pending)'} ${fix.action} for ${fix.kinds.join(', ')}`;
    if (fix.unavailable) return `${head}\n  no preview: ${fix.unavailable}`;
    if (!fix.preview) return head;
    if (fix.preview.result === 'error') return `${head}\n  would fail: ${fix.preview.code}: ${fix.preview.message}`;
    const rows = fix.preview.rows.map(
      (row) =>
        `  ${row.op} ${row.table} ${Object.entries(row.columns)
          .map(([column, value]) => `${column}=${value ?? 'NULL'}`)
          .join(' ')}`,
    );
    return [head, ...rows, ...fix.preview.eslCommands.map((command) => `  esl: ${command}`)].join('\n');
  });
  return `${lines.length ? lines.join('\n') : 'nothing to fix'}\ndry run: nothing recorded or enqueued`;
}

/** `ictvoip reconcile [--fix]`: the drift report; exit 2 when differences remain. */
export function reconcileCommand(): Command {
  return new Command('reconcile')
    .description("compare WHMCS, the bridge's desired state and FusionPBX; --fix converges through the normal jobs")
    .option('--fix', 'enqueue one synthetic event per service with a fixable difference (request id drift-fix)')
    .option('--dry-run', 'with --fix: print the events it would enqueue, per service, with the rows and event-socket commands each would apply; write nothing')
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { fix?: boolean; dryRun?: boolean }) => {
        if (options.dryRun && !options.fix) throw new CliError('INVALID_ARGUMENT', '--dry-run goes with --fix (reconcile alone writes nothing)');
        const cfg = config();
        const pool = cliPool(cfg.database.url);
        const fusionPool = cliFusionPool(defaultFusionDatabase(cfg), { max: 2 });
        const serverPools = new Map<string, Pool>();
        const serverCaches = new Map<string, CacheOptions>();
        try {
          await assertBridgeDatabaseMigrated(pool);
          // Every enabled registered server is compared too, each tenant on its own server.
          const registered = await new FusionServersRepository(pool, cfg.sealing).specs();
          for (const server of registered.specs) {
            if (!server.enabled) continue;
            serverPools.set(server.name, cliFusionPool({ server: server.name, url: server.databaseUrl }, { max: 2 }));
            serverCaches.set(server.name, serverCacheOptions(server, cacheOptionsFromConfig(cfg)));
          }
          // A server whose secrets cannot be opened is reported as not read, with the reason; the others are compared.
          const unread = new Map(registered.unreadable.filter((server) => server.enabled).map((server) => [server.name, server.reason]));
          progress(options, 'reading services, FusionPBX tenants and WHMCS statuses');
          // The routes are compared with what the plan's route template re-derives (PROVISIONING_FILE), as the worker's report does.
          const report = await buildDriftReport({ pool, fusionPool, servers: serverPools, unread, whmcs: whmcsClient(), provisioning: provisionerOptionsFrom(cfg) });
          if (options.dryRun) {
            const plan = await previewDriftFix(report, pool);
            const fixes = await previewFixes(plan.fixes, pool, fusionPool, serverPools, { default: cacheOptionsFromConfig(cfg), servers: serverCaches });
            emit(options, { dryRun: true, report, fix: { fixes, manual: plan.manual } }, () => `${reportText(report)}\n${plannedText(fixes)}`);
            if (report.items.length > 0) process.exitCode = 2;
            return;
          }
          let fix: DriftFixResult | null = null;
          if (options.fix) {
            const queues = await reachableQueues();
            if (!queues) progress(options, "Redis is not answering: fix events are recorded and the worker's reconciler will enqueue them");
            try {
              fix = await fixDrift(report, { pool, queues: queues?.queues ?? null });
            } finally {
              await queues?.close();
            }
          }
          emit(options, { report, fix }, () => (fix ? `${reportText(report)}\n${fixText(fix)}` : reportText(report)));
          const unresolved = fix ? fix.manual.length : report.items.length;
          if (unresolved > 0) process.exitCode = 2;
        } finally {
          await Promise.allSettled([pool.end(), fusionPool.end(), ...[...serverPools.values()].map((serverPool) => serverPool.end())]);
        }
      }),
    );
}
