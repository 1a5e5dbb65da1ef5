import type { CdrRecord } from '@ictvoip/fusionpbx';

export interface Charge {
  /** Decimal string; null while unrated or not billable. */
  amount: string | null;
  status: string | null;
}

export type CdrWithCharge = CdrRecord & { amount?: string | null; chargeStatus?: string | null };

export const CSV_COLUMNS: readonly (keyof CdrWithCharge)[] = [
  'uuid', 'startStamp', 'answerStamp', 'endStamp', 'direction', 'leg', 'callerIdName', 'callerIdNumber',
  'destinationNumber', 'extension', 'duration', 'billsec', 'hangupCause', 'sipHangupDisposition', 'accountcode', 'amount', 'chargeStatus',
];

/** RFC 4180: quote a field holding a comma, quote, CR or LF; double inner quotes. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvHeader = () => `${CSV_COLUMNS.join(',')}\r\n`;
export const csvLine = (record: CdrWithCharge) => `${CSV_COLUMNS.map((column) => csvField(record[column])).join(',')}\r\n`;
export const ndjsonLine = (record: CdrWithCharge) => `${JSON.stringify(record)}\n`;

export function withCharges(records: CdrRecord[], charges: Map<string, Charge> | null): CdrWithCharge[] {
  if (!charges) return records;
  return records.map((record) => {
    const charge = charges.get(record.uuid);
    return { ...record, amount: charge?.amount ?? null, chargeStatus: charge?.status ?? null };
  });
}
