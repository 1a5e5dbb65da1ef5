/**
 * The plan's outbound routes, written the way FusionPBX's outbound-route page writes them
 * (app/dialplan_outbound/dialplan_outbound_add.php at 5.1.0 and 5.3.0; line numbers below are
 * 5.3.0's) with the plan's gateway selected, one form submission per route template entry:
 * - a `call_direction-outbound` dialplan (order 22, continue true) exporting call_direction=outbound;
 * - the route itself (`<gateway name>.<abbreviation>`) bridging to `sofia/gateway/<gateway_uuid>/<prefix>$1`;
 * both with app_uuid 8c914ec3-… and context = the domain name, details numbered 10, 20, … in group 0,
 * and `dialplan_xml` as the dialplan class's xml() renders the details (dialplan.php, source "details").
 * The page renders the XML of the route only (`$dialplans->uuid = $dialplan_uuid`, line 834) and
 * leaves the call-direction row's XML to FusionPBX's next "fill empty dialplan_xml" pass
 * (app/dialplans/app_defaults.php); the bridge writes both at once, rendered the same way, so the
 * route works before that pass runs.
 * Only the dialplans whose uuids the tenant state lists are ever changed or removed: routes the tenant
 * made in FusionPBX stay as they are.
 */
import { type CanonicalRow, type DesiredRow, type FusionpbxRelease, type InsertBatch, type Tx, convergeRowsTo, deleteRows, newUuid, releaseOf, selectRows } from '../db';
import { FusionpbxConfigError } from '../errors';
import { dialplanKey } from '@ictvoip/freeswitch';
import { validateCacheKey, type TenantInput } from './input';
import type { Changes } from './converge';
import type { Tenant, TenantState } from './tenant-state';
import type { GatewayTemplate, RouteTemplate } from './types';
import { isEmergencyExpression, outboundPrefixOf } from './emergency-routes';

/**
 * The name (`v_gateways.gateway`) the provisioner gives the gateway of template `key`: the
 * template's `name`, else the key. Routes through it are named after it, and drift and adoption
 * look the plan's gateway up by it, so they all take it from here.
 */
export function gatewayTemplateName(key: string, template: Pick<GatewayTemplate, 'name'> | undefined): string {
  return template?.name ?? key;
}

/** app/dialplan_outbound/app_config.php and dialplan_outbound_add.php line 422. */
export const OUTBOUND_ROUTE_APP_UUID = '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3';

/** The page's `switch ($dialplan_expression)` (5.3.0 lines 221-313): known expressions get a short name. */
const ABBREVIATIONS: Record<string, string> = {
  '^(\\d{7})$': '7d',
  '^(\\d{8})$': '8d',
  '^(\\d{9})$': '9d',
  '^(\\d{10})$': '10d',
  '^\\+?(\\d{11})$': '11d',
  '^(?:\\+1|1)?([2-9]\\d{2}[2-9]\\d{2}\\d{4})$': '10-11-NANP',
  '^(011\\d{9,17})$': '011.9-17d',
  // North American islands: 5.3.0 line 251 and 5.1.0 line 251 spell the expression differently.
  '^(?:\\+1|1)((?:264|268|242|246|441|284|345|767|809|829|849|473|658|876|664|787|939|869|758|784|721|868|649|340|684|671|670|808)\\d{7})$': '011.9-17d',
  '^\\+?1?((?:264|268|242|246|441|284|345|767|809|829|849|473|658|876|664|787|939|869|758|784|721|868|649|340|684|671|670|808)\\d{7})$': '011.9-17d',
  // $text['label-intl'] in en-us (app/dialplan_outbound/app_languages.php).
  '^(\\d{12,20})$': 'International',
  '^(311)$': '311',
  '^(411)$': '411',
  '^(711)$': '711',
  '(^911$|^933$)': '911',
  '(^988$)': '988',
  '^9(\\d{3})$': '9.3d',
  '^9(\\d{4})$': '9.4d',
  '^9(\\d{7})$': '9.7d',
  '^9(\\d{10})$': '9.10d',
  '^9(\\d{11})$': '9.11d',
  '^9(\\d{12,20})$': '9.12-20',
  // Toll free: 5.3.0 line 303, 5.1.0 line 303.
  '^(?:\\+1|1)?(8(00|33|44|55|66|77|88)[2-9]\\d{6})$': '800',
  '^1?(8(00|33|44|55|66|77|88)[2-9]\\d{6})$': '800',
  '^0118835100\\d{8}$': 'inum',
};

