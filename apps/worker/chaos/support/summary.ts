import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One line of the summary table `npm run chaos` prints at the end. */
export interface ScenarioResult {
  scenario: string;
  runs: number;
  events: number;
  kills: number;
  lost: number;
  doubled: number;
  serverErrors: number;
  seconds: number;
  verdict: 'pass' | 'FAIL';
}

export type ChaosSize = 'smoke' | 'full';

/** `CHAOS_SIZE=smoke` is one short seeded run per scenario; anything else is the full suite. */
export function chaosSize(): ChaosSize {
  return process.env.CHAOS_SIZE === 'smoke' ? 'smoke' : 'full';
}

export const pick = <T>(smoke: T, full: T): T => (chaosSize() === 'smoke' ? smoke : full);

/** Seeds: CHAOS_SEED (default 1) + run index, so a failing run can be repeated alone. */
export function seedOf(run: number): number {
  return Number(process.env.CHAOS_SEED ?? 1) * 1000 + run;
}

export function summaryFile(): string {
  return process.env.ICTVOIP_CHAOS_SUMMARY ?? join(tmpdir(), 'ictvoip-chaos-summary.jsonl');
}

export function recordResult(result: ScenarioResult): void {
  appendFileSync(summaryFile(), `${JSON.stringify(result)}\n`);
}

export function readResults(file = summaryFile()): ScenarioResult[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as ScenarioResult);
}

export function formatTable(results: ScenarioResult[]): string {
  const header = ['scenario', 'runs', 'events', 'kills', 'lost', 'doubled', '5xx', 'seconds', 'verdict'];
  const rows = results.map((r) => [r.scenario, r.runs, r.events, r.kills, r.lost, r.doubled, r.serverErrors, r.seconds, r.verdict].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
