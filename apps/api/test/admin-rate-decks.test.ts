// The WHMCS addon's rate deck import (POST /admin/pages/rate-decks/import) states a deck's currency,
// country code and national prefix only. An operator who set the markup, inbound rate and exit code
// with `rates import` and then uploads next month's price list on the addon page must keep them: the
// page has no field for them. A new NANP deck gets the CLI's exit code 011, so "011 44 …" is a UK call.
import { createRateTable, formatMoney } from '@ictvoip/rating';
import { importRateDeck, loadRateEntries, resolveRateDeck } from '@ictvoip/store';
import { startTestApi, type TestApi } from './harness';

const ADMIN_TOKEN = 'admin-rate-decks-token-7c2e9a41';
let t: TestApi;

beforeAll(async () => {
  t = await startTestApi({ ADMIN_TOKEN });
});
afterAll(async () => {
  await t.close();
});

const TARIFF = (uk: string) => `Description,Prefix,RateValue,Increment\r\nUSA,1,0.0100,6\r\nUnited Kingdom,44,${uk},6\r\n`;

async function addonImport(body: Record<string, string>): Promise<Response> {
  return fetch(`${t.url}/admin/pages/rate-decks/import`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** The price of a call to `dialled` as the worker would rate it with the stored deck. */
async function priceOf(deckName: string, dialled: string) {
  const deck = await resolveRateDeck(t.api.deps.pool, deckName);
  if (!deck) throw new Error(`no deck ${deckName}`);
  const entries = (await loadRateEntries(t.api.deps.pool, deck.deckId))?.entries ?? [];
  const lookup = createRateTable({ entries, numberingPlan: deck.numberingPlan, markup: deck.markup }).lookup(dialled, new Date());
  return lookup.kind === 'matched' ? { prefix: lookup.rate.prefix, rate: formatMoney(lookup.rate.ratePerMinute) } : lookup.kind;
}

test('a re-import on the addon page keeps the markup, inbound rate, exit code and column mapping the CLI stored', async () => {
  const cli = await importRateDeck(t.api.deps.pool, 'Telnyx_Outbound', TARIFF('0.0200'), {
    currency: 'CAD',
    numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
    markup: { percent: '25' },
    inbound: { ratePerMinute: '0.005', increments: '60/6' },
    csv: { columns: { destination: 'Description', prefix: 'Prefix', ratePerMinute: 'RateValue', subsequentIncrement: 'Increment' } },
  });
  expect(cli.ok).toBe(true);
  expect(await priceOf('Telnyx_Outbound', '011442079460000')).toEqual({ prefix: '44', rate: '0.025000' });

  // Next month's list, uploaded on the addon page as its form sends it.
  const reply = await addonImport({ name: 'Telnyx_Outbound', currency: 'CAD', countryCode: '1', nationalPrefix: '1', csv: TARIFF('0.0240') });
  expect(reply.status).toBe(201);

  const deck = await resolveRateDeck(t.api.deps.pool, 'Telnyx_Outbound');
  expect(deck).toMatchObject({ revision: 2, inbound: { ratePerMinute: '0.005000', increments: '60/6' } });
  expect(deck?.numberingPlan.internationalPrefixes).toEqual(['011']);
  expect(Number(deck?.markup.percent)).toBe(25);
  // 0.024 + 25 %: the new price, still marked up, and the 011 call still a UK call.
  expect(await priceOf('Telnyx_Outbound', '011442079460000')).toEqual({ prefix: '44', rate: '0.030000' });
  const { rows } = await t.api.deps.pool.query<{ column_mapping: unknown }>('SELECT column_mapping FROM rate_decks WHERE name = $1', ['Telnyx_Outbound']);
  expect(rows[0]?.column_mapping).toEqual({ destination: 'Description', prefix: 'Prefix', ratePerMinute: 'RateValue', subsequentIncrement: 'Increment' });
});

test('a new NANP deck from the addon page dials out with 011, as the CLI sets it; 1 + 10 digits is national', async () => {
  const reply = await addonImport({ name: 'nanp_new', currency: 'USD', countryCode: '1', csv: TARIFF('0.0200') });
  expect(reply.status).toBe(201);
  expect(await priceOf('nanp_new', '011442079460000')).toEqual({ prefix: '44', rate: '0.020000' });
  expect(await priceOf('nanp_new', '12125550100')).toEqual({ prefix: '1', rate: '0.010000' });
  const deck = await resolveRateDeck(t.api.deps.pool, 'nanp_new');
  expect(deck?.numberingPlan).toMatchObject({ countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] });
});

test('a file of another layout on the page is read by its header names, not refused for the mapping saved with the deck', async () => {
  const saved = { prefix: 'Dial Code', ratePerMinute: 'Cost', destination: 'Zone' };
  expect(
    (
      await importRateDeck(t.api.deps.pool, 'carrier_page', 'Zone,Dial Code,Cost\nGermany,49,0.02\n', {
        currency: 'EUR',
        numberingPlan: { countryCode: '49' },
        csv: { columns: saved },
      })
    ).ok,
  ).toBe(true);
  // The provider's next file: the saved mapping reads it.
  expect((await addonImport({ name: 'carrier_page', currency: 'EUR', countryCode: '49', csv: 'Zone,Dial Code,Cost\nGermany,49,0.03\n' })).status).toBe(201);
  expect(await priceOf('carrier_page', '+49301234567')).toEqual({ prefix: '49', rate: '0.030000' });
  // ictVoIP's layout: read by its own header names.
  expect((await addonImport({ name: 'carrier_page', currency: 'EUR', countryCode: '49', csv: TARIFF('0.0400') })).status).toBe(201);
  expect(await priceOf('carrier_page', '+442079460000')).toEqual({ prefix: '44', rate: '0.040000' });
});

async function addonPost(path: 'preview' | 'import', body: Record<string, string>): Promise<{ status: number; body: any }> {
  const response = await fetch(`${t.url}/admin/pages/rate-decks/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

test('the page preview and import return the warnings with their lines, and how many more', async () => {
  // 101 inactive lines: the first 100 are listed, the rest counted.
  const lines = Array.from({ length: 101 }, (_, i) => `Mobile ${i},${4470 + i},0.0300,6,Inactive`);
  const csv = ['Description,Prefix,RateValue,Increment,Status', 'United Kingdom,44,0.0200,6,Active', ...lines].join('\n');
  const form = { name: 'warned', currency: 'GBP', countryCode: '44', csv };
  const preview = await addonPost('preview', form);
  expect(preview.status).toBe(200);
  expect(preview.body.warnings[0]).toEqual({ line: 3, column: 'Status', message: 'skipped: status "Inactive"' });
  expect(preview.body).toMatchObject({ ok: true, moreWarnings: 1 });
  expect(preview.body.warnings).toHaveLength(100);
  const imported = await addonPost('import', form);
  expect(imported.status).toBe(201);
  expect(imported.body).toMatchObject({ stored: true, entryCount: 1, moreWarnings: 1 });
  expect(imported.body.warnings[99]).toEqual({ line: 102, column: 'Status', message: 'skipped: status "Inactive"' });
});

test('the page refuses a deck whose increments sit in a column the importer does not read, naming it', async () => {
  const form = { name: 'interval', currency: 'GBP', countryCode: '44', csv: 'Prefix,Destination,Rate,Interval\n44,United Kingdom,0.02,1\n' };
  const preview = await addonPost('preview', form);
  expect(preview.body.issues).toEqual([{ line: 1, column: 'Interval', message: expect.stringContaining('column "Interval" looks like a billing increment') }]);
  const refused = await addonPost('import', form);
  expect(refused.status).toBe(422);
  expect(JSON.stringify(refused.body)).toContain('Interval: column \\"Interval\\" looks like a billing increment');
  expect(await resolveRateDeck(t.api.deps.pool, 'interval')).toBeNull();
});

test("the page states what a sheet's 0 increments mean (defaultIncrements, checked as the CLI checks --default-increments)", async () => {
  // ASTPP's termination template writes Increment 0: refused without the stated meaning, as in the CLI.
  const astpp = 'Code,Destination,Per Minute Cost,Increment\n44,United Kingdom,0.0100,0\n4420,London,0.0120,0\n';
  const form = { name: 'astpp_page', currency: 'GBP', countryCode: '44', csv: astpp };
  const refused = await addonPost('import', form);
  expect(refused.status).toBe(422);
  expect(JSON.stringify(refused.body)).toContain('an empty or 0 increment is not billed as 60/60');

  const bad = await addonPost('preview', { ...form, defaultIncrements: '0/0' });
  expect(bad.status).toBe(400);
  expect(bad.body.error).toMatchObject({
    code: 'VALIDATION_FAILED',
    details: [{ path: 'body.defaultIncrements', message: 'defaultIncrements: "0/0": increments are at least 1 second' }],
  });
  expect((await addonPost('import', { ...form, defaultIncrements: 'sixty' })).body.error.details[0].message).toMatch(
    /^defaultIncrements: "sixty" is not an increment: write seconds like 60\/6 or 6/,
  );
  expect(await resolveRateDeck(t.api.deps.pool, 'astpp_page')).toBeNull();

  const preview = await addonPost('preview', { ...form, defaultIncrements: '1/1' });
  expect(preview.body).toMatchObject({ ok: true, firstRates: [expect.objectContaining({ prefix: '44', increments: '1/1' }), expect.objectContaining({ increments: '1/1' })] });
  const imported = await addonPost('import', { ...form, defaultIncrements: '1/1' });
  expect(imported.status).toBe(201);
  const deck = await resolveRateDeck(t.api.deps.pool, 'astpp_page');
  const entries = (await loadRateEntries(t.api.deps.pool, deck!.deckId))?.entries ?? [];
  expect(entries.map((entry) => `${entry.prefix} ${entry.initialIncrement}/${entry.subsequentIncrement}`).sort()).toEqual(['44 1/1', '4420 1/1']);
});

test('a refusal on the page names its Column mapping field, not the CLI flag; the field maps the columns and is saved with the deck', async () => {
  const csv = 'Dest Code,Zone,Charge\n49,Germany,0.02\n';
  const form = { name: 'mapped_page', currency: 'EUR', countryCode: '49', csv };
  const refused = await addonPost('import', form);
  expect(refused.status).toBe(422);
  const said = JSON.stringify(refused.body);
  expect(said).toContain('enter prefix=<header>,rate=<header> in the Column mapping field');
  expect(said).not.toContain('--map');
  const interval = await addonPost('preview', { ...form, csv: 'Prefix,Rate,Interval\n49,0.02,60\n' });
  expect(interval.body.issues[0].message).toContain('enter initial="Interval" in the Column mapping field for the first block');
  expect(JSON.stringify(interval.body)).not.toContain('--map');

  expect((await addonPost('preview', { ...form, columnMapping: 'prefix' })).body.error.details[0]).toEqual({
    path: 'body.columnMapping',
    message: expect.stringMatching(/^columnMapping: "prefix" is not <field>=<header>; fields: prefix, destination, rate/),
  });
  const imported = await addonPost('import', { ...form, columnMapping: 'prefix=Dest Code, rate=Charge, destination=Zone' });
  expect(imported.status).toBe(201);
  expect(await priceOf('mapped_page', '+49301234567')).toEqual({ prefix: '49', rate: '0.020000' });
  // Saved: the provider's next file imports without typing it again.
  expect((await addonPost('import', { ...form, csv: 'Dest Code,Zone,Charge\n49,Germany,0.03\n' })).status).toBe(201);
  expect(await priceOf('mapped_page', '+49301234567')).toEqual({ prefix: '49', rate: '0.030000' });
});

test("the page's price cells may carry the deck's currency and a decimal comma; another currency's sign is refused by line and column", async () => {
  const csv = 'Prefix;Destination;Rate;Increment\n49;Germany;0,0125 €;6\n4930;Berlin;EUR 0,0100;6\n';
  const imported = await addonPost('import', { name: 'comma_page', currency: 'EUR', countryCode: '49', csv });
  expect(imported.status).toBe(201);
  expect(await priceOf('comma_page', '+49301234567')).toEqual({ prefix: '4930', rate: '0.010000' });
  const usd = await addonPost('preview', { name: 'comma_usd', currency: 'USD', countryCode: '49', csv });
  expect(usd.body.issues[0]).toEqual({ line: 2, column: 'Rate', message: expect.stringContaining('"0,0125 €" is priced in EUR but the deck\'s currency is USD') });
});

async function addonList(): Promise<Array<Record<string, unknown>>> {
  const response = await fetch(`${t.url}/admin/pages/rate-decks`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return ((await response.json()) as { decks: Array<Record<string, unknown>> }).decks;
}

const incrementsOf = async (deckName: string) => {
  const deck = await resolveRateDeck(t.api.deps.pool, deckName);
  const entries = (await loadRateEntries(t.api.deps.pool, deck!.deckId))?.entries ?? [];
  return entries.map((entry) => `${entry.prefix} ${entry.initialIncrement}/${entry.subsequentIncrement}`).sort();
};

test("the page's default increments are saved with the deck, shown, and reused by a re-import unless typed again", async () => {
  // ASTPP's template writes Increment 0: its meaning is stated once, on the first import.
  const astpp = (rate: string) => `Code,Destination,Per Minute Cost,Increment\n44,United Kingdom,${rate},0\n4420,London,0.0120,0\n`;
  const form = { name: 'astpp_saved', currency: 'GBP', countryCode: '44' };
  const first = await addonPost('import', { ...form, defaultIncrements: '1/1', csv: astpp('0.0100') });
  expect(first.status).toBe(201);

  // Next month's sheet, the field left empty: read with the saved 1/1, not refused.
  const again = await addonPost('import', { ...form, csv: astpp('0.0110') });
  expect(again.status).toBe(201);
  expect(await incrementsOf('astpp_saved')).toEqual(['44 1/1', '4420 1/1']);
  expect(first.body).toMatchObject({ revision: 1, defaultIncrements: '1/1' });
  expect(again.body).toMatchObject({ revision: 2, defaultIncrements: '1/1' });
  // Shown: in the deck list, and in a preview as the file will be read.
  expect((await addonList()).find((deck) => deck.name === 'astpp_saved')).toMatchObject({ defaultIncrements: '1/1', columnMapping: null });
  const preview = await addonPost('preview', { ...form, csv: astpp('0.0110') });
  expect(preview.body).toMatchObject({ ok: true, defaultIncrements: '1/1', firstRates: [expect.objectContaining({ increments: '1/1' }), expect.anything()] });

  // The same upload twice: the same rates, the same saved increments.
  expect((await addonPost('import', { ...form, csv: astpp('0.0110') })).body).toMatchObject({ revision: 3, defaultIncrements: '1/1' });
  expect(await incrementsOf('astpp_saved')).toEqual(['44 1/1', '4420 1/1']);

  // A bad value typed over the saved one: 400 naming the field, nothing stored, the saved one kept.
  const bad = await addonPost('import', { ...form, defaultIncrements: '0/0', csv: astpp('0.0500') });
  expect(bad.status).toBe(400);
  expect(bad.body.error.details).toEqual([{ path: 'body.defaultIncrements', message: 'defaultIncrements: "0/0": increments are at least 1 second' }]);
  expect(await resolveRateDeck(t.api.deps.pool, 'astpp_saved')).toMatchObject({ revision: 3 });
  expect((await addonList()).find((deck) => deck.name === 'astpp_saved')).toMatchObject({ defaultIncrements: '1/1' });

  // Typed again: replaces the saved ones.
  expect((await addonPost('import', { ...form, defaultIncrements: '60/6', csv: astpp('0.0110') })).body).toMatchObject({ revision: 4, defaultIncrements: '60/6' });
  expect(await incrementsOf('astpp_saved')).toEqual(['44 60/6', '4420 60/6']);
  expect((await addonPost('import', { ...form, csv: astpp('0.0110') })).body).toMatchObject({ revision: 5, defaultIncrements: '60/6' });
  expect(await incrementsOf('astpp_saved')).toEqual(['44 60/6', '4420 60/6']);

  // "none" clears them: the 0 cells are refused again, as on a deck that never stated them.
  const cleared = await addonPost('import', { ...form, defaultIncrements: 'none', csv: 'Code,Destination,Per Minute Cost,Increment\n44,United Kingdom,0.0100,6\n' });
  expect(cleared.body).toMatchObject({ revision: 6, defaultIncrements: null });
  expect((await addonList()).find((deck) => deck.name === 'astpp_saved')).toMatchObject({ defaultIncrements: null });
  const refused = await addonPost('import', { ...form, csv: astpp('0.0110') });
  expect(refused.status).toBe(422);
  expect(JSON.stringify(refused.body)).toContain('an empty or 0 increment is not billed as 60/60');
});

test('the page clears a saved column mapping with "none": a file that still fits it is read by its header names again', async () => {
  // The mapping saved by mistake read the buying price (Cost) as the rate; the file still has that column.
  const sheet = (rate: string) => `Prefix,Destination,Rate,Cost\n49,Germany,${rate},0.0200\n`;
  const form = { name: 'mapping_cleared', currency: 'EUR', countryCode: '49' };
  expect((await addonPost('import', { ...form, columnMapping: 'rate=Cost', csv: sheet('0.0300') })).status).toBe(201);
  expect((await addonPost('import', { ...form, csv: sheet('0.0300') })).status).toBe(201);
  expect(await priceOf('mapping_cleared', '+49301234567')).toEqual({ prefix: '49', rate: '0.020000' });

  const cleared = await addonPost('import', { ...form, columnMapping: 'NONE', csv: sheet('0.0300') });
  expect(cleared.status).toBe(201);
  expect(await priceOf('mapping_cleared', '+49301234567')).toEqual({ prefix: '49', rate: '0.030000' });
  // Cleared for good: the next file, the field left empty, is read by its header names too.
  expect((await addonPost('import', { ...form, csv: sheet('0.0310') })).status).toBe(201);
  expect(await priceOf('mapping_cleared', '+49301234567')).toEqual({ prefix: '49', rate: '0.031000' });
  const { rows } = await t.api.deps.pool.query<{ column_mapping: unknown }>('SELECT column_mapping FROM rate_decks WHERE name = $1', ['mapping_cleared']);
  expect(rows[0]?.column_mapping).toBeNull();
  expect(cleared.body).toMatchObject({ revision: 3, columnMapping: null });
  expect((await addonList()).find((deck) => deck.name === 'mapping_cleared')).toMatchObject({ revision: 4, columnMapping: null });

  // Typed again: saved and shown; a bad mapping is 400 naming the field and keeps the saved one.
  expect((await addonPost('import', { ...form, columnMapping: 'rate=Cost', csv: sheet('0.0300') })).body).toMatchObject({ revision: 5, columnMapping: 'ratePerMinute=Cost' });
  const bad = await addonPost('import', { ...form, columnMapping: 'none,prefix', csv: sheet('0.0300') });
  expect(bad.status).toBe(400);
  expect(bad.body.error.details[0].path).toBe('body.columnMapping');
  expect((await addonList()).find((deck) => deck.name === 'mapping_cleared')).toMatchObject({ revision: 5, columnMapping: 'ratePerMinute=Cost' });
  // Clearing twice is harmless.
  expect((await addonPost('import', { ...form, columnMapping: 'none', csv: sheet('0.0300') })).body).toMatchObject({ revision: 6, columnMapping: null });
  expect((await addonPost('import', { ...form, columnMapping: 'none', csv: sheet('0.0300') })).body).toMatchObject({ revision: 7, columnMapping: null });
  expect(await priceOf('mapping_cleared', '+49301234567')).toEqual({ prefix: '49', rate: '0.030000' });
});