/** resources/switch.php filename_safe(): lower case, spaces to `_`, keep only [0-9a-z_]. */
export function filenameSafe(text: string): string {
  return text
    .toLowerCase()
    .replace(/ /g, '_')
    .replace(/[^0-9a-z_]/g, '');
}

export function routeAbbreviation(pattern: string): string {
  return ABBREVIATIONS[pattern] ?? filenameSafe(pattern);
}

const EMERGENCY = '(^911$|^933$)';

export interface DetailSpec {
  tag: 'condition' | 'action';
  type: string;
  data: string;
  inline?: 'true';
  enabled: boolean;
}

export interface DialplanSpec {
  name: string;
  order: number;
  continue: 'true' | 'false';
  enabled: boolean;
  description: string | null;
  details: DetailSpec[];
}

export interface RouteGateway {
  uuid: string;
  /** v_gateways.gateway: the page's option value is `<uuid>:<gateway>`. */
  name: string;
}

const condition = (type: string, data: string): DetailSpec => ({ tag: 'condition', type, data, enabled: true });
const action = (type: string, data: string, enabled = true): DetailSpec => ({ tag: 'action', type, data, enabled });

/** Lines 427-481: the call_direction-outbound dialplan. 5.1.0 names it without the abbreviation (its line 432). */
function callDirectionSpec(route: RouteTemplate, abbreviation: string, release: FusionpbxRelease): DialplanSpec {
  const description = route.description ?? null;
  const suffix = release === '5.3' && !description && abbreviation ? `.${abbreviation}` : '';
  return {
    name: `call_direction-outbound${suffix}`,
    order: 22,
    continue: 'true',
    enabled: route.enabled ?? true,
    description,
    details: [
      condition('${user_exists}', 'false'),
      condition('${call_direction}', '^$'),
      condition('destination_number', route.pattern),
      { ...action('export', 'call_direction=outbound'), inline: 'true' },
    ],
  };
}

/** Lines 322-344: 988 is bridged to the US lifeline number, everything else to $1 (the same for the alternates). */
function bridgeData(gateway: RouteGateway, prefix: string, abbreviation: string): string {
  return `sofia/gateway/${gateway.uuid}/${prefix}${abbreviation === '988' ? '18002738255' : '$1'}`;
}

/** Lines 483-804: the route through a gateway (gateway type "gateway"), then its alternates' bridges (lines 770-795). */
function routeSpec(route: RouteTemplate, gateway: RouteGateway, abbreviation: string, release: FusionpbxRelease, alternates: readonly RouteGateway[]): DialplanSpec {
  const prefix = route.prefix ?? '';
  const emergency = route.pattern === EMERGENCY;
  const details: DetailSpec[] = [condition('${user_exists}', 'false')];
  if (route.tollAllow) details.push(condition('${toll_allow}', route.tollAllow)); // line 507
  details.push(condition('destination_number', route.pattern));
  // Lines 531-554: the account code detail is written disabled either way.
  details.push(action('set', route.accountcode ? `sip_h_accountcode=${route.accountcode}` : 'sip_h_accountcode=${accountcode}', false));
  details.push({ ...action('export', 'call_direction=outbound'), inline: 'true' }, action('unset', 'call_timeout'), action('set', 'hangup_after_bridge=true'));
  // Lines 590-619: emergency calls present the emergency caller id.
  const callerId = emergency ? 'emergency' : 'outbound';
  details.push(action('set', `effective_caller_id_name=\${${callerId}_caller_id_name}`), action('set', `effective_caller_id_number=\${${callerId}_caller_id_number}`));
  if (emergency) {
    // 5.3.0 lines 621-643; 5.1.0 writes only an e-mail lua action (its line 631). Both disabled.
    if (release === '5.3') details.push(action('set', 'call_date=${strftime(%d-%b-%Y %r)}', false), action('lua', 'app.lua emergency 1', false));
    else details.push(action('lua', "email.lua ${email_to} ${email_from} '' 'Emergency Call' '${sip_from_user}@${domain_name} has called 911 emergency'", false));
  }
  // 5.3.0 line 686 added cause 809 to 5.1.0's list.
  const causes = `1,2,3,6,18,21,27,28,31,34,38,41,42,44,58,88,111,403,501,602,607${release === '5.3' ? ',809' : ''}`;
  details.push(
    action('set', 'inherit_codec=true'),
    action('set', 'ignore_display_updates=true'),
    action('set', 'callee_id_number=$1'),
    action('set', `continue_on_fail=${causes}`),
  );
  if (route.limit) details.push(action('limit', `hash \${domain_name} outbound ${route.limit} !USER_BUSY`)); // line 712
  const outboundPrefix = outboundPrefixOf(route.pattern);
  if (outboundPrefix) details.push(action('set', `outbound_prefix=${outboundPrefix}`)); // line 725
  if (route.pinNumbers) details.push(action('set', 'pin_number=database'), action('lua', 'pin_number.lua')); // lines 731-752
  if (prefix.length > 2) details.push(action('set', `provider_prefix=${prefix}`)); // line 762
  details.push(action('bridge', bridgeData(gateway, prefix, abbreviation)));
  // The page names the route after the main gateway only; each alternate is one more bridge, tried when the
  // one before fails with a continue_on_fail cause (lines 330-344: `sofia/gateway/<gateway_2_id>/…`).
  for (const alternate of alternates) details.push(action('bridge', bridgeData(alternate, prefix, abbreviation)));
  return {
    name: `${gateway.name}.${abbreviation}`,
    // The page writes 333 for an empty order (lines 417-419), and PHP's empty() holds for 0.
    order: route.order === 0 ? 333 : (route.order ?? 100),
    continue: 'false',
    enabled: route.enabled ?? true,
    description: route.description ?? null,
    details,
  };
}

