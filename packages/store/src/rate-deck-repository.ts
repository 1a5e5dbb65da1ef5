import type { Pool, PoolClient } from 'pg';
import {
  COUNTRY_CODE_DIGITS,
  COUNTRY_CODE_RULE,
  formatMoney,
  importRateDeckCsv,
  parseIncrements,
  normaliseNumber,
  parseMarkup,
  parseMoney,
  type Markup,
  type NumberingPlan,
  type RateDeckColumnMapping,
  type RateDeckImportOptions,
  type RateDeckImportResult,
  type RateEntry,
} from '@ictvoip/rating';
import { inTransaction } from './transaction';

/** Bad arguments to importRateDeck / setPlanRateDeck (not a bad CSV line: that is the report). */
export class RateDeckStoreError extends Error {
  readonly code = 'RATE_DECK_OPTIONS_INVALID';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'RateDeckStoreError';
  }
}

export interface RateDeckStoreOptions {
  /** ISO 4217, upper case; must equal the WHMCS client's currency (WHMCS bills in the client's currency). */
  currency: string;
  numberingPlan: NumberingPlan;
  /** The deck's default markup; a plan mapping may override it. */
  markup?: Markup;
  /**
   * A flat price per minute for inbound calls (in the deck's currency, no markup) and its increments
   * (`60/6` or `6`; default 60/60): used where the plan names no inbound rate or deck of its own.
   */
  inbound?: DeckInboundRate;
  /** Passed to the rating package's CSV import (column overrides, default dates, increments). `allowPartial` is refused. */
  csv?: Omit<RateDeckImportOptions, 'allowPartial'>;
}

export interface RateDeckStoreResult {
  /** False when the CSV had a bad line: nothing was written. */
  ok: boolean;
  /** The rating package's validation report (issues name line and column). */
  report: RateDeckImportResult;
  deckId: number | null;
  revision: number | null;
  entryCount: number;
  /** the deck's inbound rate as stored (increments `initial/subsequent`), or null */
  inbound: Required<DeckInboundRate> | null;
  /** stored rates in force before the file's earliest effective-from, kept and ended then */
  keptEarlier: number;
  /** when the kept rates end (the file's earliest effective-from), or null when none was kept */
  keptUntil: Date | null;
}

const keptOf = (kept: number, entries: readonly RateEntry[]) => ({ keptEarlier: kept, keptUntil: kept > 0 ? importStartsAt(entries) : null });

export interface DeckInboundRate {
  ratePerMinute: string;
  increments?: string;
}

/** What rating a service needs to know about its deck, without the entries. */
export interface RateDeckRef {
  deckId: number;
  name: string;
  currency: string;
  revision: number;
  numberingPlan: NumberingPlan;
  markup: Markup;
  /** the deck's own inbound price (increments as `initial/subsequent`), or null */
  inbound: Required<DeckInboundRate> | null;
}

const DECK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const INSERT_CHUNK = 2000;

/** The checks importRateDeck makes on its arguments before it reads the CSV (RateDeckStoreError). */
export function checkRateDeckStoreOptions(name: string, options: RateDeckStoreOptions): void {
  validateOptions(name, options);
}

function validateOptions(name: string, options: RateDeckStoreOptions): void {
  if (!DECK_NAME.test(name)) throw new RateDeckStoreError('name', 'must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit');
  if (!/^[A-Z]{3}$/.test(options.currency ?? '')) throw new RateDeckStoreError('currency', 'must be a 3-letter ISO 4217 code in upper case, e.g. "USD"');
  const plan = options.numberingPlan;
  if (!plan || !COUNTRY_CODE_DIGITS.test(plan.countryCode ?? '')) throw new RateDeckStoreError('numberingPlan.countryCode', COUNTRY_CODE_RULE);
  try {
    normaliseNumber(`+${plan.countryCode}1234567`, plan);
  } catch (error) {
    throw new RateDeckStoreError('numberingPlan', (error as Error).message);
  }
  if (options.markup) {
    try {
      parseMarkup(options.markup);
    } catch (error) {
      throw new RateDeckStoreError('markup', (error as Error).message);
    }
  }
  if (options.inbound) inboundColumns(options.inbound);
  if (options.csv && 'allowPartial' in options.csv) throw new RateDeckStoreError('csv.allowPartial', 'a deck is imported whole or not at all');
}

