import { Command } from 'commander';
import type { QueueSet } from '@ictvoip/queue';
import { openQueues } from '../redis';
import type { Pool } from 'pg';
import { createPool, FusionServersRepository, migrateBridgeDatabase } from '@ictvoip/store';
import { WhmcsApiClient } from '@ictvoip/whmcs';
// The worker is loaded only when this command runs: it pulls in most of the bridge and slows every other command's start.
import type { DriftFixResult, DriftReport } from '@ictvoip/worker';
import { action, config, emit, progress, type JsonOption } from '../output';

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
  const lines = report.items.map((item) => `${item.kind}\tservice ${item.serviceId ?? '-'}\t${item.domain ?? '-'}\texpected ${item.expected}; actual ${item.actual}\t${item.fixAction ? `fix: ${item.fixAction}` : `fix: manual${item.note ? ` (${item.note})` : ''}`}`);
  return `${header}\n${report.items.length} difference(s):\n${lines.join('\n')}`;
}

function fixText(fix: DriftFixResult): string {
  const lines = fix.fixes.map((f) => `service ${f.serviceId}: ${f.action} ${f.outcome}${f.eventId ? ` (event ${f.eventId})` : ''} for ${f.kinds.join(', ')}`);
  if (fix.manual.length) lines.push(`${fix.manual.length} difference(s) need a person (see above)`);
  return lines.length ? lines.join('\n') : 'nothing to fix';
}

/** `ictvoip reconcile [--fix]`: the drift report; exit 2 when differences remain. */
export function reconcileCommand(): Command {
  return new Command('reconcile')
    .description('compare WHMCS, the bridge\'s desired state and FusionPBX; --fix converges through the normal jobs')
    .option('--fix', 'enqueue one synthetic event per service with a fixable difference (request id drift-fix)')
    .option('--json', 'machine-readable output')
    .action(action(async (options: JsonOption & { fix?: boolean }) => {
      const cfg = config();
      const pool = createPool(cfg.database.url);
      const fusionPool = createPool(cfg.fusionpbx.databaseUrl, { max: 2 });
      const serverPools = new Map<string, Pool>();
      try {
        const { buildDriftReport, fixDrift } = await import('@ictvoip/worker');
        await migrateBridgeDatabase(pool);
        // Every enabled registered server is compared too, each tenant on its own server.
        for (const server of await new FusionServersRepository(pool, cfg.webhook.secrets).specs()) {
          if (server.enabled) serverPools.set(server.name, createPool(server.databaseUrl, { max: 2 }));
        }
        progress(options, 'reading services, FusionPBX tenants and WHMCS statuses');
        const report = await buildDriftReport({ pool, fusionPool, servers: serverPools, whmcs: whmcsClient() });
        let fix: DriftFixResult | null = null;
        if (options.fix) {
          const queues = await reachableQueues();
          if (!queues) progress(options, 'Redis is not answering: fix events are recorded and the worker\'s reconciler will enqueue them');
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
    }));
}
