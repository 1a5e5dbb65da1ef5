import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { Pool } from 'pg';
import { InboxRepository, migrateBridgeDatabase, ServicesRepository } from '@ictvoip/store';
import { databaseDigest, runCli, type CliRun } from './run-cli';
import { createTestDatabase, recordFailedCreate, deleteRedisPrefix, TEST_REDIS_URL, uniqueQueuePrefix, type TestDatabase } from '@ictvoip/testkit';

let db: TestDatabase;
let pool: Pool;
let prefix: string;
let dir: string;
let env: Record<string, string>;

const cli = (...args: string[]): Promise<CliRun> => runCli(env, args);

beforeAll(async () => {
  db = await createTestDatabase('cli');
  pool = new Pool({ connectionString: db.url, max: 2 });
  prefix = uniqueQueuePrefix('cli');
  dir = mkdtempSync(join(tmpdir(), 'ictvoip-cli-'));
  env = { NODE_ENV: 'test', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' };
});
afterAll(async () => {
  await pool.end();
  await deleteRedisPrefix(prefix);
  await db.drop();
});

describe('ictvoip', () => {
  it('lists every command in --help, and migrate is repeatable', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    for (const command of ['migrate', 'whitelist', 'keys', 'rates', 'jobs', 'tenants', 'reconcile', 'servers']) expect(help.stdout).toContain(command);
    const first = await cli('migrate', '--json');
    expect(first.code).toBe(0);
    expect((first.json.applied as string[]).length).toBeGreaterThan(0);
    const again = await cli('migrate', '--json');
    expect(again.json).toEqual({ applied: [] });
  });

  it('names the bad variable when the environment is invalid', async () => {
    const saved = env;
    env = { ...env, DATABASE_URL: 'mysql://nope' };
    const run = await cli('tenants', 'list', '--json');
    env = saved;
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('DATABASE_URL');
    expect(run.json).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
  });
});