/** [price, `initial/subsequent`] as stored; RateDeckStoreError naming `inbound.…` when either is bad. */
function inboundColumns(inbound: DeckInboundRate | undefined): [string | null, string | null] {
  if (!inbound) return [null, null];
  let price: string;
  try {
    price = formatMoney(parseMoney(inbound.ratePerMinute, { field: 'inbound.ratePerMinute' }));
  } catch (error) {
    throw new RateDeckStoreError('inbound.ratePerMinute', (error as Error).message);
  }
  try {
    const increments = parseIncrements(inbound.increments ?? '60/60', 'inbound.increments');
    return [price, `${increments.initial}/${increments.subsequent}`];
  } catch (error) {
    throw new RateDeckStoreError('inbound.increments', (error as Error).message);
  }
}

/** The deck's currency is the one its price cells may be marked with ("$0.0125" in a USD deck). */
const csvOptions = (options: RateDeckStoreOptions): RateDeckImportOptions => ({ ...options.csv, currency: options.currency });

/** The mapping an import used, kept with the deck for its next import; null when none was given. */
function savedMapping(mapping: RateDeckColumnMapping | undefined): string | null {
  return mapping && Object.keys(mapping).length > 0 ? JSON.stringify(mapping) : null;
}

/** The default increments an import stated, as `initial/subsequent`, kept with the deck for its next import; null when none. */
function savedIncrements(increments: { readonly initial: number; readonly subsequent: number } | undefined): string | null {
  return increments ? `${increments.initial}/${increments.subsequent}` : null;
}

/** The default increments saved with a deck by its last import (`1/1`), or null when none were stated or there is no such deck. */
export async function savedDefaultIncrements(db: Pool | PoolClient, name: string): Promise<string | null> {
  const { rows } = await db.query<{ default_increments: string | null }>('SELECT default_increments FROM rate_decks WHERE name = $1', [name]);
  return rows[0]?.default_increments ?? null;
}

/** The column mapping saved with a deck by its last import (none: an empty mapping). */
export async function savedColumnMapping(db: Pool | PoolClient, name: string): Promise<RateDeckColumnMapping> {
  const { rows } = await db.query<{ column_mapping: RateDeckColumnMapping | null }>('SELECT column_mapping FROM rate_decks WHERE name = $1', [name]);
  return rows[0]?.column_mapping ?? {};
}

/** A stored deck's settings as import options (its country code apart), to re-import it without stating them again. */
export interface StoredDeckSettings {
  countryCode: string;
  nationalPrefix: string;
  internationalPrefixes: string[];
  bareNumbers: 'national' | 'international';
  markup: Markup;
  inbound: Required<DeckInboundRate> | null;
  columnMapping: RateDeckColumnMapping;
  /** What the deck's empty or 0 increment cells meant at its last import (`1/1`), or null when none were stated. */
  defaultIncrements: string | null;
}

type SavedDeckRow = DeckRow & { column_mapping: RateDeckColumnMapping | null; default_increments: string | null };

async function deckRowByName(db: Pool | PoolClient, name: string): Promise<SavedDeckRow | null> {
  const { rows } = await db.query<SavedDeckRow>(
    `SELECT deck_id, name, currency, revision, country_code, national_prefix, international_prefixes, bare_numbers, markup_percent,
       markup_per_minute, markup_per_call, inbound_rate_per_minute, inbound_increments, column_mapping, default_increments
     FROM rate_decks WHERE name = $1`,
    [name],
  );
  return rows[0] ?? null;
}

