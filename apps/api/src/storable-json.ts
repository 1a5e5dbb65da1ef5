import { HttpError, type ErrorDetail } from './errors';

/** Deeper than any WHMCS payload; deep enough bodies would overflow recursive code and PostgreSQL's jsonb parser. */
export const MAX_JSON_DEPTH = 64;

// PostgreSQL jsonb cannot hold U+0000, nor a lone UTF-16 surrogate (JSON.stringify writes it as \udXXX).
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function problemIn(text: string): string | null {
  const match = UNSTORABLE.exec(text);
  if (!match) return null;
  return match[0] === '\u0000' ? 'contains a NUL character (\\u0000)' : 'contains an unpaired UTF-16 surrogate';
}

/**
 * Refuses (400) a parsed JSON body that parses but cannot be stored or processed safely: nesting
 * deeper than MAX_JSON_DEPTH, or NUL / unpaired surrogates in a key or string. Iterative on purpose,
 * so the check itself cannot overflow the stack.
 */
export function assertStorableJson(body: unknown): void {
  const details: ErrorDetail[] = [];
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: body, path: '', depth: 0 }];
  while (stack.length > 0 && details.length < 10) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const problem = problemIn(value);
      if (problem) details.push({ path: path || '(body)', message: problem });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) {
      details.push({ path: path || '(body)', message: `nests deeper than ${MAX_JSON_DEPTH} levels` });
      continue;
    }
    for (const [key, child] of Object.entries(value)) {
      const keyProblem = problemIn(key);
      const childPath = path ? `${path}.${keyProblem ? '?' : key}` : keyProblem ? '?' : key;
      if (keyProblem) details.push({ path: childPath, message: `a key ${keyProblem}` });
      stack.push({ value: child, path: childPath, depth: depth + 1 });
    }
  }
  if (details.length > 0) throw new HttpError(400, 'VALIDATION_FAILED', 'webhook event is invalid', details);
}
