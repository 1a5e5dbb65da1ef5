/**
 * The FusionPBX rows one tenant owns, read and written the way FusionPBX's PHP does: v_domains,
 * v_domain_settings, v_dialplans (+ details), v_extensions (+ users), v_voicemails, v_users (+ groups),
 * v_gateways and the enabled v_sip_profiles. One module so a create reads from top to bottom in one place.
 */
import {
  type CanonicalRow,
  type Tx,
  convergeRow,
  insertRow,
  insertRowReturning,
  newUuid,
  selectRows,
  recordWrite,
  type DesiredRow,
  insertRows,
  convergeRowsTo,
  type InsertBatch,
  releaseOf,
} from './db';
import type { Pool } from 'pg';
import type { FreeswitchStep } from '@ictvoip/freeswitch';
import { FusionpbxConfigError } from './errors';
import { generateVoicemailPin, newSipPassword } from './passwords';

/** v_domains. The name is unique only by PHP convention (lower(domain_name)); callers hold the domain lock. */

export async function findDomainByName(tx: Tx, domainName: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_domains where lower(domain_name) = lower($1) order by insert_date nulls first', [domainName]);
  return rows[0] ?? null;
}

export async function findDomainByUuid(tx: Tx, domainUuid: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_domains where domain_uuid = $1', [domainUuid]);
  return rows[0] ?? null;
}

/** Row lock on the domain so concurrent writers of the same tenant queue up behind us. */
export async function lockDomainRow(tx: Tx, domainUuid: string): Promise<void> {
  await tx.client.query('select 1 from v_domains where domain_uuid = $1 for update', [domainUuid]);
}

export async function insertDomain(tx: Tx, domainName: string, description: string | null): Promise<CanonicalRow> {
  // The row as inserted (defaults and insert_date included), without reading it back.
  return insertRowReturning(tx, 'v_domains', {
    domain_uuid: newUuid(),
    domain_parent_uuid: null,
    domain_name: domainName,
    domain_enabled: true,
    domain_description: description,
  });
}

export function setDomainEnabled(tx: Tx, domain: CanonicalRow, enabled: boolean): Promise<boolean> {
  return convergeRow(tx, 'v_domains', 'domain_uuid', domain, { domain_enabled: enabled });
}

/** v_domain_settings: per-domain overrides (branding) and the bridge's own metadata rows. */

export interface DomainSetting {
  category: string;
  subcategory: string;
  /** FusionPBX's "type" column: text | numeric | boolean | array | uuid | dir. */
  name: string;
  value: string;
  order: number;
  enabled: boolean;
  description: string | null;
}

export function listSettings(tx: Tx, domainUuid: string, category: string): Promise<CanonicalRow[]> {
  return selectRows(
    tx,
    `select * from v_domain_settings where domain_uuid = $1 and domain_setting_category = $2
      order by domain_setting_subcategory, domain_setting_order, domain_setting_uuid`,
    [domainUuid, category],
  );
}

export async function findSetting(tx: Tx, domainUuid: string, category: string, subcategory: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(
    tx,
    `select * from v_domain_settings where domain_uuid = $1 and domain_setting_category = $2
      and domain_setting_subcategory = $3 order by domain_setting_order, domain_setting_uuid`,
    [domainUuid, category, subcategory],
  );
  return rows[0] ?? null;
}

/**
 * Every setting row of one domain, read once, answering findSetting and listSettings the way their
 * queries would (same order). Valid while each (category, subcategory) is written at most once, as a
 * converge does.
 */
export class SettingsSnapshot {
  constructor(private readonly rows: readonly CanonicalRow[]) {}

  find(category: string, subcategory: string): CanonicalRow | null {
    return this.rows.find((row) => row.domain_setting_category === category && row.domain_setting_subcategory === subcategory) ?? null;
  }

  list(category: string): CanonicalRow[] {
    return this.rows.filter((row) => row.domain_setting_category === category);
  }
}

export async function loadSettings(tx: Tx, domainUuid: string): Promise<SettingsSnapshot> {
  const rows = await selectRows(
    tx,
    `select * from v_domain_settings where domain_uuid = $1
      order by domain_setting_category, domain_setting_subcategory, domain_setting_order, domain_setting_uuid`,
    [domainUuid],
  );
  return new SettingsSnapshot(rows);
}