/** The deck of that name with its own markup (a plan mapping's is not in it), or null. */
export async function rateDeckByName(db: Pool | PoolClient, name: string): Promise<RateDeckRef | null> {
  const row = await deckRowByName(db, name);
  return row ? toRef(row) : null;
}

/** The settings the named deck was last imported with, or null when there is no such deck. */
export async function storedDeckSettings(db: Pool | PoolClient, name: string): Promise<StoredDeckSettings | null> {
  const row = await deckRowByName(db, name);
  if (!row) return null;
  const ref = toRef(row);
  return {
    countryCode: row.country_code,
    nationalPrefix: row.national_prefix,
    internationalPrefixes: row.international_prefixes,
    bareNumbers: row.bare_numbers,
    markup: ref.markup,
    inbound: ref.inbound,
    columnMapping: row.column_mapping ?? {},
    defaultIncrements: row.default_increments,
  };
}

function decimal(value: string | undefined, field: string): string {
  if (value === undefined) return '0';
  return formatMoney(parseMoney(value, { field }));
}

/**
 * Validates `csvText` with the rating package and, only if every line is good, replaces the
 * named deck's entries in one transaction (creating the deck if new; revision + 1 otherwise).
 * A bad CSV writes nothing and returns `ok: false` with the report.
 */
export async function importRateDeck(pool: Pool, name: string, csvText: string, options: RateDeckStoreOptions): Promise<RateDeckStoreResult> {
  validateOptions(name, options);
  const report = importRateDeckCsv(csvText, csvOptions(options));
  const [inboundRate, inboundIncrements] = inboundColumns(options.inbound);
  const inbound = inboundRate === null ? null : { ratePerMinute: inboundRate, increments: inboundIncrements ?? '60/60' };
  if (!report.ok) return { ok: false, report, deckId: null, revision: null, entryCount: 0, inbound, keptEarlier: 0, keptUntil: null };
  const client = await pool.connect();
  try {
    const saved = await inTransaction(client, () => saveDeck(client, name, report.entries, options));
    return { ok: true, report, deckId: saved.deckId, revision: saved.revision, entryCount: report.entries.length, inbound, ...keptOf(saved.kept, report.entries) };
  } finally {
    client.release();
  }
}

async function saveDeck(
  client: PoolClient,
  name: string,
  entries: readonly RateEntry[],
  options: RateDeckStoreOptions,
): Promise<{ deckId: number; revision: number; kept: number }> {
  const plan = options.numberingPlan;
  const markup = options.markup ?? {};
  const [inboundRate, inboundIncrements] = inboundColumns(options.inbound);
  const previous = await client.query<{ currency: string }>('SELECT currency FROM rate_decks WHERE name = $1 FOR UPDATE', [name]);
  const previousCurrency = previous.rows[0]?.currency ?? null;
  const { rows } = await client.query<{ deck_id: string; revision: number }>(
    `INSERT INTO rate_decks (name, currency, country_code, national_prefix, international_prefixes, bare_numbers,
       markup_percent, markup_per_minute, markup_per_call, entry_count, column_mapping, inbound_rate_per_minute, inbound_increments, default_increments)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (name) DO UPDATE SET
       currency = EXCLUDED.currency, country_code = EXCLUDED.country_code, national_prefix = EXCLUDED.national_prefix,
       international_prefixes = EXCLUDED.international_prefixes, bare_numbers = EXCLUDED.bare_numbers,
       markup_percent = EXCLUDED.markup_percent, markup_per_minute = EXCLUDED.markup_per_minute,
       markup_per_call = EXCLUDED.markup_per_call, entry_count = EXCLUDED.entry_count,
       column_mapping = EXCLUDED.column_mapping, default_increments = EXCLUDED.default_increments,
       inbound_rate_per_minute = EXCLUDED.inbound_rate_per_minute, inbound_increments = EXCLUDED.inbound_increments,
       revision = rate_decks.revision + 1, updated_at = now()
     RETURNING deck_id, revision`,
    [
      name,
      options.currency,
      plan.countryCode,
      plan.nationalPrefix ?? '0',
      plan.internationalPrefixes ?? ['00'],
      plan.bareNumbers ?? 'national',
      decimal(markup.percent, 'markup.percent'),
      decimal(markup.fixedPerMinute, 'markup.fixedPerMinute'),
      decimal(markup.fixedPerCall, 'markup.fixedPerCall'),
      entries.length,
      savedMapping(options.csv?.columns),
      inboundRate,
      inboundIncrements,
      savedIncrements(options.csv?.defaultIncrements),
    ],
  );
  const deckId = Number(rows[0]?.deck_id);
  const { kept, remaining } = await keepEarlierRates(client, deckId, entries, previousCurrency, options.currency);
  for (let start = 0; start < entries.length; start += INSERT_CHUNK) {
    await insertEntries(client, deckId, entries.slice(start, start + INSERT_CHUNK));
  }
  if (remaining > 0) await client.query('UPDATE rate_decks SET entry_count = $2 WHERE deck_id = $1', [deckId, entries.length + remaining]);
  return { deckId, revision: rows[0]?.revision ?? 1, kept };
}

