import { QUEUE_NAMES } from '@ictvoip/queue';
import { runCli, type CliRun } from './run-cli';
import { startBillingKit, type BillingKit } from '../../worker/test/cdr-billing-kit';

// `cdr backfill` and `rerate` job ids carry the minute (minuteSlot): the same command twice in one minute
// has one id. Asked again once its job finished, it runs again (under `<id>-2`), so a backfill or a
// re-rating asked after a fix is never the old run's result read as new; while its job is still queued,
// it is not added twice and the CLI says so, with the job's id and state.

let kit: BillingKit;

const cli = (...args: string[]): Promise<CliRun> => runCli(kit.bridge.env, args);

type JobReport = { id: string; name: string; outcome: string; queuedState?: string; rerunOf?: string; state?: string; result?: Record<string, unknown> };
const jobOf = (run: CliRun): JobReport => {
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  return (run.json.jobs as JobReport[])[0]!;
};

const minuteOf = (at: Date) => Math.floor(at.getTime() / 60_000);

/**
 * Runs a case until its CLI runs all fell in one minute (one job id): a case that crossed a minute's end
 * proves nothing about the same minute, so it runs again on a fresh tenant instead of the test waiting
 * for a minute's start (up to 30 s a case). Three crossings in a row cannot happen: a case takes seconds.
 */
async function inOneMinute(body: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    const started = new Date();
    try {
      await body();
    } catch (error) {
      if (attempt >= 3 || minuteOf(new Date()) === minuteOf(started)) throw error;
      continue;
    }
    return;
  }
}

beforeAll(async () => {
  kit = await startBillingKit({ WHMCS_API_TIMEOUT_MS: '10000' });
}, 90_000);
afterAll(async () => {
  await kit.close();
});

it('cdr backfill asked again in the same minute after its job finished runs again and reads the call that came since', async () => {
  await inOneMinute(async () => {
    const tenant = await kit.addTenant();
    await kit.insertCdr(tenant, { start: '2025-02-10T10:00:00Z', billsec: 60, destination: '12125550100' });
    await kit.insertCdr(tenant, { start: '2025-02-11T10:00:00Z', billsec: 30, destination: '12125550101' });
    const args = ['cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-02-01', '--wait', '30', '--json'];
    const first = jobOf(await cli(...args));
    expect(first).toMatchObject({ outcome: 'enqueued', state: 'completed', result: expect.objectContaining({ inserted: 2 }) });

    await kit.insertCdr(tenant, { start: '2025-02-12T10:00:00Z', billsec: 45, destination: '12125550102' });
    const second = jobOf(await cli(...args));
    expect(second).toMatchObject({ id: `${first.id}-2`, outcome: 'enqueued', rerunOf: first.id, state: 'completed', result: expect.objectContaining({ inserted: 1 }) });

    const text = await cli(...args.filter((arg) => arg !== '--json'));
    expect(text.stdout).toContain(`enqueued cdr.backfill ${first.id}-3 (again: ${first.id}-2 of the same command had finished) → completed`);
  });
}, 90_000);

it('rerate asked again in the same minute after its job finished re-rates again', async () => {
  await inOneMinute(async () => {
    const tenant = await kit.addTenant();
    await kit.insertCdr(tenant, { start: '2025-03-10T10:00:00Z', billsec: 60, destination: '12125550100' });
    expect(jobOf(await cli('cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-03-01', '--wait', '30', '--json')).state).toBe('completed');
    const args = ['rerate', '--service', String(tenant.serviceId), '--period', '2025-03', '--wait', '30', '--json'];
    const first = jobOf(await cli(...args));
    const second = jobOf(await cli(...args));
    expect(first).toMatchObject({ outcome: 'enqueued', state: 'completed' });
    expect(second).toMatchObject({
      id: `${first.id}-2`,
      outcome: 'enqueued',
      rerunOf: first.id,
      state: 'completed',
      result: expect.objectContaining({ serviceId: tenant.serviceId }),
    });
  });
}, 90_000);

it('the same command while its job is still queued is not added twice, and the CLI says so with the job id and state', async () => {
  const cdrWorker = kit.bridge.worker!.workers.find((worker) => worker.name === QUEUE_NAMES.cdrSync)!;
  await cdrWorker.pause();
  try {
    await inOneMinute(async () => {
      const tenant = await kit.addTenant();
      // A case run again leaves its first attempt's job waiting: count this attempt's own.
      const { waiting: before } = await kit.deps.queues['cdr-sync'].getJobCounts('waiting');
      const args = ['cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-04-01'];
      const first = jobOf(await cli(...args, '--json'));
      expect(first.outcome).toBe('enqueued');
      const again = jobOf(await cli(...args, '--json'));
      expect(again).toMatchObject({ id: first.id, outcome: 'already-enqueued', queuedState: 'waiting' });
      expect(again.rerunOf).toBeUndefined();
      const text = await cli(...args);
      expect(text.stdout.trim()).toBe(`already enqueued, not added again: the same command's job cdr.backfill ${first.id} (this minute) is waiting`);
      expect(await kit.deps.queues['cdr-sync'].getJobCounts('waiting')).toEqual({ waiting: before! + 1 });
    });
  } finally {
    await cdrWorker.resume();
  }
}, 90_000);
