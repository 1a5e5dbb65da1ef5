import { Command } from 'commander';
import { migrateBridgeDatabase, resealAll } from '@ictvoip/store';
import { action, CliError, config, emit, type JsonOption } from '../output';
import { cliPool } from '../pool';

/**
 * `ictvoip secrets reseal`: after a new key was put first in SEALING_KEY (the old one still listed),
 * re-seals every stored secret under it, so the old key can be removed. Exit 2 when some value no
 * configured key opens (named by table, row and key id; never a secret).
 */
export function secretsCommand(): Command {
  const secrets = new Command('secrets').description('sealed secrets (SEALING_KEY)');
  secrets
    .command('reseal')
    .description('re-seal every stored secret under the first SEALING_KEY, so older keys can be removed')
    .option('--dry-run', 'only count what would be re-sealed')
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { dryRun?: boolean }) => {
        const cfg = config();
        const pool = cliPool(cfg.database.url, { max: 2 });
        try {
          await migrateBridgeDatabase(pool);
          const report = await resealAll(pool, cfg.sealing, { dryRun: options.dryRun });
          const keyId = cfg.sealing.keys[0]!.id;
          emit(options, { keyId, dryRun: !!options.dryRun, ...report }, () =>
            [
              `${options.dryRun ? 'would re-seal' : 're-sealed'} ${report.resealed} value(s) under key id "${keyId}"; ${report.current} already under it`,
              `before: ${
                Object.entries(report.byKeyId)
                  .map(([id, n]) => `${id}=${n}`)
                  .join(' ') || 'no sealed values'
              }`,
              ...report.unreadable.map((u) => `unreadable: ${u.table}.${u.column} ${u.row}: ${u.code}${u.keyId ? ` (key id "${u.keyId}")` : ''}`),
            ].join('\n'),
          );
          if (report.unreadable.length > 0) {
            throw new CliError(
              'SEALED_SECRET_UNREADABLE',
              `${report.unreadable.length} sealed value(s) could not be opened with the configured keys; keep their key in SEALING_KEY (or WEBHOOK_SECRET_PREVIOUS for "legacy") and run again`,
              2,
            );
          }
        } finally {
          await pool.end();
        }
      }),
    );
  return secrets;
}
