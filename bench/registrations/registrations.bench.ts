/**
 * Registrations: a 10,000-registration `sofia xmlstatus` reply parsed with @ictvoip/fusionpbx's
 * parser and filtered to one tenant, as the REST API does per request. Baseline: the same XML
 * through the same block prefilter, a bare fast-xml-parser parse and a filter on the raw objects
 * (no mapping, no decoding).
 * Median of `rounds` timings after warm-up, in one fresh child process each so JIT state is clean.
 */
import { runJsonChild } from '../lib/child';
import { measuredRow, type ResultRow } from '../lib/report';
import type { BenchSizes } from '../lib/sizes';
import type { MonitoringPollChildResult } from './monitoring-poll.child';

export interface RegistrationsChildResult {
  medianMs: number;
  p99Ms: number;
  bytes: number;
  matched: number;
  baselineMatched: number;
  baselineMedianMs: number;
  baselineP99Ms: number;
}

export async function runRegistrationsBenchmark(sizes: BenchSizes, log: (line: string) => void): Promise<ResultRow[]> {
  const { registrations, domains, rounds } = sizes.registrations;
  const target = '< 20 ms and ratio ≥ 1';
  const result = await runJsonChild<RegistrationsChildResult>('registrations', 'bench/registrations/registrations.child.ts', {
    BENCH_REGISTRATIONS: String(registrations),
    BENCH_DOMAINS: String(domains),
    BENCH_ROUNDS: String(rounds),
  });
  const metric = `${registrations.toLocaleString('en-US')} registrations parsed + filtered to one tenant (median of ${rounds})`;
  log(`  registrations: ${result.medianMs.toFixed(1)} ms (bare parse ${result.baselineMedianMs.toFixed(1)} ms), ${result.matched} matched of ${registrations}`);
  return [
    ...(await runMonitoringPollBenchmark(sizes, log)),
    measuredRow({
      benchmark: 'registrations',
      metric,
      project: { value: result.medianMs, unit: 'ms', label: 'parseRegistrationsForDomain (tenant blocks only, then parsed)' },
      baseline: { value: result.baselineMedianMs, unit: 'ms', label: 'same block prefilter, bare XMLParser.parse + filter' },
      better: 'lower',
      target,
      targetMet: sizes.name === 'full' ? result.medianMs < 20 && result.medianMs <= result.baselineMedianMs : null,
      details: { ...result },
    }),
  ];
}

/**
 * The monitoring poll (issue 18): parse + match + store 10,000 registrations of 500 tenants in one
 * poll of the real worker code, CPU time of the worker process per steady poll, beside the bare XML
 * parse of the same reply. Target: < 100 ms CPU per poll.
 */
async function runMonitoringPollBenchmark(sizes: BenchSizes, log: (line: string) => void): Promise<ResultRow[]> {
  const { tenants, perTenant, rounds } = sizes.monitoring;
  const result = await runJsonChild<MonitoringPollChildResult>('monitoring-poll', 'bench/registrations/monitoring-poll.child.ts', {
    BENCH_TENANTS: String(tenants),
    BENCH_PER_TENANT: String(perTenant),
    BENCH_ROUNDS: String(rounds),
    ...(process.env.TEST_PG_ADMIN_URL ? { TEST_PG_ADMIN_URL: process.env.TEST_PG_ADMIN_URL } : {}),
    ...(process.env.TEST_REDIS_URL ? { TEST_REDIS_URL: process.env.TEST_REDIS_URL } : {}),
    ...(process.env.BENCH_STEADY_CPU_PROF ? { BENCH_STEADY_CPU_PROF: process.env.BENCH_STEADY_CPU_PROF } : {}),
    ...(process.env.BENCH_CPU_PROF_POLLS ? { BENCH_CPU_PROF_POLLS: process.env.BENCH_CPU_PROF_POLLS } : {}),
  });
  const count = (tenants * perTenant).toLocaleString('en-US');
  log(
    `  monitoring poll: ${result.steadyCpuMs.toFixed(1)} ms CPU per steady poll (${result.steadySystemMs.toFixed(1)} ms of it system; ${result.steadyWallMs.toFixed(0)} ms wall), ${result.refreshedCpuMs.toFixed(1)} ms with 5 % refreshed, ${result.changedCpuMs.toFixed(1)} ms with 1 % changed, first poll ${result.firstPollCpuMs.toFixed(0)} ms; bare parse ${result.baselineCpuMs.toFixed(1)} ms`,
  );
  return [
    measuredRow({
      benchmark: 'registrations',
      metric: `monitoring poll of ${count} registrations across ${tenants} tenants: worker CPU per poll, nothing changed (median of ${rounds})`,
      project: { value: result.steadyCpuMs, unit: 'ms', label: 'pollServerRegistrations (parse, match, one UPDATE for all)' },
      baseline: { value: result.baselineCpuMs, unit: 'ms', label: 'bare XMLParser.parse of the same reply' },
      better: 'lower',
      target: '< 100 ms CPU',
      targetMet: sizes.name === 'full' ? result.steadyCpuMs < 100 : null,
      details: { ...result },
    }),
    measuredRow({
      benchmark: 'registrations',
      metric: `monitoring poll of ${count} registrations, 5 % refreshed (exp changed), nothing else: worker CPU per poll (median of ${rounds})`,
      project: { value: result.refreshedCpuMs, unit: 'ms', label: "pollServerRegistrations (the refreshed phones' new expiry in one UPDATE)" },
      baseline: { value: result.baselineCpuMs, unit: 'ms', label: 'bare XMLParser.parse of the same reply' },
      better: 'lower',
      target: '< 100 ms CPU',
      targetMet: sizes.name === 'full' ? result.refreshedCpuMs < 100 : null,
      details: {
        refreshedCpuP99Ms: result.refreshedCpuP99Ms,
        refreshedSystemMs: result.refreshedSystemMs,
        refreshedWallMs: result.refreshedWallMs,
        refreshedPhones: result.refreshedPhones,
      },
    }),
    measuredRow({
      benchmark: 'registrations',
      metric: `monitoring poll of ${count} registrations, 1 % lost or restored (${result.changedTransitions} transitions, all in one locked transaction): worker CPU per poll`,
      project: { value: result.changedCpuMs, unit: 'ms', label: 'pollServerRegistrations with transitions' },
      baseline: { value: result.baselineCpuMs, unit: 'ms', label: 'bare XMLParser.parse of the same reply' },
      better: 'lower',
      target: '< 100 ms CPU',
      targetMet: sizes.name === 'full' ? result.changedCpuMs < 100 : null,
      details: { firstPollCpuMs: result.firstPollCpuMs, firstPollWallMs: result.firstPollWallMs, changedWallMs: result.changedWallMs },
    }),
  ];
}
