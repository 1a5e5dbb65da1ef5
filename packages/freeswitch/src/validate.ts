import { FreeswitchValidationError } from './errors';

/**
 * Validators for every value that ends up inside an event-socket command or a cache key.
 * ESL is line-based: a space splits arguments and a newline starts a new command, so anything
 * outside a small ASCII alphabet is rejected rather than escaped.
 */

const FQDN_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EXTENSION = /^[A-Za-z0-9_+*#.-]{1,64}$/;
const PROFILE = /^[A-Za-z0-9_.-]{1,64}$/;
const CACHE_KEY = /^[A-Za-z0-9_.:@+*#-]{1,255}$/;
const SWITCHNAME = /^[A-Za-z0-9_.-]{1,253}$/;

/** Why `value` is refused, in words (the first problem found). */
export function describeBadCharacters(value: string): string {
  if (/[\r\n]/.test(value)) return 'contains a line break';
  if (/\s/.test(value)) return 'contains whitespace';
  if (/[^\x21-\x7e]/.test(value)) return 'contains non-ASCII or control characters';
  return 'contains characters that are not allowed';
}

function requireString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new FreeswitchValidationError(field, 'is required');
  return value;
}

/** A lower-cased fully qualified domain name (ASCII / punycode only, at least two labels). */
export function validateDomainName(value: unknown, field = 'domain'): string {
  const raw = requireString(field, value);
  if (!/^[\x21-\x7e]+$/.test(raw)) throw new FreeswitchValidationError(field, `${describeBadCharacters(raw)}; use the punycode form of an international domain`);
  const name = raw.toLowerCase().replace(/\.$/, '');
  if (name.length > 253) throw new FreeswitchValidationError(field, 'is longer than 253 characters');
  const labels = name.split('.');
  if (labels.length < 2) throw new FreeswitchValidationError(field, 'must be a fully qualified domain name (at least two labels)');
  for (const label of labels) {
    if (!FQDN_LABEL.test(label)) throw new FreeswitchValidationError(field, `label "${label}" is not a valid DNS label (a-z, 0-9, inner "-")`);
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1])) throw new FreeswitchValidationError(field, 'must not be an IP address');
  return name;
}

function matchOrThrow(pattern: RegExp, field: string, value: unknown, hint: string): string {
  const text = requireString(field, value);
  if (!pattern.test(text)) throw new FreeswitchValidationError(field, `${describeBadCharacters(text)} (allowed: ${hint})`);
  return text;
}

export const validateExtension = (value: unknown, field = 'extension'): string => matchOrThrow(EXTENSION, field, value, 'A-Z a-z 0-9 _ + * # . -, up to 64');

export const validateUuid = (value: unknown, field = 'uuid'): string => matchOrThrow(UUID, field, typeof value === 'string' ? value.toLowerCase() : value, 'a lower-case UUID');

export const validateProfile = (value: unknown, field = 'profile'): string => matchOrThrow(PROFILE, field, value, 'A-Z a-z 0-9 _ . -');

export const validateCacheKey = (value: unknown, field = 'cache key'): string => matchOrThrow(CACHE_KEY, field, value, 'A-Z a-z 0-9 _ . : @ + * # -');

export const validateSwitchname = (value: unknown, field = 'switchname'): string => matchOrThrow(SWITCHNAME, field, value, 'A-Z a-z 0-9 _ . -');

/** `<extension>@<domain>` as used by flush_inbound_reg and the directory cache key. */
export function validateUserAtDomain(value: unknown, field = 'user'): string {
  const text = requireString(field, value);
  const at = text.lastIndexOf('@');
  if (at <= 0) throw new FreeswitchValidationError(field, 'must be <extension>@<domain>');
  validateExtension(text.slice(0, at), field);
  validateDomainName(text.slice(at + 1), field);
  return text;
}
