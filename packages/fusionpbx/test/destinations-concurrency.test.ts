import { randomUUID } from 'node:crypto';
import { createTenantDestination, destinationWriteOptions, normaliseNumber, NumberOwnedError, numberPlanOf } from '@ictvoip/fusionpbx';
import { numberLockKeys } from '../src/provisioning/tenant-state';
import { provisioningSuite, tenantEvent } from './helpers';

/**
 * Two writers of the same numbers at once, against the fixture or FUSIONPBX_SCHEMA: a change_package
 * giving tenant A its plan numbers (service lock, then the numbers sorted, in one statement) and
 * REST adds of those numbers to tenant B (B's service lock, then each number's), the adds sent in
 * the opposite order. The lock order (tenant-state.ts) says neither waits on the other in a cycle:
 * no deadlock (40P01) whatever the interleaving, and each number ends in exactly one tenant.
 */
const suite = provisioningSuite('fpbx_number_race', 2000);
const PLAN = { countryCode: '1' };
const A = 8301;
const B = 8302;
const ROUNDS = 8;
const lockKeysOf = (number: string) => numberLockKeys(normaliseNumber(number, numberPlanOf(PLAN.countryCode, undefined), 'number'));

const ownersOf = async (numbers: readonly string[]) =>
  (
    await suite.fx.pool.query<{ number: string; domain: string }>(
      `select t.destination_number as number, d.domain_name as domain from v_destinations t join v_domains d using (domain_uuid)
        where t.destination_number = any($1::text[]) order by 1, 2`,
      [numbers],
    )
  ).rows;

/**
 * Whether, before `work` settles, a backend waits on the advisory lock of one of `keys` (PostgreSQL
 * shows a bigint key as classid = its high 32 bits, objid = its low 32 bits): a writer blocked on a
 * number another writer holds, not merely B's adds queueing on B's own service lock.
 */
async function sawNumberLockWait(work: Promise<unknown>, keys: readonly string[]): Promise<boolean> {
  let settled = false;
  void work.then(() => {
    settled = true;
  });
  while (!settled) {
    const { rows } = await suite.fx.pool.query<{ n: number }>(
      `select count(*)::int as n from pg_locks l
         join (select hashtextextended(k, 0) as h from unnest($1::text[]) as k) keys
           on l.classid::bigint = (keys.h >> 32) & 4294967295 and l.objid::bigint = keys.h & 4294967295 and l.objsubid = 1
        where l.locktype = 'advisory' and not l.granted and l.database = (select oid from pg_database where datname = current_database())`,
      [keys],
    );
    if (rows[0]!.n > 0) return true;
  }
  return false;
}

test(`a plan taking numbers while another tenant adds them in the opposite order: no deadlock, one owner each (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, async () => {
  const { provisioner, fx } = suite;
  const a = await provisioner.create(tenantEvent(A, {}, PLAN));
  const b = await provisioner.create(tenantEvent(B, {}, PLAN));
  const refusals: string[] = [];
  let planWins = 0;
  let contended = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    const numbers = [1, 2, 3, 4].map((index) => `55583${String(round).padStart(2, '0')}00${index}`);
    const planWrite = () => provisioner.changePackage({ ...tenantEvent(A, {}, { ...PLAN, dids: numbers }), action: 'change_package' });
    const add = (number: string) => createTenantDestination(fx.pool, number, { action: { type: 'extension', target: '100' } }, destinationWriteOptions(B, PLAN));
    // B's adds go last number first. In odd rounds B has added the last one before the race: the plan must lose those rounds whole.
    const reversed = [...numbers].reverse();
    const bAddedFirst = round % 2 === 1;
    if (bAddedFirst) await add(reversed[0]!);
    const all = Promise.allSettled([planWrite(), ...reversed.slice(bAddedFirst ? 1 : 0).map(add)]);
    if (await sawNumberLockWait(all, numbers.flatMap(lockKeysOf))) contended += 1;
    const settled = await all;
    for (const outcome of settled) {
      if (outcome.status === 'fulfilled') continue;
      // A number already taken is the one refusal allowed; a deadlock or anything else fails the test here.
      if (!(outcome.reason instanceof NumberOwnedError)) throw outcome.reason;
      refusals.push(outcome.reason.code);
    }
    const owners = await ownersOf(numbers);
    expect(owners.map((row) => row.number)).toEqual(numbers);
    // The plan either took every number (B's adds of them refused) or was refused whole (B got them all).
    const planTookAll = settled[0].status === 'fulfilled';
    expect(owners.map((row) => row.domain)).toEqual(numbers.map(() => (planTookAll ? a.domainName : b.domainName)));
    if (planTookAll) planWins += 1;
  }
  // Every round had a loser (one refusal at least), and only ever NUMBER_TAKEN.
  expect(refusals.length).toBeGreaterThanOrEqual(ROUNDS);
  expect(new Set(refusals)).toEqual(new Set(['NUMBER_TAKEN']));
  // The odd rounds went to B; the writers really overlapped: one waited on a number's lock the other held.
  expect(planWins).toBeLessThanOrEqual(ROUNDS / 2);
  expect(contended).toBeGreaterThan(0);
  process.stdout.write(`number race: the plan won ${planWins} of ${ROUNDS} rounds; a writer waited on a number's lock in ${contended}\n`);
}, 60_000);

test(`two spellings FusionPBX routes one call to share a lock: a +1 tenant adding 5552160001 waits for the writer of 15552160001 in a plan without a country code (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, async () => {
  const { provisioner, fx } = suite;
  await provisioner.create(tenantEvent(8303, {}, PLAN));
  const asGiven = await provisioner.create(tenantEvent(8304, {}));
  // The other tenant's writer, mid-transaction: it holds its number's lock (as createTenantDestination takes it) and has written the number.
  const [key] = numberLockKeys(normaliseNumber('15552160001', numberPlanOf(undefined, undefined), 'number'));
  const holder = await fx.pool.connect();
  try {
    await holder.query('begin');
    await holder.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
    await holder.query(
      `insert into v_destinations (destination_uuid, domain_uuid, destination_type, destination_number, destination_number_regex, destination_context, destination_enabled)
       values ($1, $2, 'inbound', '15552160001', '^(15552160001)$', 'public', 'true')`,
      [randomUUID(), asGiven.domainUuid],
    );
    // ^\+?1?(5552160001)$ would match 15552160001 too: the add must wait for that writer, not read past it.
    const add = createTenantDestination(fx.pool, '5552160001', {}, destinationWriteOptions(8303, PLAN)).catch((caught: unknown) => caught);
    expect(await sawNumberLockWait(add, [key])).toBe(true);
    await holder.query('commit');
    expect(await add).toBeInstanceOf(NumberOwnedError);
  } finally {
    await holder.query('rollback').catch(() => undefined);
    holder.release();
  }
});
