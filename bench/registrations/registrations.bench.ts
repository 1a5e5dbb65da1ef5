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
