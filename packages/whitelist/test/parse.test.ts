import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { compileWhitelist, parseWhitelist, WhitelistError } from '@ictvoip/whitelist';

const FILE = 'test.conf';

describe('parseWhitelist', () => {
  test('single addresses become /32 and /128 entries', () => {
    const { entries, errors } = parseWhitelist('192.0.2.1\n2001:db8::1\n', FILE);
    expect(errors).toEqual([]);
    expect(entries.map((entry) => entry.cidr)).toEqual(['192.0.2.1/32', '2001:db8::1/128']);
    expect(entries.map((entry) => entry.line)).toEqual([1, 2]);
  });

  test('comment lines, trailing comments, blank lines and surrounding whitespace are ignored', () => {
    const text = ['# header', '', '   10.0.0.0/8   # office', '\t', '  # indented comment', '\t2001:db8::/32\t#v6'].join('\n');
    const { entries, errors } = parseWhitelist(text, FILE);
    expect(errors).toEqual([]);
    expect(entries.map((entry) => [entry.line, entry.source, entry.cidr])).toEqual([
      [3, '10.0.0.0/8', '10.0.0.0/8'],
      [6, '2001:db8::/32', '2001:db8::/32'],
    ]);
  });

  test('CRLF and CR line endings and a UTF-8 BOM keep line numbers right', () => {
    const crlf = parseWhitelist('\uFEFF# c\r\n10.0.0.1\r\nbad\r\n', FILE);
    expect(crlf.entries.map((entry) => [entry.line, entry.cidr])).toEqual([[2, '10.0.0.1/32']]);
    expect(crlf.errors.map((error) => error.line)).toEqual([3]);
    const cr = parseWhitelist('10.0.0.1\r10.0.0.2', FILE);
    expect(cr.entries.map((entry) => entry.line)).toEqual([1, 2]);
  });

  test.each([
    ['300.1.1.1', 'not a valid IPv4 or IPv6 address'],
    ['10.0.0.0/33', 'out of range for IPv4'],
    ['2001:db8::/129', 'out of range for IPv6'],
    ['10.0.0.0/-1', 'not a decimal number'],
    ['10.0.0.0/', 'not a decimal number'],
    ['10.0.0.0/8/8', 'not a decimal number'],
    ['127.1', 'not a valid'],
    ['010.0.0.1', 'not a valid'],
    ['0x7f.0.0.1', 'not a valid'],
    ['::ffff:010.0.0.1', 'not a valid'],
    ['fe80::1%eth0', 'zone ids'],
    ['10.0.0.1 10.0.0.2', 'one address or CIDR per line'],
    ['example.com', 'not a valid'],
    ['2001:db8:::1', 'not a valid'],
  ])('bad line %s is reported with file and line number', (bad, reason) => {
    const text = `# first\n10.0.0.1\n${bad}  # trailing\n::1\n`;
    const { entries, errors } = parseWhitelist(text, FILE);
    expect(entries.map((entry) => entry.line)).toEqual([2, 4]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ file: FILE, line: 3, text: bad });
    expect(errors[0]!.message).toContain(`${FILE}:3:`);
    expect(errors[0]!.message).toContain(reason);
  });

  test('every bad line is listed, not only the first', () => {
    const { errors } = parseWhitelist('nope\n10.0.0.1\nalso-bad\n1.2.3.4/99\n', FILE);
    expect(errors.map((error) => error.line)).toEqual([1, 3, 4]);
  });

  test('host bits set are accepted, normalised to the network, and warned about', () => {
    const { entries, errors, warnings } = parseWhitelist('10.1.2.3/8\n2001:db8::1/32\n', FILE);
    expect(errors).toEqual([]);
    expect(entries.map((entry) => entry.cidr)).toEqual(['10.0.0.0/8', '2001:db8::/32']);
    expect(warnings.map((warning) => warning.line)).toEqual([1, 2]);
    expect(warnings[0]!.message).toContain(`${FILE}:1: host bits set; treated as 10.0.0.0/8`);
  });

  test('IPv4-mapped IPv6 entries are stored as IPv4', () => {
    const { entries } = parseWhitelist('::ffff:192.0.2.1\n::ffff:10.0.0.0/104\n', FILE);
    expect(entries.map((entry) => [entry.kind, entry.cidr])).toEqual([
      ['ipv4', '192.0.2.1/32'],
      ['ipv4', '10.0.0.0/8'],
    ]);
  });

  test('duplicates are kept once and warned about (parsing twice gives the same result)', () => {
    const text = '10.0.0.1\n10.0.0.1/32\n';
    const first = parseWhitelist(text, FILE);
    expect(first.entries).toHaveLength(1);
    expect(first.warnings[0]!.message).toContain('duplicate of line 1');
    expect(parseWhitelist(text, FILE)).toEqual(first);
  });

  test('an empty or comment-only file has no entries and no errors', () => {
    expect(parseWhitelist('', FILE)).toEqual({ entries: [], errors: [], warnings: [] });
    expect(parseWhitelist('# nothing\n\n', FILE).entries).toEqual([]);
  });

  test('compileWhitelist throws a typed error listing every bad line', () => {
    let caught: unknown;
    try {
      compileWhitelist('10.0.0.1\nbad\n::1\nworse\n', FILE);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(WhitelistError);
    const error = caught as WhitelistError;
    expect(error.code).toBe('WHITELIST_INVALID');
    expect(error.message).toContain(`${FILE}:2:`);
    expect(error.message).toContain(`${FILE}:4:`);
    expect(error.lineErrors.map((line) => line.line)).toEqual([2, 4]);
  });

  test('the shipped chkcon_whitelist.conf allows loopback only', async () => {
    const file = path.resolve(__dirname, '../../../chkcon_whitelist.conf');
    const { whitelist, warnings } = compileWhitelist(await readFile(file, 'utf8'), file);
    expect(warnings).toEqual([]);
    expect(whitelist.entries.map((entry) => entry.cidr)).toEqual(['127.0.0.1/32', '::1/128']);
    expect(whitelist.isAllowed('127.0.0.1')).toBe(true);
    expect(whitelist.isAllowed('::1')).toBe(true);
    expect(whitelist.isAllowed('::ffff:127.0.0.1')).toBe(true);
    expect(whitelist.isAllowed('192.0.2.1')).toBe(false);
  });
});
