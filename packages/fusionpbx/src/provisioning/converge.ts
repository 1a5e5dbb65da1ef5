import { type CanonicalRow, type DesiredRow, type Tx, InsertBatch, convergeRow, selectRows } from '../db';
import { FusionpbxConfigError, GatewayNamesakeError, UniquenessError } from '../errors';
import { type FreeswitchStep, dialplanKey, directoryKey } from '@ictvoip/freeswitch';
import { hashPortalPassword, portalPasswordMatches } from '../passwords';
import {
  cloneDialplans,
  listDialplans,
  type SettingsSnapshot,
  deleteSetting,
  deleteSettingRow,
  loadSettings,
  extensionPageDefaults,
  type ExtensionPageDefaults,
  upsertSetting,
  findDomainByName,
  setDomainEnabled,
  insertExtensions,
  listExtensionStates,
  setExtensionEnabled,
  setExtensionsEnabled,
  findGatewayByName,
  listGateways,
  setGatewayEnabled,
  setGatewaysEnabled,
  insertPlanGateway,
  listDevices,
  setDevicesEnabled,
  ensureUserGroup,
  findGlobalGroup,
  findUser,
  findUserByUuid,
  insertUser,
  listUsers,
  setUserPassword,
  setUsersEnabled,
  ensureVoicemails,
  newExtensionRow,
  newVoicemailRow,
} from '../tenant-rows';
import { outboundCallerIdColumns, validateCacheKey, GUI_LIMIT_DESCRIPTION, type TenantInput } from './input';
import { convergePlanNumbers, enableAllDestinations } from '../destinations/plan-numbers';
import type { Tenant, TenantState } from './tenant-state';
import type { GatewayTemplate, ProvisionReport, ProvisionerOptions } from './types';
import { convergeOutboundRoutes, gatewayTemplateName, outboundRoutesInput } from './outbound-routes';
import { enableTenantDialplans } from './way-out';
import { DEFAULT_TRUNK_ACCESS_CONTROL, convergeTrunkCidrs } from './ip-trunks';

/** Collects whether anything was written and which FreeSWITCH steps follow. */
export class Changes {
  changed = false;
  readonly steps: FreeswitchStep[] = [];
  readonly report: ProvisionReport = { createdExtensions: [], disabledExtensions: [], reenabledExtensions: [], skippedExtensions: [], aliasedExtensions: [] };

  wrote(didWrite: boolean): void {
    if (didWrite) this.changed = true;
  }
}

const BRAND_DESCRIPTION = 'ictVoIP brand';

async function convergeBranding(tx: Tx, tenant: Tenant, input: TenantInput, settings: SettingsSnapshot, changes: Changes, inserts: InsertBatch): Promise<void> {
  const wanted = new Set(input.theme.map((setting) => setting.subcategory));
  for (const setting of input.theme) {
    changes.wrote(
      await upsertSetting(
        tx,
        tenant.domainUuid,
        {
          category: 'theme',
          subcategory: setting.subcategory,
          name: setting.type,
          value: setting.value,
          order: 0,
          enabled: true,
          description: BRAND_DESCRIPTION,
        },
        settings,
        inserts,
      ),
    );
  }
  // Only rows this bridge wrote are removed when the brand config drops them; the customer's own stay.
  for (const row of settings.list('theme')) {
    if (row.domain_setting_description !== BRAND_DESCRIPTION || wanted.has(row.domain_setting_subcategory ?? '')) continue;
    changes.wrote(await deleteSetting(tx, tenant.domainUuid, 'theme', row.domain_setting_subcategory as string));
  }
}

/**
 * FusionPBX's own limits: the add pages refuse a new extension / gateway / destination when the
 * domain already has `limit/<key>/numeric` of them (extension_edit.php, gateway_edit.php,
 * destination_edit.php read `$_SESSION['limit'][<key>]['numeric']`). Written as domain settings the
 * way domain_setting_edit.php writes them; the PHP loads them into the session at login, so there is
 * no FreeSWITCH cache to clear. A limit the plan no longer states removes the bridge's row only.
 */
async function convergeGuiLimits(tx: Tx, tenant: Tenant, input: TenantInput, settings: SettingsSnapshot, changes: Changes, inserts: InsertBatch): Promise<void> {
  for (const [subcategory, limit] of Object.entries(input.guiLimits) as [string, number | null][]) {
    if (limit !== null) {
      changes.wrote(
        await upsertSetting(
          tx,
          tenant.domainUuid,
          {
            category: 'limit',
            subcategory,
            name: 'numeric',
            value: String(limit),
            order: 0,
            enabled: true,
            description: GUI_LIMIT_DESCRIPTION,
          },
          settings,
          inserts,
        ),
      );
      continue;
    }
    for (const row of settings.list('limit')) {
      if (row.domain_setting_subcategory === subcategory && row.domain_setting_description === GUI_LIMIT_DESCRIPTION) changes.wrote(await deleteSettingRow(tx, row));
    }
  }
}

