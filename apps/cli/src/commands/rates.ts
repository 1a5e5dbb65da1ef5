import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { createRateTable, formatMoney, importRateDeckCsv, type NumberingPlan, type RateDeckImportResult, type RateEntry } from '@ictvoip/rating';
import { createPool, importRateDeck, loadRateEntries, assertBridgeDatabaseMigrated, previewRateDeckImport, resolveRateDeck, RateDeckStoreError, type RateDeckImportPreview } from '@ictvoip/store';
import { action, CliError, config, emit, progress, type JsonOption } from '../output';

interface ImportOptions extends JsonOption {
  name?: string;
  currency?: string;
  countryCode?: string;
  nationalPrefix?: string;
  validateOnly?: boolean;
  dryRun?: boolean;
}

const MAX_ISSUES_SHOWN = 50;

function readCsv(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError('FILE_UNREADABLE', `${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function issuesText(file: string, report: RateDeckImportResult): string {
  const shown = report.issues.slice(0, MAX_ISSUES_SHOWN).map((issue) => `${file}:${issue.line}: ${issue.column}: ${issue.message}`);
  if (report.issues.length > MAX_ISSUES_SHOWN) shown.push(`… and ${report.issues.length - MAX_ISSUES_SHOWN} more`);
  return shown.join('\n');
}

function summary(report: RateDeckImportResult) {
  return { ok: report.ok, layout: report.layout, dataLines: report.dataLines, rejectedLines: report.rejectedLines, entries: report.entries.length, issues: report.issues, warnings: report.warnings };
}

function numberingPlan(options: ImportOptions): NumberingPlan {
  if (!options.countryCode) throw new CliError('INVALID_ARGUMENT', '--country-code is required to store a deck (the tenants\' home country, e.g. 49)');
  return { countryCode: options.countryCode, nationalPrefix: options.nationalPrefix ?? '0' };
}

async function importAction(file: string, options: ImportOptions): Promise<void> {
  const text = readCsv(file);
  progress(options, `validating ${file} (${text.split('\n').length} lines)`);
  const report = importRateDeckCsv(text);
  progress(options, `validated: ${report.entries.length} rates, ${report.issues.length} problems, ${report.warnings.length} warnings`);
  if (!report.ok) {
    const message = `${file}: ${report.rejectedLines} bad line(s), nothing stored`;
    if (options.json) process.stdout.write(`${JSON.stringify({ stored: false, error: { code: 'RATE_DECK_INVALID', message }, report: summary(report) })}\n`);
    process.stderr.write(`ictvoip: ${message}\n${issuesText(file, report)}\n`);
    process.exitCode = 1;
    return;
  }
  if (options.validateOnly) {
    emit(options, { stored: false, report: summary(report) }, () => `${file}: ${report.entries.length} rates valid (validation only, nothing stored)`);
    return;
  }
  if (!options.name || !options.currency) throw new CliError('INVALID_ARGUMENT', '--name and --currency are required to store a deck (or use --validate-only)');
  const pool = createPool(config().database.url);
  try {
    await assertBridgeDatabaseMigrated(pool);
    if (options.dryRun) {
      const preview = await previewRateDeckImport(pool, options.name, text, { currency: options.currency, numberingPlan: numberingPlan(options) });
      emit(options, dryRunView(options.name, preview), () => dryRunText(options.name as string, preview));
      return;
    }
    progress(options, `storing ${report.entries.length} rates as deck ${options.name}`);
    const stored = await importRateDeck(pool, options.name, text, { currency: options.currency, numberingPlan: numberingPlan(options) });
    emit(options, { stored: true, deck: options.name, deckId: stored.deckId, revision: stored.revision, entryCount: stored.entryCount, report: summary(stored.report) }, () => `deck ${options.name}: revision ${stored.revision}, ${stored.entryCount} rates stored`);
  } catch (error) {
    if (error instanceof RateDeckStoreError) throw new CliError(error.code, error.message);
    throw error;
  } finally {
    await pool.end();
  }
}

function dryRunView(deck: string, preview: RateDeckImportPreview) {
  const { report, ...rest } = preview;
  return { dryRun: true, stored: false, deck, ...rest, report: summary(report) };
}

function dryRunText(deck: string, preview: RateDeckImportPreview): string {
  const now = preview.existing ? `replaces revision ${preview.existing.revision} (${preview.existing.entryCount} rates, ${preview.existing.currency})` : 'a new deck';
  return `deck ${deck}: would store revision ${preview.revision}, ${preview.entryCount} rates, ${now}: ${preview.added} added, ${preview.replaced} replaced, ${preview.removed} removed, ${preview.unchanged} unchanged; dry run, nothing stored`;
}

function describeRate(rate: RateEntry) {
  return {
    prefix: rate.prefix,
    destination: rate.destination,
    ratePerMinute: formatMoney(rate.ratePerMinute),
    connectFee: formatMoney(rate.connectFee),
    increments: `${rate.initialIncrement}/${rate.subsequentIncrement}`,
    effectiveFrom: rate.effectiveFrom.toISOString(),
    effectiveTo: rate.effectiveTo?.toISOString() ?? null,
    sourceLine: rate.sourceLine ?? null,
  };
}

/** The other prefixes of the number that exist in the deck: they explain why the longest one won. */
function shorterCandidates(entries: readonly RateEntry[], digits: string, chosen: string, at: Date): string[] {
  return [...new Set(entries
    .filter((entry) => digits.startsWith(entry.prefix) && entry.prefix !== chosen && entry.effectiveFrom <= at && (entry.effectiveTo === null || entry.effectiveTo > at))
    .map((entry) => entry.prefix))].sort((a, b) => b.length - a.length);
}

async function showAction(number: string, options: JsonOption & { deck: string; at?: string }): Promise<void> {
  const at = options.at ? new Date(options.at) : new Date();
  if (Number.isNaN(at.getTime())) throw new CliError('INVALID_ARGUMENT', '--at must be an ISO-8601 date');
  const pool = createPool(config().database.url);
  try {
    await assertBridgeDatabaseMigrated(pool);
    const deck = await resolveRateDeck(pool, options.deck);
    if (!deck) throw new CliError('NOT_FOUND', `no plan mapping or deck named ${options.deck}`);
    const loaded = await loadRateEntries(pool, deck.deckId);
    const entries = loaded?.entries ?? [];
    const lookup = createRateTable({ entries, numberingPlan: deck.numberingPlan, markup: deck.markup }).lookup(number, at);
    const base = { number, deck: deck.name, revision: deck.revision, currency: deck.currency, at: at.toISOString() };
    if (lookup.kind === 'invalid-number') throw new CliError('INVALID_NUMBER', `${number}: ${lookup.message}`);
    if (lookup.kind === 'no-rate') {
      emit(options, { ...base, e164: lookup.e164, rate: null, why: 'no prefix of the number has a rate in force' }, () => `${number} → ${lookup.e164}: no rate in deck ${deck.name} (no prefix of the number has a rate in force at ${base.at})`);
      process.exitCode = 2;
      return;
    }
    const rate = describeRate(lookup.rate);
    const others = shorterCandidates(entries, lookup.e164.slice(1), lookup.rate.prefix, at);
    const why = `longest matching prefix ${rate.prefix}${others.length ? ` (also matching: ${others.join(', ')})` : ''}, in force since ${rate.effectiveFrom}${rate.sourceLine ? `, from CSV line ${rate.sourceLine}` : ''}; markup of the plan/deck applied`;
    emit(options, { ...base, e164: lookup.e164, rate, why }, () => [
      `${number} → ${lookup.e164}`,
      `deck ${deck.name} rev ${deck.revision} (${deck.currency})`,
      `rate ${rate.ratePerMinute}/min, connect ${rate.connectFee}, increments ${rate.increments}, ${rate.destination}`,
      `why: ${why}`,
    ].join('\n'));
  } finally {
    await pool.end();
  }
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
    .option('--national-prefix <digits>', 'trunk prefix replaced by the country code', '0')
    .option('--validate-only', 'check the file, store nothing')
    .option('--dry-run', 'check the file and options like a real import and compare with the stored deck (added, replaced, removed rates); store nothing')
    .option('--json', 'machine-readable output')
    .action(action(importAction));
  rates
    .command('show <number>')
    .description('which rate applies to a dialled number, and why')
    .requiredOption('--deck <name>', 'plan key or deck name')
    .option('--at <iso-date>', 'when the call happens (default now)')
    .option('--json', 'machine-readable output')
    .action(action(showAction));
  return rates;
}
