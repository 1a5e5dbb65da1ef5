import { ChaosBridge } from './chaos-bridge';
import type { ConsistencyReport } from './consistency';
import { recordResult, type ScenarioResult } from './summary';

/** Adds up runs of one scenario and records the summary line. */
export class ScenarioTally {
  private readonly started = Date.now();
  runs = 0;
  events = 0;
  kills = 0;
  lost = 0;
  doubled = 0;
  serverErrors = 0;
  readonly problems: string[] = [];

  constructor(readonly scenario: string) {}

  add(report: ConsistencyReport, extra: { kills?: number; serverErrors?: number; problems?: string[] } = {}): void {
    this.runs += 1;
    this.events += report.events;
    this.kills += extra.kills ?? 0;
    this.lost += report.lost;
    this.doubled += report.doubled;
    this.serverErrors += extra.serverErrors ?? 0;
    this.problems.push(...report.problems, ...(extra.problems ?? []));
  }

  record(): ScenarioResult {
    const ok = this.lost === 0 && this.doubled === 0 && this.serverErrors === 0 && this.problems.length === 0 && this.runs > 0;
    const result: ScenarioResult = {
      scenario: this.scenario,
      runs: this.runs,
      events: this.events,
      kills: this.kills,
      lost: this.lost,
      doubled: this.doubled,
      serverErrors: this.serverErrors,
      seconds: Math.round((Date.now() - this.started) / 1000),
      verdict: ok ? 'pass' : 'FAIL',
    };
    recordResult(result);
    return result;
  }
}

/** Secrets must never be printed: checks every line every process of the bridge wrote. */
export function secretLeaks(bridge: ChaosBridge, secrets: readonly string[]): string[] {
  const lines = bridge.allLines();
  return secrets.flatMap((secret) => {
    const hit = lines.find((line) => line.includes(secret));
    return hit ? [`a secret appeared in a log line: ${hit.slice(0, 200).replace(secret, '<secret>')}`] : [];
  });
}