/** A dialplan of an emergency route (both of the pair): kept as the plan has it under the credit restriction. */
export function isEmergencySpec(spec: DialplanSpec): boolean {
  const expressions = spec.details.filter((detail) => detail.tag === 'condition' && detail.type === 'destination_number');
  return expressions.length > 0 && expressions.every((detail) => isEmergencyExpression(detail.data));
}

/** The two dialplans one submission of the page writes for `route` (with Alternate 1 and 2 selected when `alternates` has them). */
export function outboundRouteSpecs(route: RouteTemplate, gateway: RouteGateway, release: FusionpbxRelease, alternates: readonly RouteGateway[] = []): [DialplanSpec, DialplanSpec] {
  const abbreviation = routeAbbreviation(route.pattern);
  return [callDirectionSpec(route, abbreviation, release), routeSpec(route, gateway, abbreviation, release, alternates)];
}

const ALTERNATE_FIELDS = ['gateway2', 'gateway3'] as const;

/**
 * Each route's alternates (gateway2, gateway3) as gateways, in one read and only when a route names
 * one. A uuid names any gateway (the page offers every domain's to a superadmin); a name means the
 * tenant's own gateway of that name, else a global one (domain_uuid NULL). Disabled gateways count, so
 * that a gateway switched off (or a credit restriction) does not stop the tenant's next change.
 */
async function resolveAlternates(tx: Tx, tenant: Tenant, input: OutboundRoutesInput): Promise<RouteGateway[][]> {
  const refs = [...new Set(input.routes.flatMap((route) => ALTERNATE_FIELDS.flatMap((field) => (route[field] === undefined ? [] : [route[field]!]))))];
  if (refs.length === 0) return input.routes.map(() => []);
  const rows = await selectRows(
    tx,
    'select gateway_uuid, gateway, domain_uuid from v_gateways where lower(gateway_uuid::text) = any($1) or (gateway = any($2) and (domain_uuid = $3 or domain_uuid is null)) order by gateway_uuid',
    [refs.map((ref) => ref.toLowerCase()), refs, tenant.domainUuid],
  );
  return input.routes.map((route, index) =>
    ALTERNATE_FIELDS.flatMap((field) =>
      route[field] === undefined ? [] : [pickGateway(rows, route[field]!, tenant.domainUuid, `routeTemplates.${input.templateKey}[${index}].${field}`)],
    ),
  );
}

