import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import {
  createRateTable,
  decodeRateDeckBytes,
  exportRateDeckCsv,
  formatColumnMapping,
  formatMoney,
  importRateDeckCsv,
  parseIncrements,
  parseColumnMappingSpec,
  parseMoney,
  plainDecimal,
  parseRateDeckDate,
  RATE_DECK_FORMATS,
  RateDeckEncodingError,
  RateDeckExportError,
  RateDeckMappingError,
  type RateDeckFormat,
  type Markup,
  type NumberingPlan,
  type RateDeckColumnMapping,
  type RateDeckImportResult,
  type RateEntry,
} from '@ictvoip/rating';
import {
  assertBridgeDatabaseMigrated,
  checkRateDeckStoreOptions,
  importRateDeck,
  previewRateDeckImport,
  rateEntriesAt,
  readAtOneRevision,
  resolveRateDeck,
  RateDeckStoreError,
  savedColumnMapping,
  savedDefaultIncrements,
  storedDeckSettings,
  type RateDeckImportPreview,
  type RateDeckStoreOptions,
} from '@ictvoip/store';
import { action, CliError, config, emit, progress, type JsonOption } from '../output';
import { cliPool } from '../pool';

interface ImportOptions extends JsonOption {
  name?: string;
  currency?: string;
  countryCode?: string;
  nationalPrefix?: string;
  exitCode?: string;
  markupPercent?: string;
  inboundRate?: string;
  inboundIncrement?: string;
  format?: string;
  map?: string[];
  effectiveFrom?: string;
  defaultIncrements?: string;
  validateOnly?: boolean;
  dryRun?: boolean;
}

const MAX_ISSUES_SHOWN = 50;
/** Warnings are printed, not only counted: a skipped line or an unapplied column changes the bill. */
const MAX_WARNINGS_SHOWN = 20;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--map prefix=Code,rate=RateValue` (repeatable): which header in the file holds which field. */
function columnMapping(specs: readonly string[] = []): RateDeckColumnMapping {
  try {
    return parseColumnMappingSpec(specs, '--map');
  } catch (error) {
    if (error instanceof RateDeckMappingError) throw new CliError('INVALID_ARGUMENT', error.message);
    throw error;
  }
}

function deckFormat(value: string | undefined): RateDeckFormat | undefined {
  if (value === undefined) return undefined;
  const format = value.toLowerCase();
  if (!(RATE_DECK_FORMATS as readonly string[]).includes(format)) throw new CliError('INVALID_ARGUMENT', `--format: "${value}" is not one of ${RATE_DECK_FORMATS.join(', ')}`);
  return format as RateDeckFormat;
}

/** `--exit-code 011` (NANP) or `00,011`; default 011 for country code 1, else 00. */
function exitCodes(value: string | undefined, countryCode: string | undefined): string[] {
  if (value === undefined) return [countryCode === '1' ? '011' : '00'];
  const codes = value
    .split(',')
    .map((code) => code.trim())
    .filter(Boolean);
  if (codes.length === 0 || codes.some((code) => !/^[0-9]{2,4}$/.test(code)))
    throw new CliError('INVALID_ARGUMENT', `--exit-code: "${value}" must be 2-4 digits (comma-separated for several), e.g. 011`);
  return codes;
}

/**
 * A date flag read as the deck's date columns are: UTC unless an offset is given, an impossible day
 * refused. JavaScript's Date would take `2026-01-01T00:00` in the host's time zone and `2026-02-30`
 * as 2 March.
 */
function dateFlag(value: string, flag: string): Date {
  try {
    return parseRateDeckDate(value.trim());
  } catch {
    throw new CliError('INVALID_ARGUMENT', `${flag}: "${value}" is not an ISO-8601 date, e.g. 2026-01-01 or 2026-01-01T00:00:00Z (UTC unless an offset is given)`);
  }
}

/** `--at` also takes a moment to the millisecond with its zone, as `toISOString()` writes it (it picks rates, stores nothing). */
function atFlag(value: string): Date {
  const text = value.trim();
  const fraction = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{1,3})(Z|[+-]\d{2}:?\d{2})$/.exec(text);
  if (!fraction) return dateFlag(text, '--at');
  const whole = dateFlag(`${fraction[1]}${fraction[3]}`, '--at');
  return new Date(whole.getTime() + Number.parseInt((fraction[2] as string).padEnd(3, '0'), 10));
}

function effectiveFrom(value: string | undefined): Date | undefined {
  return value === undefined ? undefined : dateFlag(value, '--effective-from');
}

const STORE_FLAGS: Record<string, string> = {
  name: '--name',
  currency: '--currency',
  'numberingPlan.countryCode': '--country-code',
  numberingPlan: '--country-code/--national-prefix/--exit-code',
  markup: '--markup-percent',
  'inbound.ratePerMinute': '--inbound-rate',
  'inbound.increments': '--inbound-increment',
};

/** The file as text: UTF-8, or UTF-16 with its byte order mark (Excel's "Unicode text"). */
function readCsv(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new CliError('FILE_UNREADABLE', `${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return decodeRateDeckBytes(bytes);
  } catch (error) {
    if (error instanceof RateDeckEncodingError) throw new CliError(error.code, `${file}: ${error.message}`);
    throw error;
  }
}

