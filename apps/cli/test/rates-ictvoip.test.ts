import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { createBridgeTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix, type TestDatabase } from '@ictvoip/testkit';
import { ROOT, runCli, type CliRun } from './run-cli';

// `rates import --format ictvoip` / `--map` (saved with the deck) / `--country-code` / `--national-prefix` /
// `--exit-code` / `--markup-percent` / `--inbound-rate`
// and `rates export`, through the real binary against a real database.
const DOC_EXAMPLE = join(ROOT, 'fixtures/samples/rates/ictvoip/tariffs-doc-example.csv');
// Each step starts the real binary (several seconds each on a loaded machine).
jest.setTimeout(180_000);

let db: TestDatabase;
let pool: Pool;
let dir: string;
let env: Record<string, string>;
const cli = (...args: string[]): Promise<CliRun> => runCli(env, args);
const deckRow = async (name: string) => (await pool.query('SELECT * FROM rate_decks WHERE name = $1', [name])).rows[0];

beforeAll(async () => {
  // Migrated (a copy of the kit's template): `ictvoip migrate` itself is cli.test's and migrate-required's.
  db = await createBridgeTestDatabase('cli_rates_ictvoip');
  pool = new Pool({ connectionString: db.url, max: 2 });
  dir = mkdtempSync(join(tmpdir(), 'ictvoip-rates-'));
  env = { NODE_ENV: 'test', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: uniqueQueuePrefix('cli'), LOG_LEVEL: 'silent' };
}, 60_000);

afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe('an ictVoIP tariff', () => {
  it('imports the documented file with --format ictvoip, NANP defaults (1, trunk 1, exit 011) and a 25 % markup, and exports it back byte for byte', async () => {
    const run = await cli(
      'rates',
      'import',
      DOC_EXAMPLE,
      '--format',
      'ictvoip',
      '--name',
      'Telnyx_Outbound_2024_01',
      '--currency',
      'CAD',
      '--country-code',
      '1',
      '--markup-percent',
      '25',
      '--json',
    );
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ stored: true, revision: 1, entryCount: 3 });
    expect(await deckRow('Telnyx_Outbound_2024_01')).toMatchObject({ country_code: '1', national_prefix: '1', international_prefixes: ['011'], markup_percent: '25.000000' });

    // 10 digits and 011 + country code both reach E.164; the rate carries the markup ($0.01 × 1.25).
    for (const dialled of ['2045551234', '12045551234', '01112045551234']) {
      const shown = await cli('rates', 'show', dialled, '--deck', 'Telnyx_Outbound_2024_01', '--json');
      expect(shown.json).toMatchObject({ e164: '+12045551234', rate: { prefix: '1204', ratePerMinute: '0.012500', increments: '6/6' } });
    }
    const exported = await cli('rates', 'export', '--deck', 'Telnyx_Outbound_2024_01');
    expect(exported.code).toBe(0);
    expect(exported.stdout).toBe(readFileSync(DOC_EXAMPLE, 'utf8'));
    const file = join(dir, 'out.csv');
    expect((await cli('rates', 'export', '--deck', 'Telnyx_Outbound_2024_01', '--format', 'canonical', '--output', file)).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^prefix,destination,rate_per_minute,.*\r\n1204,Canada - 204 Manitoba,0\.01,0,6,6,1970-01-01T00:00:00Z,\r\n/);
  });

  it('saves a --map with the deck: the provider’s next file imports without mapping it again', async () => {
    const provider = (rate: string) => `Zone,Dial Code,Cost,Secs\nGermany,49,${rate},60\nUK,44,0.03,60\n`;
    const first = join(dir, 'provider-1.csv');
    writeFileSync(first, provider('0.02'));
    const mapped = await cli(
      'rates',
      'import',
      first,
      '--name',
      'carrier',
      '--currency',
      'EUR',
      '--country-code',
      '49',
      '--map',
      'destination=Zone,prefix=Dial Code,rate=Cost,increment=Secs',
      '--json',
    );
    expect(mapped.code).toBe(0);
    expect((await deckRow('carrier')).column_mapping).toEqual({ destination: 'Zone', prefix: 'Dial Code', ratePerMinute: 'Cost', subsequentIncrement: 'Secs' });
    const next = join(dir, 'provider-2.csv');
    writeFileSync(next, provider('0.025'));
    const again = await cli('rates', 'import', next, '--name', 'carrier', '--currency', 'EUR', '--country-code', '49', '--json');
    expect(again.code).toBe(0);
    expect(again.json).toMatchObject({ stored: true, revision: 2, report: { columns: { destination: 'Zone', prefix: 'Dial Code', ratePerMinute: 'Cost' } } });
    expect((await cli('rates', 'show', '+4930123456', '--deck', 'carrier', '--json')).json).toMatchObject({ rate: { ratePerMinute: '0.025000' } });
  });

  it('saves --default-increments with the deck: the next ASTPP sheet (Increment 0) imports without them; none clears them', async () => {
    const sheet = join(dir, 'astpp.csv');
    writeFileSync(sheet, 'Code,Destination,Per Minute Cost,Increment\n44,United Kingdom,0.0100,0\n');
    const deck = ['--name', 'astpp_cli', '--currency', 'GBP', '--country-code', '44', '--json'];
    expect((await cli('rates', 'import', sheet, ...deck, '--default-increments', '1/1')).code).toBe(0);
    expect((await deckRow('astpp_cli')).default_increments).toBe('1/1');
    const again = await cli('rates', 'import', sheet, ...deck);
    expect(again.code).toBe(0);
    expect(again.json).toMatchObject({ stored: true, revision: 2 });
    expect((await cli('rates', 'show', '+442079460000', '--deck', 'astpp_cli', '--json')).json).toMatchObject({ rate: { increments: '1/1' } });
    // none: cleared, and the 0 cells are refused again.
    writeFileSync(join(dir, 'astpp-6.csv'), 'Code,Destination,Per Minute Cost,Increment\n44,United Kingdom,0.0100,6\n');
    expect((await cli('rates', 'import', join(dir, 'astpp-6.csv'), ...deck, '--default-increments', 'none')).code).toBe(0);
    expect((await deckRow('astpp_cli')).default_increments).toBeNull();
    const refused = await cli('rates', 'import', sheet, ...deck);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('an empty or 0 increment is not billed as 60/60');
    expect(await deckRow('astpp_cli')).toMatchObject({ revision: 3, default_increments: null });
  });

  it('sets the country code, trunk prefix, exit codes, markup and inbound rate from the CLI (ictVoIP’s package settings)', async () => {
    // As an operator types it: each package setting one flag.
    const packageFlags = '--country-code 44 --national-prefix 0 --exit-code 00,0011 --markup-percent 10 --inbound-rate 0.005 --inbound-increment 60/6';
    const run = await cli('rates', 'import', DOC_EXAMPLE, '--format=ictvoip', '--name=uk-package', '--currency=GBP', ...packageFlags.split(' '), '--json');
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ stored: true, inboundRate: { ratePerMinute: '0.005000', increments: '60/6' } });
    expect(await deckRow('uk-package')).toMatchObject({
      country_code: '44',
      national_prefix: '0',
      international_prefixes: ['00', '0011'],
      markup_percent: '10.000000',
      inbound_rate_per_minute: '0.005000',
      inbound_increments: '60/6',
    });
    // Both exit codes reach the Canadian prefix of the documented tariff; 0.01 + 10 %.
    for (const dialled of ['0012045551234', '001112045551234']) {
      expect((await cli('rates', 'show', dialled, '--deck', 'uk-package', '--json')).json).toMatchObject({ e164: '+12045551234', rate: { ratePerMinute: '0.011000' } });
    }
    const text = await cli('rates', 'import', DOC_EXAMPLE, '--format', 'ictvoip', '--name', 'uk-package', '--currency', 'GBP', '--country-code', '44', '--inbound-rate', '0.004');
    expect(text.stdout).toContain('inbound calls 0.004000/min in 60/60 s increments where billed');
  });

  it('names a bad --inbound-rate or --inbound-increment, or one without the other, and stores nothing', async () => {
    const before = await deckRow('uk-package');
    const base = ['rates', 'import', DOC_EXAMPLE, '--format', 'ictvoip', '--name', 'uk-package', '--currency', 'GBP', '--country-code', '44'];
    for (const [flags, message] of [
      [['--inbound-rate', 'free'], '--inbound-rate'],
      [['--inbound-rate', '0.01', '--inbound-increment', '0'], '--inbound-increment'],
      [['--inbound-increment', '6'], '--inbound-increment needs --inbound-rate'],
    ] as const) {
      const run = await cli(...base, ...flags);
      expect(run.code).not.toBe(0);
      expect(run.stderr + run.stdout).toContain(message);
    }
    expect(await deckRow('uk-package')).toEqual(before);
  });

  it('names a bad --format, --exit-code or --markup-percent and stores nothing', async () => {
    const before = (await pool.query('SELECT count(*)::int AS n FROM rate_decks')).rows[0].n;
    const badFormat = await cli('rates', 'import', DOC_EXAMPLE, '--format', 'vodia', '--name', 'x', '--currency', 'CAD', '--country-code', '1', '--json');
    expect(badFormat.code).not.toBe(0);
    expect(badFormat.stderr + badFormat.stdout).toContain('--format: "vodia" is not one of ictvoip, canonical');
    const badExit = await cli('rates', 'import', DOC_EXAMPLE, '--format', 'ictvoip', '--name', 'x', '--currency', 'CAD', '--country-code', '1', '--exit-code', '+', '--json');
    expect(badExit.stderr + badExit.stdout).toContain('--exit-code');
    const badMarkup = await cli(
      'rates',
      'import',
      DOC_EXAMPLE,
      '--format',
      'ictvoip',
      '--name',
      'x',
      '--currency',
      'CAD',
      '--country-code',
      '1',
      '--markup-percent',
      'lots',
      '--json',
    );
    expect(badMarkup.stderr + badMarkup.stdout).toContain('--markup-percent');
    expect((await pool.query('SELECT count(*)::int AS n FROM rate_decks')).rows[0].n).toBe(before);
  });

  it('refuses to export in ictVoIP’s layout a deck it cannot hold, pointing at the canonical one', async () => {
    const file = join(dir, 'split.csv');
    writeFileSync(file, 'prefix,destination,rate_per_minute,initial_increment,subsequent_increment\n49,Germany,0.02,60,6\n');
    expect((await cli('rates', 'import', file, '--name', 'split', '--currency', 'EUR', '--country-code', '49')).code).toBe(0);
    const run = await cli('rates', 'export', '--deck', 'split');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('prefix 49: increments 60/6');
    expect(run.stderr).toContain('--format canonical');
  });

  it('--effective-from and --at are UTC unless they give an offset, as the file’s dates, whatever the host’s time zone; an impossible day is refused', async () => {
    // An operator's host in Toronto (UTC-5): JavaScript's Date would take 00:00 as 05:00Z.
    const toronto = (...args: string[]) => runCli({ ...env, TZ: 'America/Toronto' }, args);
    const args = ['rates', 'import', DOC_EXAMPLE, '--format', 'ictvoip', '--name', 'dated', '--currency', 'CAD', '--country-code', '1'];
    const stored = await toronto(...args, '--effective-from', '2027-01-01T00:00', '--json');
    expect(stored.code).toBe(0);
    const { rows } = await pool.query<{ from: Date }>("SELECT min(effective_from) AS from FROM rate_entries e JOIN rate_decks d USING (deck_id) WHERE d.name = 'dated'");
    expect(rows[0]?.from.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    // A call at 02:00 UTC on 1 January is in force; the same moment with an offset too.
    const at = async (when: string) => (await toronto('rates', 'show', '2045551234', '--deck', 'dated', '--at', when, '--json')).json;
    expect(await at('2027-01-01T02:00')).toMatchObject({ rate: { prefix: '1204' } });
    expect(await at('2026-12-31T21:00:00-05:00')).toMatchObject({ rate: { prefix: '1204' } });
    expect(await at('2026-12-31T23:59:59.999Z')).toMatchObject({ rate: null });

    const impossible = await toronto(...args, '--effective-from', '2027-02-30', '--json');
    expect({ code: impossible.code, stderr: impossible.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('--effective-from: "2027-02-30" is not an ISO-8601 date') });
  });

  it('a re-import that drops or changes the markup or inbound rate says so (a forgotten flag would bill at cost unseen)', async () => {
    const args = ['rates', 'import', DOC_EXAMPLE, '--format', 'ictvoip', '--name', 'monthly', '--currency', 'CAD', '--country-code', '1'];
    expect((await cli(...args, '--markup-percent', '25', '--inbound-rate', '0.005', '--inbound-increment', '6')).code).toBe(0);
    const same = await cli(...args, '--markup-percent', '25.0', '--inbound-rate', '0.0050', '--inbound-increment', '6/6', '--json');
    expect({ code: same.code, stderr: same.stderr, changed: same.json.settingsChanged }).toEqual({ code: 0, stderr: '', changed: [] });

    const dry = await cli(...args, '--dry-run');
    expect(dry.stderr).toContain('ictvoip: note: deck monthly: markup 25 % → none (no --markup-percent)');
    const forgot = await cli(...args, '--json');
    expect(forgot.code).toBe(0);
    expect(forgot.json.settingsChanged).toEqual(['markup 25 % → none (no --markup-percent)', 'inbound rate 0.005/min in 6/6 s → none (no --inbound-rate)']);
    expect(forgot.stderr).toContain('ictvoip: note: deck monthly: inbound rate 0.005/min in 6/6 s → none (no --inbound-rate)');
  });
});
