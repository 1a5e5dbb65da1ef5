/**
 * Rate deck CSV import. Validates every line and reports each problem with its line number
 * and column; by default a deck with any bad line imports nothing (a half-imported deck would
 * price some destinations with stale rates or not at all).
 */
import { parse } from 'csv-parse/sync';
import { RateDeckError, type RateDeckIssue } from '../errors';
import type { RateEntry } from '../rate-entry';
import { resolveColumns, type MappingAdvice, type RateDeckColumnMapping, type RateDeckField, type RateDeckLayout, type ResolvedColumns } from './columns';
import { SAVE_AS_UTF8 } from './encoding';
import { CellError, isInactiveStatus, parseDate, parseDestinationName, parseIncrement, parseIncrementPair, parsePrefix, parsePrice, parseSeconds } from './values';

export interface RateDeckImportOptions {
  /** Header names in the file per field, overriding detection. */
  readonly columns?: RateDeckColumnMapping;
  /** Import the good lines even when some are bad (the bad ones are still reported). */
  readonly allowPartial?: boolean;
  /** Effective-from for decks without such a column (default 1970-01-01T00:00:00Z). */
  readonly defaultEffectiveFrom?: Date;
  /**
   * The sheet's convention for an empty or 0 increment cell. Without it such a cell is an error;
   * a deck with no increment column at all is billed 60/60 (with a warning).
   */
  readonly defaultIncrements?: { readonly initial: number; readonly subsequent: number };
  /**
   * The deck's ISO 4217 currency: a price cell marked with it ("$0.0125" in a USD deck, "0.02 EUR")
   * is read; one marked with another currency is refused. Without it every marked cell is refused.
   */
  readonly currency?: string;
  /** How a refused header's message says to map a column (default: the CLI's `--map`). */
  readonly mappingAdvice?: MappingAdvice;
  /** Round prices with more than 6 decimals half-up instead of rejecting the line. */
  readonly roundExcessDecimals?: boolean;
}

export interface RateDeckImportResult {
  /** True when no line had an error (warnings allowed). */
  readonly ok: boolean;
  readonly layout: RateDeckLayout;
  /** Header used per field, as written in the file. */
  readonly columns: Partial<Record<RateDeckField, string>>;
  /** Empty when `ok` is false and `allowPartial` was not given. */
  readonly entries: RateEntry[];
  readonly issues: RateDeckIssue[];
  /** Non-fatal notes: skipped inactive lines, ignored non-zero included seconds. */
  readonly warnings: RateDeckIssue[];
  readonly dataLines: number;
  readonly rejectedLines: number;
}

interface CsvRow {
  readonly line: number;
  readonly cells: string[];
}

const EPOCH = new Date(0);

export function importRateDeckCsv(text: string, options: RateDeckImportOptions = {}): RateDeckImportResult {
  const rowsOrIssue = readRows(text);
  if ('issue' in rowsOrIssue) return failed('mapped', {}, [rowsOrIssue.issue]);
  const [header, ...data] = rowsOrIssue.rows;
  if (!header) return failed('mapped', {}, [{ line: 1, column: '', message: 'the file has no header line' }]);
  const columns = resolveColumns(header.cells, header.line, options.columns, options.mappingAdvice);
  if (columns.issues.length > 0) return failed(columns.layout, columns.names, columns.issues);

  const issues: RateDeckIssue[] = [];
  const warnings: RateDeckIssue[] = [];
  if (columns.indexes.initialIncrement === undefined && columns.indexes.subsequentIncrement === undefined) {
    const { initial, subsequent } = options.defaultIncrements ?? DEFAULT_INCREMENTS;
    warnings.push({ line: header.line, column: '', message: `no increment column: every rate is billed in ${initial}/${subsequent} blocks (first/next seconds)` });
  }
  const accepted: RateEntry[] = [];
  for (const row of data) {
    const parsed = parseRow(row, columns, options, warnings);
    if (Array.isArray(parsed)) issues.push(...parsed);
    else if (parsed) accepted.push(parsed);
  }
  const duplicates = findDuplicates(accepted, columns);
  issues.push(...duplicates.issues);
  const good = accepted.filter((entry) => !duplicates.lines.has(entry.sourceLine ?? -1));
  issues.sort((a, b) => a.line - b.line);
  const ok = issues.length === 0;
  return {
    ok,
    layout: columns.layout,
    columns: columns.names,
    entries: ok || options.allowPartial ? good : [],
    issues,
    warnings,
    dataLines: data.length,
    rejectedLines: new Set(issues.map((issue) => issue.line)).size,
  };
}

/** Throw RateDeckError when the import found bad lines and was not partial; return the entries. */
export function assertRateDeckImported(result: RateDeckImportResult): RateEntry[] {
  if (!result.ok && result.entries.length === 0) throw new RateDeckError(result.issues);
  return result.entries;
}

function failed(layout: RateDeckLayout, columns: Partial<Record<RateDeckField, string>>, issues: RateDeckIssue[]): RateDeckImportResult {
  // Lines, not issues: a bad header with several problems is one rejected line, as in a normal import.
  return { ok: false, layout, columns, entries: [], issues, warnings: [], dataLines: 0, rejectedLines: new Set(issues.map((issue) => issue.line)).size };
}