function issuesText(file: string, report: RateDeckImportResult): string {
  const shown = report.issues.slice(0, MAX_ISSUES_SHOWN).map((issue) => `${file}:${issue.line}: ${issue.column}: ${issue.message}`);
  if (report.issues.length > MAX_ISSUES_SHOWN) shown.push(`… and ${report.issues.length - MAX_ISSUES_SHOWN} more`);
  return shown.join('\n');
}

/** The text-mode summary line followed by the first warnings with their line numbers. */
function withWarnings(file: string, text: string, warnings: RateDeckImportResult['warnings']): string {
  if (warnings.length === 0) return text;
  const shown = warnings.slice(0, MAX_WARNINGS_SHOWN).map((warning) => `warning: ${file}:${warning.line}: ${warning.column ? `${warning.column}: ` : ''}${warning.message}`);
  if (warnings.length > MAX_WARNINGS_SHOWN) shown.push(`… and ${warnings.length - MAX_WARNINGS_SHOWN} more warnings (--json lists all)`);
  return [`${text} (${warnings.length} warning${warnings.length === 1 ? '' : 's'})`, ...shown].join('\n');
}

function summary(report: RateDeckImportResult) {
  return {
    ok: report.ok,
    layout: report.layout,
    columns: report.columns,
    dataLines: report.dataLines,
    rejectedLines: report.rejectedLines,
    entries: report.entries.length,
    issues: report.issues,
    warnings: report.warnings,
  };
}

/** `--inbound-rate 0.0050 [--inbound-increment 60/6]`: ictVoIP's package inbound rate, kept with the deck. */
function inboundOption(options: ImportOptions): Pick<RateDeckStoreOptions, 'inbound'> {
  if (options.inboundRate === undefined) {
    if (options.inboundIncrement !== undefined) throw new CliError('INVALID_ARGUMENT', '--inbound-increment needs --inbound-rate (the price it counts)');
    return {};
  }
  return { inbound: { ratePerMinute: options.inboundRate, ...(options.inboundIncrement !== undefined ? { increments: options.inboundIncrement } : {}) } };
}

/**
 * `--default-increments 1/1`: what the sheet's empty or 0 increment cells mean, as its provider
 * documents it (ASTPP's template writes 0). Without it such cells refuse the line: a guessed 60/60
 * would overbill per-second routes.
 */
function stated(text: string | undefined): { defaultIncrements?: { initial: number; subsequent: number } } {
  // `none`: no stated meaning, and the deck's saved one is not used (cleared by the import).
  if (text === undefined || text.trim().toLowerCase() === 'none') return {};
  try {
    return { defaultIncrements: parseIncrements(text, '--default-increments') };
  } catch (error) {
    // parseIncrements' message names the flag.
    throw new CliError('INVALID_ARGUMENT', error instanceof Error ? error.message : String(error));
  }
}

/** A store error names the flag the operator typed, not the option's field. */
function cliErrorOf(error: unknown): unknown {
  if (!(error instanceof RateDeckStoreError)) return error;
  return new CliError(error.code, `${STORE_FLAGS[error.field] ?? error.field}: ${error.message.slice(error.field.length + 2)}`);
}

/**
 * Every option, checked before the file is read: a mistake in the last flag must not surface after
 * a long validation, or after the operator was told the deck is being stored.
 */