function pickGateway(rows: readonly CanonicalRow[], ref: string, domainUuid: string, path: string): RouteGateway {
  const asGateway = (row: CanonicalRow): RouteGateway => ({ uuid: row.gateway_uuid as string, name: row.gateway as string });
  const byUuid = rows.find((row) => row.gateway_uuid?.toLowerCase() === ref.toLowerCase());
  if (byUuid) return asGateway(byUuid);
  const own = rows.filter((row) => row.gateway === ref && row.domain_uuid?.toLowerCase() === domainUuid.toLowerCase());
  const named = own.length > 0 ? own : rows.filter((row) => row.gateway === ref && row.domain_uuid === null);
  if (named.length === 1) return asGateway(named[0]!);
  if (named.length > 1) throw new FusionpbxConfigError(`${path}: ${named.length} global gateways are named "${ref}"; name the alternate by its uuid`);
  throw new FusionpbxConfigError(`${path}: FusionPBX has no gateway "${ref}" (a uuid, or the name of the tenant's own or a global gateway)`);
}

export interface RenderDetail {
  tag: string;
  type: string;
  data: string;
  inline: string | null;
  enabled: boolean;
}

/**
 * dialplan.php xml(), source "details", for one dialplan whose conditions are all field conditions
 * (no time conditions, no break attribute, one group): enabled details only, conditions before
 * actions, `$$` → `$`. Values go into the XML as the PHP puts them, unescaped.
 */
export function renderDialplanXml(name: string, continueValue: string, dialplanUuid: string, details: RenderDetail[]): string {
  let xml = `<extension name="${name}" continue="${continueValue}" uuid="${dialplanUuid}">\n`;
  let pending = '';
  const enabled = details.filter((detail) => detail.enabled);
  const conditions = enabled.filter((detail) => detail.tag === 'condition');
  const actions = enabled.filter((detail) => detail.tag === 'action');
  for (const detail of conditions) {
    if (pending) xml += `${pending}/>\n`;
    pending = `\t<condition field="${detail.type}" expression="${detail.data.split('$$').join('$')}"`;
  }
  for (const detail of actions) {
    if (pending) {
      xml += `${pending}>\n`;
      pending = '';
    }
    const inline = detail.inline ? ` inline="${detail.inline}"` : '';
    xml += `\t\t<action application="${detail.type}" data="${detail.data.split('$$').join('$')}"${inline}/>\n`;
  }
  if (pending) xml += `${pending}/>\n`;
  else if (conditions.length > 0) xml += '\t</condition>\n';
  return `${xml}</extension>\n`;
}

export interface OutboundRoutesInput {
  gateway: RouteGateway | null;
  routes: RouteTemplate[];
  /** The routeTemplates entry the routes come from (named in errors). */
  templateKey: string | null;
}

const UUID_PLACEHOLDER = '{dialplan_uuid}';

/** What a managed route looks like, uuids left out: equal fingerprints mean nothing to write. */
function renderDetails(spec: DialplanSpec): RenderDetail[] {
  return spec.details.map((detail) => ({ tag: detail.tag, type: detail.type, data: detail.data, inline: detail.inline ?? null, enabled: detail.enabled }));
}

function specFingerprint(domainName: string, spec: DialplanSpec): string {
  // database::save() trims what it stores, the XML's last line break included.
  const xml = renderDialplanXml(spec.name, spec.continue, UUID_PLACEHOLDER, renderDetails(spec)).trim();
  const details = spec.details.map((detail, index) => [detail.tag, detail.type, detail.data, detail.inline ?? null, '0', String((index + 1) * 10), String(detail.enabled)]);
  return JSON.stringify([OUTBOUND_ROUTE_APP_UUID, domainName, spec.name, String(spec.order), spec.continue, String(spec.enabled), spec.description, xml, details]);
}

function rowFingerprint(row: CanonicalRow, details: CanonicalRow[]): string {
  const uuid = row.dialplan_uuid as string;
  const numeric = (value: string | null) => (value === null ? null : String(Number(value)));
  return JSON.stringify([
    row.app_uuid,
    row.dialplan_context,
    row.dialplan_name,
    numeric(row.dialplan_order),
    row.dialplan_continue,
    row.dialplan_enabled,
    row.dialplan_description,
    (row.dialplan_xml ?? '').split(uuid).join(UUID_PLACEHOLDER),
    details.map((detail) => [
      detail.dialplan_detail_tag,
      detail.dialplan_detail_type,
      detail.dialplan_detail_data,
      detail.dialplan_detail_inline,
      numeric(detail.dialplan_detail_group),
      numeric(detail.dialplan_detail_order),
      detail.dialplan_detail_enabled,
    ]),
  ]);
}

