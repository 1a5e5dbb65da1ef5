/**
 * `npx tsx bench/profile-summary.ts <file.cpuprofile | dir> [top]`: where a process spent its CPU,
 * from a V8 .cpuprofile (BENCH_CPU_PROF=… npm run bench). Self time grouped by place (a package in
 * node_modules, a file of the bridge, Node's internals, GC, idle) and the top functions by self time.
 * Given a directory, it reads the largest profile in it (with `--import tsx` the loader thread writes
 * a small one of its own).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export class ProfileUsageError extends Error {
  readonly code = 'PROFILE_USAGE';
}

function profileFile(target: string): string {
  if (!statSync(target).isDirectory()) return target;
  const files = readdirSync(target)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => path.join(target, name));
  if (files.length === 0) throw new ProfileUsageError(`no .cpuprofile in ${target}`);
  return files.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
}

/** The place a frame belongs to: a package, a bridge source folder, Node itself, or V8's pseudo-frames. */
export function placeOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node internals';
  const local = /\/(apps|packages)\/([^/]+)\//.exec(url);
  return local ? `bridge ${local[1]}/${local[2]}` : url;
}

export function summarise(profile: CpuProfile, top: number): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, index) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const total = [...selfMicros.values()].reduce((sum, value) => sum + value, 0);
  const places = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)!.callFrame;
    const place = placeOf(frame);
    places.set(place, (places.get(place) ?? 0) + micros);
    const name = `${frame.functionName || '(anonymous)'} ${place}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
  }
  const busy = total - (places.get('(idle)') ?? 0);
  const rows = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => `${(micros / 1000).toFixed(0).padStart(8)} ms ${((100 * micros) / Math.max(busy, 1)).toFixed(1).padStart(5)} %  ${name}`);
  return [
    `profiled ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (% below: of busy time)`,
    '',
    'by place:',
    ...rows(places),
    '',
    'by function (self time):',
    ...rows(functions),
  ].join('\n');
}

function main(argv: readonly string[]): void {
  const [target, topText] = argv;
  if (!target) throw new ProfileUsageError('usage: npx tsx bench/profile-summary.ts <file.cpuprofile | dir> [top]');
  const file = profileFile(target);
  const top = topText ? Number(topText) : 15;
  process.stdout.write(`${file}\n${summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top)}\n`);
}

if (require.main === module) main(process.argv.slice(2));
