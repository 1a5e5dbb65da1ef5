import { stringify, type Options } from 'csv-stringify/sync';
import type { CdrRecord } from '@ictvoip/fusionpbx';

export interface Charge {
  /** Decimal string; null while unrated or not billable. */
  amount: string | null;
  status: string | null;
}

export type CdrWithCharge = CdrRecord & { amount?: string | null; chargeStatus?: string | null };

export const CSV_COLUMNS: readonly (keyof CdrWithCharge)[] = [
  'uuid',
  'startStamp',
  'answerStamp',
  'endStamp',
  'direction',
  'leg',
  'callerIdName',
  'callerIdNumber',
  'destinationNumber',
  'extension',
  'duration',
  'billsec',
  'hangupCause',
  'sipHangupDisposition',
  'accountcode',
  'amount',
  'chargeStatus',
];

/** Only a number (`+15551234567`, `-0.50`, `42`): no spreadsheet reads a formula into it, so it is written as is. */
const PLAIN_NUMBER = /^[+-]?[0-9]+(\.[0-9]+)?$/;

/**
 * RFC 4180 (CRLF records; a field holding a comma, quote, CR or LF quoted, inner quotes doubled)
 * and safe to open in a spreadsheet: caller names and numbers come from whoever places the call,
 * so a text field starting with `=`, `+`, `-`, `@`, tab or CR (or their full-width forms) gets a
 * leading `'` (OWASP CSV injection) and is shown as text instead of run as a formula.
 */
const CSV_OPTIONS: Options = {
  record_delimiter: 'windows',
  // With a record_delimiter given, csv-stringify would quote only fields holding the whole CRLF.
  quote_record_delimiter: true,
  escape_formulas: true,
  cast: {
    string: (value) => (PLAIN_NUMBER.test(value) ? { value, escape_formulas: false } : value),
  },
};

/** Any table (header row first) with the same RFC 4180 and formula-injection rules as the CDR export. */
export const csvTable = (rows: readonly (readonly unknown[])[]) => stringify(rows as unknown[][], CSV_OPTIONS);

export const csvHeader = () => stringify([CSV_COLUMNS as string[]], CSV_OPTIONS);
export const csvLines = (records: CdrWithCharge[]) =>
  stringify(
    records.map((record) => CSV_COLUMNS.map((column) => record[column] ?? null)),
    CSV_OPTIONS,
  );
export const ndjsonLine = (record: CdrWithCharge) => `${JSON.stringify(record)}\n`;

export function withCharges(records: CdrRecord[], charges: Map<string, Charge> | null): CdrWithCharge[] {
  if (!charges) return records;
  return records.map((record) => {
    const charge = charges.get(record.uuid);
    return { ...record, amount: charge?.amount ?? null, chargeStatus: charge?.status ?? null };
  });
}
