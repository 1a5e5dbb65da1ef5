import { pendingRow, type ResultRow } from '../lib/report';
import type { BenchSizes } from '../lib/sizes';

export async function runCdrBenchmark(sizes: BenchSizes): Promise<ResultRow[]> {
  return [pendingRow('CDR sync', `${sizes.cdr.cdrs} CDRs`, 'ratio ≥ 0.75', 'pending: CDR sync not merged')];
}
