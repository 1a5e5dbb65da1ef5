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

/**
 * An extension's mailbox is its numeric alias's when it has one, else its own number's
 * (extension_edit.php: `$voicemail_id = $number_alias` when set; the page loads `is_numeric($number_alias) ?
 * $number_alias : $extension`; directory.lua reads the mailbox by the same id).
 */
export function mailboxIdOf(extension: string, numberAlias: string | null | undefined): string {
  return numberAlias && /^\d+$/.test(numberAlias) ? numberAlias : extension;
}

const EXTENSION_SELECT = `select e.*, v.voicemail_mail_to from v_extensions e
  left join lateral (select voicemail_mail_to from v_voicemails v where v.domain_uuid = e.domain_uuid
    and v.voicemail_id = case when e.number_alias ~ '^[0-9]+$' then e.number_alias else e.extension end order by v.voicemail_uuid limit 1) v on true`;

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

/**
 * Whether the domain has an extension of this number, and if so whether its SIP password is
 * `password` (compared in SQL: the stored password is never read out).
 */
export async function tenantExtensionPassword(pool: Pool, domainUuid: string, extension: string, password: string): Promise<'absent' | 'same' | 'other'> {
  const { rows } = await pool.query<{ same: boolean }>('select password is not distinct from $3 as same from v_extensions where domain_uuid = $1 and extension = $2', [
    domainUuid,
    extension,
    password,
  ]);
  if (rows.length === 0) return 'absent';
  return rows.every((row) => row.same) ? 'same' : 'other';
}

/** The numbers of `extensions` the domain (by name, as registration monitoring reads it) has no extension of, in the order given. */
export async function missingDomainExtensions(pool: Pool, domainName: string, extensions: readonly string[]): Promise<string[]> {
  if (extensions.length === 0) return [];
  const { rows } = await pool.query<{ extension: string }>(
    'select e.extension from v_extensions e join v_domains d using (domain_uuid) where lower(d.domain_name) = lower($1) and e.extension = any($2::text[])',
    [domainName, extensions],
  );
  const found = new Set(rows.map((row) => row.extension));
  return extensions.filter((extension) => !found.has(extension));
}

/** Marked extensions per tenant (registration watch): every answer lists them, so their number must stay bounded. */
export const MAX_MARKED_EXTENSIONS = 10_000;

/** Why extensions cannot be marked for a tenant's registration watch; `missing` with each number's index in `mark`. */
export type WatchMarkRefusal =
  | { code: 'TENANT_NOT_PROVISIONED'; message: string }
  | { code: 'UNKNOWN_EXTENSION'; message: string; missing: { extension: string; index: number }[] }
  | { code: 'TOO_MANY_MARKED'; message: string; after: number };

/**
 * Extensions to mark must be the tenant's in FusionPBX (a number it does not have would be watched for
 * ever and never alert) and stay within MAX_MARKED_EXTENSIONS; unmarking a number it no longer has is
 * fine. `marked` is what is marked now. The REST route and `ictvoip registrations watch` ask this
 * before writing anything; null when the marks may be written.
 */