function desiredColumns(domainUuid: string, setting: DomainSetting) {
  return {
    domain_uuid: domainUuid,
    app_uuid: null,
    domain_setting_category: setting.category,
    domain_setting_subcategory: setting.subcategory,
    domain_setting_name: setting.name,
    domain_setting_value: setting.value,
    domain_setting_order: setting.order,
    domain_setting_enabled: setting.enabled,
    domain_setting_description: setting.description,
  };
}

/**
 * Creates or converges the single row (domain, category, subcategory). Returns true when it wrote.
 * `batch`: a new row joins it (written when the caller flushes it) instead of taking a statement of its own.
 */
export async function upsertSetting(tx: Tx, domainUuid: string, setting: DomainSetting, snapshot?: SettingsSnapshot, batch?: InsertBatch): Promise<boolean> {
  const existing = snapshot ? snapshot.find(setting.category, setting.subcategory) : await findSetting(tx, domainUuid, setting.category, setting.subcategory);
  if (existing) return convergeRow(tx, 'v_domain_settings', 'domain_setting_uuid', existing, desiredColumns(domainUuid, setting));
  const row = { domain_setting_uuid: newUuid(), ...desiredColumns(domainUuid, setting) };
  if (batch) batch.add('v_domain_settings', [row]);
  else await insertRow(tx, 'v_domain_settings', row);
  return true;
}

export async function deleteSetting(tx: Tx, domainUuid: string, category: string, subcategory: string): Promise<boolean> {
  const result = await tx.client.query('delete from v_domain_settings where domain_uuid = $1 and domain_setting_category = $2 and domain_setting_subcategory = $3', [
    domainUuid,
    category,
    subcategory,
  ]);
  if (result.rowCount)
    recordWrite(tx, {
      table: 'v_domain_settings',
      op: 'delete',
      key: null,
      columns: { domain_uuid: domainUuid, domain_setting_category: category, domain_setting_subcategory: subcategory },
    });
  return (result.rowCount ?? 0) > 0;
}

/** Deletes one row (by its uuid), leaving any other row of the same key alone. */
export async function deleteSettingRow(tx: Tx, row: CanonicalRow): Promise<boolean> {
  const result = await tx.client.query('delete from v_domain_settings where domain_setting_uuid = $1', [row.domain_setting_uuid]);
  if (result.rowCount)
    recordWrite(tx, {
      table: 'v_domain_settings',
      op: 'delete',
      key: row.domain_setting_uuid ?? null,
      columns: { domain_uuid: row.domain_uuid, domain_setting_category: row.domain_setting_category, domain_setting_subcategory: row.domain_setting_subcategory },
    });
  return (result.rowCount ?? 0) > 0;
}

/** Domains carrying the metadata row (category, subcategory) = value. */
export async function findDomainsBySetting(tx: Tx, category: string, subcategory: string, value: string): Promise<string[]> {
  const rows = await selectRows(
    tx,
    `select distinct domain_uuid from v_domain_settings
      where domain_setting_category = $1 and domain_setting_subcategory = $2 and domain_setting_value = $3`,
    [category, subcategory, value],
  );
  return rows.map((row) => row.domain_uuid).filter((uuid): uuid is string => uuid !== null);
}

/** v_dialplans + v_dialplan_details. FreeSWITCH executes only dialplan_xml; the details let the GUI edit it. */

export function listDialplans(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(tx, 'select * from v_dialplans where domain_uuid = $1 order by dialplan_order, dialplan_name, dialplan_uuid', [domainUuid]);
}

/** The dialplans of two domains in one read (issue #20's statement budget), each list in listDialplans' order. */
async function listDialplansOfBoth(tx: Tx, first: string, second: string): Promise<[CanonicalRow[], CanonicalRow[]]> {
  const rows = await selectRows(tx, 'select * from v_dialplans where domain_uuid = any($1::uuid[]) order by dialplan_order, dialplan_name, dialplan_uuid', [[first, second]]);
  const of = (uuid: string) => rows.filter((row) => row.domain_uuid?.toLowerCase() === uuid.toLowerCase());
  return [of(first), of(second)];
}

