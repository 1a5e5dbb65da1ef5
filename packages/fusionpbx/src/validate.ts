import * as freeswitch from '@ictvoip/freeswitch';
import { FusionpbxValidationError } from './errors';

/**
 * Validators for FusionPBX input (names that end up in rows, and later in event-socket commands or
 * cache keys). The alphabets shared with the FreeSWITCH side are `@ictvoip/freeswitch`'s; here they
 * raise FusionpbxValidationError, the error the worker and the REST API treat as the client's fault.
 */

const USERNAME = /^[A-Za-z0-9_.@+-]{1,64}$/;

/** `check` with its FreeswitchValidationError turned into a FusionpbxValidationError (same field and message). */
function asFusionpbx(check: (value: unknown, field?: string) => string): (value: unknown, field?: string) => string {
  return (value, field) => {
    try {
      return check(value, field);
    } catch (error) {
      if (error instanceof freeswitch.FreeswitchValidationError) throw new FusionpbxValidationError(error.field, error.reason);
      throw error;
    }
  };
}

function requireString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new FusionpbxValidationError(field, 'is required');
  return value;
}

/** A lower-cased fully qualified domain name (ASCII / punycode only, at least two labels). */
export const validateDomainName = asFusionpbx(freeswitch.validateDomainName);
export const validateExtension = asFusionpbx(freeswitch.validateExtension);
export const validateUuid = asFusionpbx(freeswitch.validateUuid);
export const validateProfile = asFusionpbx(freeswitch.validateProfile);
export const validateCacheKey = asFusionpbx(freeswitch.validateCacheKey);
export const validateSwitchname = asFusionpbx(freeswitch.validateSwitchname);
/** `<extension>@<domain>` as used by flush_inbound_reg and the directory cache key. */
export const validateUserAtDomain = asFusionpbx(freeswitch.validateUserAtDomain);

export function validateUsername(value: unknown, field = 'username'): string {
  const text = requireString(field, value);
  if (!USERNAME.test(text)) throw new FusionpbxValidationError(field, `${freeswitch.describeBadCharacters(text)} (allowed: A-Z a-z 0-9 _ . @ + -, up to 64)`);
  return text;
}

/** Free text stored in the database (names, descriptions): no control characters, bounded. */
export function validateText(value: unknown, field: string, maxLength = 255): string {
  const text = requireString(field, value);
  if (/[\x00-\x1f\x7f]/.test(text)) throw new FusionpbxValidationError(field, 'contains control characters or line breaks');
  if (text.length > maxLength) throw new FusionpbxValidationError(field, `is longer than ${maxLength} characters`);
  return text;
}
