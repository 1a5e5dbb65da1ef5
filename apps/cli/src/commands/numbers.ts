import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import { ACTION_TYPES, destinationWriteOptions, listTenantDestinations, type ActionRequest, type ActionType } from '@ictvoip/fusionpbx';
import { findDomainUuid } from '@ictvoip/operations';
import { requeueJobUnlessLive, TENANT_WRITE_JOBS, tenantWriteId } from '@ictvoip/queue';
import { derivedHmacKey, FINISHED_WRITE_STATUSES, TenantWritesRepository, type ServiceRecord, type TenantWrite, type TenantWriteOperation } from '@ictvoip/store';
import { withReadDeps, type ReadDeps } from '../read-deps';
import { openQueues } from '../redis';
import { waitSeconds } from '../enqueue';
import { action, CliError, config, emit, positiveInt, type JsonOption } from '../output';

/**
 * `ictvoip numbers list|add|remove|set-action --service N`: the tenant's inbound numbers (DIDs).
 * Writes are the REST route's: a tenant_writes row (same write id for the same request id and
 * request) and the `tenant.destination.write` job a worker runs under the service lock; the CLI
 * waits for its outcome like the API does.
 */

const POLL_MS = 100;
const PHONE = /^\+?[0-9 ().-]{3,40}$/;
const TARGET = /^[A-Za-z0-9_+*#.-]{1,64}$/;

interface ServiceOption extends JsonOption {
  service: number;
}

interface WriteOptions extends ServiceOption {
  requestId?: string;
  wait?: string | boolean;
}

function phoneNumber(value: string): string {
  const text = value.trim();
  if (!PHONE.test(text)) throw new InvalidArgumentError('a phone number: digits, optional leading +, spaces ( ) . - allowed');
  return text;
}

/** `--action extension[:101]`, `voicemail:101`, `ring_group:600`, `dialplan:*98`. */
export function actionOption(value: string): ActionRequest {
  const [type, ...rest] = value.split(':');
  const target = rest.join(':');
  if (!(ACTION_TYPES as readonly string[]).includes(type)) throw new InvalidArgumentError(`--action takes ${ACTION_TYPES.join('|')}[:target], e.g. extension:101`);
  if (target !== '' && !TARGET.test(target)) throw new InvalidArgumentError('--action target: extension, mailbox, ring group or dialplan number (letters, digits, _ + * # . -)');
  return { type: type as ActionType, target: target === '' ? null : target };
}

async function tenantService(deps: ReadDeps, serviceId: number): Promise<ServiceRecord & { tenantDomain: string }> {
  const service = await deps.services.get(serviceId);
  if (!service) throw new CliError('UNKNOWN_SERVICE', `service ${serviceId} is not known to the bridge`);
  if (!service.tenantDomain) throw new CliError('NO_TENANT', `service ${serviceId} has no FusionPBX domain yet`);
  return service as ServiceRecord & { tenantDomain: string };
}

async function listNumbers(options: ServiceOption): Promise<void> {
  await withReadDeps(
    async (deps) => {
      const service = await tenantService(deps, options.service);
      const domainUuid = await findDomainUuid(deps.fusionPool, service.tenantDomain);
      if (!domainUuid) throw new CliError('NO_TENANT', `FusionPBX has no domain ${service.tenantDomain}`);
      const { numberPlan } = destinationWriteOptions(service.serviceId, service.plan as Record<string, unknown>);
      const data = await listTenantDestinations(deps.fusionPool, domainUuid, numberPlan);
      emit(options, { data }, () =>
        data.length
          ? data.map((row) => `${row.e164 ?? row.number}\t${row.action?.raw ?? '-'}\t${row.enabled ? 'enabled' : 'disabled'}${row.managedByPlan ? '\tplan' : ''}`).join('\n')
          : 'no inbound numbers',
      );
    },
    { serviceId: options.service },
  );
}

async function settle(repository: TenantWritesRepository, writeId: string, seconds: number): Promise<TenantWrite | null> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const write = await repository.get(writeId);
    if (!write || FINISHED_WRITE_STATUSES.includes(write.status) || Date.now() >= deadline) return write;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Records the write as the API does (so `--request-id` repeats are one write), queues its job, waits for it. */
async function submit(options: WriteOptions, operation: TenantWriteOperation, number: string, input: Record<string, unknown>): Promise<void> {
  const cfg = config();
  await withReadDeps(
    async (deps) => {
      await tenantService(deps, options.service);
      const repository = new TenantWritesRepository(deps.pool);
      const requestId = options.requestId ?? `cli-${randomUUID()}`;
      const asked = [requestId, 'destination', operation, number, input, {}];
      const writeId = tenantWriteId(options.service, asked, derivedHmacKey(cfg.sealing.keys[0]!, 'tenant-write-id'));
      const { write } = await repository.record({ writeId, serviceId: options.service, resource: 'destination', operation, target: number, input, sealedSecrets: null, requestId });
      if (!FINISHED_WRITE_STATUSES.includes(write.status)) {
        const redis = await openQueues(cfg);
        try {
          await requeueJobUnlessLive(redis.queues, TENANT_WRITE_JOBS.destination, { writeId, serviceId: options.service, requestId }, writeId);
        } finally {
          await redis.close();
        }
      }
      const seconds = waitSeconds(options.wait ?? true) ?? 300;
      const finished = await settle(repository, writeId, seconds);
      if (!finished || !FINISHED_WRITE_STATUSES.includes(finished.status)) {
        throw new CliError('WAIT_TIMEOUT', `write ${writeId} not finished after ${seconds} s (is a worker running?); repeat with --request-id ${requestId} to see its outcome`);
      }
      if (finished.status !== 'succeeded') {
        throw new CliError(finished.error?.code ?? 'WRITE_FAILED', `${finished.error?.message ?? 'the write failed'}${finished.error?.field ? ` (${finished.error.field})` : ''}`);
      }
      emit(options, { writeId, requestId, ...(finished.result ?? {}) }, () => {
        const result = finished.result as { outcome?: string; freeswitch?: { applied?: boolean; message?: string } } | null;
        // FusionPBX is written; FreeSWITCH's cache follows once the event socket answers.
        const pending = result?.freeswitch?.applied === false ? ` (${result.freeswitch.message ?? 'FreeSWITCH side pending'})` : '';
        return `${operation} ${number}: ${String(result?.outcome ?? 'done')}${pending}`;
      });
    },
    { serviceId: options.service },
  );
}

const serviceOption = (command: Command) =>
  command.requiredOption('--service <id>', 'the WHMCS service (tenant)', positiveInt('--service')).option('--json', 'machine-readable output');
const writeOptions = (command: Command) =>
  serviceOption(command)
    .option('--request-id <id>', 'idempotency key: the same id and request is the same write (default: a new one)')
    .option('--wait [seconds]', 'how long to wait for the worker (default 300)');

export function numbersCommand(): Command {
  const numbers = new Command('numbers').description("a tenant's inbound numbers (DIDs), through the same jobs as /v1/tenants/{t}/destinations");
  serviceOption(numbers.command('list').description('the tenant’s numbers with their action')).action(action(async (options: ServiceOption) => listNumbers(options)));
  writeOptions(numbers.command('add').argument('<number>', 'the number, in any form the plan reads', phoneNumber).description('add a number to the tenant'))
    .option('--action <type[:target]>', `${ACTION_TYPES.join('|')}[:target] (default: the first extension)`, actionOption)
    .option('--caller-id-prefix <text>', 'caller ID name prefix')
    .option('--description <text>', 'description')
    .option('--disabled', 'add it disabled')
    .action(
      action(async (number: string, options: WriteOptions & { action?: ActionRequest; callerIdPrefix?: string; description?: string; disabled?: boolean }) => {
        const fields: Record<string, unknown> = {};
        if (options.action) fields.action = options.action;
        if (options.callerIdPrefix !== undefined) fields.callerIdNamePrefix = options.callerIdPrefix;
        if (options.description !== undefined) fields.description = options.description;
        if (options.disabled) fields.enabled = false;
        await submit(options, 'create', number, { fields });
      }),
    );
  writeOptions(numbers.command('set-action').argument('<number>', 'the number', phoneNumber).description('change where a number sends its calls'))
    .requiredOption('--action <type[:target]>', `${ACTION_TYPES.join('|')}[:target]`, actionOption)
    .action(action(async (number: string, options: WriteOptions & { action: ActionRequest }) => submit(options, 'update', number, { fields: { action: options.action } })));
  writeOptions(numbers.command('remove').argument('<number>', 'the number', phoneNumber).description('remove a number the tenant added (plan numbers change in WHMCS)')).action(
    action(async (number: string, options: WriteOptions) => submit(options, 'delete', number, {})),
  );
  return numbers;
}