/**
 * CSV records with their starting line numbers. Blank lines, all-empty records and '#'
 * comment lines are dropped; a '#' before the header (CGRateS style "#Id,Prefix") is removed.
 */
function readRows(text: string): { rows: CsvRow[] } | { issue: RateDeckIssue } {
  // UTF-16 read as UTF-8 or Latin-1 arrives with a NUL beside every ASCII character: name the cause, not "no prefix column".
  if (text.includes('\u0000'))
    return { issue: { line: 1, column: '', message: `the text holds NUL characters: the file is UTF-16 (Excel's "Unicode text") read as another encoding; ${SAVE_AS_UTF8}` } };
  const unified = text.replace(/\r\n?/g, '\n');
  const delimiter = guessDelimiter(unified);
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(unified, { bom: true, info: true, delimiter, relax_column_count: true, skip_empty_lines: true }) as unknown as typeof records;
  } catch (error) {
    const line = typeof (error as { lines?: unknown }).lines === 'number' ? (error as { lines: number }).lines : 1;
    return { issue: { line, column: '', message: `CSV syntax: ${(error as Error).message}` } };
  }
  const rows: CsvRow[] = [];
  for (const { record, info } of records) {
    const cells = record.map((cell) => cell.trim());
    if (cells.every((cell) => cell === '')) continue;
    const embeddedNewlines = record.reduce((count, cell) => count + (cell.match(/\n/g)?.length ?? 0), 0);
    const line = info.lines - embeddedNewlines;
    if ((cells[0] as string).startsWith('#')) {
      if (rows.length === 0 && looksLikeCommentedHeader(cells)) rows.push({ line, cells: [(cells[0] as string).slice(1), ...cells.slice(1)] });
      continue;
    }
    rows.push({ line, cells });
  }
  return { rows };
}

function looksLikeCommentedHeader(cells: readonly string[]): boolean {
  return cells.length > 1 && /^#\w/.test(cells[0] as string);
}

/**
 * European sheets often use ';', a sheet copied out of a spreadsheet a tab. Decide from the first
 * non-blank line, outside quotes: the separator it holds most often (',' when none).
 */
function guessDelimiter(text: string): string {
  const firstLine = text.split('\n').find((line) => line.trim() !== '') ?? '';
  const unquoted = firstLine.replace(/"[^"]*"/g, '');
  const count = (separator: string) => unquoted.split(separator).length - 1;
  let best = ',';
  for (const separator of [';', '\t']) if (count(separator) > count(best)) best = separator;
  return best;
}

type RowOutcome = RateEntry | RateDeckIssue[] | undefined;

function parseRow(row: CsvRow, columns: ResolvedColumns, options: RateDeckImportOptions, warnings: RateDeckIssue[]): RowOutcome {
  const issues: RateDeckIssue[] = [];
  const cell = (field: RateDeckField): string => {
    const index = columns.indexes[field];
    return index === undefined ? '' : (row.cells[index] ?? '');
  };
  const read = <T>(field: RateDeckField, parser: (text: string) => T): T | undefined => {
    try {
      return parser(cell(field));
    } catch (error) {
      if (!(error instanceof CellError)) throw error;
      issues.push({ line: row.line, column: columns.names[field] ?? field, message: error.message });
      return undefined;
    }
  };
  if (columns.indexes.status !== undefined && isInactiveStatus(cell('status'))) {
    warnings.push({ line: row.line, column: columns.names.status ?? 'status', message: `skipped: status "${cell('status')}"` });
    return undefined;
  }
  const roundExcess = options.roundExcessDecimals === true;
  const prefix = read('prefix', parsePrefix);
  const destination = read('destination', parseDestinationName);
  const ratePerMinute = read('ratePerMinute', (text) => parsePrice(text, false, roundExcess, options.currency));
  const connectFee = read('connectFee', (text) => parsePrice(text, true, roundExcess, options.currency));
  const increments = readIncrements(row, columns, options, cell, issues);
  const effectiveFrom = read('effectiveFrom', (text) => (text === '' ? (options.defaultEffectiveFrom ?? EPOCH) : parseDate(text)));
  const effectiveTo = read('effectiveTo', (text) => (text === '' ? null : parseDate(text)));
  const included = read('includedSeconds', parseSeconds);
  if (effectiveFrom && effectiveTo && effectiveTo.getTime() <= effectiveFrom.getTime()) {
    issues.push({ line: row.line, column: columns.names.effectiveTo ?? 'effectiveTo', message: 'effective-to must be after effective-from' });
  }
  if (issues.length > 0) return issues;
  if (included) {
    warnings.push({
      line: row.line,
      column: columns.names.includedSeconds ?? 'includedSeconds',
      message: `${included} included seconds per call are not applied; use plan included minutes`,
    });
  }
  return {
    prefix: prefix as string,
    destination: destination as string,
    ratePerMinute: ratePerMinute as bigint,
    connectFee: connectFee as bigint,
    initialIncrement: (increments as BlockPair).initial,
    subsequentIncrement: (increments as BlockPair).subsequent,
    effectiveFrom: effectiveFrom as Date,
    effectiveTo: effectiveTo ?? null,
    sourceLine: row.line,
  };
}