async function managedRows(tx: Tx, tenant: Tenant, uuids: string[]): Promise<{ dialplans: CanonicalRow[]; details: CanonicalRow[] }> {
  if (uuids.length === 0) return { dialplans: [], details: [] };
  const dialplans = await selectRows(tx, 'select * from v_dialplans where domain_uuid = $1 and dialplan_uuid = any($2::uuid[])', [tenant.domainUuid, uuids]);
  const details = await selectRows(tx, 'select * from v_dialplan_details where dialplan_uuid = any($1::uuid[]) order by dialplan_detail_group, dialplan_detail_order', [uuids]);
  return { dialplans, details };
}

function rowsOf(tenant: Tenant, spec: DialplanSpec): { dialplan: DesiredRow; details: DesiredRow[] } {
  const dialplanUuid = newUuid();
  return {
    dialplan: {
      domain_uuid: tenant.domainUuid,
      dialplan_uuid: dialplanUuid,
      app_uuid: OUTBOUND_ROUTE_APP_UUID,
      dialplan_name: spec.name,
      dialplan_order: spec.order,
      dialplan_continue: spec.continue,
      dialplan_context: tenant.domainName,
      dialplan_enabled: spec.enabled,
      dialplan_description: spec.description,
      dialplan_xml: renderDialplanXml(spec.name, spec.continue, dialplanUuid, renderDetails(spec)),
    },
    details: spec.details.map((detail, index) => ({
      dialplan_detail_uuid: newUuid(),
      domain_uuid: tenant.domainUuid,
      dialplan_uuid: dialplanUuid,
      dialplan_detail_tag: detail.tag,
      dialplan_detail_type: detail.type,
      dialplan_detail_data: detail.data,
      dialplan_detail_inline: detail.inline ?? null,
      dialplan_detail_order: (index + 1) * 10,
      dialplan_detail_group: 0,
      dialplan_detail_enabled: detail.enabled,
    })),
  };
}

/** Deletes the managed dialplans (details first) and forgets them. */
export async function removeOutboundRoutes(tx: Tx, tenant: Tenant, state: TenantState, changes: Changes): Promise<void> {
  const uuids = state.outboundRoutes;
  if (uuids.length === 0) return;
  await deleteRows(tx, 'v_dialplan_details', 'domain_uuid = $1 and dialplan_uuid = any($2::uuid[])', [tenant.domainUuid, uuids]);
  const deleted = await deleteRows(tx, 'v_dialplans', 'domain_uuid = $1 and dialplan_uuid = any($2::uuid[])', [tenant.domainUuid, uuids]);
  state.outboundRoutes = [];
  if (state.outboundRestricted) state.outboundRestricted = {};
  changes.wrote(deleted > 0);
  changes.steps.push({ kind: 'cache_delete', key: validateCacheKey(dialplanKey(tenant.domainName), 'dialplan_context') });
}

export function routeCacheStep(tenant: Pick<Tenant, 'domainName'>, changes: Changes): void {
  changes.steps.push({ kind: 'cache_delete', key: validateCacheKey(dialplanKey(tenant.domainName), 'dialplan_context') });
}

async function managedRouteStates(tx: Tx, tenant: Pick<Tenant, 'domainUuid'>, uuids: readonly string[]): Promise<CanonicalRow[]> {
  if (uuids.length === 0) return [];
  return selectRows(tx, 'select dialplan_uuid, dialplan_enabled from v_dialplans where domain_uuid = $1 and dialplan_uuid = any($2::uuid[]) order by dialplan_uuid', [
    tenant.domainUuid,
    [...uuids],
  ]);
}

/**
 * Suspend and the credit restriction: every managed route's dialplan_enabled set to false, as the
 * dialplan list's toggle does (the Lua dialplan reads enabled dialplans only; the context's cache
 * is cleared). Returns each route's enabled state before, by dialplan uuid, for an exact restore.
 */
export async function disableOutboundRoutes(
  tx: Tx,
  tenant: Pick<Tenant, 'domainUuid' | 'domainName'>,
  uuids: readonly string[],
  changes: Changes,
): Promise<Record<string, boolean>> {
  const rows = await managedRouteStates(tx, tenant, uuids);
  const memory: Record<string, boolean> = {};
  for (const row of rows) memory[row.dialplan_uuid as string] = row.dialplan_enabled === 'true';
  changes.wrote((await convergeRowsTo(tx, 'v_dialplans', 'dialplan_uuid', rows, { dialplan_enabled: false })) > 0);
  if (rows.length > 0) routeCacheStep(tenant, changes);
  return memory;
}