describe('keys', () => {
  beforeAll(async () => {
    await migrateBridgeDatabase(pool);
    const services = new ServicesRepository(pool);
    for (const serviceId of [4242, 4343]) await services.setDesired({ serviceId, clientId: 5, desiredState: 'active', eventId: `00000000-0000-4000-8000-00000000${serviceId}` });
  });
  afterAll(async () => {
    // The tenants tests below count every service.
    await pool.query('DELETE FROM services WHERE service_id IN (4242, 4343)');
  });

  it('refuses a tenant key for a service the bridge does not know, with --dry-run too, and creates nothing', async () => {
    const before = await databaseDigest(pool);
    for (const extra of [[], ['--dry-run']]) {
      const run = await cli('keys', 'create', '--name', 'typo', '--service', '4244', ...extra, '--json');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('ictvoip: service 4244 is not known to the bridge');
      expect(run.json).toMatchObject({ error: { code: 'UNKNOWN_SERVICE' } });
    }
    expect(await databaseDigest(pool)).toEqual(before);
  }, 60_000);

  it('creates a tenant key (token shown once), lists it without the secret, revokes it twice with one revocation time', async () => {
    const created = await cli('keys', 'create', '--name', 'portal', '--service', '4242', '--access', 'read-write', '--json');
    expect(created.code).toBe(0);
    const token = created.json.token as string;
    expect(token).toMatch(/^ivk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const key = created.json.key as { id: string; serviceId: number; scope: string };
    expect(key).toMatchObject({ serviceId: 4242, scope: 'tenant', access: 'read-write' });

    const listed = await cli('keys', 'list', '--json');
    expect((listed.json.keys as { id: string }[]).map((k) => k.id)).toContain(key.id);
    // The secret is everything after `ivk_<prefix>_`: base64url, so it may itself contain '_'.
    expect(listed.stdout).not.toContain(token.split('_').slice(2).join('_'));

    const revoked = await cli('keys', 'revoke', key.id, '--json');
    const again = await cli('keys', 'revoke', key.id, '--json');
    expect(revoked.code).toBe(0);
    expect((again.json.key as { revokedAt: string }).revokedAt).toBe((revoked.json.key as { revokedAt: string }).revokedAt);
    expect(((await cli('keys', 'list', '--json')).json.keys as { id: string }[]).map((k) => k.id)).not.toContain(key.id);
  }, 120_000);

  it('--dry-run on create and revoke prints the row it would write and writes nothing, the same twice', async () => {
    const kept = await cli('keys', 'create', '--name', 'kept', '--scope', 'admin', '--json');
    const id = (kept.json.key as { id: string }).id;
    const before = await databaseDigest(pool);
    const create = await cli('keys', 'create', '--name', 'portal', '--service', '4343', '--access', 'read-write', '--dry-run', '--json');
    expect(create.code).toBe(0);
    expect(create.json).toEqual({
      dryRun: true,
      outcome: 'created',
      rows: [
        {
          table: 'api_keys',
          op: 'insert',
          key: null,
          columns: { prefix: '********', secret_sha256: '********', name: 'portal', scope: 'tenant', service_id: '4343', access: 'read-write', created_by: 'cli' },
        },
      ],
    });
    expect(create.stdout).not.toMatch(/ivk_/);
    const revoke = await cli('keys', 'revoke', id, '--dry-run', '--json');
    expect(revoke.code).toBe(0);
    expect(revoke.json).toEqual({
      dryRun: true,
      outcome: 'revoked',
      rows: [{ table: 'api_keys', op: 'update', key: id, columns: { revoked_at: 'now()' } }],
      key: expect.objectContaining({ id, revokedAt: null }),
    });
    expect((await cli('keys', 'revoke', id, '--dry-run', '--json')).json).toEqual(revoke.json);
    const bad = await cli('keys', 'create', '--name', 'x', '--scope', 'admin', '--service', '5', '--dry-run', '--json');
    expect(bad.code).toBe(1);
    expect(bad.json).toEqual({ error: { code: expect.any(String), message: 'an admin key has no serviceId' } });
    const unknown = await cli('keys', 'revoke', '999999', '--dry-run');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no API key with id 999999');
    expect(await databaseDigest(pool)).toEqual(before);
  }, 120_000);

  it('refuses bad input with a clear message and a non-zero exit', async () => {
    const noService = await cli('keys', 'create', '--name', 'x', '--scope', 'tenant', '--json');
    expect(noService.code).toBe(1);
    expect(noService.stderr).toContain('serviceId');
    const unknown = await cli('keys', 'revoke', '999999');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no API key with id 999999');
    const badScope = await cli('keys', 'create', '--name', 'x', '--scope', 'root');
    expect(badScope.code).not.toBe(0);
    expect(badScope.stderr).toContain('root');
  });
});

describe('rates', () => {
  const good = [
    'prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment,effective_from,effective_to',
    '49,Germany,0.020000,0,60,60,2020-01-01,',
    '4915,Germany mobile,0.150000,0.010000,30,6,2020-01-01,',
    '44,United Kingdom,0.030000,0,60,60,2020-01-01,',
  ].join('\n');

  it('imports a deck whole, re-imports it as the next revision, and explains which rate applies', async () => {
    const file = join(dir, 'deck.csv');
    writeFileSync(file, good);
    await migrateBridgeDatabase(pool);
    const empty = await databaseDigest(pool);
    const fresh = await cli('rates', 'import', file, '--name', 'std', '--currency', 'EUR', '--country-code', '49', '--dry-run', '--json');
    expect(fresh.code).toBe(0);
    expect(fresh.json).toMatchObject({ dryRun: true, stored: false, deck: 'std', existing: null, revision: 1, entryCount: 3, added: 3, replaced: 0, removed: 0, unchanged: 0 });
    expect(await databaseDigest(pool)).toEqual(empty);
    const first = await cli('rates', 'import', file, '--name', 'std', '--currency', 'EUR', '--country-code', '49', '--json');
    expect(first.code).toBe(0);
    expect(first.json).toMatchObject({ stored: true, deck: 'std', revision: 1, entryCount: 3 });
    // A changed file: 49 re-priced, 44 dropped, 33 new; the dry-run says so (twice alike) and stores nothing.
    const changed = join(dir, 'deck-changed.csv');
    writeFileSync(changed, good.replace('49,Germany,0.020000', '49,Germany,0.025000').replace(/\n44,.*$/, '\n33,France,0.040000,0,60,60,2020-01-01,'));
    const stored = await databaseDigest(pool);
    const preview = await cli('rates', 'import', changed, '--name', 'std', '--currency', 'EUR', '--country-code', '49', '--dry-run', '--json');
    expect(preview.json).toMatchObject({
      dryRun: true,
      stored: false,
      existing: { revision: 1, entryCount: 3, currency: 'EUR' },
      revision: 2,
      entryCount: 3,
      added: 1,
      replaced: 1,
      removed: 1,
      unchanged: 1,
    });
    const previewText = await cli('rates', 'import', changed, '--name', 'std', '--currency', 'EUR', '--country-code', '49', '--dry-run');
    expect(previewText.stdout).toContain(
      'deck std: would store revision 2, 3 rates, replaces revision 1 (3 rates, EUR): 1 added, 1 replaced, 1 removed, 1 unchanged; dry run, nothing stored',
    );
    expect((await cli('rates', 'import', changed, '--name', 'std', '--currency', 'EUR', '--country-code', '49', '--dry-run', '--json')).json).toEqual(preview.json);
    const refused = await cli('rates', 'import', changed, '--name', 'std', '--currency', 'euro', '--country-code', '49', '--dry-run', '--json');
    expect(refused.code).toBe(1);
    expect(refused.json).toMatchObject({ error: { code: 'RATE_DECK_OPTIONS_INVALID', message: expect.stringContaining('currency') } });
    expect(await databaseDigest(pool)).toEqual(stored);
    const second = await cli('rates', 'import', file, '--name', 'std', '--currency', 'EUR', '--country-code', '49', '--json');
    expect(second.json).toMatchObject({ stored: true, revision: 2, entryCount: 3 });
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM rate_entries e JOIN rate_decks d USING (deck_id) WHERE d.name = 'std'");
    expect(rows[0].n).toBe(3);

    const mobile = await cli('rates', 'show', '0151 2345678', '--deck', 'std', '--json');
    expect(mobile.code).toBe(0);
    expect(mobile.json).toMatchObject({ e164: '+4915123456' + '78', rate: { prefix: '4915', destination: 'Germany mobile', increments: '30/6' } });
    expect(mobile.json.why).toContain('longest matching prefix 4915');
    expect(mobile.json.why).toContain('49');
    const human = await cli('rates', 'show', '+44 20 7946 0000', '--deck', 'std');
    expect(human.stdout).toContain('United Kingdom');
    const none = await cli('rates', 'show', '+33 1 23 45 67 89', '--deck', 'std', '--json');
    expect(none.code).toBe(2);
    expect(none.json).toMatchObject({ rate: null });
  }, 120_000);

  it('a price list imported ahead (--effective-from later) keeps the rates in force until it starts: calls before then stay priced', async () => {
    const today = join(dir, 'ahead-today.csv');
    writeFileSync(today, 'prefix,destination,rate_per_minute\n49,Germany,0.020000\n44,United Kingdom,0.030000');
    const next = join(dir, 'ahead-next.csv');
    writeFileSync(next, 'prefix,destination,rate_per_minute\n49,Germany,0.025000\n33,France,0.040000');
    const args = (file: string, ...more: string[]) => ['rates', 'import', file, '--name', 'ahead', '--currency', 'EUR', '--country-code', '49', ...more];
    await migrateBridgeDatabase(pool);
    expect((await cli(...args(today, '--json'))).json).toMatchObject({ stored: true, revision: 1, entryCount: 2, keptEarlier: 0, keptUntil: null });
    const digest = await databaseDigest(pool);
    const preview = await cli(...args(next, '--effective-from', '2027-01-01', '--dry-run'));
    expect(preview.stdout).toContain('2 earlier rate(s) kept in force until 2027-01-01T00:00:00.000Z');
    expect(await databaseDigest(pool)).toEqual(digest);
    // Another currency cannot keep the earlier prices: refused, nothing stored (the dry run says the same).
    for (const more of [['--dry-run', '--json'], ['--json']]) {
      const refused = await cli('rates', 'import', next, '--name', 'ahead', '--currency', 'USD', '--country-code', '49', '--effective-from', '2027-01-01', ...more);
      expect(refused.code).toBe(1);
      expect(refused.json).toMatchObject({
        error: {
          code: 'RATE_DECK_OPTIONS_INVALID',
          message: expect.stringMatching(/^--currency: is USD but the deck's rates in force before 2027-01-01T00:00:00.000Z are in EUR/),
        },
      });
    }
    expect(await databaseDigest(pool)).toEqual(digest);

    const stored = await cli(...args(next, '--effective-from', '2027-01-01', '--json'));
    expect(stored.json).toMatchObject({ stored: true, revision: 2, entryCount: 2, keptEarlier: 2, keptUntil: '2027-01-01T00:00:00.000Z' });
    const priced = async (number: string, at: string) => (await cli('rates', 'show', number, '--deck', 'ahead', '--at', at, '--json')).json;
    expect(await priced('+49 30 123456', '2026-12-20')).toMatchObject({ rate: { prefix: '49', ratePerMinute: '0.020000' } });
    expect(await priced('+49 30 123456', '2027-01-02')).toMatchObject({ rate: { prefix: '49', ratePerMinute: '0.025000' } });
    expect(await priced('+44 20 7946 0000', '2026-12-20')).toMatchObject({ rate: { prefix: '44' } });
    expect(await priced('+44 20 7946 0000', '2027-01-02')).toMatchObject({ rate: null });
    expect(await priced('+33 1 23 45 67 89', '2026-12-20')).toMatchObject({ rate: null });
    const { rows } = await pool.query("SELECT entry_count FROM rate_decks WHERE name = 'ahead'");
    expect(rows[0].entry_count).toBe(4);

    // The same file again: the earlier rates stay as they were (ended at the same moment), the file's are replaced.
    expect((await cli(...args(next, '--effective-from', '2027-01-01', '--json'))).json).toMatchObject({ revision: 3, keptEarlier: 2 });
    // A file from the start (no --effective-from) replaces the whole deck, as before.
    expect((await cli(...args(today, '--json'))).json).toMatchObject({ revision: 4, entryCount: 2, keptEarlier: 0 });
    expect(await priced('+49 30 123456', '2027-01-02')).toMatchObject({ rate: { ratePerMinute: '0.020000' } });
  }, 120_000);

  it('checks every option before it reads the file or says it is storing anything', async () => {
    const file = join(dir, 'opts.csv');
    writeFileSync(file, good);
    const cases: Array<[string[], string]> = [
      [['--name', 'x', '--currency', 'euro', '--country-code', '49'], '--currency: must be a 3-letter ISO 4217 code'],
      [['--name', 'has space', '--currency', 'EUR', '--country-code', '49'], '--name: must be 1-100 letters'],
      [['--name', 'x', '--currency', 'EUR', '--country-code', '049'], '--country-code: must be a country code of 1 to 4 digits'],
      [['--name', 'x', '--currency', 'EUR'], '--country-code is required to store a deck'],
      [['--currency', 'EUR', '--country-code', '49'], '--name is required to store a deck'],
      [['--name', 'x', '--currency', 'EUR', '--country-code', '49', '--effective-from', 'next week'], '--effective-from: "next week" is not an ISO-8601 date'],
      [['--name', 'x', '--currency', 'EUR', '--country-code', '49', '--map', 'price'], '--map: "price" is not <field>=<header>'],
      [['--name', 'x', '--currency', 'EUR', '--country-code', '49', '--map', 'cost=Price'], '--map: "cost=Price" is not <field>=<header>'],
      [['--validate-only', '--currency', 'eur'], '--currency: must be a 3-letter'],
    ];
    for (const [options, message] of cases) {
      // The file does not exist: an option error must come first.
      const run = await cli('rates', 'import', join(dir, 'no-such-file.csv'), ...options);
      expect({ options, code: run.code, stderr: run.stderr }).toEqual({ options, code: 1, stderr: expect.stringContaining(message) });
      expect(run.stderr).not.toMatch(/validating|storing/);
    }
    const missing = await cli('rates', 'import', join(dir, 'no-such-file.csv'), '--name', 'x', '--currency', 'EUR', '--country-code', '49');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no-such-file.csv: ENOENT');
    expect(missing.stderr).not.toContain('storing');
    expect((await pool.query("SELECT count(*)::int AS n FROM rate_decks WHERE name = 'x'")).rows[0].n).toBe(0);
  }, 120_000);

  it("imports ictVoIP's tariff columns as they are, and other headers with --map", async () => {
    await migrateBridgeDatabase(pool);
    const ictvoip = join(dir, 'ictvoip-tariff.csv');
    writeFileSync(ictvoip, 'Description,Prefix,RateValue,Increment,ShortDescription\nGermany,49,0.0200,60,DE\nGermany mobile,4915,0.1500,6,DE-M\n');
    const native = await cli('rates', 'import', ictvoip, '--name', 'ict', '--currency', 'EUR', '--country-code', '49', '--json');
    expect({ code: native.code, stderr: native.stderr }).toEqual({ code: 0, stderr: '' });
    expect(native.json).toMatchObject({
      stored: true,
      entryCount: 2,
      report: { columns: { prefix: 'Prefix', ratePerMinute: 'RateValue', destination: 'Description', subsequentIncrement: 'Increment' } },
    });
    expect((await cli('rates', 'import', ictvoip, '--name', 'ict', '--currency', 'EUR', '--country-code', '49', '--map', 'rate=RateValue', '--json')).json).toMatchObject({
      stored: true,
      revision: 2,
      entryCount: 2,
    });

    const other = join(dir, 'carrier.csv');
    writeFileSync(other, 'Dest Code;Charge;Where\n49;0.02;Germany\n');
    const unmapped = await cli('rates', 'import', other, '--name', 'carrier', '--currency', 'EUR', '--country-code', '49');
    expect(unmapped.code).toBe(1);
    expect(unmapped.stderr).toContain('no column for prefix');
    expect(unmapped.stderr).toContain('--map prefix=<header>,rate=<header>');
    const mapped = await cli(
      'rates',
      'import',
      other,
      '--name',
      'carrier',
      '--currency',
      'EUR',
      '--country-code',
      '49',
      '--map',
      'prefix=Dest Code,rate=Charge',
      '--map',
      'destination=Where',
      '--effective-from',
      '2026-01-01',
      '--json',
    );
    expect({ code: mapped.code, stderr: mapped.stderr }).toEqual({ code: 0, stderr: '' });
    expect(mapped.json).toMatchObject({ stored: true, entryCount: 1 });
    const shown = await cli('rates', 'show', '+49 30 123456', '--deck', 'carrier', '--at', '2026-02-01', '--json');
    expect(shown.json).toMatchObject({ rate: { prefix: '49', destination: 'Germany', effectiveFrom: '2026-01-01T00:00:00.000Z' } });
  }, 120_000);

  it('reports every bad line with its number and stores nothing', async () => {
    const file = join(dir, 'bad.csv');
    writeFileSync(file, `${good}\n33,France,abc,0,60,60,2020-01-01,\n34,Spain,0.01,0,0x,60,2020-01-01,`);
    const run = await cli('rates', 'import', file, '--name', 'bad', '--currency', 'EUR', '--country-code', '49', '--json');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file}:5:`);
    expect(run.stderr).toContain(`${file}:6:`);
    expect(run.json).toMatchObject({ stored: false, error: { code: 'RATE_DECK_INVALID' } });
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM rate_decks WHERE name = 'bad'");
    expect(rows[0].n).toBe(0);
    const validateOnly = await cli('rates', 'import', join(dir, 'deck.csv'), '--validate-only', '--json');
    expect(validateOnly.json).toMatchObject({ stored: false, report: { ok: true, entries: 3 } });
    const missing = await cli('rates', 'show', '123', '--deck', 'nosuchdeck');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nosuchdeck');
  });
});

describe('jobs and tenants', () => {
  it('lists failed jobs and retries them once', async () => {
    const connection = new IORedis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue('maintenance', { connection, prefix });
    const workerConnection = connection.duplicate();
    const failing = new Worker(
      'maintenance',
      async () => {
        throw new Error('boom for the test');
      },
      { connection: workerConnection, prefix },
    );
    try {
      await queue.add('inbox.reconcile', {}, { jobId: 'cli-test-job', attempts: 1 });
      for (let i = 0; i < 100 && (await queue.getFailedCount()) === 0; i += 1) await new Promise((r) => setTimeout(r, 50));
      await failing.close();
      const listed = await cli('jobs', 'list', '--queue', 'maintenance', '--json');
      expect(listed.code).toBe(0);
      const [maintenance] = listed.json.queues as { counts: Record<string, number>; jobs: { id: string; failedReason: string }[] }[];
      expect(maintenance.counts.failed).toBe(1);
      expect(maintenance.jobs).toEqual([expect.objectContaining({ id: 'cli-test-job', failedReason: 'boom for the test' })]);
      const dry = await cli('jobs', 'retry-failed', '--dry-run', '--json');
      expect(dry.code).toBe(0);
      expect(dry.json).toMatchObject({
        dryRun: true,
        wouldRetry: { maintenance: 1, provisioning: 0 },
        jobs: [expect.objectContaining({ queue: 'maintenance', id: 'cli-test-job', failedReason: 'boom for the test' })],
      });
      expect((await cli('jobs', 'retry-failed', '--dry-run', '--json')).json).toEqual(dry.json);
      expect(await queue.getJobCounts('failed', 'waiting')).toEqual({ failed: 1, waiting: 0 });
      const retried = await cli('jobs', 'retry-failed', '--json');
      expect(retried.json).toMatchObject({ retried: { maintenance: 1, provisioning: 0 } });
      expect(await queue.getFailedCount()).toBe(0);
      expect(await queue.getWaitingCount()).toBe(1);
      expect((await cli('jobs', 'retry-failed', '--json')).json).toMatchObject({ retried: { maintenance: 0 } });
    } finally {
      await failing.close();
      await queue.close();
      workerConnection.disconnect();
      connection.disconnect();
    }
  }, 120_000);

  it('retry-failed retries what can be retried and says per job why not: a create whose WHMCS event failed (exit 1, press Create again), a stale poll', async () => {
    await migrateBridgeDatabase(pool);
    const eventId = randomUUID();
    await recordFailedCreate(new InboxRepository(pool), { eventId, serviceId: 8899, jobId: 'cli-create', error: 'FusionPBX database did not answer' });
    const connection = new IORedis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queues: Queue[] = [];
    const fail = async (queueName: string, name: string, data: Record<string, unknown>, jobId: string, timestamp = Date.now()) => {
      const queue = new Queue(queueName, { connection, prefix });
      queues.push(queue);
      const workerConnection = connection.duplicate();
      const worker = new Worker(
        queueName,
        async () => {
          throw new Error(`${name} failed`);
        },
        { connection: workerConnection, prefix },
      );
      const job = await queue.add(name, data, { jobId, attempts: 1, timestamp });
      for (let i = 0; i < 200 && (await job.getState()) !== 'failed'; i += 1) await new Promise((r) => setTimeout(r, 25));
      await worker.close();
      workerConnection.disconnect();
      return queue;
    };
    try {
      const provisioning = await fail('provisioning', 'tenant.create', { eventId, serviceId: 8899, action: 'create' }, 'cli-create');
      const monitoring = await fail('monitoring', 'registrations.poll', { server: 'default' }, 'cli-poll-old', Date.now() - 3 * 3600 * 1000);
      await fail('monitoring', 'registrations.poll', { server: 'default' }, 'cli-poll-new');
      const dry = await cli('jobs', 'retry-failed', '--dry-run', '--json');
      expect(dry.json).toMatchObject({ wouldRetry: { provisioning: 0, monitoring: 1 } });
      const run = await cli('jobs', 'retry-failed', '--json');
      expect(run.code).toBe(1);
      const byId = Object.fromEntries((run.json.jobs as { id: string }[]).map((line) => [line.id, line]));
      expect(byId['cli-create']).toMatchObject({ retried: false, code: 'EVENT_FINISHED', reason: expect.stringContaining(`WHMCS event ${eventId} (create of service 8899)`) });
      expect(byId['cli-create']).toMatchObject({ reason: expect.stringContaining("Press the action again in WHMCS (the service's Create button") });
      expect(byId['cli-poll-old']).toMatchObject({ retried: false, code: 'STALE_POLL' });
      expect(byId['cli-poll-new']).toMatchObject({ retried: true });
      expect(run.json.retried).toMatchObject({ provisioning: 0, monitoring: 1 });
      expect(await (await provisioning.getJob('cli-create'))!.getState()).toBe('failed');
      expect(await (await monitoring.getJob('cli-poll-old'))!.getState()).toBe('failed');
      expect(await (await monitoring.getJob('cli-poll-new'))!.getState()).toBe('waiting');
      const human = await cli('jobs', 'retry-failed', '--queue', 'provisioning');
      expect(human.code).toBe(1);
      expect(human.stdout).toContain(`cli-create tenant.create attempts 1 — tenant.create failed: not retried: job cli-create ran WHMCS event ${eventId}`);
    } finally {
      for (const queue of queues) await queue.obliterate({ force: true }).then(() => queue.close());
      connection.disconnect();
    }
  }, 120_000);

  it('lists the services table', async () => {
    await migrateBridgeDatabase(pool);
    const services = new ServicesRepository(pool);
    await services.setDesired({ serviceId: 71, clientId: 5, desiredState: 'active', plan: { maxExtensions: 4 }, eventId: '00000000-0000-4000-8000-000000000071' });
    await services.setDesired({ serviceId: 72, clientId: 5, desiredState: 'suspended', eventId: '00000000-0000-4000-8000-000000000072' });
    const all = await cli('tenants', 'list', '--json');
    expect(all.json.tenants).toEqual([
      expect.objectContaining({ serviceId: 71, desiredState: 'active', maxExtensions: 4 }),
      expect.objectContaining({ serviceId: 72, desiredState: 'suspended' }),
    ]);
    const suspended = await cli('tenants', 'list', '--state', 'suspended');
    expect(suspended.stdout).toContain('72');
    expect(suspended.stdout).not.toMatch(/^71\t/m);
  });
});
