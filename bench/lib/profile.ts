import { mkdirSync } from 'node:fs';
import path from 'node:path';

/**
 * BENCH_CPU_PROF=api,worker starts those children with `node --cpu-prof`; the .cpuprofile files
 * land in bench/profiles/ (open them in Chrome DevTools → Performance, or speedscope).
 */
export function profileFlags(role: string): string[] {
  const wanted = (process.env.BENCH_CPU_PROF ?? '').split(',').map((item) => item.trim());
  if (!wanted.includes(role)) return [];
  const dir = path.resolve(__dirname, '..', 'profiles');
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${role}-${Date.now()}.cpuprofile`];
}
