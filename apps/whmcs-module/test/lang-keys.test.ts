/**
 * The server module's client area texts (lang/<language>.php, WHMCS's `$_LANG['key']` format). WHMCS
 * documents module language files for addon modules only (`$_ADDONLANG`, given to the module as
 * `$vars['_lang']`); a provisioning module reads its own. The module's Lang reads them into a local
 * array (the templates' `$ictvoipLang`), so its short keys (`date`, `from`, `search`) never replace
 * WHMCS's own `$_LANG` strings. These tests keep it so, and keep every key a page uses in every file.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SERVER_MODULE, assertPhp } from './whmcs-pages-harness';

const MODULE_DIR = path.dirname(SERVER_MODULE);
const LANG_DIR = path.join(MODULE_DIR, 'lang');
const LANG_CLASS = path.join(MODULE_DIR, 'lib/Lang.php');

/** Keys the pages build from a value (ClientPages: creditView's stateKey and lastMail.textKey, phonesView's state, callsView's statusText). */
const COMPUTED_KEYS = ['credit_ok', 'credit_low', 'credit_zero', 'creditMail_low', 'creditMail_zero', 'registered', 'lost', 'notRegistered', 'disabled', 'notBillable', 'unrated', 'pending'];

beforeAll(() => assertPhp());

function php(script: string): string {
  const run = spawnSync('php', ['-d', 'display_errors=stderr', '-r', script], { encoding: 'utf8' });
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
  return run.stdout;
}

function keysOf(file: string): string[] {
  return JSON.parse(php(`define('WHMCS', true); $_LANG = []; include ${JSON.stringify(file)}; echo json_encode(array_keys($_LANG));`)) as string[];
}

/** `$L.key` in the templates (L is $ictvoipLang) and `$lang['key']` in the PHP. */
function keysUsed(): string[] {
  const used = new Set<string>();
  for (const template of readdirSync(path.join(MODULE_DIR, 'templates'))) {
    const text = readFileSync(path.join(MODULE_DIR, 'templates', template), 'utf8');
    expect(text).toContain('{assign var=L value=$ictvoipLang}');
    for (const match of text.matchAll(/\$L\.([A-Za-z_]+)/g)) used.add(match[1]);
  }
  for (const file of readdirSync(path.join(MODULE_DIR, 'lib'))) {
    const text = readFileSync(path.join(MODULE_DIR, 'lib', file), 'utf8');
    for (const match of text.matchAll(/\$lang\['([A-Za-z_]+)'\]/g)) used.add(match[1]);
  }
  return [...used, ...COMPUTED_KEYS].sort();
}

test("reading the module's texts leaves WHMCS's global $_LANG as it was", () => {
  const out = php(
    [
      "define('WHMCS', true);",
      "$GLOBALS['CONFIG'] = ['Language' => 'english'];",
      "$_LANG = ['date' => 'WHMCS date', 'search' => 'WHMCS search'];",
      `require ${JSON.stringify(LANG_CLASS)};`,
      "$strings = \\WHMCS\\Module\\Server\\Ictvoip\\Lang::strings(['clientsdetails' => ['language' => 'english']]);",
      "echo json_encode(['global' => $_LANG, 'module' => [$strings['date'] ?? null, $strings['search'] ?? null]]);",
    ].join('\n'),
  );
  expect(JSON.parse(out)).toEqual({ global: { date: 'WHMCS date', search: 'WHMCS search' }, module: ['Date', 'Search'] });
});

test('every key a page uses is in english.php, and english.php holds no key no page uses', () => {
  const english = keysOf(path.join(LANG_DIR, 'english.php')).sort();
  expect(english).toEqual([...new Set(keysUsed())].sort());
});

test('every shipped language file has the keys of english.php', () => {
  const english = keysOf(path.join(LANG_DIR, 'english.php')).sort();
  const files = readdirSync(LANG_DIR).filter((file) => file.endsWith('.php'));
  expect(files).toContain('english.php');
  for (const file of files) {
    expect({ file, keys: keysOf(path.join(LANG_DIR, file)).sort() }).toEqual({ file, keys: english });
  }
});
