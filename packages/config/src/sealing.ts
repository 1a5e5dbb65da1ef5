import type { ConfigProblem } from './errors';

/** A sealing key as configured: its id and its 32 bytes (see SEALING_KEY). */
export interface SealingKeyConfig {
  id: string;
  key: Buffer;
}

export const SEALING_KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Parses SEALING_KEY: `<key id>:<base64 of 32 bytes>`, several separated by commas; the first seals,
 * all of them open. Problems name the entry by position and key id, never its key.
 */
export function parseSealingKeys(value: string, variable = 'SEALING_KEY'): { keys: SealingKeyConfig[]; problems: ConfigProblem[] } {
  const keys: SealingKeyConfig[] = [];
  const problems: ConfigProblem[] = [];
  const entries = value.split(',').map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    const at = entries.length > 1 ? `entry ${index + 1}` : 'the value';
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    const material = colon > 0 ? entry.slice(colon + 1) : '';
    if (!SEALING_KEY_ID_PATTERN.test(id)) {
      problems.push({ variable, message: `${at} must be <key id>:<base64 key> with a key id of 1-32 characters A-Z, a-z, 0-9, _ and - (e.g. k1:$(openssl rand -base64 32))` });
      return;
    }
    const key = BASE64.test(material) ? Buffer.from(material, 'base64') : Buffer.alloc(0);
    if (key.length !== 32) {
      problems.push({ variable, message: `key id "${id}": the key must be 32 bytes in base64 (openssl rand -base64 32)` });
      return;
    }
    if (keys.some((k) => k.id === id)) {
      problems.push({ variable, message: `key id "${id}" is listed twice` });
      return;
    }
    keys.push({ id, key });
  });
  return { keys, problems };
}
