import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBridgeTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix, type TestDatabase } from '@ictvoip/testkit';
import { runCli, type CliRun } from './run-cli';

// `rates import` in text mode prints the warnings themselves (first 20 with line numbers, then a
// count), for validation, dry run and a stored import; an unknown increment column is refused by name.
jest.setTimeout(180_000);

let db: TestDatabase;
let dir: string;
let env: Record<string, string>;
const cli = (...args: string[]): Promise<CliRun> => runCli(env, args);

// 25 inactive lines (each a warning) and 1 active one.
const DECK = [
  'Prefix,Destination,Rate,Increment,Status',
  '44,United Kingdom,0.0100,6,Active',
  ...Array.from({ length: 25 }, (_, i) => `${4410 + i},UK ${i},0.0200,6,Inactive`),
].join('\n');

beforeAll(async () => {
  // Migrated (a copy of the kit's template): `ictvoip migrate` itself is cli.test's and migrate-required's.
  db = await createBridgeTestDatabase('cli_rates_warnings');
  dir = mkdtempSync(join(tmpdir(), 'ictvoip-rates-warn-'));
  env = { NODE_ENV: 'test', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: uniqueQueuePrefix('cli'), LOG_LEVEL: 'silent' };
}, 60_000);

afterAll(async () => {
  await db.drop();
});

function expectWarningsListed(stdout: string, file: string): void {
  expect(stdout).toContain('(25 warnings)');
  expect(stdout).toContain(`warning: ${file}:3: Status: skipped: status "Inactive"`);
  expect(stdout).toContain(`warning: ${file}:22: Status: skipped: status "Inactive"`);
  expect(stdout).not.toContain(`warning: ${file}:23:`);
  expect(stdout).toContain('… and 5 more warnings');
}

it('validation, dry run and a stored import list the warnings with their lines', async () => {
  const file = join(dir, 'uk.csv');
  writeFileSync(file, DECK);
  const validated = await cli('rates', 'import', file, '--validate-only');
  expect(validated.code).toBe(0);
  expect(validated.stdout).toMatch(/1 rates valid/);
  expectWarningsListed(validated.stdout, file);

  const store = ['--name', 'uk', '--currency', 'GBP', '--country-code', '44'];
  const dryRun = await cli('rates', 'import', file, ...store, '--dry-run');
  expect(dryRun.code).toBe(0);
  expect(dryRun.stdout).toMatch(/dry run, nothing stored/);
  expectWarningsListed(dryRun.stdout, file);

  const stored = await cli('rates', 'import', file, ...store);
  expect(stored.code).toBe(0);
  expect(stored.stdout).toMatch(/deck uk: revision 1, 1 rates stored/);
  expectWarningsListed(stored.stdout, file);
});

it('an increment column the importer does not read is refused, naming it', async () => {
  const file = join(dir, 'interval.csv');
  writeFileSync(file, 'Prefix,Destination,Rate,Billing Interval\n44,United Kingdom,0.0100,1\n');
  const run = await cli('rates', 'import', file, '--validate-only');
  expect(run.code).toBe(1);
  expect(run.stderr).toContain(`${file}:1: Billing Interval: column "Billing Interval" looks like a billing increment or duration`);
});

it("a sheet whose Increment cells say 0 is refused until --default-increments states the provider's meaning; a bad value is refused before the file is read", async () => {
  // ASTPP's termination template writes 0 in its Increment column.
  const file = join(dir, 'zero-increments.csv');
  writeFileSync(file, ['Prefix,Destination,Rate,Increment', '44,United Kingdom,0.0100,0', '4420,London,0.0120,0'].join('\n'));
  const store = ['--name', 'astpp', '--currency', 'GBP', '--country-code', '44'];
  const refused = await cli('rates', 'import', file, ...store);
  expect(refused.code).toBe(1);
  expect(refused.stdout + refused.stderr).toMatch(/Increment/);

  const bad = await cli('rates', 'import', file, ...store, '--default-increments', '0/0');
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/--default-increments: "0\/0": increments are at least 1 second/);

  const stored = await cli('rates', 'import', file, ...store, '--default-increments', '1/1', '--json');
  expect(stored.code).toBe(0);
  const shown = await cli('rates', 'show', '00442071234567', '--deck', 'astpp', '--json');
  expect(shown.code).toBe(0);
  expect(shown.json).toMatchObject({ rate: { prefix: '4420', increments: '1/1' } });
});

it("a sheet saved as Excel's Unicode text (UTF-16 with its mark, tabs) with decimal commas and the deck's currency sign is stored exactly; without the mark it is refused, saying how to save it", async () => {
  const text = 'Prefix\tDestination\tRate\tIncrement\r\n44\tUnited Kingdom\t£0,0125\t6\r\n4420\tLondon\t0,0200 GBP\t1\r\n';
  const file = join(dir, 'unicode-text.txt');
  writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
  const store = ['--name', 'unicode', '--currency', 'GBP', '--country-code', '44'];
  const stored = await cli('rates', 'import', file, ...store, '--json');
  expect(stored.stderr).toBe('');
  expect(stored.code).toBe(0);
  expect(stored.json).toMatchObject({ stored: true, entryCount: 2 });
  const shown = await cli('rates', 'show', '00442071234567', '--deck', 'unicode', '--json');
  expect(shown.json).toMatchObject({ rate: { prefix: '4420', ratePerMinute: '0.020000', destination: 'London' } });

  // Another currency's sign is a line error naming line and column; the --map advice stays the CLI's.
  const euro = await cli('rates', 'import', file, '--name', 'unicode', '--currency', 'EUR', '--country-code', '44');
  expect(euro.code).toBe(1);
  expect(euro.stderr).toContain(`${file}:2: Rate: "£0,0125" is priced in GBP but the deck's currency is EUR`);

  const bare = join(dir, 'unicode-no-bom.txt');
  writeFileSync(bare, Buffer.from(text, 'utf16le'));
  const refused = await cli('rates', 'import', bare, '--validate-only');
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/UTF-16 without a byte order mark; save the sheet as "CSV UTF-8"/);

  const unmapped = join(dir, 'unmapped.csv');
  writeFileSync(unmapped, 'Dest Code,Charge\n44,0.01\n');
  expect((await cli('rates', 'import', unmapped, '--validate-only')).stderr).toContain('ictvoip rates import --map prefix=<header>,rate=<header>');
});
