import { mkdirSync } from 'node:fs';
import path from 'node:path';

/**
 * BENCH_CPU_PROF=api,worker,baseline (the ingest baseline server) starts those children with `node --cpu-prof`; the .cpuprofile files
 * land in bench/profiles/<role>-<time>/ (open them in Chrome DevTools → Performance, or speedscope).
 */
export function profileFlags(role: string): string[] {
  const wanted = (process.env.BENCH_CPU_PROF ?? '').split(',').map((item) => item.trim());
  if (!wanted.includes(role)) return [];
  // One directory per process: with `--import tsx` the loader thread writes a profile of its own
  // (a fixed --cpu-prof-name would let it overwrite the main thread's); the largest file is the app.
  const dir = path.resolve(__dirname, '..', 'profiles', `${role}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', dir];
}
