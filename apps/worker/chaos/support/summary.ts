import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One line of the summary table `npm run chaos` prints at the end. */
export interface ScenarioResult {
  scenario: string;
  /** Runs whose test body completed with every assertion, of plannedRuns. */
  runs: number;
  plannedRuns: number;
  events: number;
  kills: number;
  lost: number;
  doubled: number;
  /** 5xx answers other than 503. */
  serverErrors: number;
  /** 503 answers ("retry later"). */
  unavailable: number;
  /** Requests with no HTTP answer. */
  networkErrors: number;
  /** Per run: work in flight the fault hit (jobs a killed worker held or active at the fault, inbox rows unfinished at a flush, duplicates of unfinished jobs); absent when not counted. */
  interrupted?: number[];
  seconds: number;
  /** From the scenario's assertions: every planned run passed. */
  verdict: 'pass' | 'FAIL';
}

export type ChaosSize = 'smoke' | 'ci' | 'full';

/**
 * `CHAOS_SIZE=smoke` is one short seeded run per scenario; `ci` is the subset `.ci/run` can afford
 * (a few scenarios, small sizes, same end-state checks; see jest.chaos.config.js); anything else is the full suite.
 */
export function chaosSize(): ChaosSize {
  const size = process.env.CHAOS_SIZE;
  return size === 'smoke' || size === 'ci' ? size : 'full';
}

/** The value for the current size; `ci` falls back to the smoke value unless it has its own. */
export function pick<T>(smoke: T, full: T, ci: T = smoke): T {
  const size = chaosSize();
  if (size === 'full') return full;
  return size === 'ci' ? ci : smoke;
}

/**
 * Runs of a multi-run scenario for the current size, capped by CHAOS_MAX_RUNS when set (a reduced
 * but otherwise full-size suite when time is short; the summary header says so).
 */
export function runsOf(smoke: number, full: number, ci: number = smoke): number {
  const runs = pick(smoke, full, ci);
  const cap = Number(process.env.CHAOS_MAX_RUNS ?? 0);
  return Number.isInteger(cap) && cap > 0 ? Math.min(runs, cap) : runs;
}

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
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ScenarioResult);
}

export const TABLE_NOTE =
  'runs passed: runs whose every assertion held, of those planned (the verdict is pass only when all did); ' +
  '5xx not 503: server errors; 503: "retry later" answers, expected while a dependency is down; net err: requests with no HTTP answer. ' +
  'The three are counted apart. in flight hit: per run, the work in flight the fault interrupted (jobs a killed worker held, ' +
  'inbox rows unfinished at a Redis flush, jobs active at a PostgreSQL stop or an event-socket fault, jobs a SIGTERMed worker held, ' +
  "duplicates accepted while the first copy's job was unfinished); - where the scenario does not count it.";

export function formatTable(results: ScenarioResult[]): string {
  const header = ['scenario', 'runs passed', 'events', 'kills', 'in flight hit', 'lost', 'doubled', '5xx not 503', '503', 'net err', 'seconds', 'verdict'];
  const rows = results.map((r) =>
    [
      r.scenario,
      `${r.runs}/${r.plannedRuns ?? '?'}`,
      r.events,
      r.kills,
      r.interrupted?.length ? r.interrupted.join(', ') : '-',
      r.lost,
      r.doubled,
      r.serverErrors,
      r.unavailable ?? '?',
      r.networkErrors ?? '?',
      r.seconds,
      r.verdict,
    ].map(String),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line), TABLE_NOTE].join('\n');
}
