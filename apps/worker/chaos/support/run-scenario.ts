import { ChaosBridge } from './chaos-bridge';
import type { ConsistencyReport } from './consistency';
import { recordResult, type ScenarioResult } from './summary';
import type { PostTally } from './workload';

/** What a scenario's clients saw: 5xx other than 503, 503s ("retry later"), and requests with no HTTP answer. */
export interface ClientErrors {
  /** 5xx other than 503. */
  serverErrors?: number;
  /** 503 answers (the contract's "retry later"; expected while a dependency is down). */
  unavailable?: number;
  /** Requests that got no HTTP answer at all (connection refused/reset, timeout). */
  networkErrors?: number;
}

/** A webhook delivery's client-side counts, each kind apart. */
export function clientErrorsOf(...tallies: PostTally[]): Required<ClientErrors> {
  return {
    serverErrors: tallies.reduce((sum, t) => sum + t.serverErrors, 0),
    unavailable: tallies.reduce((sum, t) => sum + (t.statuses['503'] ?? 0), 0),
    networkErrors: tallies.reduce((sum, t) => sum + t.networkErrors, 0),
  };
}

/**
 * One scenario's summary line. The verdict is the scenario's own assertions: a run counts as
 * passed only when its test body (every expect in it) completed; the scenario passes when all
 * its planned runs did. The other columns are information, never the verdict.
 */
export class ScenarioTally {
  private readonly started = Date.now();
  passedRuns = 0;
  failedRuns = 0;
  events = 0;
  kills = 0;
  lost = 0;
  doubled = 0;
  serverErrors = 0;
  unavailable = 0;
  networkErrors = 0;
  /** Per run: jobs (or inbox rows) in flight that the run's fault hit; empty when the scenario does not count them. */
  readonly interruptedPerRun: number[] = [];
  readonly problems: string[] = [];

  constructor(
    readonly scenario: string,
    readonly plannedRuns: number,
  ) {}

  /** Runs one test body: passed when it returns, failed (and rethrown) when any assertion in it throws. */
  async run(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      this.failedRuns += 1;
      throw error;
    }
    this.passedRuns += 1;
  }

  add(report: ConsistencyReport, extra: { kills?: number; problems?: string[]; interrupted?: number } & ClientErrors = {}): void {
    this.events += report.events;
    if (extra.interrupted !== undefined) this.interruptedPerRun.push(extra.interrupted);
    this.kills += extra.kills ?? 0;
    this.lost += report.lost;
    this.doubled += report.doubled;
    this.serverErrors += extra.serverErrors ?? 0;
    this.unavailable += extra.unavailable ?? 0;
    this.networkErrors += extra.networkErrors ?? 0;
    this.problems.push(...report.problems, ...(extra.problems ?? []));
  }

  record(): ScenarioResult {
    const result: ScenarioResult = {
      scenario: this.scenario,
      runs: this.passedRuns,
      plannedRuns: this.plannedRuns,
      events: this.events,
      kills: this.kills,
      lost: this.lost,
      doubled: this.doubled,
      serverErrors: this.serverErrors,
      unavailable: this.unavailable,
      networkErrors: this.networkErrors,
      interrupted: [...this.interruptedPerRun],
      seconds: Math.round((Date.now() - this.started) / 1000),
      verdict: scenarioVerdict(this.passedRuns, this.failedRuns, this.plannedRuns),
    };
    recordResult(result);
    return result;
  }
}

/** Pass only when every planned run completed with all its assertions, and at least one was planned. */
export function scenarioVerdict(passedRuns: number, failedRuns: number, plannedRuns: number): 'pass' | 'FAIL' {
  return plannedRuns > 0 && failedRuns === 0 && passedRuns === plannedRuns ? 'pass' : 'FAIL';
}

/** Secrets must never be printed: checks every line every process of the bridge wrote. */
export function secretLeaks(bridge: ChaosBridge, secrets: readonly string[]): string[] {
  const lines = bridge.allLines();
  return secrets.flatMap((secret) => {
    const hit = lines.find((line) => line.includes(secret));
    return hit ? [`a secret appeared in a log line: ${hit.slice(0, 200).replace(secret, '<secret>')}`] : [];
  });
}

/** Error-level lines (pino level 50 and up) any process of the bridge printed. */
export function errorLines(bridge: ChaosBridge): string[] {
  return bridge.allLines().filter((line) => {
    const level = /"level":(\d+)/.exec(line)?.[1];
    return level !== undefined && Number(level) >= 50;
  });
}