/** When the imported file starts: the earliest effective-from of its rates (null: an empty file). */
export function importStartsAt(entries: readonly RateEntry[]): Date | null {
  let start: Date | null = null;
  for (const entry of entries) if (start === null || entry.effectiveFrom < start) start = entry.effectiveFrom;
  return start;
}

/**
 * An import is the deck from its earliest effective-from on: the stored rates in force before then
 * stay, ended at that moment, so a price list imported ahead (`--effective-from` next month) leaves
 * today's calls priced instead of unrated until it starts. Stored rates starting at or after it are
 * replaced. A currency change cannot keep earlier rates (they are prices in the old currency).
 */
async function keepEarlierRates(
  client: PoolClient,
  deckId: number,
  entries: readonly RateEntry[],
  previousCurrency: string | null,
  currency: string,
): Promise<{ kept: number; remaining: number }> {
  const start = importStartsAt(entries);
  if (start === null) {
    await client.query('DELETE FROM rate_entries WHERE deck_id = $1', [deckId]);
    return { kept: 0, remaining: 0 };
  }
  await client.query('DELETE FROM rate_entries WHERE deck_id = $1 AND effective_from >= $2', [deckId, start.toISOString()]);
  // Every earlier rate stays (it prices the calls of its time); those in force when the file starts end then, and are the "kept".
  const { rows } = await client.query<{ until_start: boolean }>(
    'UPDATE rate_entries SET effective_to = LEAST(effective_to, $2) WHERE deck_id = $1 RETURNING effective_to = $2::timestamptz AS until_start',
    [deckId, start.toISOString()],
  );
  const remaining = rows.length;
  if (remaining > 0 && previousCurrency !== null && previousCurrency !== currency) throw currencyChangeError(currency, previousCurrency, start);
  return { kept: rows.filter((row) => row.until_start).length, remaining };
}

function currencyChangeError(currency: string, previousCurrency: string, start: Date): RateDeckStoreError {
  return new RateDeckStoreError(
    'currency',
    `is ${currency} but the deck's rates in force before ${start.toISOString()} are in ${previousCurrency}: import the new currency under another deck name, or from the start (no effective-from)`,
  );
}