async function convergeDialplans(tx: Tx, tenant: Tenant, options: ProvisionerOptions, changes: Changes): Promise<void> {
  const template = await findDomainByName(tx, options.templateDomain);
  if (!template) throw new FusionpbxConfigError(`template domain "${options.templateDomain}" (FUSIONPBX_TEMPLATE_DOMAIN) does not exist in FusionPBX`);
  if (template.domain_uuid === tenant.domainUuid) throw new FusionpbxConfigError('the template domain cannot be a tenant');
  const added = await cloneDialplans(tx, { uuid: template.domain_uuid as string, name: template.domain_name as string }, { uuid: tenant.domainUuid, name: tenant.domainName });
  changes.wrote(added > 0);
  const contexts = new Set((await listDialplans(tx, tenant.domainUuid)).map((row) => row.dialplan_context).filter((context): context is string => !!context));
  for (const context of [...contexts].sort()) {
    changes.steps.push({ kind: 'cache_delete', key: validateCacheKey(dialplanKey(context), 'dialplan_context') });
  }
}

async function assertUsernameFree(tx: Tx, tenant: Tenant, username: string, options: ProvisionerOptions): Promise<void> {
  if (!options.globalUsernames) return;
  const others = await selectRows(tx, 'select domain_uuid from v_users where username = $1 and domain_uuid is distinct from $2', [username, tenant.domainUuid]);
  if (others.length > 0) throw new UniquenessError('username', username, tenant.domainName);
}

/**
 * `portalHash`: the hash of `input.adminPassword` if already started (see earlyPortalHash). The user's
 * enabled flag is not the plan's: a new user is made enabled, a new generation after terminate enables
 * every user (enableAllForNewGeneration), and one switched off in FusionPBX (user_edit.php) stays off.
 * Its groups likewise: the admin group is given when the bridge makes the user and in a new generation
 * (`newGeneration`); taken away in FusionPBX (user_edit.php), it stays away.
 */
async function convergeAdminUser(
  tx: Tx,
  tenant: Tenant,
  input: TenantInput,
  options: ProvisionerOptions,
  state: TenantState,
  changes: Changes,
  portalHash?: Promise<string>,
  inserts?: InsertBatch,
  newGeneration = false,
): Promise<void> {
  let user = (await findUser(tx, tenant.domainUuid, input.adminUsername)) ?? (await renamedAdmin(tx, tenant, state));
  const userIsNew = !user;
  if (!user) {
    // A change_package carries no password: a tenant admin removed in FusionPBX (or an adopted domain
    // without one) must not stop the plan from applying; the next create or password change makes it.
    if (input.adminPassword === null) return;
    await assertUsernameFree(tx, tenant, input.adminUsername, options);
    // Its contact rows ride on the caller's batch; alone, they are written here.
    const contacts = inserts ?? new InsertBatch();
    user = await insertUser(tx, tenant.domainUuid, input.adminUsername, await (portalHash ?? hashPortalPassword(input.adminPassword)), input.adminEmail, contacts);
    if (!inserts) await contacts.flush(tx);
    changes.wrote(true);
  } else if (input.adminPassword !== null && !(await portalPasswordMatches(input.adminPassword, user.password))) {
    changes.wrote(await setUserPassword(tx, user, await (portalHash ?? hashPortalPassword(input.adminPassword))));
  }
  if (state.adminUserUuid !== user.user_uuid) state.adminUserUuid = user.user_uuid as string;
  if (!userIsNew && !newGeneration) return;
  const group = await findGlobalGroup(tx, options.adminGroup ?? 'admin');
  changes.wrote(await ensureUserGroup(tx, user, group, userIsNew));
}

/**
 * The tenant admin renamed on user_edit.php: the same user (by uuid) under its new name, which the
 * state then follows (and WHMCS with the service properties). Without this a password change made a
 * second admin under the old name, and the renamed one kept the password the customer meant to replace.
 */
async function renamedAdmin(tx: Tx, tenant: Tenant, state: TenantState): Promise<CanonicalRow | null> {
  if (!state.adminUserUuid) return null;
  const user = await findUserByUuid(tx, tenant.domainUuid, state.adminUserUuid);
  if (user) state.adminUsername = user.username as string;
  return user;
}