/** Unsuspend / credit back: each remembered route gets exactly its remembered dialplan_enabled again. */
export async function restoreOutboundRoutes(tx: Tx, tenant: Pick<Tenant, 'domainUuid' | 'domainName'>, memory: Record<string, boolean>, changes: Changes): Promise<void> {
  const rows = await managedRouteStates(tx, tenant, Object.keys(memory));
  for (const enabled of [true, false]) {
    const group = rows.filter((row) => memory[row.dialplan_uuid as string] === enabled);
    changes.wrote((await convergeRowsTo(tx, 'v_dialplans', 'dialplan_uuid', group, { dialplan_enabled: enabled })) > 0);
  }
  if (rows.length > 0) routeCacheStep(tenant, changes);
}

/**
 * Brings the managed routes to the plan: unchanged when every managed row and detail already is what
 * the page would write; otherwise the managed set is replaced in this transaction (and the domain's
 * dialplan cache cleared, as the page does at line 843). New rows join `inserts`, written by the caller.
 */
export async function convergeOutboundRoutes(tx: Tx, tenant: Tenant, input: OutboundRoutesInput, state: TenantState, changes: Changes, inserts: InsertBatch): Promise<void> {
  const release = releaseOf(tx);
  const alternates = input.gateway ? await resolveAlternates(tx, tenant, input) : [];
  const planned = input.gateway ? input.routes.flatMap((route, index) => outboundRouteSpecs(route, input.gateway!, release, alternates[index])) : [];
  // Under the credit restriction the routes are written disabled, emergency routes apart; the plan's enabled state is what the lift restores.
  const restricted = state.outboundRestricted ?? null;
  const specs = restricted ? planned.map((spec) => (isEmergencySpec(spec) ? spec : { ...spec, enabled: false })) : planned;
  const { dialplans, details } = await managedRows(tx, tenant, state.outboundRoutes);
  const byUuid = new Map(dialplans.map((row) => [(row.dialplan_uuid as string).toLowerCase(), row]));
  const current = state.outboundRoutes.map((uuid) => {
    const row = byUuid.get(uuid.toLowerCase());
    return row
      ? rowFingerprint(
          row,
          details.filter((detail) => detail.dialplan_uuid?.toLowerCase() === uuid.toLowerCase()),
        )
      : 'missing';
  });
  const wanted = specs.map((spec) => specFingerprint(tenant.domainName, spec));
  if (JSON.stringify(current) === JSON.stringify(wanted)) return;
  await removeOutboundRoutes(tx, tenant, state, changes);
  const rows = specs.map((spec) => rowsOf(tenant, spec));
  // Written with the converge's other inserts (one statement): dialplans and their details.
  inserts.add(
    'v_dialplans',
    rows.map((row) => row.dialplan),
  );
  inserts.add(
    'v_dialplan_details',
    rows.flatMap((row) => row.details),
  );
  state.outboundRoutes = rows.map((row) => row.dialplan.dialplan_uuid as string);
  if (restricted) {
    const remembered = state.outboundRoutes.map((uuid, index) => [uuid, planned[index]] as const).filter(([, spec]) => !isEmergencySpec(spec));
    state.outboundRestricted = Object.fromEntries(remembered.map(([uuid, spec]) => [uuid, spec.enabled]));
  }
  changes.wrote(true);
  changes.steps.push({ kind: 'cache_delete', key: validateCacheKey(dialplanKey(tenant.domainName), 'dialplan_context') });
}

/** The routes an event asks for: the gateway the plan has now and the route template's entries. */
export function outboundRoutesInput(input: TenantInput, gatewayUuid: string | null): OutboundRoutesInput {
  if (!input.gatewayTemplate || !input.gatewayTemplateKey || !gatewayUuid) return { gateway: null, routes: [], templateKey: null };
  const name = gatewayTemplateName(input.gatewayTemplateKey, input.gatewayTemplate);
  if (/["<>&]/.test(name))
    throw new FusionpbxConfigError(`gatewayTemplates.${input.gatewayTemplateKey}.name: must not contain " < > & (it is written into the route's dialplan XML)`);
  return { gateway: { uuid: gatewayUuid, name }, routes: input.routes, templateKey: input.routeTemplateKey };
}
