import type { Pool } from 'pg';
import {
  type CanonicalRow,
  type DesiredRow,
  type TransactionMode,
  type Tx,
  canonicalRow,
  convergeRow,
  deleteRows,
  inTransaction,
  maskColumns,
  recordWrite,
  selectRows,
} from '../db';
import { TenantNotFoundError, TenantStateError, UniquenessError } from '../errors';
import { type FreeswitchStep, directoryKey, uniqueSteps } from '@ictvoip/freeswitch';
import {
  type ExtensionPageDefaults,
  extensionPageDefaults,
  newExtensionRow,
  newVoicemailRow,
  findExtensionUsers,
  insertExtension,
  ensureVoicemail,
  findVoicemail,
} from '../tenant-rows';
import { type Tenant, findTenant, lockService } from '../provisioning/tenant-state';
import { validateCacheKey, validateExtension, validateProfile } from '../provisioning/input';
import { QuotaExceededError, ResourceNotFoundError } from './tenant-errors';

/**
 * One extension of a tenant, written like extension_edit.php (v_extensions + v_voicemails, cache
 * deletes), under the same locks as the provisioner (service advisory lock + domain row lock), so an
 * API write and a provisioning job for the same tenant never interleave.
 */

export interface ExtensionFields {
  numberAlias?: string | null;
  callerIdName?: string | null;
  callerIdNumber?: string | null;
  outboundCallerIdName?: string | null;
  outboundCallerIdNumber?: string | null;
  voicemailEmail?: string | null;
  enabled?: boolean;
  description?: string | null;
}

export interface ExtensionView {
  extensionUuid: string;
  extension: string;
  numberAlias: string | null;
  callerIdName: string | null;
  callerIdNumber: string | null;
  outboundCallerIdName: string | null;
  outboundCallerIdNumber: string | null;
  voicemailEmail: string | null;
  enabled: boolean;
  description: string | null;
  createdAt: string | null;
  updatedAt: string | null;
}

export interface ExtensionWriteOptions {
  serviceId: number;
  /** Enabled extensions allowed by the plan; null = no limit stated. */
  maxEnabledExtensions: number | null;
  /** Profile phones register on (flush_inbound_reg when an extension is disabled or removed). */
  registrationProfile: string;
  actorUserUuid?: string | null;
  /** Dry-run: `{ rollback: true, recorder }` runs every check and write, then rolls back. */
  transaction?: TransactionMode;
  /**
   * The SIP password a create sets (a queued write carries the one the API showed its caller). A
   * create that finds the extension already holding exactly this password is this write's own
   * replay after a crash: it answers `created` again instead of a duplicate.
   */
  password?: string;
  /** A replay of an update: send the FreeSWITCH steps of a change even if the rows are already as asked. */
  forceApply?: boolean;
  /**
   * An update that sets this SIP password (a reset from the WHMCS client area), on the extension and
   * its device lines like extension_edit.php. The directory cache entry is deleted like every update,
   * so the phone's next registration needs the new password.
   */
  newPassword?: string;
}

export interface ExtensionWriteResult {
  outcome: 'created' | 'updated' | 'unchanged' | 'deleted';
  extension: ExtensionView | null;
  /** Only on create: the generated SIP password (shown once by the API). */
  password?: string;
  freeswitch: FreeswitchStep[];
}

const COLUMNS: Record<keyof Omit<ExtensionFields, 'voicemailEmail' | 'enabled'>, string> = {
  numberAlias: 'number_alias',
  callerIdName: 'effective_caller_id_name',
  callerIdNumber: 'effective_caller_id_number',
  outboundCallerIdName: 'outbound_caller_id_name',
  outboundCallerIdNumber: 'outbound_caller_id_number',
  description: 'description',
};

function view(row: CanonicalRow, voicemail: CanonicalRow | null): ExtensionView {
  return {
    extensionUuid: row.extension_uuid as string,
    extension: row.extension as string,
    numberAlias: row.number_alias,
    callerIdName: row.effective_caller_id_name,
    callerIdNumber: row.effective_caller_id_number,
    outboundCallerIdName: row.outbound_caller_id_name,
    outboundCallerIdNumber: row.outbound_caller_id_number,
    voicemailEmail: voicemail?.voicemail_mail_to ?? null,
    enabled: row.enabled === 'true',
    description: row.description,
    createdAt: row.insert_date ?? null,
    updatedAt: row.update_date ?? null,
  };
}