function checkedOptions(options: ImportOptions): { store: RateDeckStoreOptions | null; csv: NonNullable<RateDeckStoreOptions['csv']> } {
  const format = deckFormat(options.format);
  // --map entries override the preset's columns.
  const columns = { ...(format ? formatColumnMapping(format) : {}), ...columnMapping(options.map) };
  // The currency lets a price cell carry its sign ("$0.0125" in a USD deck); --validate-only without it refuses marked cells.
  const csv = {
    columns,
    defaultEffectiveFrom: effectiveFrom(options.effectiveFrom),
    ...stated(options.defaultIncrements),
    ...(options.currency ? { currency: options.currency } : {}),
  };
  const storing = !options.validateOnly;
  if (storing) {
    const missing = [!options.name && '--name', !options.currency && '--currency', !options.countryCode && '--country-code'].filter(Boolean);
    if (missing.length)
      throw new CliError(
        'INVALID_ARGUMENT',
        `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} required to store a deck (--country-code: the tenants' home country, e.g. 49), or use --validate-only`,
      );
  }
  if (!storing && !options.name && !options.currency && !options.countryCode) return { store: null, csv };
  const countryCode = options.countryCode ?? '1';
  const store: RateDeckStoreOptions = {
    currency: options.currency ?? 'USD',
    // NANP: "1" is both the country code and the trunk prefix of 1 + 10 digits; 011 the exit code.
    numberingPlan: {
      countryCode,
      nationalPrefix: options.nationalPrefix ?? (countryCode === '1' ? '1' : '0'),
      internationalPrefixes: exitCodes(options.exitCode, countryCode),
    } as NumberingPlan,
    ...(options.markupPercent !== undefined ? { markup: { percent: options.markupPercent } } : {}),
    ...inboundOption(options),
    csv,
  };
  try {
    checkRateDeckStoreOptions(options.name ?? 'deck', store);
  } catch (error) {
    throw cliErrorOf(error);
  }
  return { store: storing ? store : null, csv };
}

/**
 * What the deck's last import saved, for what this one does not state: the column mapping (no --map
 * and no --format) and the default increments (no --default-increments; `none` clears them).
 */
async function withSavedSettings(options: ImportOptions, csv: ReturnType<typeof checkedOptions>['csv']): Promise<ReturnType<typeof checkedOptions>['csv']> {
  const reuseMapping = !options.map?.length && !options.format;
  const reuseIncrements = options.defaultIncrements === undefined;
  if (!options.name || (!reuseMapping && !reuseIncrements)) return csv;
  const pool = cliPool(config().database.url);
  try {
    await assertBridgeDatabaseMigrated(pool);
    const mapping = reuseMapping ? await savedColumnMapping(pool, options.name) : null;
    if (mapping && Object.keys(mapping).length > 0) progress(options, `using the column mapping saved with deck ${options.name}: ${JSON.stringify(mapping)}`);
    const increments = reuseIncrements ? await savedDefaultIncrements(pool, options.name) : null;
    if (increments) progress(options, `using the default increments saved with deck ${options.name}: ${increments}`);
    return {
      ...csv,
      ...(mapping ? { columns: mapping } : {}),
      ...(increments ? { defaultIncrements: parseIncrements(increments, 'rate_decks.default_increments') } : {}),
    };
  } finally {
    await pool.end();
  }
}

