import { cpus, totalmem } from 'node:os';
import { chaosSize, formatTable, readResults, summaryFile } from './summary';

/** One line naming the machine, so figures in the README can be compared with another box. */
function machine(): string {
  const cores = cpus();
  return `${cores.length} x ${cores[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}`;
}

export default function globalTeardown(): void {
  const results = readResults(summaryFile());
  const cap = process.env.CHAOS_MAX_RUNS ? `, CHAOS_MAX_RUNS=${process.env.CHAOS_MAX_RUNS}` : '';
  const started = Number(process.env.ICTVOIP_CHAOS_STARTED ?? Date.now());
  const verdict = results.length > 0 && results.every((result) => result.verdict === 'pass') ? 'pass' : 'FAIL';
  process.stdout.write(
    `\nictVoIP chaos summary (CHAOS_SIZE=${chaosSize()}, CHAOS_SEED=${process.env.CHAOS_SEED ?? 1}${cap})\n${formatTable(results)}\n` +
      `overall: ${verdict}, ${Math.round((Date.now() - started) / 1000)} s wall time on ${machine()}\n`,
  );
}
