/**
 * Header recognition for rate deck CSVs. Names are compared after lower-casing and dropping
 * "(…)" annotations and punctuation, so "Cost / Min (USD)" becomes "costmin".
 */
import type { RateDeckIssue } from '../errors';

export type RateDeckField =
  'prefix' | 'destination' | 'ratePerMinute' | 'connectFee' | 'initialIncrement' | 'subsequentIncrement' | 'effectiveFrom' | 'effectiveTo' | 'includedSeconds' | 'status';

/** Header names as written in the file, per field, to override detection. */
export type RateDeckColumnMapping = Partial<Record<RateDeckField, string>>;

/**
 * A minimum billed duration ("Min Duration", CDRTool's "Min Dur", "Minimum") is the first block when
 * it is a whole number of increments; 0 there means no minimum (the first block is one increment).
 */
export const MINIMUM_DURATION_HEADERS: readonly string[] = ['minduration', 'mindur', 'minimumduration', 'minimum', 'minimumseconds', 'minsec', 'minsecs'];

/**
 * Headers that look like a billing block but are not one and are safely ignored: a cap on call
 * length, CGRateS' money rounding.
 */
const NOT_AN_INCREMENT: readonly string[] = ['maxdur', 'maxduration', 'maximumduration', 'roundingmethod', 'roundingdecimals'];

/**
 * A header that reads like an increment, interval, duration or rounding column. Left unmapped, its
 * seconds would be dropped and every rate billed in the default blocks: the import refuses instead.
 */
const INCREMENT_LIKE = /incr|interval|duration|dur$|rounding|pulse|^min(imum)?(sec|secs|seconds)?$/;

/**
 * Known spellings per field, in order of preference (already normalised). ictVoIP's own tariff
 * export (`Description`, `Prefix`, `RateValue`, `Increment`) is recognised as it is.
 */
const ALIASES: Record<RateDeckField, readonly string[]> = {
  prefix: ['prefix', 'code', 'dialcode', 'dialingcode', 'destinationcode', 'destinationprefix', 'pattern'],
  destination: ['destination', 'destinationname', 'description', 'name', 'country'],
  ratePerMinute: ['rateperminute', 'rate', 'ratevalue', 'perminutecost', 'costmin', 'costperminute', 'priceperminute', 'price', 'ratemin'],
  connectFee: ['connectfee', 'connectionfee', 'connectcost', 'connectioncost', 'setupfee', 'connectioncharge'],
  // "Interval 1"/"1st interval" and "Interval N"/"next interval" are the carrier-sheet names of the
  // same pair; minimum-duration headers (CDRTool's "Min Dur") are read as the first block, see below.
  initialIncrement: [
    'initialincrement',
    'initincrement',
    'firstincrement',
    'minimumincrement',
    'initial',
    'interval1',
    '1stinterval',
    'firstinterval',
    'initialinterval',
    ...MINIMUM_DURATION_HEADERS,
  ],
  subsequentIncrement: ['subsequentincrement', 'increment', 'nextincrement', 'billingincrement', 'incr', 'intervaln', 'nextinterval', 'subsequentinterval'],
  effectiveFrom: ['effectivefrom', 'effectivedate', 'validfrom', 'activationtime', 'startdate', 'from'],
  effectiveTo: ['effectiveto', 'validto', 'validuntil', 'enddate', 'expirydate', 'expires', 'to'],
  includedSeconds: ['includedseconds', 'gracetime', 'graceseconds'],
  status: ['status', 'active'],
};

/**
 * How the message of a refused header tells the operator to map a column, given the mapping
 * (`prefix=<header>,rate=<header>`): the CLI names its flag, the WHMCS addon page its field (its user
 * has no shell).
 */
export type MappingAdvice = (spec: string) => string;
export const CLI_MAPPING_ADVICE: MappingAdvice = (spec) => `ictvoip rates import --map ${spec}`;

export const REQUIRED_FIELDS: readonly RateDeckField[] = ['prefix', 'ratePerMinute'];

export type ColumnIndexes = Partial<Record<RateDeckField, number>>;

export interface ResolvedColumns {
  readonly indexes: ColumnIndexes;
  /** Header text per field as it appears in the file (for issue reports). */
  readonly names: Partial<Record<RateDeckField, string>>;
  readonly layout: RateDeckLayout;
  readonly issues: RateDeckIssue[];
  /** The initialIncrement column is a minimum duration (0 = no minimum), not a first block. */
  readonly initialIsMinimum: boolean;
}

