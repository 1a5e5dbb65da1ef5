import fc from 'fast-check';
import { assertStorableJson, EventValidationError, MAX_JSON_DEPTH, type ValidationDetail } from '../src';

const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
function problemIn(text: string): string | null {
  const match = UNSTORABLE.exec(text);
  if (!match) return null;
  return match[0] === '\u0000' ? 'contains a NUL character (\\u0000)' : 'contains an unpaired UTF-16 surrogate';
}

/** The first implementation (every value stacked, every path built): the details must stay the same, in the same order. */
function reference(body: unknown): ValidationDetail[] {
  const details: ValidationDetail[] = [];
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
  return details;
}

function detailsOf(body: unknown): ValidationDetail[] {
  try {
    assertStorableJson(body);
    return [];
  } catch (error) {
    if (!(error instanceof EventValidationError)) throw error;
    return error.details;
  }
}

const nested = (depth: number, leaf: unknown): unknown => (depth === 0 ? leaf : { a: nested(depth - 1, leaf) });

describe('assertStorableJson', () => {
  const corpus: Record<string, unknown> = {
    'a clean event': JSON.parse('{"eventId":"e","service":{"id":1,"tags":["a","b"]},"n":1.5,"ok":true,"none":null}'),
    'a NUL in a value': { a: 'x\u0000y' },
    'a NUL in the body itself': 'x\u0000',
    'unpaired surrogates in keys and values': { ['k\ud800']: { ['\udc00']: 'v\ud83d' }, ok: '😀', arr: ['\udfff', 'fine', { ['x\u0000']: 1 }] },
    'more than ten problems, keys and values mixed': Object.fromEntries(
      Array.from({ length: 14 }, (_, i) => [i % 3 ? `k${i}` : `k${i}\u0000`, i % 2 ? 'v\u0000' : { d: '\ud800' }]),
    ),
    'nesting at the limit': nested(MAX_JSON_DEPTH - 1, { b: 1 }),
    'nesting past the limit': nested(MAX_JSON_DEPTH + 3, 'deep\u0000'),
    'deep arrays': JSON.parse(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`),
    'primitives only': 42,
  };

  it.each(Object.entries(corpus))('gives the first implementation’s details, in its order: %s', (_name, body) => {
    expect(detailsOf(body)).toEqual(reference(body));
  });

  it('refuses what the first implementation refused, for any JSON with bad strings mixed in', () => {
    const bad = fc.constantFrom('\u0000', '\ud800', '\udc00', 'a\ud83d', '\udfffz', 'ok', '😀');
    const text = fc.oneof(fc.string(), bad);
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.constant(null), fc.array(tie('value')), fc.dictionary(text, tie('value'))),
    })).value;
    fc.assert(
      fc.property(json, (body) => {
        expect(detailsOf(body)).toEqual(reference(body));
      }),
      { numRuns: 3000 },
    );
    // fast-check's runs take seconds on a loaded box.
  }, 60_000);
});