export async function watchMarkRefusal(
  pool: Pool,
  tenant: { serviceId: number; tenantDomain: string | null; marked: readonly string[] },
  mark: readonly string[],
  unmark: readonly string[],
): Promise<WatchMarkRefusal | null> {
  if (mark.length === 0) return null;
  if (!tenant.tenantDomain) return { code: 'TENANT_NOT_PROVISIONED', message: `tenant ${tenant.serviceId} has no FusionPBX domain (not created yet, or purged)` };
  const missing = await missingDomainExtensions(pool, tenant.tenantDomain, mark);
  if (missing.length > 0) {
    return {
      code: 'UNKNOWN_EXTENSION',
      message: `the tenant has no extension ${missing.join(', ')}`,
      missing: missing.map((extension) => ({ extension, index: mark.indexOf(extension) })),
    };
  }
  const marked = new Set(tenant.marked);
  const after = marked.size + mark.filter((extension) => !marked.has(extension)).length - unmark.filter((extension) => marked.has(extension)).length;
  if (after > MAX_MARKED_EXTENSIONS)
    return { code: 'TOO_MANY_MARKED', message: `a tenant has at most ${MAX_MARKED_EXTENSIONS} marked extensions (this would make ${after})`, after };
  return null;
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

/**
 * The plan's extension limit. An add counts every extension row of the domain, enabled or not, as
 * extension_edit.php counts against limit/extensions (a disabled one could be enabled in FusionPBX,
 * whose toggle checks no limit); enabling one here counts the enabled others.
 */
async function assertQuota(tx: Tx, tenant: Tenant, options: ExtensionWriteOptions, enabling: { ownUuid: string } | null): Promise<void> {
  if (options.maxEnabledExtensions === null) return;
  const { rows } = await tx.client.query<{ n: number }>(
    enabling
      ? "select count(*)::int as n from v_extensions where domain_uuid = $1 and enabled::text = 'true' and extension_uuid <> $2"
      : 'select count(*)::int as n from v_extensions where domain_uuid = $1',
    enabling ? [tenant.domainUuid, enabling.ownUuid] : [tenant.domainUuid],
  );
  if (rows[0].n + 1 > options.maxEnabledExtensions) throw new QuotaExceededError(enabling ? 'enabled extensions' : 'extensions', options.maxEnabledExtensions);
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

/**
 * The extension's mailbox as the page saves it: made when missing (an alias given or changed makes the
 * alias's box, the old one stays, as in FusionPBX); the address and the description follow the request.
 */
async function convergeVoicemail(
  tx: Tx,
  tenant: Tenant,
  mailboxId: string,
  fields: ExtensionFields,
  description: string | null,
  pageDefaults?: ExtensionPageDefaults,
): Promise<boolean> {
  const existing = await findVoicemail(tx, tenant.domainUuid, mailboxId);
  if (!existing) {
    const defaults = pageDefaults ?? (await extensionPageDefaults(tx, { uuid: tenant.domainUuid, name: tenant.domainName }));
    return ensureVoicemail(
      tx,
      newVoicemailRow(tenant.domainUuid, mailboxId, {
        ...defaults.voicemail,
        voicemail_mail_to: fields.voicemailEmail ?? null,
        // An address given here is for the recordings: attached whatever the install's default.
        ...(fields.voicemailEmail ? { voicemail_file: 'attach' } : {}),
        voicemail_description: description,
      }),
    );
  }
  const desired: DesiredRow = {};
  if (fields.voicemailEmail !== undefined) desired.voicemail_mail_to = fields.voicemailEmail;
  // extension_edit.php saves voicemail_description = the extension's description.
  if (fields.description !== undefined) desired.voicemail_description = fields.description;
  return convergeRow(tx, 'v_voicemails', 'voicemail_uuid', existing, desired);
}

/**
 * extension_edit.php relabels the phones' keys that dial the extension with its caller ID name
 * (`update v_device_keys set device_key_label … where device_key_value = <extension>`) whenever a name is saved.
 */
async function convergeDeviceKeyLabels(tx: Tx, tenant: Tenant, extension: string, callerIdName: string | null | undefined): Promise<boolean> {
  if (!callerIdName || !tx.catalog.hasTable('v_device_keys')) return false;
  const stale = await selectRows(
    tx,
    'select device_key_uuid from v_device_keys where domain_uuid = $1 and device_key_value = $2 and device_key_label is distinct from $3 order by device_key_uuid',
    [tenant.domainUuid, extension, callerIdName],
  );
  const keys = stale.map((row) => row.device_key_uuid as string);
  if (keys.length === 0) return false;
  await tx.client.query('update v_device_keys set device_key_label = $1 where device_key_uuid = any($2::uuid[])', [callerIdName, keys]);
  for (const key of keys) recordWrite(tx, { table: 'v_device_keys', op: 'update', key, columns: { device_key_label: callerIdName } });
  return true;
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
  await assertQuota(tx, tenant, options, null);
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
  await convergeVoicemail(tx, tenant, mailboxIdOf(extension, fields.numberAlias), fields, fields.description ?? null, pageDefaults);
  await convergeDeviceKeyLabels(tx, tenant, extension, fields.callerIdName);
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
  if (fields.enabled === true && !wasEnabled) await assertQuota(tx, tenant, options, { ownUuid });
  const desired = desiredColumns(fields);
  if (options.newPassword) desired.password = options.newPassword;
  const wroteRow = await convergeRow(tx, 'v_extensions', 'extension_uuid', own, desired);
  const alias = fields.numberAlias === undefined ? own.number_alias : fields.numberAlias;
  const wroteVoicemail = await convergeVoicemail(tx, tenant, mailboxIdOf(extension, alias), fields, fields.description === undefined ? own.description : fields.description);
  const wroteKeys = fields.callerIdName !== undefined ? await convergeDeviceKeyLabels(tx, tenant, extension, fields.callerIdName) : false;
  const wroteLines = options.newPassword ? await convergeDeviceLines(tx, tenant, extension, options.newPassword) : false;
  const steps = directorySteps([extension, own.number_alias, fields.numberAlias], tenant.domainName);
  if ((wasEnabled || options.forceApply) && fields.enabled === false) {
    steps.push({ kind: 'flush_registration', profile: validateProfile(options.registrationProfile), user: `${extension}@${tenant.domainName}` });
  }
  return {
    outcome: wroteRow || wroteVoicemail || wroteLines || wroteKeys ? 'updated' : 'unchanged',
    extension: await reread(tx, tenant, extension),
    freeswitch: uniqueSteps(steps),
  };
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

/** extension->delete() takes the extension's follow-me and its destinations with it. */
async function deleteFollowMe(tx: Tx, followMeUuid: string | null | undefined): Promise<void> {
  if (!followMeUuid) return;
  for (const table of ['v_follow_me_destinations', 'v_follow_me']) {
    if (tx.catalog.hasTable(table)) await deleteRows(tx, table, 'follow_me_uuid = $1', [followMeUuid]);
  }
}

/**
 * voicemail->voicemail_delete() for an extension deleted with its voicemail: the mailboxes of its number
 * and of its numeric alias, each with its messages, options, forwards and greetings (the recordings'
 * files are on the FusionPBX server, out of the bridge's reach).
 */
async function deleteMailboxes(tx: Tx, domainUuid: string, names: (string | null | undefined)[]): Promise<void> {
  const ids = names.filter((name): name is string => !!name && /^\d+$/.test(name));
  const boxes = await selectRows(tx, 'select voicemail_uuid from v_voicemails where domain_uuid = $1 and voicemail_id::text = any($2::text[]) order by voicemail_uuid', [
    domainUuid,
    ids,
  ]);
  const uuids = boxes.map((box) => box.voicemail_uuid);
  for (const table of ['v_voicemail_messages', 'v_voicemail_options', 'v_voicemail_destinations']) {
    if (uuids.length > 0 && tx.catalog.hasTable(table)) await deleteRows(tx, table, 'voicemail_uuid = any($1::uuid[])', [uuids]);
  }
  if (uuids.length > 0) await deleteRows(tx, 'v_voicemails', 'voicemail_uuid = any($1::uuid[])', [uuids]);
  if (tx.catalog.hasTable('v_voicemail_greetings')) await deleteRows(tx, 'v_voicemail_greetings', 'domain_uuid = $1 and voicemail_id::text = any($2::text[])', [domainUuid, ids]);
}

/**
 * Deletes the extension like extension->delete() (v_extensions, v_extension_users, follow-me, ring
 * group destinations); the mailboxes and their messages stay unless `deleteVoicemail`.
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
      await deleteFollowMe(tx, own.follow_me_uuid);
      await deleteRows(tx, 'v_extensions', 'extension_uuid = $1', [uuid]);
      if (deleteVoicemail) await deleteMailboxes(tx, tenant.domainUuid, [extension, own.number_alias]);
      return { outcome: 'deleted', extension: null, freeswitch: extensionRemovalSteps(extension, own.number_alias, tenant.domainName, options.registrationProfile) };
    },
    options.transaction,
  );
}
