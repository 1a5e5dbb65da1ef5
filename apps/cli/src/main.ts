import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { ConfigError, loadConfigFromProcess, loadDotEnv } from '@ictvoip/config';
import { createPool, migrateBridgeDatabase } from '@ictvoip/store';
import { loadWhitelist } from '@ictvoip/whitelist';
import { startLocal } from './commands/start';
import { billingCommand, rerateCommand } from './commands/billing';
import { cdrCommand } from './commands/cdr';
import { creditCommand } from './commands/credit';
import { jobsCommand } from './commands/jobs';
import { previewCommand } from './commands/preview';
import { keysCommand } from './commands/keys';
import { registrationsCommand } from './commands/registrations';
import { numbersCommand } from './commands/numbers';
import { ratesCommand } from './commands/rates';
import { reconcileCommand } from './commands/reconcile';
import { tenantsCommand } from './commands/tenants';
import { serversCommand } from './commands/servers';
import { adoptCommand } from './commands/adopt';
import { secretsCommand } from './commands/secrets';

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
    const code = await startLocal(config(), options).catch((error: Error) => fail(error.message));
    process.exit(code);
  });

program
  .command('migrate')
  .description("bring the bridge's own database to the latest schema")
  .option('--json', 'machine-readable output')
  .action(async (options: { json?: boolean }) => {
    const pool = createPool(config().database.url);
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
    const watcher = await loadWhitelist({ file, fsWatch: false, pollIntervalMs: 0 }).catch((error: Error) => fail(error.message));
    const allowed = watcher.isAllowed(ip);
    await watcher.close();
    process.stdout.write(options.json ? `${JSON.stringify({ ip, allowed, file })}\n` : `${ip}: ${allowed ? 'allowed' : 'denied'} by ${file}\n`);
    process.exitCode = allowed ? 0 : 2;
  });

program.addCommand(keysCommand());
program.addCommand(ratesCommand());
program.addCommand(jobsCommand());
program.addCommand(tenantsCommand());
program.addCommand(reconcileCommand());
program.addCommand(billingCommand());
program.addCommand(rerateCommand());
program.addCommand(cdrCommand());
program.addCommand(creditCommand());
program.addCommand(registrationsCommand());
program.addCommand(numbersCommand());
program.addCommand(serversCommand());
program.addCommand(previewCommand());
program.addCommand(secretsCommand());
program.addCommand(adoptCommand());

program.parseAsync(process.argv).catch((error: Error) => fail(error.message));
