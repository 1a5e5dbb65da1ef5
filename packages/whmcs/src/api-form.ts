/**
 * Encoding for WHMCS's includes/api.php: form fields with PHP bracket arrays (`items[0]=…`,
 * `items[key]=…`, WHMCS rejects scalars for array parameters) and PHP `serialize` for the few
 * parameters WHMCS wants base64-encoded serialized (UpdateClientProduct customfields/configoptions).
 */

export type WhmcsParamValue = string | number | bigint | boolean | null | undefined | readonly WhmcsParamValue[] | { readonly [key: string]: WhmcsParamValue };
export type WhmcsParams = Record<string, WhmcsParamValue>;

function scalar(value: string | number | bigint | boolean): string {
  // PHP reads "0" as false and any other non-empty string as true; "false" would be true.
  if (typeof value === 'boolean') return value ? '1' : '0';
  return String(value);
}

function append(form: URLSearchParams, name: string, value: WhmcsParamValue): void {
  if (value === null || value === undefined) return;
  if (Array.isArray(value)) {
    value.forEach((item, index) => append(form, `${name}[${index}]`, item));
    return;
  }
  if (typeof value === 'object') {
    for (const [key, item] of Object.entries(value as Record<string, WhmcsParamValue>)) append(form, `${name}[${key}]`, item);
    return;
  }
  form.append(name, scalar(value as string | number | bigint | boolean));
}

/** `application/x-www-form-urlencoded` body; null/undefined fields are left out. */
export function encodeWhmcsForm(params: WhmcsParams): string {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) append(form, name, value);
  return form.toString();
}

function serializeString(value: string): string {
  return `s:${Buffer.byteLength(value, 'utf8')}:"${value}";`;
}

function serializeKey(key: string): string {
  // PHP turns decimal-integer string keys into integer keys; mirror it so WHMCS finds field ids.
  return /^(0|-?[1-9]\d{0,17})$/.test(key) ? `i:${key};` : serializeString(key);
}

/** PHP `serialize()` of a flat array of strings (the only shape WHMCS asks for). */
export function phpSerializeStringMap(map: Readonly<Record<string | number, string>>): string {
  const entries = Object.entries(map);
  return `a:${entries.length}:{${entries.map(([key, value]) => serializeKey(key) + serializeString(value)).join('')}}`;
}
