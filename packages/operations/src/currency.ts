/**
 * A deck has one currency, and WHMCS reads every amount the bridge sends (AddBillableItem,
 * CreateInvoice, a client's credit balance) in the client's own currency: usage rated in another
 * cannot be billed to the client nor subtracted from its balance. One rule for the batch push, the
 * prepaid invoice and credit control; each names what it holds in its message.
 */
export type RatedWhat = 'the calls are rated in' | 'its calls are rated in' | 'charges are in';

export interface CurrencyMismatch {
  code: 'CURRENCY_MISMATCH';
  /** the client's WHMCS currency */
  pays: string;
  /** the rated currencies other than it */
  rated: string[];
  /** `client <id> pays in <pays>, <what> <rated, …>` (without the code) */
  message: string;
}

/** The rated currencies the client does not pay in, or null when there are none (or either side names no currency). */
export function currencyMismatch(clientId: number, pays: string | null | undefined, rated: readonly (string | null | undefined)[], what: RatedWhat): CurrencyMismatch | null {
  if (!pays) return null;
  const other = [...new Set(rated.filter((currency): currency is string => !!currency && currency !== pays))];
  if (other.length === 0) return null;
  return { code: 'CURRENCY_MISMATCH', pays, rated: other, message: `client ${clientId} pays in ${pays}, ${what} ${other.join(', ')}` };
}
