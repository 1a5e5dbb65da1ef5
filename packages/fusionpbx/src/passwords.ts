import { randomInt } from 'node:crypto';
import { bcryptCompare, bcryptHash } from './bcrypt-pool';
import { FusionpbxValidationError } from './errors';

/**
 * FusionPBX generate_password() alphabets (resources/functions.php): strength 1 digits, 2 adds
 * lower-case without "l", 3 adds upper-case without "O", 4 adds "!^$%*?.". Unlike PHP we also
 * guarantee one character of every class, so the result always passes check_password_strength().
 */
const CLASSES = ['0123456789', 'abcdefghijkmnopqrstuvwxyz', 'ABCDEFGHIJKLMNPQRSTUVWXYZ', '!^$%*?.'];

export function generatePassword(length = 20, strength = 4): string {
  const classes = CLASSES.slice(0, Math.min(Math.max(strength, 1), 4));
  const alphabet = classes.join('');
  const chars = classes.map((set) => set[randomInt(set.length)]);
  while (chars.length < length) chars.push(alphabet[randomInt(alphabet.length)]);
  for (let index = chars.length - 1; index > 0; index -= 1) {
    const swap = randomInt(index + 1);
    [chars[index], chars[swap]] = [chars[swap], chars[index]];
  }
  return chars.slice(0, length).join('');
}

/** An extension's SIP password as extension_edit.php generates it (20 characters, strength 4). */
export function newSipPassword(): string {
  return generatePassword(20, 4);
}

/** Voicemail PIN: digits only, 8 long by default (voicemail/password_length). */
export function generateVoicemailPin(length = 8): string {
  return generatePassword(length, 1);
}

/**
 * PHP password_hash(PASSWORD_DEFAULT, cost 10) format: bcrypt with the $2y$ prefix. Computed in a
 * worker thread (bcrypt-pool.ts), so a hash never blocks the event loop of the API or the worker.
 */
export async function hashPortalPassword(password: string, cost = 10): Promise<string> {
  return (await bcryptHash(password, cost)).replace(/^\$2[ab]\$/, '$2y$');
}

export async function portalPasswordMatches(password: string, hash: string | null): Promise<boolean> {
  if (!hash || !hash.startsWith('$2')) return false;
  return bcryptCompare(password, hash.replace(/^\$2y\$/, '$2b$'));
}

/** bcrypt uses only the first 72 bytes; reject longer passwords instead of silently truncating. */
export function validatePortalPassword(value: unknown, field = 'secrets.servicePassword'): string {
  if (typeof value !== 'string' || value.length === 0) throw new FusionpbxValidationError(field, 'is required');
  if (Buffer.byteLength(value, 'utf8') > 72) throw new FusionpbxValidationError(field, 'is longer than 72 bytes (bcrypt limit)');
  if (/[\x00-\x1f\x7f]/.test(value)) throw new FusionpbxValidationError(field, 'contains control characters');
  return value;
}