async function insertEntries(client: PoolClient, deckId: number, entries: readonly RateEntry[]): Promise<void> {
  await client.query(
    `INSERT INTO rate_entries (deck_id, prefix, destination, rate_per_minute, connect_fee, initial_increment, subsequent_increment,
       effective_from, effective_to, source_line)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::int[], $7::int[], $8::timestamptz[], $9::timestamptz[], $10::int[])`,
    [
      deckId,
      entries.map((entry) => entry.prefix),
      entries.map((entry) => entry.destination),
      entries.map((entry) => formatMoney(entry.ratePerMinute)),
      entries.map((entry) => formatMoney(entry.connectFee)),
      entries.map((entry) => entry.initialIncrement),
      entries.map((entry) => entry.subsequentIncrement),
      entries.map((entry) => entry.effectiveFrom.toISOString()),
      entries.map((entry) => entry.effectiveTo?.toISOString() ?? null),
      entries.map((entry) => entry.sourceLine ?? null),
    ],
  );
}

/** Maps a WHMCS plan's "Rate deck" value to a stored deck, optionally with the plan's own markup. */
export async function setPlanRateDeck(db: Pool | PoolClient, planKey: string, deckName: string, markup?: Markup): Promise<void> {
  if (planKey.trim() === '') throw new RateDeckStoreError('planKey', 'must not be empty');
  if (markup) {
    try {
      parseMarkup(markup);
    } catch (error) {
      throw new RateDeckStoreError('markup', (error as Error).message);
    }
  }
  const { rowCount } = await db.query(
    `INSERT INTO plan_rate_decks (plan_key, deck_id, markup_percent, markup_per_minute, markup_per_call)
     SELECT $1, deck_id, $3, $4, $5 FROM rate_decks WHERE name = $2
     ON CONFLICT (plan_key) DO UPDATE SET deck_id = EXCLUDED.deck_id, markup_percent = EXCLUDED.markup_percent,
       markup_per_minute = EXCLUDED.markup_per_minute, markup_per_call = EXCLUDED.markup_per_call, updated_at = now()`,
    [planKey, deckName, markup?.percent ?? null, markup?.fixedPerMinute ?? null, markup?.fixedPerCall ?? null],
  );
  if (rowCount === 0) throw new RateDeckStoreError('deckName', `no rate deck named "${deckName}"`);
}

interface DeckRow {
  deck_id: string;
  name: string;
  currency: string;
  revision: number;
  country_code: string;
  national_prefix: string;
  international_prefixes: string[];
  bare_numbers: 'national' | 'international';
  markup_percent: string;
  markup_per_minute: string;
  markup_per_call: string;
  inbound_rate_per_minute: string | null;
  inbound_increments: string | null;
}

function toRef(row: DeckRow): RateDeckRef {
  return {
    deckId: Number(row.deck_id),
    name: row.name,
    currency: row.currency,
    revision: row.revision,
    numberingPlan: {
      countryCode: row.country_code,
      nationalPrefix: row.national_prefix,
      internationalPrefixes: row.international_prefixes,
      bareNumbers: row.bare_numbers,
    },
    markup: { percent: row.markup_percent, fixedPerMinute: row.markup_per_minute, fixedPerCall: row.markup_per_call },
    inbound: row.inbound_rate_per_minute === null ? null : { ratePerMinute: formatMoney(parseMoney(row.inbound_rate_per_minute)), increments: row.inbound_increments ?? '60/60' },
  };
}

/**
 * The deck for a plan's "Rate deck" value: a plan mapping of that key first (with its markup, or
 * the deck's), else a deck of that name. Null when neither exists.
 */
export async function resolveRateDeck(db: Pool | PoolClient, planKey: string): Promise<RateDeckRef | null> {
  if (planKey === '') return null;
  const { rows } = await db.query<DeckRow>(
    `SELECT d.deck_id, d.name, d.currency, d.revision, d.country_code, d.national_prefix, d.international_prefixes, d.bare_numbers,
       COALESCE(p.markup_percent, d.markup_percent) AS markup_percent,
       COALESCE(p.markup_per_minute, d.markup_per_minute) AS markup_per_minute,
       COALESCE(p.markup_per_call, d.markup_per_call) AS markup_per_call, d.inbound_rate_per_minute, d.inbound_increments
     FROM plan_rate_decks p JOIN rate_decks d ON d.deck_id = p.deck_id WHERE p.plan_key = $1
     UNION ALL
     SELECT d.deck_id, d.name, d.currency, d.revision, d.country_code, d.national_prefix, d.international_prefixes, d.bare_numbers,
       d.markup_percent, d.markup_per_minute, d.markup_per_call, d.inbound_rate_per_minute, d.inbound_increments
     FROM rate_decks d WHERE d.name = $1 AND NOT EXISTS (SELECT 1 FROM plan_rate_decks WHERE plan_key = $1)`,
    [planKey],
  );
  return rows[0] ? toRef(rows[0]) : null;
}

