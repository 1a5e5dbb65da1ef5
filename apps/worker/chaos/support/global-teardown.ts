import { formatTable, readResults, summaryFile } from './summary';

export default function globalTeardown(): void {
  const results = readResults(summaryFile());
  const size = process.env.CHAOS_SIZE === 'smoke' ? 'smoke' : 'full';
  process.stdout.write(`\nictVoIP chaos summary (CHAOS_SIZE=${size}, CHAOS_SEED=${process.env.CHAOS_SEED ?? 1})\n${formatTable(results)}\n`);
}
