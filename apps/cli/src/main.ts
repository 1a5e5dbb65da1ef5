import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { ConfigError, loadConfigFromProcess, loadDotEnv } from '@ictvoip/config';

function fail(message: string): never {
  process.stderr.write(`ictvoip: ${message}\n`);
  process.exit(1);
}

// `.env` of the working directory first, so every command (and --*-env options) sees it; the environment wins.
try {
  loadDotEnv();
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}

function config() {
  try {
    return loadConfigFromProcess();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

// The bridge's own version (the root package's; the apps share it).
const { version } = JSON.parse(readFileSync(path.join(__dirname, '../../../package.json'), 'utf8')) as { version: string };

const program = new Command().name('ictvoip').description('Operator CLI of the ictVoIP WHMCS ⇄ FusionPBX bridge').version(version, '-V, --version', 'print the version');

program
  .command('start')
  .description('run API and worker on local defaults (starts a throw-away Redis/PostgreSQL when none answers)')
  .option('--demo', 'create a demo FusionPBX database when FUSIONPBX_DATABASE_URL names one that does not exist')
  .option('--max-restarts <n>', 'quick restarts of a crashed api or worker before start gives up', (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) fail(`--max-restarts: "${value}" is not a whole number`);
    return n;
  })
  .option('--data-dir <dir>', 'folder of the throw-away Redis/PostgreSQL it starts when none answers (default: .data in the repository)')
  .action(async (options: { demo?: boolean; maxRestarts?: number; dataDir?: string }) => {
    const { startLocal } = await import('./commands/start');
    const code = await startLocal(config(), options).catch((error: Error) => fail(error.message));
    process.exit(code);
  });

program
  .command('migrate')
  .description("bring the bridge's own database to the latest schema")
  .option('--json', 'machine-readable output')
  .action(async (options: { json?: boolean }) => {
    const { migrateBridgeDatabase } = await import('@ictvoip/store');
    const { cliPool } = await import('./pool');
    const pool = cliPool(config().database.url);
    try {
      const applied = await migrateBridgeDatabase(pool);
      process.stdout.write(options.json ? `${JSON.stringify({ applied })}\n` : applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error));
    } finally {
      await pool.end();
    }
  });

program
  .command('whitelist')
  .description('chkcon_whitelist.conf tools')
  .command('check <ip>')
  .description('say whether an address may use /app/xml_cdr/chkcon.php')
  .option('--file <path>', 'whitelist file (default: CHKCON_WHITELIST_FILE)')
  .option('--json', 'machine-readable output')
  .action(async (ip: string, options: { file?: string; json?: boolean }) => {
    const file = options.file ?? config().chkcon.whitelistFile;
    const { loadWhitelist } = await import('@ictvoip/whitelist');
    const watcher = await loadWhitelist({ file, fsWatch: false, pollIntervalMs: 0 }).catch((error: Error) => fail(error.message));
    const allowed = watcher.isAllowed(ip);
    await watcher.close();
    process.stdout.write(options.json ? `${JSON.stringify({ ip, allowed, file })}\n` : `${ip}: ${allowed ? 'allowed' : 'denied'} by ${file}\n`);
    process.exitCode = allowed ? 0 : 2;
  });

/**
 * The other commands, in the order the help lists them. A command's module (and what it imports: BullMQ,
 * the FusionPBX and billing code) is loaded only when that command runs: one command's start-up is about a
 * third of the modules of all of them. The help, `help <command>` and an unknown name load every one.
 */
const commandLoaders: ReadonlyArray<readonly [name: string, load: () => Promise<Command>]> = [
  ['keys', async () => (await import('./commands/keys')).keysCommand()],
  ['rates', async () => (await import('./commands/rates')).ratesCommand()],
  ['jobs', async () => (await import('./commands/jobs')).jobsCommand()],
  ['tenants', async () => (await import('./commands/tenants')).tenantsCommand()],
  ['reconcile', async () => (await import('./commands/reconcile')).reconcileCommand()],
  ['billing', async () => (await import('./commands/billing')).billingCommand()],
  ['rerate', async () => (await import('./commands/billing')).rerateCommand()],
  ['cdr', async () => (await import('./commands/cdr')).cdrCommand()],
  ['credit', async () => (await import('./commands/credit')).creditCommand()],
  ['registrations', async () => (await import('./commands/registrations')).registrationsCommand()],
  ['numbers', async () => (await import('./commands/numbers')).numbersCommand()],
  ['servers', async () => (await import('./commands/servers')).serversCommand()],
  ['preview', async () => (await import('./commands/preview')).previewCommand()],
  ['secrets', async () => (await import('./commands/secrets')).secretsCommand()],
  ['adopt', async () => (await import('./commands/adopt')).adoptCommand()],
];

/** The command named on the command line (the first argument that is not an option), if any. */
function commandNamed(argv: readonly string[]): string | undefined {
  return argv.slice(2).find((arg) => !arg.startsWith('-'));
}

/** Only the named command's loader; every loader for the help, `help <command>` or an unknown name; none for `--version` or a command of this file. */
function loadersFor(argv: readonly string[]): ReadonlyArray<readonly [string, () => Promise<Command>]> {
  const named = commandNamed(argv);
  if (named === undefined && (argv.includes('-V') || argv.includes('--version'))) return [];
  if (program.commands.some((command) => command.name() === named)) return [];
  const one = commandLoaders.filter(([name]) => name === named);
  return one.length > 0 ? one : commandLoaders;
}

async function run(): Promise<void> {
  for (const [, load] of loadersFor(process.argv)) program.addCommand(await load());
  await program.parseAsync(process.argv);
}

run().catch((error: Error) => fail(error.message));