async function importAction(file: string, options: ImportOptions): Promise<void> {
  const checked = checkedOptions(options);
  const csv = await withSavedSettings(options, checked.csv);
  const store = checked.store ? { ...checked.store, csv } : null;
  const text = readCsv(file);
  progress(options, `validating ${file} (${text.split('\n').length} lines)`);
  const report = importRateDeckCsv(text, csv);
  progress(options, `validated: ${report.entries.length} rates, ${report.issues.length} problems, ${report.warnings.length} warnings`);
  if (!report.ok) {
    const message = `${file}: ${report.rejectedLines} bad line(s), nothing stored`;
    if (options.json) process.stdout.write(`${JSON.stringify({ stored: false, error: { code: 'RATE_DECK_INVALID', message }, report: summary(report) })}\n`);
    process.stderr.write(`${withWarnings(file, `ictvoip: ${message}`, report.warnings)}\n${issuesText(file, report)}\n`);
    process.exitCode = 1;
    return;
  }
  if (!store) {
    emit(options, { stored: false, report: summary(report) }, () =>
      withWarnings(file, `${file}: ${report.entries.length} rates valid (validation only, nothing stored)`, report.warnings),
    );
    return;
  }
  const name = options.name as string;
  const pool = cliPool(config().database.url);
  try {
    await assertBridgeDatabaseMigrated(pool);
    // Each import states the deck's money settings whole: say so when this one drops or changes one.
    const settingsChanged = changedMoneySettings(await storedDeckSettings(pool, name), store);
    for (const change of settingsChanged) process.stderr.write(`ictvoip: note: deck ${name}: ${change}\n`);
    if (options.dryRun) {
      const preview = await previewRateDeckImport(pool, name, text, store);
      emit(options, dryRunView(name, preview), () => withWarnings(file, dryRunText(name, preview), preview.report.warnings));
      return;
    }
    progress(options, `storing ${report.entries.length} rates as deck ${name}`);
    const stored = await importRateDeck(pool, name, text, store);
    emit(
      options,
      {
        stored: true,
        deck: name,
        deckId: stored.deckId,
        revision: stored.revision,
        entryCount: stored.entryCount,
        keptEarlier: stored.keptEarlier,
        keptUntil: stored.keptUntil?.toISOString() ?? null,
        inboundRate: stored.inbound,
        settingsChanged,
        report: summary(stored.report),
      },
      () =>
        withWarnings(
          file,
          `deck ${name}: revision ${stored.revision}, ${stored.entryCount} rates stored${keptText(stored.keptEarlier, stored.keptUntil)}; ${inboundText(stored.inbound)}`,
          stored.report.warnings,
        ),
    );
  } catch (error) {
    throw cliErrorOf(error);
  } finally {
    await pool.end();
  }
}

const percentText = (percent: string | undefined) => (percent === undefined || parseMoney(percent) === 0n ? 'none' : `${plainDecimal(parseMoney(percent))} %`);
const inboundRateText = (inbound: { ratePerMinute: string; increments?: string } | null | undefined) =>
  inbound ? `${plainDecimal(parseMoney(inbound.ratePerMinute))}/min in ${incrementsText(inbound.increments ?? '60/60')} s` : 'none';
const incrementsText = (text: string) => {
  const increments = parseIncrements(text, 'inbound.increments');
  return `${increments.initial}/${increments.subsequent}`;
};

/**
 * The markup and inbound rate this import changes on a stored deck, in words ("markup 25 % → none
 * (no --markup-percent)"). A monthly re-import that forgets a flag would otherwise bill at cost unseen.
 */
function changedMoneySettings(before: Awaited<ReturnType<typeof storedDeckSettings>>, store: RateDeckStoreOptions): string[] {
  if (!before) return [];
  const changes: string[] = [];
  const [markupBefore, markupAfter] = [percentText(before.markup.percent), percentText(store.markup?.percent)];
  if (markupBefore !== markupAfter) changes.push(`markup ${markupBefore} → ${markupAfter}${store.markup ? '' : ' (no --markup-percent)'}`);
  const [inboundBefore, inboundAfter] = [inboundRateText(before.inbound), inboundRateText(store.inbound)];
  if (inboundBefore !== inboundAfter) changes.push(`inbound rate ${inboundBefore} → ${inboundAfter}${store.inbound ? '' : ' (no --inbound-rate)'}`);
  return changes;
}

function inboundText(inbound: { ratePerMinute: string; increments: string } | null): string {
  return inbound ? `inbound calls ${inbound.ratePerMinute}/min in ${inbound.increments} s increments where billed` : 'no inbound rate of its own';
}

/** The earlier rates an import keeps: the file starts later than they do, so they stay in force until it starts. */
function keptText(kept: number, until: Date | null): string {
  return kept > 0 && until ? `; ${kept} earlier rate(s) kept in force until ${until.toISOString()}, when the file's rates start` : '';
}

function dryRunView(deck: string, preview: RateDeckImportPreview) {
  const { report, keptUntil, ...rest } = preview;
  return { dryRun: true, stored: false, deck, ...rest, keptUntil: keptUntil?.toISOString() ?? null, report: summary(report) };
}

function dryRunText(deck: string, preview: RateDeckImportPreview): string {
  const now = preview.existing ? `replaces revision ${preview.existing.revision} (${preview.existing.entryCount} rates, ${preview.existing.currency})` : 'a new deck';
  return `deck ${deck}: would store revision ${preview.revision}, ${preview.entryCount} rates, ${now}: ${preview.added} added, ${preview.replaced} replaced, ${preview.removed} removed, ${preview.unchanged} unchanged${keptText(preview.keptEarlier, preview.keptUntil)}; dry run, nothing stored`;
}

type OpenDeck = { deck: NonNullable<Awaited<ReturnType<typeof resolveRateDeck>>>; entries: RateEntry[]; at: Date };

