import { Command, Option } from 'commander';
import { ApiKeyInputError, ApiKeysRepository, checkNewApiKey, assertBridgeDatabaseMigrated, ServicesRepository, type ApiKeyRecord, type NewApiKey } from '@ictvoip/store';
import { action, CliError, config, emit, positiveInt, type JsonOption } from '../output';
import { cliPool } from '../pool';

async function withKeys<T>(work: (keys: ApiKeysRepository, services: ServicesRepository) => Promise<T>): Promise<T> {
  const pool = cliPool(config().database.url);
  try {
    await assertBridgeDatabaseMigrated(pool);
    return await work(new ApiKeysRepository(pool), new ServicesRepository(pool));
  } finally {
    await pool.end();
  }
}

/** A tenant key is for a service the bridge manages (one a WHMCS create reached); anything else is a typo. */
async function requireKnownService(services: ServicesRepository, serviceId: number | null): Promise<void> {
  if (serviceId === null) return;
  if (!(await services.get(serviceId))) {
    throw new CliError('UNKNOWN_SERVICE', `service ${serviceId} is not known to the bridge (no WHMCS create reached it; see \`ictvoip tenants list\`): no key created`);
  }
}

function line(key: ApiKeyRecord): string {
  const scope = key.scope === 'tenant' ? `tenant ${key.serviceId}` : 'admin';
  const state = key.revokedAt ? `revoked ${key.revokedAt.toISOString()}` : `last used ${key.lastUsedAt?.toISOString() ?? 'never'}`;
  return `${key.id}\tivk_${key.prefix}_…\t${key.name}\t${scope}\t${key.access}\t${state}`;
}

interface CreateOptions extends JsonOption {
  name: string;
  scope: 'tenant' | 'admin';
  service?: number;
  access: 'read' | 'read-write';
  dryRun?: boolean;
}

const MASKED = '********';

/** What `keys create --dry-run` would insert (the /v1 dry-run's row shape): no key is made, so no token exists. */
function createPreview(input: NewApiKey) {
  const serviceId = checkNewApiKey(input);
  const columns = {
    prefix: MASKED,
    secret_sha256: MASKED,
    name: input.name,
    scope: input.scope,
    service_id: serviceId === null ? null : String(serviceId),
    access: input.access,
    created_by: input.createdBy,
  };
  return { dryRun: true, outcome: 'created', rows: [{ table: 'api_keys', op: 'insert', key: null, columns }] };
}

function revokePreview(key: ApiKeyRecord) {
  const rows = key.revokedAt ? [] : [{ table: 'api_keys', op: 'update', key: key.id, columns: { revoked_at: 'now()' } }];
  return { dryRun: true, outcome: key.revokedAt ? 'unchanged' : 'revoked', rows, key };
}

/** `ictvoip keys create|list|revoke`: REST /v1 API keys (stored hashed; the token is shown once). */
export function keysCommand(): Command {
  const keys = new Command('keys').description('REST API keys');
  keys
    .command('create')
    .description('create a key; the token is printed once and never stored')
    .requiredOption('--name <name>', 'what the key is for')
    .addOption(new Option('--scope <scope>', 'tenant or admin').choices(['tenant', 'admin']).default('tenant'))
    .option('--service <id>', 'WHMCS service id of a tenant key', positiveInt('--service'))
    .addOption(new Option('--access <access>', 'read or read-write').choices(['read', 'read-write']).default('read'))
    .option('--dry-run', 'check the input and print the row it would insert; create nothing')
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: CreateOptions) => {
        const input: NewApiKey = { name: options.name, scope: options.scope, serviceId: options.service ?? null, access: options.access, createdBy: 'cli' };
        const refuse = (error: unknown): never => {
          if (error instanceof ApiKeyInputError) throw new CliError(error.code, error.message);
          throw error;
        };
        if (options.dryRun) {
          const preview = await Promise.resolve(input).then(createPreview).catch(refuse);
          await withKeys((_keys, services) => requireKnownService(services, checkNewApiKey(input)));
          emit(
            options,
            preview,
            () => `would create ${input.scope === 'tenant' ? `tenant ${input.serviceId}` : 'admin'} key "${input.name}" (${input.access}); dry run, nothing stored, no token made`,
          );
          return;
        }
        const created = await withKeys(async (repository, services) => {
          await requireKnownService(services, checkNewApiKey(input));
          return repository.create(input);
        }).catch(refuse);
        emit(options, { key: created.record, token: created.token }, () => `${line(created.record)}\ntoken (shown once): ${created.token}`);
      }),
    );
  keys
    .command('list')
    .description('list keys (never their secrets)')
    .option('--service <id>', 'only keys of this service', positiveInt('--service'))
    .option('--all', 'include revoked keys')
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { service?: number; all?: boolean }) => {
        const list = await withKeys((repository) => repository.list({ serviceId: options.service, includeRevoked: options.all === true }));
        emit(options, { keys: list }, () => (list.length ? list.map(line).join('\n') : 'no keys'));
      }),
    );
  keys
    .command('revoke <id>')
    .description('revoke a key (repeating it keeps the first revocation time)')
    .option('--dry-run', 'print the key it would revoke; change nothing')
    .option('--json', 'machine-readable output')
    .action(
      action(async (id: string, options: JsonOption & { dryRun?: boolean }) => {
        if (options.dryRun) {
          const existing = await withKeys((repository) => repository.get(id));
          if (!existing) throw new CliError('NOT_FOUND', `no API key with id ${id}`);
          const preview = revokePreview(existing);
          emit(options, preview, () => `${existing.revokedAt ? 'already revoked' : 'would revoke'} ${line(existing)}; dry run, nothing changed`);
          return;
        }
        const revoked = await withKeys((repository) => repository.revoke(id));
        if (!revoked) throw new CliError('NOT_FOUND', `no API key with id ${id}`);
        emit(options, { key: revoked }, () => `revoked ${line(revoked)}`);
      }),
    );
  return keys;
}
