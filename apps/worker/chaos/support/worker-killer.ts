import type { ChaosBridge } from './chaos-bridge';
import { sleep } from './processes';

/**
 * kill -9 of a random live worker, and a new one started after a random pause. `armForNextApply`
 * makes the next directory-cache delete the event socket sees trigger a kill: the moment after a
 * FusionPBX commit and before the bridge records its outcome.
 */
export class WorkerKiller {
  kills = 0;
  private armed = false;
  /** Kills fired by the event socket run on their own; `idle()` waits for them before the checks and close. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly failures: Error[] = [];

  constructor(
    private readonly bridge: ChaosBridge,
    private readonly random: () => number,
    private readonly label: string,
  ) {
    bridge.esl.respond(/^memcache delete directory:/, () => {
      if (this.armed) {
        this.armed = false;
        const kill = this.killOne('while applying FreeSWITCH steps');
        this.inFlight.add(kill);
        // Handled by idle(): a replacement worker that fails to start fails the run there, not later.
        kill.catch((error: Error) => void this.failures.push(error)).finally(() => this.inFlight.delete(kill));
      }
      return '+OK\n';
    });
  }

  armForNextApply(): void {
    this.armed = true;
  }

  disarm(): void {
    this.armed = false;
  }

  /** Disarms and waits for every kill still under way (its replacement worker started). */
  async idle(): Promise<void> {
    this.disarm();
    await Promise.allSettled([...this.inFlight]);
    if (this.failures.length > 0) throw this.failures[0];
  }

  async killOne(why: string): Promise<void> {
    const live = this.bridge.liveWorkers();
    if (live.length === 0) return;
    const victim = live[Math.floor(this.random() * live.length)];
    this.kills += 1;
    await victim.kill9();
    process.stdout.write(`${this.label}: kill -9 worker ${victim.pid} (${why})\n`);
    await sleep(Math.floor(this.random() * 500));
    await this.bridge.startWorker();
  }
}
