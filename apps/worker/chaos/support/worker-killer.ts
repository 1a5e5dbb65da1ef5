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

  constructor(private readonly bridge: ChaosBridge, private readonly random: () => number, private readonly label: string) {
    bridge.esl.respond(/^memcache delete directory:/, () => {
      if (this.armed) {
        this.armed = false;
        void this.killOne('while applying FreeSWITCH steps');
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