interface EntryRow {
  revision: number;
  prefix: string | null;
  destination: string;
  rate_per_minute: string;
  connect_fee: string;
  initial_increment: number;
  subsequent_increment: number;
  effective_from: Date;
  effective_to: Date | null;
  source_line: number | null;
}

/** A deck's entries with the revision they belong to, read in one statement (one snapshot). */
export async function loadRateEntries(db: Pool | PoolClient, deckId: number): Promise<{ revision: number; entries: RateEntry[] } | null> {
  const { rows } = await db.query<EntryRow>(
    `SELECT d.revision, e.prefix, e.destination, e.rate_per_minute, e.connect_fee, e.initial_increment, e.subsequent_increment,
       e.effective_from, e.effective_to, e.source_line
     FROM rate_decks d LEFT JOIN rate_entries e ON e.deck_id = d.deck_id WHERE d.deck_id = $1`,
    [deckId],
  );
  if (rows.length === 0) return null;
  return { revision: rows[0]?.revision ?? 0, entries: entriesOf(rows) };
}

/** The rates of a deck's rows joined with its entries (a deck without rates: one row with a null prefix). */
function entriesOf(rows: readonly EntryRow[]): RateEntry[] {
  return rows
    .filter((row) => row.prefix !== null)
    .map((row): RateEntry => ({
      prefix: row.prefix as string,
      destination: row.destination,
      ratePerMinute: parseMoney(row.rate_per_minute, { field: 'rate_per_minute' }),
      connectFee: parseMoney(row.connect_fee, { field: 'connect_fee' }),
      initialIncrement: row.initial_increment,
      subsequentIncrement: row.subsequent_increment,
      effectiveFrom: row.effective_from,
      effectiveTo: row.effective_to,
      sourceLine: row.source_line ?? undefined,
    }));
}

/**
 * The named deck (id, revision, count, currency) and its rates in ONE statement: one snapshot, so an
 * import committing meanwhile is either wholly in it or not at all. Two reads with a revision check
 * (readAtOneRevision) gave up after 5 imports in a row committed between them, and the page's
 * Preview answered a bare 500.
 */
async function storedDeckWithEntries(db: Pool | PoolClient, name: string): Promise<{ deck: StoredDeckHead; entries: RateEntry[] } | null> {
  const { rows } = await db.query<EntryRow & { deck_id: string; entry_count: number; currency: string }>(
    `SELECT d.deck_id, d.revision, d.entry_count, d.currency, e.prefix, e.destination, e.rate_per_minute, e.connect_fee,
       e.initial_increment, e.subsequent_increment, e.effective_from, e.effective_to, e.source_line
     FROM rate_decks d LEFT JOIN rate_entries e ON e.deck_id = d.deck_id WHERE d.name = $1`,
    [name],
  );
  const head = rows[0];
  if (!head) return null;
  return { deck: { deckId: Number(head.deck_id), revision: head.revision, entryCount: head.entry_count, currency: head.currency }, entries: entriesOf(rows) };
}

interface StoredDeckHead {
  deckId: number;
  revision: number;
  entryCount: number;
  currency: string;
}

