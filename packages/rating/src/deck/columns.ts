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
 * Known spellings per field, in order of preference (already normalised). ictVoIP's own tariff
 * export (`Description`, `Prefix`, `RateValue`, `Increment`) is recognised as it is.
 */
const ALIASES: Record<RateDeckField, readonly string[]> = {
  prefix: ['prefix', 'code', 'dialcode', 'dialingcode', 'destinationcode', 'destinationprefix', 'pattern'],
  destination: ['destination', 'destinationname', 'description', 'name', 'country'],
  ratePerMinute: ['rateperminute', 'rate', 'ratevalue', 'perminutecost', 'costmin', 'costperminute', 'priceperminute', 'price', 'ratemin'],
  connectFee: ['connectfee', 'connectionfee', 'connectcost', 'connectioncost', 'setupfee', 'connectioncharge'],
  initialIncrement: ['initialincrement', 'initincrement', 'firstincrement', 'minimumincrement', 'initial'],
  subsequentIncrement: ['subsequentincrement', 'increment', 'nextincrement', 'billingincrement', 'incr'],
  effectiveFrom: ['effectivefrom', 'effectivedate', 'validfrom', 'activationtime', 'startdate', 'from'],
  effectiveTo: ['effectiveto', 'validto', 'validuntil', 'enddate', 'expirydate', 'expires', 'to'],
  includedSeconds: ['includedseconds', 'gracetime', 'graceseconds'],
  status: ['status', 'active'],
};

export const REQUIRED_FIELDS: readonly RateDeckField[] = ['prefix', 'ratePerMinute'];

export type ColumnIndexes = Partial<Record<RateDeckField, number>>;

export interface ResolvedColumns {
  readonly indexes: ColumnIndexes;
  /** Header text per field as it appears in the file (for issue reports). */
  readonly names: Partial<Record<RateDeckField, string>>;
  readonly layout: RateDeckLayout;
  readonly issues: RateDeckIssue[];
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

export function resolveColumns(header: readonly string[], headerLine: number, mapping: RateDeckColumnMapping = {}): ResolvedColumns {
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
  for (const field of REQUIRED_FIELDS) {
    if (indexes[field] === undefined) {
      issues.push({
        line: headerLine,
        column: field,
        message: `no column for ${field}; header was "${header.join(',')}" (name it with the column mapping, e.g. ictvoip rates import --map prefix=<header>,rate=<header>)`,
      });
    }
  }
  return { indexes, names, layout: detectLayout(normalised), issues };
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