const EXTENSION_SELECT = `select e.*, v.voicemail_mail_to from v_extensions e
  left join lateral (select voicemail_mail_to from v_voicemails v where v.domain_uuid = e.domain_uuid and v.voicemail_id = e.extension order by v.voicemail_uuid limit 1) v on true`;

function joinedView(raw: Record<string, unknown>): ExtensionView {
  const row = canonicalRow(raw);
  return view(row, { voicemail_mail_to: row.voicemail_mail_to ?? null });
}

/** Every extension of the domain, by number (natural order). */
export async function listTenantExtensions(pool: Pool, domainUuid: string): Promise<ExtensionView[]> {
  const { rows } = await pool.query(`${EXTENSION_SELECT} where e.domain_uuid = $1 order by length(e.extension), e.extension, e.extension_uuid`, [domainUuid]);
  return rows.map(joinedView);
}

export async function getTenantExtension(pool: Pool, domainUuid: string, extension: string): Promise<ExtensionView | null> {
  const { rows } = await pool.query(`${EXTENSION_SELECT} where e.domain_uuid = $1 and e.extension = $2 order by e.extension_uuid limit 1`, [domainUuid, extension]);
  return rows[0] ? joinedView(rows[0]) : null;
}

async function lockedTenant(tx: Tx, serviceId: number): Promise<Tenant> {
  await lockService(tx, String(serviceId));
  const tenant = await findTenant(tx, String(serviceId));
  if (!tenant) throw new TenantNotFoundError(String(serviceId));
  if (tenant.state.status !== 'active') throw new TenantStateError(String(serviceId), `tenant is ${tenant.state.status}; extensions can only be changed while it is active`);
  return tenant;
}

async function findOwn(tx: Tx, domainUuid: string, extension: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_extensions where domain_uuid = $1 and extension = $2 order by extension_uuid', [domainUuid, extension]);
  return rows[0] ?? null;
}

/** No other row of the domain may use `name` as its extension or alias (FusionPBX checks this in PHP only). */
async function assertNameFree(tx: Tx, tenant: Tenant, name: string, ownUuid: string | null, what: string): Promise<void> {
  const users = await findExtensionUsers(tx, tenant.domainUuid, name);
  if (users.some((row) => row.extension_uuid !== ownUuid)) throw new UniquenessError(what, name, tenant.domainName);
}

async function assertQuota(tx: Tx, tenant: Tenant, options: ExtensionWriteOptions, ownUuid: string | null): Promise<void> {
  if (options.maxEnabledExtensions === null) return;
  const { rows } = await tx.client.query<{ n: number }>(
    "select count(*)::int as n from v_extensions where domain_uuid = $1 and enabled::text = 'true' and extension_uuid is distinct from $2",
    [tenant.domainUuid, ownUuid],
  );
  if (rows[0].n + 1 > options.maxEnabledExtensions) throw new QuotaExceededError('extensions', options.maxEnabledExtensions);
}

function directorySteps(names: (string | null | undefined)[], domainName: string): FreeswitchStep[] {
  return names.filter((name): name is string => !!name).map((name) => ({ kind: 'cache_delete', key: validateCacheKey(directoryKey(name, domainName), 'extension') }));
}

function desiredColumns(fields: ExtensionFields): DesiredRow {
  const desired: DesiredRow = {};
  for (const [field, column] of Object.entries(COLUMNS)) {
    const value = fields[field as keyof typeof COLUMNS];
    if (value !== undefined) desired[column] = value;
  }
  if (fields.enabled !== undefined) desired.enabled = fields.enabled;
  return desired;
}

async function convergeVoicemail(
  tx: Tx,
  tenant: Tenant,
  extension: string,
  fields: ExtensionFields,
  description: string | null,
  pageDefaults?: ExtensionPageDefaults,
): Promise<boolean> {
  const existing = await findVoicemail(tx, tenant.domainUuid, extension);
  if (!existing) {
    const defaults = pageDefaults ?? (await extensionPageDefaults(tx, { uuid: tenant.domainUuid, name: tenant.domainName }));
    return ensureVoicemail(
      tx,
      newVoicemailRow(tenant.domainUuid, extension, {
        ...defaults.voicemail,
        voicemail_mail_to: fields.voicemailEmail ?? null,
        // An address given here is for the recordings: attached whatever the install's default.
        ...(fields.voicemailEmail ? { voicemail_file: 'attach' } : {}),
        voicemail_description: description,
      }),
    );
  }
  if (fields.voicemailEmail === undefined) return false;
  return convergeRow(tx, 'v_voicemails', 'voicemail_uuid', existing, { voicemail_mail_to: fields.voicemailEmail });
}