interface BlockPair {
  readonly initial: number;
  readonly subsequent: number;
}

const DEFAULT_INCREMENTS: BlockPair = { initial: 60, subsequent: 60 };

/**
 * The row's billing blocks. A deck without increment columns gets the default (60/60). A deck that
 * has one must say the seconds on every line: an empty or 0 cell is refused, because what it means
 * differs between billing systems (per second, the platform default, "see contract") and guessing
 * 60/60 overbills per-second routes. Only an explicit `defaultIncrements` (the operator stating the
 * sheet's convention) fills such cells. A minimum-duration column's 0 is "no minimum", not a gap.
 */
function readIncrements(
  row: CsvRow,
  columns: ResolvedColumns,
  options: RateDeckImportOptions,
  cell: (field: RateDeckField) => string,
  issues: RateDeckIssue[],
): BlockPair | undefined {
  const stated = options.defaultIncrements;
  const defaults = stated ?? DEFAULT_INCREMENTS;
  const problem = (field: RateDeckField, message: string): undefined => {
    issues.push({ line: row.line, column: columns.names[field] ?? field, message });
    return undefined;
  };
  const parsed = <T>(field: RateDeckField, parser: (text: string) => T): T | undefined | null => {
    try {
      return parser(cell(field));
    } catch (error) {
      if (!(error instanceof CellError)) throw error;
      problem(field, error.message);
      return null;
    }
  };
  const hasInitial = columns.indexes.initialIncrement !== undefined;
  const hasNext = columns.indexes.subsequentIncrement !== undefined;
  const initial = hasInitial ? parsed('initialIncrement', parseIncrement) : undefined;
  const pair = hasNext ? parsed('subsequentIncrement', parseIncrementPair) : undefined;
  if (initial === null || pair === null) return undefined;
  const missing = (field: RateDeckField): undefined =>
    problem(
      field,
      `increment "${cell(field)}" is ${cell(field) === '' ? 'empty' : '0'}: write the block in seconds (1 = per second); an empty or 0 increment is not billed as 60/60`,
    );
  const subsequent = pair?.subsequent;
  if (hasNext && subsequent === undefined && !stated) return missing('subsequentIncrement');
  if (pair?.initial !== undefined && initial !== undefined) {
    return problem('subsequentIncrement', `"${cell('subsequentIncrement')}" gives the first block too, and so does ${columns.names.initialIncrement ?? 'initialIncrement'}`);
  }
  if (columns.initialIsMinimum) return minimumAsFirstBlock(initial, subsequent ?? defaults.subsequent, (message) => problem('initialIncrement', message));
  if (hasInitial && initial === undefined && !stated) return missing('initialIncrement');
  const next = subsequent ?? defaults.subsequent;
  // A deck with one "Increment" column means the same block size from the first second.
  const first = initial ?? pair?.initial ?? (!hasInitial && subsequent !== undefined ? subsequent : defaults.initial);
  return { initial: first, subsequent: next };
}

/**
 * A minimum billed duration D with blocks of M seconds is a first block of D when D is a whole number
 * of blocks (30 then 6), one block when D is at most M (or 0: no minimum). Anything else (10 then 6)
 * bills differently from a first block and is refused rather than approximated.
 */
function minimumAsFirstBlock(minimum: number | undefined, subsequent: number, problem: (message: string) => undefined): BlockPair | undefined {
  if (minimum === undefined || minimum <= subsequent) return { initial: subsequent, subsequent };
  if (minimum % subsequent !== 0)
    return problem(`minimum duration ${minimum}s is not a whole number of ${subsequent}s increments; give the first block as Initial Increment instead`);
  return { initial: minimum, subsequent };
}

/** (prefix, effective-from) must be unique: both lines of a clash are errors, neither is kept. */
function findDuplicates(entries: readonly RateEntry[], columns: ResolvedColumns): { issues: RateDeckIssue[]; lines: Set<number> } {
  const firstLine = new Map<string, number>();
  const issues: RateDeckIssue[] = [];
  const lines = new Set<number>();
  const column = columns.names.prefix ?? 'prefix';
  for (const entry of entries) {
    const key = `${entry.prefix}@${entry.effectiveFrom.toISOString()}`;
    const line = entry.sourceLine ?? 0;
    const first = firstLine.get(key);
    if (first === undefined) {
      firstLine.set(key, line);
      continue;
    }
    const message = `duplicate prefix ${entry.prefix} effective from ${entry.effectiveFrom.toISOString()}`;
    if (!lines.has(first)) issues.push({ line: first, column, message: `${message} (also on line ${line})` });
    issues.push({ line, column, message: `${message} (first on line ${first})` });
    lines.add(first);
    lines.add(line);
  }
  return { issues, lines };
}