/** 'canonical' = this project's own header names; 'astpp' = ASTPP import/export; 'mapped' = anything else recognised. */
export type RateDeckLayout = 'canonical' | 'astpp' | 'mapped';

export const CANONICAL_HEADER = 'prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment,effective_from,effective_to';

export function normaliseHeader(name: string): string {
  return name
    .replace(/\([^)]*\)/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}

export function resolveColumns(header: readonly string[], headerLine: number, mapping: RateDeckColumnMapping = {}, advice: MappingAdvice = CLI_MAPPING_ADVICE): ResolvedColumns {
  const normalised = header.map(normaliseHeader);
  const indexes: ColumnIndexes = {};
  const names: Partial<Record<RateDeckField, string>> = {};
  const issues: RateDeckIssue[] = [];
  const taken = new Set<number>();

  for (const [field, wanted] of Object.entries(mapping) as Array<[RateDeckField, string]>) {
    // Exactly as written first; then as the header detection compares names ("rateValue" = "RateValue").
    const exact = header.findIndex((cell) => cell.trim() === wanted.trim());
    const index = exact >= 0 ? exact : normalised.findIndex((name, i) => name === normaliseHeader(wanted) && name !== '' && !taken.has(i));
    if (index < 0) {
      issues.push({ line: headerLine, column: wanted, message: `mapped column "${wanted}" for ${field} is not in the header` });
      continue;
    }
    indexes[field] = index;
    taken.add(index);
  }
  for (const field of Object.keys(ALIASES) as RateDeckField[]) {
    if (indexes[field] !== undefined) continue;
    const index = findAlias(normalised, ALIASES[field], taken);
    if (index === undefined) continue;
    indexes[field] = index;
    taken.add(index);
  }
  for (const [field, index] of Object.entries(indexes) as Array<[RateDeckField, number]>) names[field] = header[index]?.trim() ?? field;
  const required = issues.length;
  for (const field of REQUIRED_FIELDS) {
    if (indexes[field] === undefined) {
      issues.push({
        line: headerLine,
        column: field,
        message: `no column for ${field}; header was "${header.join(',')}" (name it with the column mapping, e.g. ${advice('prefix=<header>,rate=<header>')})`,
      });
    }
  }
  // A file without prefix or rate is refused already; its other columns are not worth a list.
  if (issues.length === required) issues.push(...unreadIncrementColumns(header, normalised, taken, headerLine, advice));
  const initialIndex = indexes.initialIncrement;
  const initialIsMinimum = initialIndex !== undefined && MINIMUM_DURATION_HEADERS.includes(normalised[initialIndex] as string);
  return { indexes, names, layout: detectLayout(normalised), issues, initialIsMinimum };
}

function unreadIncrementColumns(header: readonly string[], normalised: readonly string[], taken: ReadonlySet<number>, headerLine: number, advice: MappingAdvice): RateDeckIssue[] {
  const issues: RateDeckIssue[] = [];
  normalised.forEach((name, index) => {
    if (taken.has(index) || name === '' || NOT_AN_INCREMENT.includes(name) || !INCREMENT_LIKE.test(name)) return;
    const column = header[index]?.trim() ?? name;
    issues.push({
      line: headerLine,
      column,
      message: `column "${column}" looks like a billing increment or duration but is not one the importer reads; rather than bill every rate in the default 60/60 blocks, nothing is imported: map it (${advice(`initial="${column}"`)} for the first block or minimum duration, ${advice(`increment="${column}"`)} for the next blocks) or remove the column`,
    });
  });
  return issues;
}

function findAlias(normalised: readonly string[], aliases: readonly string[], taken: ReadonlySet<number>): number | undefined {
  for (const alias of aliases) {
    const index = normalised.findIndex((name, i) => name === alias && !taken.has(i));
    if (index >= 0) return index;
  }
  return undefined;
}

function detectLayout(normalised: readonly string[]): RateDeckLayout {
  const has = (name: string) => normalised.includes(name);
  if (has('code') && (has('perminutecost') || has('costmin'))) return 'astpp';
  if (has('prefix') && has('rateperminute')) return 'canonical';
  return 'mapped';
}
