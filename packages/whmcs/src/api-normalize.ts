/**
 * WHMCS answers unevenly: numbers as strings or numbers, collections nested as `{product: [...]}`,
 * a single object instead of a one-element list, or `""` when empty. These helpers turn that into
 * plain typed values. Money stays a decimal string: a JSON number is written back with String(),
 * the shortest round-trip form, which reproduces WHMCS's 2-decimal amounts exactly.
 */

export type WhmcsRecord = Record<string, unknown>;

export function asRecord(value: unknown): WhmcsRecord {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as WhmcsRecord) : {};
}

/** `{ <inner>: [...] }`, `{ <inner>: {...} }`, `[...]`, `""` or absent → an array of records. */
export function listOf(container: unknown, inner: string): WhmcsRecord[] {
  const list = Array.isArray(container) ? container : asRecord(container)[inner];
  if (Array.isArray(list)) return list.map(asRecord);
  if (list !== null && typeof list === 'object') return [asRecord(list)];
  return [];
}

export function toInt(value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number.parseInt(value.trim(), 10);
  return 0;
}

export function toText(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : String(value);
}

export function toDecimal(value: unknown): string {
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim())) return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return '0.00';
}

/**
 * Strict money: WHMCS's decimal (string, or a JSON number) as a decimal string kept digit for digit
 * ("12.345678" and "-0.01" stay exact), or null when the value is absent or not a decimal. For
 * amounts a decision hangs on (credit, applied credit), where reading garbage as "0.00" would be wrong.
 */
export function parseMoney(value: unknown): string | null {
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim())) return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/** WHMCS dates (`Y-m-d`, or `Y-m-d H:i:s`) as ISO `YYYY-MM-DD`; "" for WHMCS's "no date" `0000-00-00` and anything else. */
export function toIsoDate(value: unknown): string {
  const match = /^(\d{4}-\d{2}-\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2})?)?$/.exec(toText(value).trim());
  if (!match || match[1] === '0000-00-00') return '';
  return Number.isNaN(Date.parse(`${match[1]}T00:00:00Z`)) ? '' : match[1];
}

export function toBool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  return ['1', 'true', 'on', 'yes'].includes(toText(value).trim().toLowerCase());
}

/** A money amount the caller hands to WHMCS: decimal string with at most 2 decimals (WHMCS stores 2). */
export const MONEY_PATTERN = /^-?\d{1,13}(\.\d{1,2})?$/;
export const QUANTITY_PATTERN = /^\d{1,9}(\.\d{1,4})?$/;
export const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;
