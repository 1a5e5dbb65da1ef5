/** Benchmark sizes: `full` for the committed figures, `smoke` so CI can keep the harness working. */
export type SizeName = 'full' | 'smoke';

export interface BenchSizes {
  name: SizeName;
  /** Set when BENCH_OVERRIDES changed a size or BENCH_CDR_KEYSET_INDEX=1 added an index: such a run never writes latest.*. */
  overridden?: boolean;
  ingest: { connections: number; warmupSeconds: number; durationSeconds: number; fixedRate: number; fixedRateSeconds: number };
  provisioning: { tenants: number; extensions: number; sequentialTenants: number };
  /** keysetIndex: v_xml_cdr also gets the (domain_uuid, start_stamp, xml_cdr_uuid) index the README advises a busy install. */
  cdr: { cdrs: number; tenants: number; prefixes: number; pageSize: number; keysetIndex?: boolean };
  registrations: { registrations: number; domains: number; rounds: number };
  /** The monitoring poll: tenants × perTenant registered extensions on one server. */
  monitoring: { tenants: number; perTenant: number; rounds: number };
  billing: { services: number };
  restWrites: { writes: number };
}

export const SIZES: Record<SizeName, BenchSizes> = {
  full: {
    name: 'full',
    ingest: { connections: 20, warmupSeconds: 3, durationSeconds: 15, fixedRate: 1000, fixedRateSeconds: 15 },
    provisioning: { tenants: 100, extensions: 100, sequentialTenants: 100 },
    // pageSize 500 = the worker's default CDR_SYNC_PAGE_SIZE; the baseline reads the same pages.
    cdr: { cdrs: 1_000_000, tenants: 200, prefixes: 2_000, pageSize: 500 },
    registrations: { registrations: 10_000, domains: 200, rounds: 20 },
    monitoring: { tenants: 500, perTenant: 20, rounds: 6 },
    billing: { services: 10_000 },
    restWrites: { writes: 400 },
  },
  smoke: {
    name: 'smoke',
    ingest: { connections: 20, warmupSeconds: 1, durationSeconds: 1, fixedRate: 200, fixedRateSeconds: 1 },
    provisioning: { tenants: 3, extensions: 5, sequentialTenants: 2 },
    cdr: { cdrs: 5_000, tenants: 5, prefixes: 200, pageSize: 500 },
    registrations: { registrations: 500, domains: 10, rounds: 3 },
    monitoring: { tenants: 5, perTenant: 10, rounds: 2 },
    billing: { services: 20 },
    restWrites: { writes: 10 },
  },
};

export class BenchSizeError extends Error {
  readonly code = 'BENCH_SIZE_INVALID';
}

/**
 * BENCH_OVERRIDES='{"provisioning":{"tenants":5,"sequentialTenants":10}}' changes single sizes
 * (for profiling one case); an overridden run is reported as such and never written to latest.*.
 */
function withOverrides(base: BenchSizes, text: string | undefined): BenchSizes {
  if (!text) return base;
  let overrides: Record<string, Record<string, number>>;
  try {
    overrides = JSON.parse(text) as Record<string, Record<string, number>>;
  } catch {
    throw new BenchSizeError('BENCH_OVERRIDES is not valid JSON');
  }
  const merged = structuredClone(base) as unknown as Record<string, Record<string, number>>;
  for (const [group, values] of Object.entries(overrides)) {
    if (!(group in merged) || group === 'name') throw new BenchSizeError(`BENCH_OVERRIDES: unknown group "${group}"`);
    for (const [key, value] of Object.entries(values)) {
      if (!(key in merged[group])) throw new BenchSizeError(`BENCH_OVERRIDES: unknown size "${group}.${key}"`);
      if (!Number.isFinite(value) || value <= 0) throw new BenchSizeError(`BENCH_OVERRIDES: "${group}.${key}" must be a positive number`);
      merged[group][key] = value;
    }
  }
  return { ...(merged as unknown as BenchSizes), overridden: true };
}

/** `--smoke` or BENCH_SIZE=smoke picks the tiny sizes; anything else runs the full sizes. */
export function sizesFrom(argv: readonly string[], env: NodeJS.ProcessEnv): BenchSizes {
  const base = argv.includes('--smoke') || env.BENCH_SIZE === 'smoke' ? SIZES.smoke : SIZES.full;
  const sized = withOverrides(base, env.BENCH_OVERRIDES);
  if (env.BENCH_CDR_KEYSET_INDEX !== '1') return sized;
  return { ...sized, cdr: { ...sized.cdr, keysetIndex: true }, overridden: true };
}
