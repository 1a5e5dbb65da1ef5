/**
 * Billing close: 10,000 services' period close against the WHMCS stand-in. Runs only once the
 * worker has billing jobs (apps/worker/src/jobs/billing); until then the row is pending, never faked.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lib/child';
import { pendingRow, type ResultRow } from '../lib/report';
import type { BenchSizes } from '../lib/sizes';

export function billingJobsPresent(): boolean {
  const dir = path.join(REPO_ROOT, 'apps/worker/src/jobs/billing');
  return existsSync(dir) && readdirSync(dir).some((file) => file.endsWith('.ts'));
}

export async function runBillingBenchmark(sizes: BenchSizes, log: (line: string) => void): Promise<ResultRow[]> {
  const metric = `${sizes.billing.services.toLocaleString('en-US')} services' period close against the WHMCS stand-in`;
  if (!billingJobsPresent()) {
    log('  billing: no billing jobs in apps/worker yet → pending');
    return [pendingRow('billing close', metric, '< 60 s', 'pending: billing jobs not merged (apps/worker/src/jobs/billing is empty)')];
  }
  return [pendingRow('billing close', metric, '< 60 s', 'pending: billing jobs exist but the benchmark driver is not wired yet')];
}