const isEnabled = (row: CanonicalRow) => row.enabled === 'true';

/** The order `localeCompare(other, 'en', { numeric: true })` gives, without building a collator at each comparison. */
const NUMERIC_ORDER = new Intl.Collator('en', { numeric: true });

/** Newest first: insert_date, then the higher number (extensions created in one transaction tie). */
function newestFirst(a: CanonicalRow, b: CanonicalRow): number {
  // insert_date is read back in one format (canonicalRow's ISO text, or absent): code-point order is its time order.
  const newer = b.insert_date ?? '';
  const older = a.insert_date ?? '';
  if (newer !== older) return newer > older ? 1 : -1;
  return NUMERIC_ORDER.compare(b.extension ?? '', a.extension ?? '');
}

/**
 * Extensions: the plan range first..first+initial-1 (initialExtensions, default maxExtensions), or the
 * plan's own list (extensionNumbers, e.g. ictVoIP's "2112 | 2113 | 2120"), is
 * created as needed, but the number of enabled
 * extensions never exceeds maxExtensions. Above the limit the newest enabled ones are disabled (and
 * remembered in state.surplusDisabled, so a later bigger plan re-enables exactly those).
 */
async function convergeExtensions(
  tx: Tx,
  tenant: Tenant,
  input: TenantInput,
  state: TenantState,
  registrationProfile: string,
  settings: SettingsSnapshot,
  changes: Changes,
): Promise<void> {
  const range: string[] = input.extensionNumbers ? input.extensionNumbers.slice(0, input.initialExtensions) : [];
  if (!input.extensionNumbers) for (let index = 0; index < input.initialExtensions; index += 1) range.push(String(input.firstExtension + index));
  // One snapshot answers the per-number uniqueness checks (extension or number_alias, enabled or not).
  let extensions = await listExtensionStates(tx, tenant.domainUuid);
  let enabledCount = extensions.filter(isEnabled).length;
  const surplus = new Set(state.surplusDisabled);
  const newExtensions: DesiredRow[] = [];
  const newVoicemails: (DesiredRow & { voicemail_id: string })[] = [];
  // Read once, and only when an extension is added.
  let pageDefaults: ExtensionPageDefaults | undefined;
  let reenabled = false;

  // The surplus an earlier plan disabled: a number gone from FusionPBX or enabled there since is no longer
  // the plan's to re-enable (an extension of that number disabled later is the operator's choice). The rest
  // come back first, oldest first, whether or not they are plan numbers, before a missing plan number is added.
  const waiting: CanonicalRow[] = [];
  for (const number of [...surplus]) {
    const row = extensions.find((candidate) => candidate.extension === number);
    if (!row || isEnabled(row)) surplus.delete(number);
    else waiting.push(row);
  }
  for (const row of waiting.sort(newestFirst).reverse()) {
    if (enabledCount >= input.maxExtensions) break;
    changes.wrote(await setExtensionEnabled(tx, row, true));
    reenabled = true;
    surplus.delete(row.extension as string);
    enabledCount += 1;
    changes.report.reenabledExtensions.push(row.extension as string);
  }

  for (const number of range) {
    const users = extensions.filter((row) => row.extension === number || row.number_alias === number);
    const own = users.find((row) => row.extension === number);
    if (own) continue;
    if (users.length > 0) {
      // The tenant gave the number to another extension as its alias (extension_edit.php checks nothing on an update): not made, not a failure.
      changes.report.aliasedExtensions.push(number);
      continue;
    }
    if (enabledCount >= input.maxExtensions) {
      changes.report.skippedExtensions.push(number);
      continue;
    }
    pageDefaults ??= await extensionPageDefaults(tx, { uuid: tenant.domainUuid, name: tenant.domainName }, settings);
    newExtensions.push(newExtensionRow(tenant.domainUuid, tenant.domainName, number, { ...pageDefaults.extension, ...outboundCallerIdColumns(input.numbers) }));
    newVoicemails.push(newVoicemailRow(tenant.domainUuid, number, pageDefaults.voicemail));
    enabledCount += 1;
    changes.report.createdExtensions.push(number);
  }
  // One multi-row insert each instead of one statement per extension; same rows.
  await insertExtensions(tx, newExtensions);
  await ensureVoicemails(tx, tenant.domainUuid, newVoicemails);
  if (newExtensions.length > 0) changes.wrote(true);

  if (newExtensions.length > 0 || reenabled) extensions = await listExtensionStates(tx, tenant.domainUuid);
  const enabled = extensions.filter(isEnabled).sort(newestFirst);
  const overPlan = enabled.slice(0, Math.max(enabled.length - input.maxExtensions, 0));
  changes.wrote((await setExtensionsEnabled(tx, overPlan, false)) > 0);
  for (const row of overPlan) {
    surplus.add(row.extension as string);
    changes.report.disabledExtensions.push(row.extension as string);
  }
  state.surplusDisabled = [...surplus].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));

  // Disabling does not change extension or number_alias: the same snapshot gives the cache keys.
  for (const row of extensions) pushDirectorySteps(changes.steps, row, tenant.domainName);
  for (const number of changes.report.disabledExtensions) {
    changes.steps.push({ kind: 'flush_registration', profile: registrationProfile, user: `${number}@${tenant.domainName}` });
  }
}

