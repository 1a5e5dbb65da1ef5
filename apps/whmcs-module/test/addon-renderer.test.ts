/**
 * The addon's Renderer (real Smarty, php-cli) with WHMCS's compile directory as configuration.php ships
 * it: `$templates_compiledir = 'templates_c';`, relative to the WHMCS root, while an addon page runs
 * with the admin directory (admin/addonmodules.php) as the working directory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ADDON_MODULE, assertPhp, smartyClass } from './whmcs-pages-harness';

const RENDERER = path.join(path.dirname(ADDON_MODULE), 'lib/Renderer.php');

let root: string;

beforeAll(() => assertPhp());

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'ictvoip-addon-renderer-'));
  mkdirSync(path.join(root, 'templates_c'));
  mkdirSync(path.join(root, 'admin'));
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Renders one addon template the way ictvoip_output does, from WHMCS's admin directory. */
function render(compileDir: string): { status: number | null; stdout: string; stderr: string } {
  const script = [
    "define('WHMCS', true);",
    `define('ROOTDIR', ${JSON.stringify(root)});`,
    `$GLOBALS['templates_compiledir'] = ${JSON.stringify(compileDir)};`,
    `require ${JSON.stringify(smartyClass())};`,
    `require ${JSON.stringify(RENDERER)};`,
    `chdir(${JSON.stringify(path.join(root, 'admin'))});`,
    "echo \\WHMCS\\Module\\Addon\\Ictvoip\\Renderer::render('_layout_bottom', []);",
  ].join('\n');
  const run = spawnSync('php', ['-d', 'display_errors=stderr', '-r', script], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

test("WHMCS's relative templates_c is the one under the WHMCS root, not a new folder in the admin directory", () => {
  const result = render('templates_c');
  expect(result).toMatchObject({ status: 0, stderr: '' });
  expect(result.stdout).toContain('</div>');
  expect(readdirSync(path.join(root, 'templates_c')).length).toBeGreaterThan(0);
  expect(existsSync(path.join(root, 'admin', 'templates_c'))).toBe(false);
});

test('an absolute compile directory is used as it is', () => {
  const elsewhere = path.join(root, 'cache', 'smarty');
  mkdirSync(elsewhere, { recursive: true });
  const result = render(elsewhere);
  expect(result).toMatchObject({ status: 0, stderr: '' });
  expect(readdirSync(elsewhere).length).toBeGreaterThan(0);
  expect(readdirSync(path.join(root, 'templates_c'))).toEqual([]);
});
