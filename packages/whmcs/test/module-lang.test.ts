import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertPhpAvailable, MODULE_DIR } from './module-harness';

/**
 * The client area's language, as the module's README says: the client's language, then the system
 * default, then english, key by key. Run on a copy of the module with a German file added (the module
 * ships english only).
 */

let moduleCopy: string;

beforeAll(() => {
  assertPhpAvailable();
  moduleCopy = mkdtempSync(path.join(tmpdir(), 'ictvoip-lang-'));
  cpSync(MODULE_DIR, moduleCopy, { recursive: true });
  // One key translated, the rest left to english.
  writeFileSync(path.join(moduleCopy, 'lang', 'german.php'), "<?php\n$_LANG['usageTitle'] = 'Verbrauch in diesem Zeitraum';\n");
});
afterAll(() => rmSync(moduleCopy, { recursive: true, force: true }));

function stringsFor(client: string | null, system: string | null): Record<string, string> {
  const php = `define('WHMCS', true); require ${JSON.stringify(path.join(moduleCopy, 'lib', 'Lang.php'))};
    $GLOBALS['CONFIG'] = ${system === null ? '[]' : `['Language' => ${JSON.stringify(system)}]`};
    $params = ${client === null ? '[]' : `['clientsdetails' => ['language' => ${JSON.stringify(client)}]]`};
    echo json_encode(WHMCS\\Module\\Server\\Ictvoip\\Lang::strings($params));`;
  const run = spawnSync('php', ['-r', php], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`php: ${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout) as Record<string, string>;
}

const ENGLISH = 'Usage this period';
const GERMAN = 'Verbrauch in diesem Zeitraum';

it.each([
  { client: 'german', system: 'english', title: GERMAN, why: "the client's language first" },
  { client: 'english', system: 'german', title: ENGLISH, why: 'a client who reads english gets english, whatever the default' },
  { client: 'french', system: 'german', title: GERMAN, why: "no french file: the system default's text" },
  { client: null, system: 'german', title: GERMAN, why: 'no client language: the system default' },
  { client: 'french', system: 'spanish', title: ENGLISH, why: 'neither has a file: english' },
  { client: '../../etc/passwd', system: null, title: ENGLISH, why: 'a value that is not a plain name is never a path' },
])('client $client, system $system: $why', ({ client, system, title }) => {
  const strings = stringsFor(client, system);
  expect(strings.usageTitle).toBe(title);
  // Key by key: what the German file lacks comes from english.
  expect(strings.unavailable).toBe('Live telephony details are temporarily unavailable. Please try again later.');
});