export function pushDirectorySteps(steps: FreeswitchStep[], row: CanonicalRow, domainName: string): void {
  for (const name of [row.extension, row.number_alias]) {
    if (name) steps.push({ kind: 'cache_delete', key: validateCacheKey(directoryKey(name, domainName), 'extension') });
  }
}

function gatewayColumns(key: string, template: GatewayTemplate, enabled: boolean) {
  return {
    gateway: gatewayTemplateName(key, template),
    username: template.username ?? null,
    password: template.password ?? null,
    auth_username: template.authUsername ?? null,
    realm: template.realm ?? null,
    from_user: template.fromUser ?? null,
    from_domain: template.fromDomain ?? null,
    proxy: template.proxy,
    register: template.register,
    register_transport: template.registerTransport ?? null,
    expire_seconds: template.expireSeconds ?? 800,
    retry_seconds: template.retrySeconds ?? 30,
    caller_id_in_from: template.callerIdInFrom ?? null,
    channels: template.channels ?? 0,
    context: template.context ?? 'public',
    profile: template.profile ?? 'external',
    hostname: null,
    enabled,
    description: template.description ?? null,
  };
}

/**
 * The plan's gateway: one managed row per tenant (uuid kept in state), rewritten when the template
 * changes; a gateway of the template's name the bridge did not make is never taken over (GatewayNamesakeError).
 * Its enabled flag stays as FusionPBX has it (an operator may switch it off on gateways.php),
 * except that a gateway a plan without one disabled (state.gatewayPlanDisabled) comes back on.
 */
async function convergeGateway(tx: Tx, tenant: Tenant, input: TenantInput, state: TenantState, changes: Changes): Promise<void> {
  const managed = state.gatewayUuid ? ((await listGateways(tx, tenant.domainUuid)).find((row) => row.gateway_uuid === state.gatewayUuid) ?? null) : null;
  if (!input.gatewayTemplate || !input.gatewayTemplateKey) {
    if (managed && managed.enabled === 'true') {
      changes.wrote(await setGatewayEnabled(tx, managed, false));
      state.gatewayPlanDisabled = true;
      changes.steps.push({ kind: 'sofia_conf_cache_delete' }, { kind: 'gateway_kill', profile: managed.profile as string, gatewayUuid: managed.gateway_uuid as string });
    }
    return;
  }
  const enabled = !managed || managed.enabled === 'true' || state.gatewayPlanDisabled === true;
  delete state.gatewayPlanDisabled;
  const desired = gatewayColumns(input.gatewayTemplateKey, input.gatewayTemplate, enabled);
  if (managed && managed.gateway !== desired.gateway && (await findGatewayByName(tx, tenant.domainUuid, desired.gateway))) {
    throw new UniquenessError('gateway', desired.gateway, tenant.domainName);
  }
  let outcome: 'created' | 'changed' | 'unchanged';
  let gatewayUuid: string;
  if (managed) {
    outcome = (await convergeRow(tx, 'v_gateways', 'gateway_uuid', managed, desired)) ? 'changed' : 'unchanged';
    gatewayUuid = managed.gateway_uuid as string;
  } else {
    // Only a gateway the bridge made (its uuid in the state) is the plan's: a namesake is the tenant's or the operator's.
    const namesake = await findGatewayByName(tx, tenant.domainUuid, desired.gateway);
    if (namesake) throw new GatewayNamesakeError(desired.gateway, tenant.domainName, namesake.gateway_uuid as string);
    gatewayUuid = await insertPlanGateway(tx, tenant.domainUuid, desired);
    outcome = 'created';
  }
  changes.wrote(outcome !== 'unchanged');
  state.gatewayUuid = gatewayUuid;
  const profile = desired.profile;
  changes.steps.push({ kind: 'sofia_conf_cache_delete' });
  if (outcome === 'changed') {
    const oldProfile = managed?.profile ?? profile;
    changes.steps.push({ kind: 'gateway_kill', profile: oldProfile, gatewayUuid });
    if (enabled) changes.steps.push({ kind: 'gateway_start', profile, gatewayUuid });
  } else {
    changes.steps.push({ kind: 'sofia_rescan', profile });
  }
}

