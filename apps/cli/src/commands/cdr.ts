import { Command, InvalidArgumentError } from 'commander';
import { CDR_JOBS, QUEUE_NAMES } from '@ictvoip/queue';
import { previewCdrBackfill, type CdrBackfillPreview } from '@ictvoip/operations';
import { minuteSlot, type JobReport } from '../enqueue';
import { action, emit, positiveInt } from '../output';
import { withReadDeps } from '../read-deps';
import { runJobs, type EnqueueOptions } from './run-jobs';

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** An ISO-8601 date or date-time, normalised to UTC (the job payload requires an ISO date). */
export function isoArgument(value: string): string {
  const at = new Date(value);
  if (!ISO_DATE.test(value) || Number.isNaN(at.getTime())) throw new InvalidArgumentError('--from must be an ISO-8601 date, e.g. 2025-01-01 or 2025-01-01T00:00:00Z');
  return at.toISOString();
}

function backfillText(preview: CdrBackfillPreview): string {
  if (preview.status !== 'synced')
    return `service ${preview.serviceId}: ${preview.status === 'no-tenant' ? 'no tenant domain in the bridge' : 'domain not in FusionPBX'}, nothing to read; dry run, nothing enqueued`;
  return `service ${preview.serviceId}: ${preview.read} CDR(s) from ${preview.from} would be read, ${preview.new} new, ${preview.alreadyCharged} already charged${preview.more ? ` (in ${preview.runs} runs of CDR_SYNC_MAX_PAGES pages, one job: it reads on to the newest)` : ''}; dry run, nothing enqueued`;
}

/**
 * A finished backfill whose collection stopped before the newest CDR (a later run found the server unavailable or the
 * domain gone): its result's counts are partial and `more` is false all the same, so it is said on a line of its own.
 * (--json: the result's `stoppedEarly`.)
 */
function backfillStop(report: JobReport): string | null {
  const result = report.result as { serviceId?: unknown; status?: unknown; stoppedEarly?: { message?: unknown } } | null | undefined;
  if (report.state !== 'completed' || !result) return null;
  if (typeof result.stoppedEarly?.message === 'string') return `service ${String(result.serviceId)}: backfill ${result.stoppedEarly.message}`;
  if (typeof result.status === 'string' && result.status !== 'synced') return `service ${String(result.serviceId)}: backfill read nothing (${result.status})`;
  return null;
}

/** `ictvoip cdr backfill --service <id> --from <iso> [--wait]`: one cdr.backfill job. */
export function cdrCommand(): Command {
  const cdr = new Command('cdr').description('call detail records');
  cdr
    .command('backfill')
    .description("re-read a tenant's CDRs from a date (already charged calls are skipped)")
    .requiredOption('--service <id>', 'WHMCS service id', positiveInt('--service'))
    .requiredOption('--from <iso>', 'read calls that started at or after this date', isoArgument)
    .option('--dry-run', 'count the CDRs the backfill would read from v_xml_cdr to the newest and how many are not charged yet; enqueue nothing')
    .option('--wait [seconds]', 'wait for the job to finish (default 300 s)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: EnqueueOptions & { service: number; from: string; dryRun?: boolean }) => {
        if (options.dryRun) {
          const preview = await withReadDeps((deps) => previewCdrBackfill(deps, options.service, new Date(options.from)), { serviceId: options.service });
          emit(options, { dryRun: true, services: [preview] }, () => backfillText(preview));
          return;
        }
        const compactFrom = options.from.replace(/[-:.]/g, '');
        const job = { name: CDR_JOBS.backfill, id: `cdr-backfill-${options.service}-${compactFrom}-${minuteSlot()}`, data: { serviceId: options.service, from: options.from } };
        // Asked again once the first run finished, it runs again (a second run reads what arrived since; charged calls are skipped).
        const reports = await runJobs(QUEUE_NAMES.cdrSync, [job], options, {}, { rerunFinished: true }, backfillStop);
        // A script reading only the exit code must not take a partial backfill for a whole one.
        if (reports.some((report) => backfillStop(report) !== null) && !process.exitCode) {
          process.stderr.write('ictvoip: the backfill did not read its whole range (see its report); run it again once that is fixed\n');
          process.exitCode = 1;
        }
      }),
    );
  return cdr;
}
