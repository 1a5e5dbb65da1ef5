/**
 * `npm run bench` — every benchmark beside its bare baseline, measured in the same run, in one
 * process tree on this machine. Prints a table and writes bench/results/latest.{json,md}.
 *   --smoke (or BENCH_SIZE=smoke)  tiny sizes, well under a minute; writes results/smoke.{json,md}
 *   --only=ingest,registrations    run a subset; writes results/partial.{json,md}
 *   --runs=N                       runs per benchmark (default 3, smoke 1): each row is the median,
 *                                  with the project's min–max, and a target is met only if every run met it
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runBillingBenchmark } from './billing/billing.bench';
import { runCdrBenchmark } from './cdr/cdr.bench';
import { runIngestBenchmark } from './ingest/ingest.bench';
import { aggregateRuns, type AggregatedRow } from './lib/aggregate';
import { describeMachine, type MachineDescription } from './lib/machine';
import { consoleTable, markdownTable, type ResultRow } from './lib/report';
import { sizesFrom, type BenchSizes } from './lib/sizes';
import { runProvisioningBenchmark } from './provisioning/provisioning.bench';
import { runRegistrationsBenchmark } from './registrations/registrations.bench';
import { runRestWritesBenchmark } from './rest-writes/rest-writes.bench';

type Benchmark = (sizes: BenchSizes, log: (line: string) => void) => Promise<ResultRow[]>;

const BENCHMARKS: Record<string, Benchmark> = {
  ingest: runIngestBenchmark,
  provisioning: runProvisioningBenchmark,
  cdr: runCdrBenchmark,
  registrations: runRegistrationsBenchmark,
  billing: runBillingBenchmark,
  'rest-writes': runRestWritesBenchmark,
};

export class BenchUsageError extends Error {
  readonly code = 'BENCH_USAGE';
}

/**
 * The bridge code this process measures in-process (registrations, rating) must be the compiled
 * build, like its children's: `npm run bench` loads bench/lib/prefer-dist.cjs after tsx. Run as
 * `npx tsx bench/run.ts`, tsx alone would load the packages' `src/`.
 */
function assertCompiledBuild(): void {
  const loaded = require.resolve('@ictvoip/freeswitch');
  if (loaded.includes(`${path.sep}dist${path.sep}`)) return;
  throw new BenchUsageError(`@ictvoip/freeswitch resolved to ${path.relative(process.cwd(), loaded)}, not the compiled build: run the bench with npm run bench`);
}

function selected(argv: readonly string[]): string[] {
  const only = argv.find((arg) => arg.startsWith('--only='));
  if (!only) return Object.keys(BENCHMARKS);
  const names = only.slice('--only='.length).split(',').filter(Boolean);
  const unknown = names.filter((name) => !(name in BENCHMARKS));
  if (unknown.length > 0) throw new BenchUsageError(`--only: unknown benchmark(s) ${unknown.join(', ')} (known: ${Object.keys(BENCHMARKS).join(', ')})`);
  return names;
}

function runsFrom(argv: readonly string[], sizes: BenchSizes): number {
  const flag = argv.find((arg) => arg.startsWith('--runs='));
  if (!flag) return sizes.name === 'smoke' ? 1 : 3;
  const runs = Number(flag.slice('--runs='.length));
  if (!Number.isInteger(runs) || runs < 1 || runs > 9) throw new BenchUsageError('--runs: a whole number from 1 to 9');
  return runs;
}

function commitLabel(machine: MachineDescription): string {
  return machine.dirty ? `${machine.gitCommit}-dirty` : machine.gitCommit;
}

function machineMarkdown(machine: MachineDescription): string {
  return [
    `- CPU: ${machine.cpuModel}, ${machine.cores} cores`,
    `- Memory: ${machine.memoryGiB} GiB`,
    `- OS: ${machine.os}`,
    `- Node ${machine.node}, PostgreSQL ${machine.postgresql}, Redis ${machine.redis}`,
    `- Commit: ${commitLabel(machine)}${machine.dirty ? " (uncommitted changes: these figures are not the commit's)" : ''}; load average at start ${machine.loadAverage.join(' / ')} (1/5/15 min)`,
  ].join('\n');
}

function markdownReport(rows: readonly AggregatedRow[], machine: MachineDescription, sizes: BenchSizes, startedAt: Date, seconds: number): string {
  const pending = rows.filter((row) => row.status === 'pending' || row.note);
  return [
    `# Benchmark results (${sizes.name} size)`,
    '',
    `Run ${startedAt.toISOString()} with \`npm run bench${sizes.name === 'smoke' ? ' -- --smoke' : ''}\` in ${Math.round(seconds)} s.`,
    'Each project figure is measured beside its bare baseline in the same run; ratio = project relative',
    'to baseline, higher is better (project/baseline for throughput, baseline/project for latency).',
    '',
    machineMarkdown(machine),
    '',
    markdownTable(rows),
    '',
    ...(pending.length > 0 ? ['Notes:', '', ...pending.map((row) => `- **${row.benchmark} — ${row.metric}**: ${row.note}`), ''] : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const sizes = sizesFrom(argv, process.env);
  const names = selected(argv);
  const startedAt = new Date();
  const machine = await describeMachine();
  // The bridge is measured as production runs it: compiled JavaScript, not tsx.
  execFileSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'build.js')], { stdio: ['ignore', 'ignore', 'inherit'] });
  assertCompiledBuild();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`bench (${sizes.name}): ${names.join(', ')} on ${machine.cores} cores, Node ${machine.node}, PostgreSQL ${machine.postgresql}, Redis ${machine.redis}`);
  const runs = runsFrom(argv, sizes);
  const rows: AggregatedRow[] = [];
  const failures: string[] = [];
  for (const name of names) {
    const perRun: ResultRow[][] = [];
    for (let run = 1; run <= runs; run += 1) {
      const started = Date.now();
      log(`→ ${name}${runs > 1 ? ` (run ${run} of ${runs})` : ''}`);
      try {
        perRun.push(await BENCHMARKS[name](sizes, log));
      } catch (error) {
        failures.push(`${name} run ${run}: ${error instanceof Error ? error.message : String(error)}`);
        log(`✗ ${name} failed: ${error instanceof Error ? error.stack : String(error)}`);
      }
      log(`  ${name} took ${Math.round((Date.now() - started) / 1000)} s`);
    }
    rows.push(...aggregateRuns(perRun, commitLabel(machine)));
  }
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  process.stdout.write(`\n${consoleTable(rows)}\n`);
  const base = sizes.name === 'smoke' ? 'smoke' : sizes.overridden || names.length !== Object.keys(BENCHMARKS).length ? 'partial' : 'latest';
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const json = { size: sizes.name, startedAt: startedAt.toISOString(), seconds: Math.round(seconds), runs, machine, sizes, rows, failures };
  writeFileSync(path.join(dir, `${base}.json`), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(path.join(dir, `${base}.md`), markdownReport(rows, machine, sizes, startedAt, seconds));
  process.stdout.write(`\nresults: bench/results/${base}.json, bench/results/${base}.md\n`);
  if (failures.length > 0) {
    process.stderr.write(`\n${failures.length} benchmark(s) failed:\n${failures.join('\n')}\n`);
    process.exit(1);
  }
  // Pools and sockets of the benchmarks are closed; exit explicitly in case a library keeps a timer.
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