/**
 * A new SIP password reaches the extension's provisioned phones too: extension_edit.php (5.1.0 and
 * 5.3.0, "update devices having extension assigned to line(s) with new password") sets
 * v_device_lines.password where the line is the domain's (`server_address` = domain name) and its
 * `user_id` is the extension, with a plain UPDATE of that one column. Without it a provisioned phone
 * would fetch the old password at its next provisioning and never register again.
 */
async function convergeDeviceLines(tx: Tx, tenant: Tenant, extension: string, password: string): Promise<boolean> {
  if (!tx.catalog.hasTable('v_device_lines')) return false;
  const stale = await selectRows(
    tx,
    'select device_line_uuid from v_device_lines where domain_uuid = $1 and server_address = $2 and user_id = $3 and password is distinct from $4 order by device_line_uuid',
    [tenant.domainUuid, tenant.domainName, extension, password],
  );
  const keys = stale.map((row) => row.device_line_uuid as string);
  if (keys.length === 0) return false;
  await tx.client.query('update v_device_lines set password = $1 where device_line_uuid = any($2::uuid[])', [password, keys]);
  for (const key of keys) recordWrite(tx, { table: 'v_device_lines', op: 'update', key, columns: maskColumns([['password', password]]) });
  return true;
}

async function reread(tx: Tx, tenant: Tenant, extension: string): Promise<ExtensionView> {
  const rows = await selectRows(tx, `${EXTENSION_SELECT} where e.domain_uuid = $1 and e.extension = $2 order by e.extension_uuid limit 1`, [tenant.domainUuid, extension]);
  return view(rows[0], rows[0]);
}

async function createExtension(tx: Tx, tenant: Tenant, extension: string, fields: ExtensionFields, options: ExtensionWriteOptions): Promise<ExtensionWriteResult> {
  await assertNameFree(tx, tenant, extension, null, 'extension');
  if (fields.numberAlias) await assertNameFree(tx, tenant, fields.numberAlias, null, 'number_alias');
  const enabled = fields.enabled ?? true;
  if (enabled) await assertQuota(tx, tenant, options, null);
  const pageDefaults = await extensionPageDefaults(tx, { uuid: tenant.domainUuid, name: tenant.domainName });
  const row = newExtensionRow(tenant.domainUuid, tenant.domainName, extension, {
    ...pageDefaults.extension,
    number_alias: fields.numberAlias ?? null,
    effective_caller_id_name: fields.callerIdName ?? null,
    effective_caller_id_number: fields.callerIdNumber ?? null,
    outbound_caller_id_name: fields.outboundCallerIdName ?? null,
    outbound_caller_id_number: fields.outboundCallerIdNumber ?? null,
    enabled,
    description: fields.description ?? null,
    ...(options.password ? { password: options.password } : {}),
  });
  const password = String(row.password);
  await insertExtension(tx, row);
  await convergeVoicemail(tx, tenant, extension, fields, fields.description ?? null, pageDefaults);
  return {
    outcome: 'created',
    extension: await reread(tx, tenant, extension),
    password,
    freeswitch: directorySteps([extension, fields.numberAlias], tenant.domainName),
  };
}

async function updateExtension(tx: Tx, tenant: Tenant, own: CanonicalRow, fields: ExtensionFields, options: ExtensionWriteOptions): Promise<ExtensionWriteResult> {
  const extension = own.extension as string;
  const ownUuid = own.extension_uuid as string;
  if (fields.numberAlias && fields.numberAlias !== own.number_alias) await assertNameFree(tx, tenant, fields.numberAlias, ownUuid, 'number_alias');
  const wasEnabled = own.enabled === 'true';
  if (fields.enabled === true && !wasEnabled) await assertQuota(tx, tenant, options, ownUuid);
  const desired = desiredColumns(fields);
  if (options.newPassword) desired.password = options.newPassword;
  const wroteRow = await convergeRow(tx, 'v_extensions', 'extension_uuid', own, desired);
  const wroteVoicemail = await convergeVoicemail(tx, tenant, extension, fields, own.description);
  const wroteLines = options.newPassword ? await convergeDeviceLines(tx, tenant, extension, options.newPassword) : false;
  const steps = directorySteps([extension, own.number_alias, fields.numberAlias], tenant.domainName);
  if ((wasEnabled || options.forceApply) && fields.enabled === false) {
    steps.push({ kind: 'flush_registration', profile: validateProfile(options.registrationProfile), user: `${extension}@${tenant.domainName}` });
  }
  return { outcome: wroteRow || wroteVoicemail || wroteLines ? 'updated' : 'unchanged', extension: await reread(tx, tenant, extension), freeswitch: uniqueSteps(steps) };
}