/** `--at` checked, the bridge database opened (migrated) and the named deck's entries loaded; closed after `use`. */
async function withDeckAt(deckName: string, atOption: string | undefined, use: (open: OpenDeck) => Promise<void>): Promise<void> {
  const at = atOption ? atFlag(atOption) : new Date();
  const pool = cliPool(config().database.url);
  try {
    await assertBridgeDatabaseMigrated(pool);
    // The deck (its markup) and its rates of one revision, also while an import commits in between.
    const read = await readAtOneRevision(
      deckName,
      () => resolveRateDeck(pool, deckName),
      (deck) => rateEntriesAt(pool, deck),
    );
    if (!read) throw new CliError('NOT_FOUND', `no plan mapping or deck named ${deckName}`);
    await use({ deck: read.deck, entries: read.value, at });
  } finally {
    await pool.end();
  }
}

async function exportAction(options: { deck: string; format: string; at?: string; output?: string }): Promise<void> {
  const format = deckFormat(options.format) as RateDeckFormat;
  await withDeckAt(options.deck, options.at, async ({ deck, entries, at }) => {
    let text: string;
    try {
      text = exportRateDeckCsv(entries, format, at);
    } catch (error) {
      if (error instanceof RateDeckExportError) throw new CliError(error.code, `deck ${deck.name}: ${error.message}; use --format canonical`);
      throw error;
    }
    if (options.output) writeFileSync(options.output, text);
    else process.stdout.write(text);
  });
}

/** The rate as billed (with the markup) and the deck's own (base) price beside it. */
function describeRate(rate: RateEntry, base: RateEntry | undefined) {
  return {
    prefix: rate.prefix,
    destination: rate.destination,
    ratePerMinute: formatMoney(rate.ratePerMinute),
    connectFee: formatMoney(rate.connectFee),
    baseRatePerMinute: base ? formatMoney(base.ratePerMinute) : null,
    baseConnectFee: base ? formatMoney(base.connectFee) : null,
    increments: `${rate.initialIncrement}/${rate.subsequentIncrement}`,
    effectiveFrom: rate.effectiveFrom.toISOString(),
    effectiveTo: rate.effectiveTo?.toISOString() ?? null,
    sourceLine: rate.sourceLine ?? null,
  };
}

/** "25 %, +0.001/min" — the markup the billed price carries, as the operator set it; "none" without one. */
function markupText(markup: Markup): string {
  const percent = percentText(markup.percent);
  const fixed = (value: string | undefined, unit: string) => (value === undefined || parseMoney(value) === 0n ? '' : `+${plainDecimal(parseMoney(value))}/${unit}`);
  const parts = [percent === 'none' ? '' : percent, fixed(markup.fixedPerMinute, 'min'), fixed(markup.fixedPerCall, 'call')].filter(Boolean);
  return parts.length ? parts.join(', ') : 'none';
}

/** The other prefixes of the number that exist in the deck: they explain why the longest one won. */
function shorterCandidates(entries: readonly RateEntry[], digits: string, chosen: string, at: Date): string[] {
  return [
    ...new Set(
      entries
        .filter((entry) => digits.startsWith(entry.prefix) && entry.prefix !== chosen && entry.effectiveFrom <= at && (entry.effectiveTo === null || entry.effectiveTo > at))
        .map((entry) => entry.prefix),
    ),
  ].sort((a, b) => b.length - a.length);
}