/** Brings an active tenant to the plan: domain enabled, dialplans, branding, FusionPBX's limits, extensions, gateway, admin, outbound routes, trunk ACL. */
export async function convergeTenant(
  tx: Tx,
  tenant: Tenant,
  input: TenantInput,
  options: ProvisionerOptions,
  state: TenantState,
  changes: Changes,
  portalHash?: Promise<string>,
  newGeneration = false,
): Promise<void> {
  changes.wrote(await setDomainEnabled(tx, tenant.domain, true));
  await convergeDialplans(tx, tenant, options, changes);
  // One read of the domain's settings answers every branding and limit lookup below.
  const settings = await loadSettings(tx, tenant.domainUuid);
  // New branding and limit settings, routes, trunk nodes and the admin's contact are written together, in one
  // statement (issue #20's statement budget). Nothing below reads v_domain_settings back: the snapshot answers.
  const inserts = new InsertBatch();
  await convergeBranding(tx, tenant, input, settings, changes, inserts);
  await convergeGuiLimits(tx, tenant, input, settings, changes, inserts);
  await convergeExtensions(tx, tenant, input, state, options.registrationProfile ?? 'internal', settings, changes);
  await convergeGateway(tx, tenant, input, state, changes);
  // Last of the rows before the batch: its bcrypt hash, started before the transaction, has had every statement above to finish.
  await convergeAdminUser(tx, tenant, input, options, state, changes, portalHash, inserts, newGeneration);
  await convergeOutboundRoutes(tx, tenant, outboundRoutesInput(input, state.gatewayUuid), state, changes, inserts);
  await convergeTrunkCidrs(tx, tenant, input.trunkCidrs, options.trunkAccessControl ?? DEFAULT_TRUNK_ACCESS_CONTROL, state, changes, inserts);
  await convergeNumbers(tx, tenant, input, state, changes, inserts);
  await inserts.flush(tx);
}

/** The plan's DIDs and ring group, after the extensions they route to exist. */
async function convergeNumbers(tx: Tx, tenant: Tenant, input: TenantInput, state: TenantState, changes: Changes, inserts: InsertBatch): Promise<void> {
  const members: string[] = [];
  for (let index = 0; index < input.initialExtensions; index += 1) members.push(String(input.firstExtension + index));
  const outcome = await convergePlanNumbers(tx, tenant, input.numbers, state.planNumbers ?? [], members, changes.report.createdExtensions, { batch: inserts, numbersLocked: true });
  changes.wrote(outcome.changed);
  changes.steps.push(...outcome.steps);
  if (outcome.planNumbers.length > 0 || state.planNumbers !== undefined) state.planNumbers = outcome.planNumbers;
}

/** Re-enables everything for a new generation after terminate (customer-disabled state is not kept). */
export async function enableAllForNewGeneration(tx: Tx, tenant: Tenant, changes: Changes): Promise<void> {
  changes.wrote((await setUsersEnabled(tx, await listUsers(tx, tenant.domainUuid), true)) > 0);
  changes.wrote((await setExtensionsEnabled(tx, await listExtensionStates(tx, tenant.domainUuid), true)) > 0);
  changes.wrote((await setDevicesEnabled(tx, await listDevices(tx, tenant.domainUuid), true)) > 0);
  // The tenant's own gateways too (terminate stopped them with the rest); the plan's is converged after this.
  const gateways = await listGateways(tx, tenant.domainUuid);
  const stopped = gateways.filter((row) => row.enabled !== 'true');
  if (stopped.length > 0) {
    changes.wrote((await setGatewaysEnabled(tx, stopped, true)) > 0);
    changes.steps.push({ kind: 'sofia_conf_cache_delete' });
    for (const row of stopped) changes.steps.push({ kind: 'gateway_start', profile: row.profile as string, gatewayUuid: row.gateway_uuid as string });
  }
  if (tx.catalog.hasTable('v_destinations')) changes.wrote(await enableAllDestinations(tx, tenant.domainUuid));
  await enableTenantDialplans(tx, tenant, changes);
}

export { convergeAdminUser };
