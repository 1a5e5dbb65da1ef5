import fc from 'fast-check';
import { compileWhitelist, parseWhitelist, WhitelistError } from '@ictvoip/whitelist';

/**
 * What packages/whitelist's own property tests do not cover: whole files of arbitrary text.
 * FUZZ_RUNS=10000 for the full run.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const FILE = 'chkcon_whitelist.conf';

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const ipv6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => g.map((n) => n.toString(16)).join(':'));
const goodLine = fc.oneof(
  ipv4,
  ipv6,
  fc.tuple(ipv4, fc.nat(32)).map(([a, p]) => `${a}/${p}`),
  fc.tuple(ipv6, fc.nat(128)).map(([a, p]) => `${a}/${p}`),
);
const hostileLine = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.constantFrom(
    '',
    '#',
    '   # comment',
    '\t',
    '0/0',
    '::/0',
    '127.1',
    '0x7f.0.0.1',
    '1.2.3.4/33',
    '::ffff:1.2.3.4',
    'fe80::1%eth0',
    '1.2.3.4 # ok',
    '1.2.3.4\u00a0',
    '\u0000',
    '1.2.3.4/08',
    '١٢٧.0.0.1',
    '1.2.3.4\u200b',
  ),
  fc.integer({ min: 200, max: 1000 }).map((n) => 'a'.repeat(n)),
);
const separator = fc.constantFrom('\n', '\r\n', '\r');

const contentLines = (text: string) =>
  text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .map((raw, i) => ({ line: i + 1, content: raw.split('#')[0].trim() }))
    .filter((l) => l.content.length > 0);

describe('whitelist file fuzz', () => {
  it('any text: never throws; every entry line is accounted for exactly once, by line number', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(goodLine, hostileLine), { maxLength: 40 }), separator, fc.boolean(), (lines, sep, bom) => {
        const text = `${bom ? '\uFEFF' : ''}${lines.join(sep)}`;
        const { entries, errors, warnings } = parseWhitelist(text, FILE);
        const duplicates = warnings.filter((w) => w.message.includes('duplicate of line')).map((w) => w.line);
        const accounted = [...entries.map((e) => e.line), ...errors.map((e) => e.line), ...duplicates].sort((a, b) => a - b);
        expect(accounted).toEqual(contentLines(text).map((l) => l.line));
        for (const problem of [...errors, ...warnings]) {
          expect(problem.message.startsWith(`${FILE}:${problem.line}: `)).toBe(true);
          // A hostile line is echoed shortened, never whole.
          expect(problem.text.length).toBeLessThanOrEqual(121);
        }
        // compile is all-or-nothing: it throws exactly when a line is bad.
        if (errors.length > 0) expect(() => compileWhitelist(text, FILE)).toThrow(WhitelistError);
        else expect(compileWhitelist(text, FILE).whitelist.size).toBe(entries.length);
      }),
      { numRuns: RUNS },
    );
  });

  it('good lines among garbage: every good one is kept as an entry; alone they compile and allow their address', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.boolean(),
            goodLine,
            hostileLine.filter((line) => !/[\r\n]/.test(line)),
          ),
          { minLength: 1, maxLength: 30 },
        ),
        (rows) => {
          const lines = rows.map(([good, address, garbage]) => (good ? address : garbage));
          const { entries } = parseWhitelist(lines.join('\n'), FILE);
          const goodLines = rows.flatMap(([good], i) => (good ? [i + 1] : []));
          const cidrs = new Set(entries.map((e) => e.cidr));
          for (const line of goodLines) {
            const cidr = parseWhitelist(lines[line - 1], FILE).entries[0]?.cidr;
            expect(cidr).toBeDefined();
            // Kept (at this line, or at an earlier line holding the same network: a duplicate).
            expect(cidrs.has(cidr!)).toBe(true);
          }
          const onlyGood = goodLines.map((line) => lines[line - 1]);
          const { whitelist } = compileWhitelist(onlyGood.join('\n'), FILE);
          for (const line of onlyGood) expect(whitelist.isAllowed(line.split('/')[0])).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parsing the canonical form of the entries gives the same entries, with no errors or warnings', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(goodLine, hostileLine), { maxLength: 40 }), (lines) => {
        const first = parseWhitelist(lines.join('\n'), FILE);
        const again = parseWhitelist(first.entries.map((e) => e.cidr).join('\n'), FILE);
        expect(again.errors).toEqual([]);
        expect(again.warnings).toEqual([]);
        expect(again.entries.map((e) => e.cidr)).toEqual(first.entries.map((e) => e.cidr));
      }),
      { numRuns: RUNS },
    );
  });

  it('a large file (20,000 lines, a quarter garbage) parses quickly and completely', () => {
    const lines = Array.from({ length: 20000 }, (_, i) => (i % 4 === 3 ? `garbage-${i}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
    const started = Date.now();
    const { entries, errors } = parseWhitelist(lines.join('\n'), FILE);
    // The bound catches quadratic parsing (minutes), not machine speed: a loaded 2-core CI box took 3.2 s.
    expect(Date.now() - started).toBeLessThan(10000);
    expect(entries).toHaveLength(15000);
    expect(errors).toHaveLength(5000);
    expect(errors[0].line).toBe(4);
  });
});