/** The details of several dialplans in one read, grouped by dialplan_uuid (each group in the GUI's order). */
async function listDetails(tx: Tx, dialplanUuids: string[]): Promise<Map<string, CanonicalRow[]>> {
  const byDialplan = new Map<string, CanonicalRow[]>();
  if (dialplanUuids.length === 0) return byDialplan;
  const rows = await selectRows(
    tx,
    'select * from v_dialplan_details where dialplan_uuid = any($1) order by dialplan_uuid, dialplan_detail_group, dialplan_detail_order, dialplan_detail_uuid',
    [dialplanUuids],
  );
  for (const row of rows) {
    const key = (row.dialplan_uuid ?? '').toLowerCase();
    byDialplan.set(key, [...(byDialplan.get(key) ?? []), row]);
  }
  return byDialplan;
}

const AUDIT = new Set(['insert_date', 'insert_user', 'update_date', 'update_user']);

function copyColumns(row: CanonicalRow, skip: string[]): Record<string, string | null> {
  const copy: Record<string, string | null> = {};
  for (const [column, value] of Object.entries(row)) {
    if (AUDIT.has(column) || skip.includes(column)) continue;
    copy[column] = value;
  }
  return copy;
}

export interface DomainRef {
  uuid: string;
  name: string;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type Substitute = (text: string | null) => string | null;

function substitution(pairs: [string, string][]): Substitute {
  return (text) => (text === null ? null : pairs.reduce((result, [from, to]) => result.split(from).join(to), text));
}

/** Same dedup rule as FusionPBX's dialplan->import(): app_uuid per domain (name when app_uuid is NULL). */
function alreadyPresent(existing: CanonicalRow[], template: CanonicalRow): boolean {
  if (template.app_uuid) return existing.some((row) => row.app_uuid === template.app_uuid);
  return existing.some((row) => row.app_uuid === null && row.dialplan_name === template.dialplan_name);
}

/**
 * A fresh PIN for each one the dialplan carries (`pin_number=<digits>`, the same in its XML and its
 * details), of the same length: FusionPBX's dialplan import draws `{v_pin_number}` with
 * generate_password(pin_length, 1) for every domain, so no two tenants share the page, eavesdrop,
 * recordings or DISA PINs the template domain got.
 */
function freshPins(source: CanonicalRow, details: readonly CanonicalRow[]): [string, string][] {
  const pins = new Set<string>();
  for (const text of [source.dialplan_xml, ...details.map((detail) => detail.dialplan_detail_data)]) {
    for (const match of (text ?? '').matchAll(/\bpin_number=(\d+)/g)) pins.add(match[1]!);
  }
  return [...pins].map((pin) => [`pin_number=${pin}`, `pin_number=${generateVoicemailPin(pin.length)}`]);
}

/**
 * A template dialplan a tenant gets: not one of the `public` context (an inbound route answers one
 * number for one tenant; FusionPBX's own per-domain templates are never public: its public ones are global).
 */
function isTenantTemplate(source: CanonicalRow): boolean {
  return source.dialplan_context !== 'public';
}

/**
 * Copies the template domain's dialplans that the target lacks (not its inbound routes): context,
 * domain name, domain uuid and dialplan uuid are substituted in the row, its XML and its details, and
 * each PIN is drawn again. Returns how many it added.
 */
export async function cloneDialplans(tx: Tx, template: DomainRef, target: DomainRef): Promise<number> {
  const [templates, existing] = await listDialplansOfBoth(tx, template.uuid, target.uuid);
  const missing = templates.filter((source) => isTenantTemplate(source) && !alreadyPresent(existing, source));
  const details = await listDetails(
    tx,
    missing.map((source) => source.dialplan_uuid as string),
  );
  const dialplanRows: DesiredRow[] = [];
  const detailRows: DesiredRow[] = [];
  for (const source of missing) {
    const dialplanUuid = newUuid();
    const sourceDetails = details.get((source.dialplan_uuid as string).toLowerCase()) ?? [];
    const substitute = substitution([
      // Regex-escaped form first (conditions such as expression="^tenant\.example\.com$").
      [escapeRegex(template.name), escapeRegex(target.name)],
      [template.name, target.name],
      [template.uuid, target.uuid],
      [source.dialplan_uuid as string, dialplanUuid],
      ...freshPins(source, sourceDetails),
    ]);
    const row = copyColumns(source, ['dialplan_uuid', 'domain_uuid']);
    for (const column of ['dialplan_context', 'dialplan_xml', 'dialplan_number', 'dialplan_destination', 'dialplan_description']) {
      if (column in row) row[column] = substitute(row[column]);
    }
    dialplanRows.push({ ...row, dialplan_uuid: dialplanUuid, domain_uuid: target.uuid });
    for (const detail of sourceDetails) {
      const detailRow = copyColumns(detail, ['dialplan_detail_uuid', 'dialplan_uuid', 'domain_uuid']);
      detailRow.dialplan_detail_data = substitute(detailRow.dialplan_detail_data ?? null);
      detailRows.push({
        ...detailRow,
        dialplan_detail_uuid: newUuid(),
        dialplan_uuid: dialplanUuid,
        domain_uuid: target.uuid,
      });
    }
  }
  // One multi-row INSERT per table (dialplans first: details reference them).
  if (dialplanRows.length > 0) await insertRows(tx, 'v_dialplans', dialplanRows);
  if (detailRows.length > 0) await insertRows(tx, 'v_dialplan_details', detailRows);
  return missing.length;
}

/** v_extensions. Uniqueness of extension/number_alias per domain is ours to enforce (PHP-only in FusionPBX). */

export function listExtensions(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(tx, 'select * from v_extensions where domain_uuid = $1 order by extension, extension_uuid', [domainUuid]);
}

/**
 * The columns provisioning reads (uniqueness, enabled state, newest-first order, cache keys), not the
 * ~65 of `select *`. Enough for setExtensionEnabled, which compares and writes `enabled` only.
 */
export function listExtensionStates(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(
    tx,
    'select extension_uuid, domain_uuid, extension, number_alias, enabled, insert_date from v_extensions where domain_uuid = $1 order by extension, extension_uuid',
    [domainUuid],
  );
}

/** Rows whose extension or number_alias equals `number` (enabled or not). */
export function findExtensionUsers(tx: Tx, domainUuid: string, number: string): Promise<CanonicalRow[]> {
  return selectRows(tx, 'select * from v_extensions where domain_uuid = $1 and (extension = $2 or number_alias = $2) order by extension_uuid', [domainUuid, number]);
}

export async function insertExtension(tx: Tx, row: DesiredRow): Promise<void> {
  await insertRow(tx, 'v_extensions', row);
}

/** Several new extensions in one statement (per column list). */
export async function insertExtensions(tx: Tx, rows: readonly DesiredRow[]): Promise<void> {
  if (rows.length > 0) await insertRows(tx, 'v_extensions', rows);
}

export function setExtensionEnabled(tx: Tx, extension: CanonicalRow, enabled: boolean): Promise<boolean> {
  return convergeRow(tx, 'v_extensions', 'extension_uuid', extension, { enabled });
}

/** The same flag on many extensions in one UPDATE (rows already in that state are left alone). */
export function setExtensionsEnabled(tx: Tx, extensions: readonly CanonicalRow[], enabled: boolean): Promise<number> {
  return convergeRowsTo(tx, 'v_extensions', 'extension_uuid', extensions, { enabled });
}

/** v_voicemails, keyed like the GUI by (domain_uuid, voicemail_id): an existing row is reused, never duplicated. */

export async function findVoicemail(tx: Tx, domainUuid: string, voicemailId: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_voicemails where domain_uuid = $1 and voicemail_id = $2 order by voicemail_uuid', [domainUuid, voicemailId]);
  return rows[0] ?? null;
}

/** Inserts the row when the mailbox does not exist yet. Returns true when it wrote. */
export async function ensureVoicemail(tx: Tx, row: DesiredRow & { domain_uuid: string; voicemail_id: string }): Promise<boolean> {
  if (await findVoicemail(tx, row.domain_uuid, row.voicemail_id)) return false;
  await insertRow(tx, 'v_voicemails', row);
  return true;
}

/**
 * ensureVoicemail for many mailboxes of one domain: one read of the existing voicemail_ids, one
 * multi-row insert of the missing ones. Returns how many it inserted.
 */
export async function ensureVoicemails(tx: Tx, domainUuid: string, rows: readonly (DesiredRow & { voicemail_id: string })[]): Promise<number> {
  if (rows.length === 0) return 0;
  const existing = await selectRows(tx, 'select voicemail_id from v_voicemails where domain_uuid = $1 and voicemail_id = any($2)', [
    domainUuid,
    rows.map((row) => row.voicemail_id),
  ]);
  const taken = new Set(existing.map((row) => row.voicemail_id));
  const missing = rows.filter((row) => !taken.has(row.voicemail_id) && taken.add(row.voicemail_id));
  if (missing.length > 0) await insertRows(tx, 'v_voicemails', missing);
  return missing.length;
}

/** v_users, v_user_groups and (read-only) v_groups. Groups are looked up by name, never by a fixed uuid. */

export async function findUser(tx: Tx, domainUuid: string, username: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_users where domain_uuid = $1 and username = $2 order by user_uuid', [domainUuid, username]);
  return rows[0] ?? null;
}

export async function findUserByUuid(tx: Tx, domainUuid: string, userUuid: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_users where domain_uuid = $1 and user_uuid = $2', [domainUuid, userUuid]);
  return rows[0] ?? null;
}

export function listUsers(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(tx, 'select * from v_users where domain_uuid = $1 order by username, user_uuid', [domainUuid]);
}

/** v_devices (phones app/provision serves; none in a database without the table). */
export async function listDevices(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  if (!tx.catalog.hasTable('v_devices')) return [];
  return selectRows(tx, 'select device_uuid, device_enabled from v_devices where domain_uuid = $1 order by device_uuid', [domainUuid]);
}

export function setDevicesEnabled(tx: Tx, devices: readonly CanonicalRow[], enabled: boolean): Promise<number> {
  return convergeRowsTo(tx, 'v_devices', 'device_uuid', devices, { device_enabled: enabled });
}

/** The global group (domain_uuid NULL) with this name. */
export async function findGlobalGroup(tx: Tx, groupName: string): Promise<CanonicalRow> {
  const rows = await selectRows(tx, 'select * from v_groups where group_name = $1 and domain_uuid is null order by group_uuid', [groupName]);
  const group = rows[0];
  if (!group) throw new FusionpbxConfigError(`FusionPBX has no global group "${groupName}" in v_groups`);
  return group;
}

/**
 * A new user as core/users/user_edit.php adds it: with a contact of its own (contact_type 'user', the
 * username as nickname) and that contact's primary email, where the install has the contacts app's
 * tables. The contact rows go into `contacts` (the caller's insert batch, issue #20's statement budget).
 * add_date is the page's date("Y-m-d H:i:s.uO"); add_user (the acting admin's name) stays empty:
 * the bridge is no FusionPBX user.
 */
export async function insertUser(tx: Tx, domainUuid: string, username: string, passwordHash: string, email: string | null, contacts: InsertBatch): Promise<CanonicalRow> {
  const contactUuid = tx.catalog.hasTable('v_contacts') ? newUuid() : null;
  if (contactUuid) {
    contacts.add('v_contacts', [{ contact_uuid: contactUuid, domain_uuid: domainUuid, contact_type: 'user', contact_nickname: username }]);
    if (email && tx.catalog.hasTable('v_contact_emails')) {
      contacts.add('v_contact_emails', [{ contact_email_uuid: newUuid(), domain_uuid: domainUuid, contact_uuid: contactUuid, email_address: email, email_primary: 1 }]);
    }
  }
  return insertRowReturning(tx, 'v_users', {
    user_uuid: newUuid(),
    domain_uuid: domainUuid,
    username,
    password: passwordHash,
    salt: null,
    user_email: email,
    user_type: 'default',
    user_enabled: true,
    contact_uuid: contactUuid,
    add_date: phpDate(new Date()),
  });
}

/** PHP's date("Y-m-d H:i:s.uO") in UTC (date() has no microseconds: .u is always 000000). */
function phpDate(at: Date): string {
  return `${at.toISOString().slice(0, 10)} ${at.toISOString().slice(11, 19)}.000000+0000`;
}

export function setUserPassword(tx: Tx, user: CanonicalRow, passwordHash: string): Promise<boolean> {
  return convergeRow(tx, 'v_users', 'user_uuid', user, { password: passwordHash, salt: null });
}

export function setUserEnabled(tx: Tx, user: CanonicalRow, enabled: boolean): Promise<boolean> {
  return convergeRow(tx, 'v_users', 'user_uuid', user, { user_enabled: enabled });
}

export function setUsersEnabled(tx: Tx, users: readonly CanonicalRow[], enabled: boolean): Promise<number> {
  return convergeRowsTo(tx, 'v_users', 'user_uuid', users, { user_enabled: enabled });
}

/** Adds the user to the group unless already a member. Returns true when it wrote. */
/** `userIsNew`: the user was inserted in this transaction, so no membership can exist yet (no read; issue #20's statement budget). */
export async function ensureUserGroup(tx: Tx, user: CanonicalRow, group: CanonicalRow, userIsNew = false): Promise<boolean> {
  if (!userIsNew) {
    const existing = await selectRows(tx, 'select 1 from v_user_groups where user_uuid = $1 and group_uuid = $2', [user.user_uuid, group.group_uuid]);
    if (existing.length > 0) return false;
  }
  await insertRow(tx, 'v_user_groups', {
    user_group_uuid: newUuid(),
    domain_uuid: user.domain_uuid,
    group_name: group.group_name,
    group_uuid: group.group_uuid,
    user_uuid: user.user_uuid,
  });
  return true;
}

/** v_gateways. The gateway_uuid is also the gateway's name inside FreeSWITCH. */

export function listGateways(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(tx, 'select * from v_gateways where domain_uuid = $1 order by gateway, gateway_uuid', [domainUuid]);
}

export async function findGatewayByName(tx: Tx, domainUuid: string, name: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_gateways where domain_uuid = $1 and gateway = $2 order by gateway_uuid', [domainUuid, name]);
  return rows[0] ?? null;
}

/** Inserts the plan's gateway row; returns its uuid. */
export async function insertPlanGateway(tx: Tx, domainUuid: string, desired: DesiredRow & { gateway: string }): Promise<string> {
  const gatewayUuid = newUuid();
  await insertRow(tx, 'v_gateways', { gateway_uuid: gatewayUuid, domain_uuid: domainUuid, ...desired });
  return gatewayUuid;
}

export function setGatewayEnabled(tx: Tx, gateway: CanonicalRow, enabled: boolean): Promise<boolean> {
  return convergeRow(tx, 'v_gateways', 'gateway_uuid', gateway, { enabled });
}

export function setGatewaysEnabled(tx: Tx, gateways: readonly CanonicalRow[], enabled: boolean): Promise<number> {
  return convergeRowsTo(tx, 'v_gateways', 'gateway_uuid', gateways, { enabled });
}

/** v_sip_profiles (read-only): names of the enabled profiles. */
export async function enabledSipProfileNames(tx: Tx): Promise<string[]> {
  const rows = await selectRows(tx, "select sip_profile_name from v_sip_profiles where sip_profile_enabled = 'true' order by sip_profile_name");
  return rows.map((row) => row.sip_profile_name).filter((name): name is string => name !== null);
}

/**
 * What FusionPBX's extension page (app/extensions/extension_edit.php) fills in from the settings and
 * its own form when it adds an extension and its voicemail box, for the columns a tenant's install
 * may vary: the account code (get_accountcode(): setting domain/accountcode, "none" for none, else
 * the domain's name), the voicemail box's file handling (setting voicemail/voicemail_file, "attach" as
 * shipped: without it voicemail emails carry no recording), and on 5.3 (the language columns) the
 * blank type and the language split's defaults.
 */
export interface ExtensionPageDefaults {
  extension: DesiredRow;
  voicemail: DesiredRow;
}

/** One read of the default settings; the domain's own rows come from its snapshot when the caller has one. */
export async function extensionPageDefaults(tx: Tx, domain: DomainRef, domainSettings?: SettingsSnapshot): Promise<ExtensionPageDefaults> {
  const defaults = await selectRows(
    tx,
    `select default_setting_category, default_setting_subcategory, default_setting_value from v_default_settings
      where default_setting_enabled::text = 'true' and default_setting_name = 'text'
        and (default_setting_category, default_setting_subcategory) in (('domain', 'accountcode'), ('voicemail', 'voicemail_file'))
      order by default_setting_order, default_setting_uuid`,
    [],
  );
  const snapshot = domainSettings ?? (await loadSettings(tx, domain.uuid));
  const value = (category: string, subcategory: string): string | null => {
    const own = snapshot.find(category, subcategory);
    if (own && own.domain_setting_enabled === 'true' && own.domain_setting_name === 'text' && own.domain_setting_value) return own.domain_setting_value;
    const fallback = defaults.find((row) => row.default_setting_category === category && row.default_setting_subcategory === subcategory);
    return fallback?.default_setting_value || null;
  };
  const accountcode = value('domain', 'accountcode');
  const extension: DesiredRow = { accountcode: accountcode === 'none' ? null : (accountcode ?? domain.name) };
  if (releaseOf(tx) === '5.3') {
    // 5.3's page: an empty first option for the type, and explode('/', '') for the language.
    Object.assign(extension, { extension_type: null, extension_language: null, extension_dialect: 'us', extension_voice: 'callie' });
  }
  return { extension, voicemail: { voicemail_file: value('voicemail', 'voicemail_file') } };
}

/**
 * A new extension as FusionPBX's extension_edit.php fills the form by default, so rows the bridge
 * makes (provisioning or the REST API) look like rows the GUI made. `overrides` carry
 * ExtensionPageDefaults.extension and the caller's own fields.
 */
export function newExtensionRow(domainUuid: string, domainName: string, number: string, overrides: DesiredRow = {}): DesiredRow {
  return {
    extension_uuid: newUuid(),
    domain_uuid: domainUuid,
    extension: number,
    number_alias: null,
    password: newSipPassword(),
    accountcode: domainName,
    // The page's fields start empty: FreeSWITCH then shows what the phone sends on internal calls.
    effective_caller_id_name: null,
    effective_caller_id_number: null,
    limit_max: '5',
    limit_destination: '!USER_BUSY',
    user_context: domainName,
    call_timeout: 30,
    call_screen_enabled: false,
    directory_visible: true,
    directory_exten_visible: true,
    extension_type: 'default',
    enabled: true,
    description: null,
    ...overrides,
  };
}

/** The voicemail box the GUI creates with an extension. */
export function newVoicemailRow(domainUuid: string, number: string, overrides: DesiredRow = {}): DesiredRow & { domain_uuid: string; voicemail_id: string } {
  return {
    voicemail_uuid: newUuid(),
    voicemail_password: generateVoicemailPin(8),
    voicemail_mail_to: null,
    voicemail_file: null,
    voicemail_local_after_email: true,
    voicemail_transcription_enabled: false,
    voicemail_enabled: true,
    // NULL as extension_edit.php saves an added extension's box (5.1.0/5.3.0: its uuid is drawn before the
    // "new box → voicemail_tutorial = 'true'" branch, so that branch never runs on add).
    voicemail_tutorial: null,
    voicemail_description: null,
    ...overrides,
    domain_uuid: domainUuid,
    voicemail_id: number,
  };
}

/**
 * Drops the `gateway_start` steps whose gateway is gone or disabled by now: steps queued while the
 * event socket was down may run after a later write removed the gateway, and FreeSWITCH would
 * answer -ERR to them for every retry. Every other step stays (cache deletes and kills are harmless).
 */
export async function withoutStaleGatewayStarts(pool: Pool, steps: FreeswitchStep[]): Promise<FreeswitchStep[]> {
  const starts = steps.filter((step) => step.kind === 'gateway_start').map((step) => step.gatewayUuid as string);
  if (starts.length === 0) return steps;
  const { rows } = await pool.query<{ gateway_uuid: string }>("select gateway_uuid::text from v_gateways where gateway_uuid::text = any($1::text[]) and enabled::text = 'true'", [
    starts,
  ]);
  const live = new Set(rows.map((row) => row.gateway_uuid));
  return steps.filter((step) => step.kind !== 'gateway_start' || live.has(step.gatewayUuid as string));
}