/** The deck's entries when the stored deck is still at `deck.revision`, else undefined (see readAtOneRevision). */
export async function rateEntriesAt(db: Pool | PoolClient, deck: Pick<RateDeckRef, 'deckId' | 'revision'>): Promise<RateEntry[] | undefined> {
  const loaded = await loadRateEntries(db, deck.deckId);
  return loaded?.revision === deck.revision ? loaded.entries : undefined;
}

/** What importRateDeck would do to the named deck, without writing (`rates import --dry-run`). */
export interface RateDeckImportPreview {
  ok: boolean;
  report: RateDeckImportResult;
  /** the deck as stored now, or null when the import would create it */
  existing: { deckId: number; revision: number; entryCount: number; currency: string } | null;
  /** the revision the import would store */
  revision: number | null;
  entryCount: number;
  /** rates (prefix + effective from) not in the stored deck */
  added: number;
  /** rates in both whose price, increments, destination or end date differ */
  replaced: number;
  unchanged: number;
  /** stored rates the new file no longer has */
  removed: number;
  /** stored rates in force before the file's earliest effective-from: kept, ended then */
  keptEarlier: number;
  /** when the kept rates would end, or null when none would be kept */
  keptUntil: Date | null;
}

const rateKey = (entry: RateEntry) => `${entry.prefix}@${entry.effectiveFrom.toISOString()}`;
const rateTerms = (entry: RateEntry) =>
  [entry.destination, entry.ratePerMinute, entry.connectFee, entry.initialIncrement, entry.subsequentIncrement, entry.effectiveTo?.toISOString() ?? ''].join('|');

/**
 * Makes importRateDeck's checks (same errors) and compares the file with the stored deck of that
 * name: what would be added, replaced and removed. Reads only.
 */
export async function previewRateDeckImport(db: Pool | PoolClient, name: string, csvText: string, options: RateDeckStoreOptions): Promise<RateDeckImportPreview> {
  validateOptions(name, options);
  const report = importRateDeckCsv(csvText, csvOptions(options));
  const empty = { existing: null, revision: null, entryCount: 0, added: 0, replaced: 0, unchanged: 0, removed: 0, keptEarlier: 0, keptUntil: null };
  if (!report.ok) return { ok: false, report, ...empty };
  // The deck's count and revision and the rates compared with, of one revision also while imports commit.
  const read = await storedDeckWithEntries(db, name);
  const deck = read?.deck;
  const start = importStartsAt(report.entries);
  const all = read?.entries ?? [];
  // As importRateDeck: what starts before the file does is kept (ended then), the rest is compared.
  const startsEarlier = (entry: RateEntry) => start !== null && entry.effectiveFrom < start;
  const earlier = all.filter(startsEarlier);
  // The kept: the earlier rates still in force when the file starts (not those an earlier list already ended).
  const inForceAtStart = earlier.filter((entry) => entry.effectiveTo === null || (start !== null && entry.effectiveTo >= start));
  const stored = all.filter((entry) => !startsEarlier(entry));
  if (deck && earlier.length > 0 && deck.currency !== options.currency) throw currencyChangeError(options.currency, deck.currency, start!);
  const before = new Map(stored.map((entry) => [rateKey(entry), rateTerms(entry)]));
  const preview: RateDeckImportPreview = { ok: true, report, ...empty, entryCount: report.entries.length, revision: deck ? deck.revision + 1 : 1 };
  if (deck) preview.existing = { deckId: deck.deckId, revision: deck.revision, entryCount: deck.entryCount, currency: deck.currency };
  const after = new Set<string>();
  for (const entry of report.entries) {
    const key = rateKey(entry);
    after.add(key);
    const old = before.get(key);
    if (old === undefined) preview.added += 1;
    else if (old === rateTerms(entry)) preview.unchanged += 1;
    else preview.replaced += 1;
  }
  preview.removed = [...before.keys()].filter((key) => !after.has(key)).length;
  preview.keptEarlier = inForceAtStart.length;
  preview.keptUntil = inForceAtStart.length > 0 ? start : null;
  return preview;
}
