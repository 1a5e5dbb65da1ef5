/** Benchmark sizes: `full` for the committed figures, `smoke` so CI can keep the harness working. */
export type SizeName = 'full' | 'smoke';

export interface BenchSizes {
  name: SizeName;
  ingest: { connections: number; warmupSeconds: number; durationSeconds: number; fixedRate: number; fixedRateSeconds: number };
  provisioning: { tenants: number; extensions: number; sequentialTenants: number };
  cdr: { cdrs: number; tenants: number; prefixes: number; pageSize: number };
  registrations: { registrations: number; domains: number; rounds: number };
  billing: { services: number };
}

export const SIZES: Record<SizeName, BenchSizes> = {
  full: {
    name: 'full',
    ingest: { connections: 20, warmupSeconds: 3, durationSeconds: 15, fixedRate: 1000, fixedRateSeconds: 15 },
    provisioning: { tenants: 100, extensions: 100, sequentialTenants: 100 },
    cdr: { cdrs: 1_000_000, tenants: 200, prefixes: 2_000, pageSize: 5_000 },
    registrations: { registrations: 10_000, domains: 200, rounds: 20 },
    billing: { services: 10_000 },
  },
  smoke: {
    name: 'smoke',
    ingest: { connections: 20, warmupSeconds: 1, durationSeconds: 2, fixedRate: 200, fixedRateSeconds: 2 },
    provisioning: { tenants: 3, extensions: 5, sequentialTenants: 2 },
    cdr: { cdrs: 5_000, tenants: 5, prefixes: 200, pageSize: 1_000 },
    registrations: { registrations: 500, domains: 10, rounds: 3 },
    billing: { services: 20 },
  },
};

/** `--smoke` or BENCH_SIZE=smoke picks the tiny sizes; anything else runs the full sizes. */
export function sizesFrom(argv: readonly string[], env: NodeJS.ProcessEnv): BenchSizes {
  if (argv.includes('--smoke') || env.BENCH_SIZE === 'smoke') return SIZES.smoke;
  return SIZES.full;
}