/** The answer the create gave before a crash cut its job short: nothing is written again. */
async function replayedCreate(tx: Tx, tenant: Tenant, own: CanonicalRow, password: string): Promise<ExtensionWriteResult> {
  const extension = own.extension as string;
  return { outcome: 'created', extension: await reread(tx, tenant, extension), password, freeswitch: directorySteps([extension, own.number_alias], tenant.domainName) };
}

/**
 * The FreeSWITCH side of removing an extension: its directory entries (number and alias) and any
 * registration still held. Exported for a removal replayed after its rows are gone.
 */
export function extensionRemovalSteps(extension: string, numberAlias: string | null, domainName: string, registrationProfile: string): FreeswitchStep[] {
  const steps = directorySteps([extension, numberAlias], domainName);
  steps.push({ kind: 'flush_registration', profile: validateProfile(registrationProfile), user: `${extension}@${domainName}` });
  return steps;
}

/**
 * Creates (`mode: 'create'`, 409 semantics on a duplicate), updates (`'update'`, missing → not found)
 * or upserts (`'upsert'`) one extension. Omitted fields keep their value; a replay writes nothing.
 */
export async function writeTenantExtension(
  pool: Pool,
  extensionInput: string,
  fields: ExtensionFields,
  mode: 'create' | 'update' | 'upsert',
  options: ExtensionWriteOptions,
): Promise<ExtensionWriteResult> {
  const extension = validateExtension(extensionInput);
  return inTransaction(
    pool,
    options.actorUserUuid ?? null,
    async (tx) => {
      const tenant = await lockedTenant(tx, options.serviceId);
      const own = await findOwn(tx, tenant.domainUuid, extension);
      // Holding exactly this write's password, it can only have been created by an earlier attempt of this write.
      if (own && mode !== 'update' && options.password && own.password === options.password) return replayedCreate(tx, tenant, own, options.password);
      if (own && mode === 'create') throw new UniquenessError('extension', extension, tenant.domainName);
      if (!own && mode === 'update') throw new ResourceNotFoundError('extension', extension);
      return own ? updateExtension(tx, tenant, own, fields, options) : createExtension(tx, tenant, extension, fields, options);
    },
    options.transaction,
  );
}

/**
 * Deletes the extension like extension->delete() (v_extensions, v_extension_users, ring group
 * destinations); the mailbox and its messages stay unless `deleteVoicemail`.
 */
export async function deleteTenantExtension(pool: Pool, extensionInput: string, deleteVoicemail: boolean, options: ExtensionWriteOptions): Promise<ExtensionWriteResult> {
  const extension = validateExtension(extensionInput);
  return inTransaction(
    pool,
    options.actorUserUuid ?? null,
    async (tx) => {
      const tenant = await lockedTenant(tx, options.serviceId);
      const own = await findOwn(tx, tenant.domainUuid, extension);
      if (!own) throw new ResourceNotFoundError('extension', extension);
      const uuid = own.extension_uuid as string;
      await deleteRows(tx, 'v_extension_users', 'extension_uuid = $1', [uuid]);
      if (tx.catalog.hasTable('v_ring_group_destinations')) {
        await deleteRows(tx, 'v_ring_group_destinations', 'domain_uuid = $1 and destination_number = any($2::text[])', [
          tenant.domainUuid,
          [extension, own.number_alias].filter((name): name is string => !!name),
        ]);
      }
      await deleteRows(tx, 'v_extensions', 'extension_uuid = $1', [uuid]);
      if (deleteVoicemail) {
        const voicemail = await findVoicemail(tx, tenant.domainUuid, extension);
        if (voicemail) {
          for (const table of ['v_voicemail_messages', 'v_voicemail_options', 'v_voicemail_destinations']) {
            if (tx.catalog.hasTable(table)) await deleteRows(tx, table, 'voicemail_uuid = $1', [voicemail.voicemail_uuid]);
          }
          await deleteRows(tx, 'v_voicemails', 'voicemail_uuid = $1', [voicemail.voicemail_uuid]);
        }
      }
      return { outcome: 'deleted', extension: null, freeswitch: extensionRemovalSteps(extension, own.number_alias, tenant.domainName, options.registrationProfile) };
    },
    options.transaction,
  );
}
