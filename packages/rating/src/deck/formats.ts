/**
 * Named rate deck layouts: a preset column mapping to read a file, and the writer of the same
 * layout, so a deck exported here imports back unchanged. `ictvoip` is ictVoIP Billing's tariff CSV
 * (admin/tariffs.rst): `Description`, `Prefix`, `RateValue`, `Increment` (seconds, the same block
 * from the first second); its optional `ShortDescription`, `Lastratechangedate`, `Oldrate`,
 * `RatePremium` are read past (ictVoIP itself prices with RateValue only, and a "last change" date
 * is no effective-from: taking it as one would leave earlier calls without a rate).
 */
import { formatMoney } from '../money';
import type { RateEntry } from '../rate-entry';
import { CANONICAL_HEADER, type RateDeckColumnMapping } from './columns';

export const RATE_DECK_FORMATS = ['ictvoip', 'canonical'] as const;
export type RateDeckFormat = (typeof RATE_DECK_FORMATS)[number];

export const ICTVOIP_HEADER = ['Description', 'Prefix', 'RateValue', 'Increment'] as const;

/** The preset mapping of a named layout (its required columns); `--map` entries override it. */
export function formatColumnMapping(format: RateDeckFormat): RateDeckColumnMapping {
  if (format === 'ictvoip') return { destination: 'Description', prefix: 'Prefix', ratePerMinute: 'RateValue', subsequentIncrement: 'Increment' };
  return {};
}

/** A decimal string without trailing zeros ("0.010000" → "0.01", "5.000000" → "5"): what a tariff file holds. */
export function plainDecimal(micro: bigint): string {
  return formatMoney(micro)
    .replace(/(\.\d*?)0+$/, '$1')
    .replace(/\.$/, '');
}

/** RFC 4180 field: quoted when it holds a comma, a quote or a line break. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** ISO 8601 to the second, as the importer reads dates back (rate dates carry no milliseconds). */
const isoSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

const csvLine = (fields: readonly string[]) => `${fields.map(csvField).join(',')}\r\n`;

export class RateDeckExportError extends Error {
  readonly code = 'RATE_DECK_NOT_EXPORTABLE';
  constructor(message: string) {
    super(message);
    this.name = 'RateDeckExportError';
  }
}

/** The entries in force at `at`, one per prefix (ictVoIP's tariff has no effective dates). */
export function entriesInForce(entries: readonly RateEntry[], at: Date): RateEntry[] {
  const current = new Map<string, RateEntry>();
  for (const entry of entries) {
    if (entry.effectiveFrom > at || (entry.effectiveTo !== null && entry.effectiveTo <= at)) continue;
    const held = current.get(entry.prefix);
    if (!held || held.effectiveFrom < entry.effectiveFrom) current.set(entry.prefix, entry);
  }
  return [...current.values()].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

/**
 * The deck as a CSV of the named layout. ictvoip: the rates in force at `at`; a rate whose first
 * increment differs from the next, or with a connect fee, cannot be written in it and is refused
 * (naming the prefix) rather than silently changed. canonical: every entry with its dates.
 */
export function exportRateDeckCsv(entries: readonly RateEntry[], format: RateDeckFormat, at: Date = new Date()): string {
  if (format === 'canonical') {
    return (
      `${CANONICAL_HEADER}\r\n` +
      entries
        .map((entry) =>
          csvLine([
            entry.prefix,
            entry.destination,
            plainDecimal(entry.ratePerMinute),
            plainDecimal(entry.connectFee),
            String(entry.initialIncrement),
            String(entry.subsequentIncrement),
            isoSeconds(entry.effectiveFrom),
            entry.effectiveTo ? isoSeconds(entry.effectiveTo) : '',
          ]),
        )
        .join('')
    );
  }
  const lines = entriesInForce(entries, at).map((entry) => {
    if (entry.initialIncrement !== entry.subsequentIncrement) {
      throw new RateDeckExportError(`prefix ${entry.prefix}: increments ${entry.initialIncrement}/${entry.subsequentIncrement} cannot be written as ictVoIP's single Increment`);
    }
    if (entry.connectFee !== 0n) throw new RateDeckExportError(`prefix ${entry.prefix}: a connect fee cannot be written in ictVoIP's tariff layout`);
    return csvLine([entry.destination, entry.prefix, plainDecimal(entry.ratePerMinute), String(entry.subsequentIncrement)]);
  });
  return csvLine(ICTVOIP_HEADER) + lines.join('');
}