async function showAction(number: string, options: JsonOption & { deck: string; at?: string }): Promise<void> {
  await withDeckAt(options.deck, options.at, async ({ deck, entries, at }) => {
    const lookup = createRateTable({ entries, numberingPlan: deck.numberingPlan, markup: deck.markup }).lookup(number, at);
    const view = { number, deck: deck.name, revision: deck.revision, currency: deck.currency, at: at.toISOString() };
    if (lookup.kind === 'invalid-number') throw new CliError('INVALID_NUMBER', `${number}: ${lookup.message}`);
    if (lookup.kind === 'no-rate') {
      emit(
        options,
        { ...view, e164: lookup.e164, rate: null, why: 'no prefix of the number has a rate in force' },
        () => `${number} → ${lookup.e164}: no rate in deck ${deck.name} (no prefix of the number has a rate in force at ${view.at})`,
      );
      process.exitCode = 2;
      return;
    }
    // The deck's own entry of the same prefix and start: its price before the markup.
    const base = entries.find((entry) => entry.prefix === lookup.rate.prefix && entry.effectiveFrom.getTime() === lookup.rate.effectiveFrom.getTime());
    const rate = describeRate(lookup.rate, base);
    const markup = markupText(deck.markup);
    const others = shorterCandidates(entries, lookup.e164.slice(1), lookup.rate.prefix, at);
    const why = `longest matching prefix ${rate.prefix}${others.length ? ` (also matching: ${others.join(', ')})` : ''}, in force since ${rate.effectiveFrom}${rate.sourceLine ? `, from CSV line ${rate.sourceLine}` : ''}; markup of the plan/deck applied`;
    emit(options, { ...view, e164: lookup.e164, markup, rate, why }, () =>
      [
        `${number} → ${lookup.e164}`,
        `deck ${deck.name} rev ${deck.revision} (${deck.currency})`,
        `billed ${rate.ratePerMinute}/min, connect ${rate.connectFee} (markup ${markup}; base ${rate.baseRatePerMinute}/min, connect ${rate.baseConnectFee}), increments ${rate.increments}, ${rate.destination}`,
        `why: ${why}`,
      ].join('\n'),
    );
  });
}

/** `ictvoip rates import|show`. */
export function ratesCommand(): Command {
  const rates = new Command('rates').description('rate decks');
  rates
    .command('import <csv>')
    .description('validate a rate deck CSV (every bad line reported with its number) and store it whole, or not at all')
    .option('--name <deck>', 'deck name (a plan\'s "Rate deck" value)')
    .option('--currency <code>', 'ISO 4217 currency of the prices, e.g. EUR')
    .option('--country-code <digits>', 'home country code of the tenants dialling with this deck, e.g. 49')
    .option('--national-prefix <digits>', 'trunk prefix replaced by the country code (default 0; 1 with --country-code 1)')
    .option('--exit-code <digits>', 'international exit code(s), comma-separated (default 00; 011 with --country-code 1)')
    .option('--markup-percent <percent>', "the deck's markup in percent on every rate, e.g. 25 (a plan mapping may override it)")
    .option(
      '--inbound-rate <price>',
      "flat price per minute of inbound calls on this deck's plans (ictVoIP's package inbound rate; no markup); used where inbound calls are billed and the plan names no inbound rate or deck",
    )
    .option('--inbound-increment <seconds>', 'increments of --inbound-rate: 60/6 or 6 (default 60/60)')
    .option('--format <name>', `a named column layout: ${RATE_DECK_FORMATS.join(', ')} (ictvoip: Description, Prefix, RateValue, Increment); --map overrides single columns`)
    .option(
      '--map <field=header,…>',
      'which header holds which field when it is not recognised, e.g. --map prefix=Code,rate=RateValue (fields: prefix, destination, rate, connect, initial, increment, from, to, status; repeatable); saved with the deck and reused by its next import without --map/--format',
      collect,
    )
    .option('--effective-from <iso-date>', 'effective-from of rates whose line gives none, UTC unless an offset is given (default 1970-01-01)')
    .option(
      '--default-increments <seconds>',
      'what an empty or 0 increment cell means in this sheet, as its provider documents it: 1/1 (per second), 60/6 or 6; saved with the deck and reused by its next import without the flag (none: clear them); without any such a line is refused (never a guessed 60/60)',
    )
    .option('--validate-only', 'check the file, store nothing')
    .option('--dry-run', 'check the file and options like a real import and compare with the stored deck (added, replaced, removed rates); store nothing')
    .option('--json', 'machine-readable output')
    .action(action(importAction));
  rates
    .command('export')
    .description("write a stored deck as CSV (ictvoip: the rates in force, in ictVoIP's tariff layout; canonical: every entry with its dates)")
    .requiredOption('--deck <name>', 'plan key or deck name')
    .option('--format <name>', `layout: ${RATE_DECK_FORMATS.join(', ')}`, 'ictvoip')
    .option('--at <iso-date>', 'ictvoip: the rates in force at this time (default now)')
    .option('--output <file>', 'write to this file instead of standard output')
    .action(action(exportAction));
  rates
    .command('show <number>')
    .description('which rate applies to a dialled number, and why')
    .requiredOption('--deck <name>', 'plan key or deck name')
    .option('--at <iso-date>', 'when the call happens (default now)')
    .option('--json', 'machine-readable output')
    .action(action(showAction));
  return rates;
}
