/**
 * A column mapping as the operator types it, `prefix=Code,rate=RateValue` (the CLI's `--map`, the
 * addon page's Column mapping field): which header in the file holds which field.
 */
import type { RateDeckColumnMapping, RateDeckField } from './columns';

/** Field names: the importer's own, their snake_case spellings, and short forms. */
const MAP_FIELDS: Readonly<Record<string, RateDeckField>> = {
  prefix: 'prefix',
  destination: 'destination',
  rate: 'ratePerMinute',
  rateperminute: 'ratePerMinute',
  connect: 'connectFee',
  connectfee: 'connectFee',
  initial: 'initialIncrement',
  initialincrement: 'initialIncrement',
  increment: 'subsequentIncrement',
  subsequentincrement: 'subsequentIncrement',
  from: 'effectiveFrom',
  effectivefrom: 'effectiveFrom',
  to: 'effectiveTo',
  effectiveto: 'effectiveTo',
  includedseconds: 'includedSeconds',
  status: 'status',
};

/** A mapping that is not `<field>=<header>` pairs; the message starts with where it was typed (`--map`, `columnMapping`). */
export class RateDeckMappingError extends Error {
  readonly code = 'RATE_DECK_MAPPING_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'RateDeckMappingError';
  }
}

/** `specs` (each comma-separated pairs) as a mapping; `label` names where they were typed in errors. */
export function parseColumnMappingSpec(specs: readonly string[], label: string): RateDeckColumnMapping {
  const mapping: RateDeckColumnMapping = {};
  for (const pair of specs
    .flatMap((spec) => spec.split(','))
    .map((pair) => pair.trim())
    .filter(Boolean)) {
    const at = pair.indexOf('=');
    const field = MAP_FIELDS[pair.slice(0, Math.max(at, 0)).toLowerCase().replace(/[_-]/g, '')];
    const header = pair.slice(at + 1).trim();
    if (at < 1 || !field || header === '') {
      throw new RateDeckMappingError(`${label}: "${pair}" is not <field>=<header>; fields: ${Object.keys(MAP_FIELDS).join(', ')}`);
    }
    if (mapping[field] !== undefined) throw new RateDeckMappingError(`${label}: ${field} is mapped twice`);
    mapping[field] = header;
  }
  return mapping;
}

/** A saved mapping as the operator types it (`prefix=Code,ratePerMinute=Charge`), fields in one order; `parseColumnMappingSpec` reads it back. */
export function columnMappingSpec(mapping: RateDeckColumnMapping): string {
  const fields = [...new Set(Object.values(MAP_FIELDS))];
  return fields
    .filter((field) => typeof mapping[field] === 'string')
    .map((field) => `${field}=${mapping[field] as string}`)
    .join(',');
}
