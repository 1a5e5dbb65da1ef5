import { type CanonicalRow, type InsertBatch, type Tx, convergeRow, deleteRows, insertRows, newUuid, selectRows } from '../db';
import type { FreeswitchStep } from '@ictvoip/freeswitch';
import { validateCacheKey } from '../provisioning/input';
import { lockNumbers } from '../provisioning/tenant-state';
import { FIRST_EXTENSION_SQL } from './actions';
import { NumberOwnedError } from './errors';
import { CALLED_NUMBER_FIELDS, patternOf, routeClaim } from './route-claims';
import { type NumberPlan, type PhoneNumber, destinationCacheKeys, dialledForms, storedForms } from './numbers';
import { type InboundDestination, type StoredAction, PUBLIC_CONTEXT, actionsJson, destinationRow, detailRows, dialplanRow, isFusionpbx53 } from './rows';

/** v_destinations (type inbound) with their public-context v_dialplans and v_dialplan_details. */

export type DialplanMode = 'single' | 'multiple';

/** The tenant's inbound destinations, by number. */
export function listInboundDestinations(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(
    tx,
    "select * from v_destinations where domain_uuid = $1 and destination_type = 'inbound' order by length(destination_number), destination_number, destination_uuid",
    [domainUuid],
  );
}

/**
 * destinations/dialplan_mode as the Lua dialplan reads it (default setting, default `multiple`,
 * 5.1.0 and 5.3.0 app/destinations/app_config.php): which cache key a destination write must clear.
 */
export async function dialplanMode(tx: Tx): Promise<DialplanMode> {
  if (!tx.catalog.hasTable('v_default_settings')) return 'multiple';
  const rows = await selectRows(tx, DIALPLAN_MODE_SQL);
  return modeOf(rows[0]?.default_setting_value);
}

const DIALPLAN_MODE_SQL = `select default_setting_value from v_default_settings
      where default_setting_category = 'destinations' and default_setting_subcategory = 'dialplan_mode' and default_setting_enabled::text = 'true'
      order by default_setting_uuid limit 1`;

const modeOf = (value: string | null | undefined): DialplanMode => (value === 'single' ? 'single' : 'multiple');

/** The cache deletes a write of these destinations needs (destination_edit.php / destinations->delete()). */
export function destinationSteps(mode: DialplanMode, rows: readonly Pick<CanonicalRow, string>[]): FreeswitchStep[] {
  const steps: FreeswitchStep[] = [];
  for (const row of rows) {
    const phone = { prefix: row.destination_prefix ?? null, number: row.destination_number ?? '' };
    for (const key of destinationCacheKeys(mode, row.destination_context ?? PUBLIC_CONTEXT, phone)) {
      steps.push({ kind: 'cache_delete', key: validateCacheKey(key, 'destination_number') });
    }
  }
  return steps;
}

/**
 * Inbound destinations (any domain, with the owner's domain name) that may hold or be one of the
 * forms in parameter `$<param>`: a row whose number, prefix || number, `+` || number or `+` || prefix
 * || number is one of them (FusionPBX's own duplicate check, destinations/unique, compares the first
 * two), and every row whose regex may match numbers no stored form shows: a block written with N/X/Z
 * or a regex, a number split into area code or trunk prefix and number (destinations->to_regex()).
 * The public context routes by that regex, so such a row of another domain holds every number it
 * matches (catches). A superset: ownedAmong decides.
 */
const rowsOfFormsSql = (tx: Tx, param: number) => {
  const split = ['destination_area_code', 'destination_trunk_prefix']
    .filter((column) => tx.catalog.hasColumn('v_destinations', column))
    .map((column) => ` or coalesce(d.${column}, '') <> ''`)
    .join('');
  const prefix = `replace(coalesce(d.destination_prefix, ''), '+', '')`;
  return `select d.*, o.domain_name as owner_domain_name from v_destinations d left join v_domains o on o.domain_uuid = d.domain_uuid
      where d.destination_type = 'inbound'
        and (d.destination_number = any($${param}) or ${prefix} || d.destination_number = any($${param})
             or '+' || d.destination_number = any($${param}) or '+' || ${prefix} || d.destination_number = any($${param})
             or d.destination_number !~ '^\\+?[0-9]+$' or coalesce(d.destination_prefix, '') !~ '^\\+?[0-9]*$'${split})
      order by d.destination_uuid`;
};

/**
 * Enabled inbound routes of other domains (or none) that no destination row accounts for, as a json
 * list of {domain_uuid, owner_domain_name, regex}: a public-context dialplan whose enabled condition on
 * the called number was typed on FusionPBX's Inbound Routes page (dialplan_inbound_add.php, 5.1.0 and
 * 5.3.0: `^(5551234567)$`, or any expression in its advanced form) or in the dialplan editor. In the
 * default (multiple) dialplan mode FreeSWITCH offers every call to it like to a destination's
 * dialplan; dialplan.lua loads only `dialplan_enabled = 'true'`, and dialplan->xml() leaves a detail
 * enabled 'false' out, so a disabled one catches nothing.
 */
const routesSql = (
  domainParam: number,
) => `select coalesce(json_agg(json_build_object('domain_uuid', p.domain_uuid, 'owner_domain_name', o.domain_name, 'regex', c.dialplan_detail_data)
         order by p.dialplan_uuid, c.dialplan_detail_data), '[]'::json)
       from v_dialplans p join v_dialplan_details c on c.dialplan_uuid = p.dialplan_uuid left join v_domains o on o.domain_uuid = p.domain_uuid
      where p.dialplan_context = '${PUBLIC_CONTEXT}' and c.dialplan_detail_tag = 'condition' and c.dialplan_detail_type = any(array[${CALLED_NUMBER_FIELDS.map((field) => `'${field}'`).join(', ')}])
        and p.dialplan_enabled::text = 'true' and (c.dialplan_detail_enabled is null or c.dialplan_detail_enabled::text <> 'false')
        and p.domain_uuid is distinct from $${domainParam}::uuid
        and p.dialplan_uuid not in (select n.dialplan_uuid from v_destinations n where n.dialplan_uuid is not null)`;

interface InboundRoute {
  domain_uuid: string | null;
  owner_domain_name: string | null;
  regex: string | null;
}

function routesOf(text: string | null | undefined): InboundRoute[] {
  return text ? (JSON.parse(text) as InboundRoute[]) : [];
}

/** Every form a check of these numbers compares: the stored forms (the tenant's own row) and the dialled forms (another's). */
function formsParam(phones: readonly PhoneNumber[], plan: NumberPlan): string[] {
  return [...new Set(phones.flatMap((phone) => [...storedForms(phone, plan), ...dialledForms(phone)]))];
}

/**
 * Each number's row in this tenant (or null), with one lock statement and one read whatever their
 * count; any of them another domain holds (a destination or inbound route a call to it would reach) is a NumberOwnedError.
 */
export async function ownRowsOfNumbers(tx: Tx, domainUuid: string, phones: readonly PhoneNumber[], plan: NumberPlan): Promise<(CanonicalRow | null)[]> {
  if (phones.length === 0) return [];
  await lockNumbers(tx, phones);
  const found = await selectRows(tx, `select d.*, (${routesSql(2)}) as ictvoip_routes from (select 1) as one left join (${rowsOfFormsSql(tx, 1)}) d on true`, [
    formsParam(phones, plan),
    domainUuid,
  ]);
  const rows = found.filter((row) => row.destination_uuid !== null);
  return ownedAmong(rows, routesOf(found[0]?.ictvoip_routes), domainUuid, phones, plan);
}

export interface PlanNumbersSnapshot {
  /** Each number's row in this tenant, or null. */
  owned: (CanonicalRow | null)[];
  mode: DialplanMode;
  /** The tenant's lowest-numbered enabled extension (extension, number_alias, user_context), or null. */
  firstExtension: CanonicalRow | null;
}

/**
 * What converging the plan's numbers reads, in one statement whatever their count (issue #20's
 * budget): each number's rows in any domain and the other domains' inbound routes without a number
 * row (another domain's catching the number is a NumberOwnedError), the destinations dialplan mode
 * and the tenant's first enabled extension (the default action). The caller holds the numbers'
 * locks already (lockService with planNumberLockKeys), taken in an earlier statement so this one's
 * snapshot sees every committed owner.
 */
export async function planNumbersSnapshot(tx: Tx, domainUuid: string, phones: readonly PhoneNumber[], plan: NumberPlan): Promise<PlanNumbersSnapshot> {
  const mode = tx.catalog.hasTable('v_default_settings') ? `(${DIALPLAN_MODE_SQL})` : 'null::text';
  const found = await selectRows(
    tx,
    `select d.*, (${mode}) as ictvoip_mode, (${routesSql(1)}) as ictvoip_routes,
            f.extension as ictvoip_first_extension, f.number_alias as ictvoip_first_alias, f.user_context as ictvoip_first_context
       from (select 1) as one
       left join lateral (${FIRST_EXTENSION_SQL}) f on true
       left join (${rowsOfFormsSql(tx, 2)}) d on true`,
    [domainUuid, formsParam(phones, plan)],
  );
  const head = found[0];
  const rows = found.filter((row) => row.destination_uuid !== null);
  return {
    owned: ownedAmong(rows, routesOf(head?.ictvoip_routes), domainUuid, phones, plan),
    mode: modeOf(head?.ictvoip_mode),
    firstExtension: head?.ictvoip_first_extension
      ? { extension: head.ictvoip_first_extension, number_alias: head.ictvoip_first_alias ?? null, user_context: head.ictvoip_first_context ?? null }
      : null,
  };
}

/**
 * Whether a regex (a row's destination_number_regex or a route's condition: what FreeSWITCH matches
 * the called number against) matches one of the forms. A regex JavaScript cannot read (FusionPBX
 * takes any text there) is left out rather than stopping every number write of the server.
 */
function regexHolds(source: string | null | undefined, forms: ReadonlySet<string>): boolean {
  const regex = patternOf(source);
  return regex !== null && [...forms].some((form) => regex.test(form));
}

const filled = (value: string | null | undefined) => typeof value === 'string' && value.trim() !== '';

/** A row to_regex() turns into its number with an optional prefix (digits, an optional `+`), nothing split off. */
function isPlainNumber(row: CanonicalRow): boolean {
  return (
    /^\+?[0-9]+$/.test(row.destination_number ?? '') &&
    /^\+?[0-9]*$/.test(row.destination_prefix ?? '') &&
    !filled(row.destination_area_code) &&
    !filled(row.destination_trunk_prefix)
  );
}

/** Whether a call to one of `dialled` reaches this destination (its forms meet them; a block or split number by its stored regex, or stored as one of them). */
function catches(row: CanonicalRow, dialled: ReadonlySet<string>): boolean {
  if (!isPlainNumber(row)) return regexHolds(row.destination_number_regex, dialled) || storedAs(row, dialled);
  return dialledForms({ prefix: row.destination_prefix, number: row.destination_number ?? '' }).some((form) => dialled.has(form));
}

/** The tenant's own row of a number: stored in one of its forms of the plan (the row REST and plans address). */
function storedAs(row: CanonicalRow, forms: ReadonlySet<string>): boolean {
  const number = row.destination_number ?? '';
  const prefixed = `${(row.destination_prefix ?? '').replace(/\+/g, '')}${number}`;
  return forms.has(number) || forms.has(prefixed) || forms.has(`+${prefixed}`);
}

function ownedAmong(rows: readonly CanonicalRow[], routes: readonly InboundRoute[], domainUuid: string, phones: readonly PhoneNumber[], plan: NumberPlan): (CanonicalRow | null)[] {
  const patterns = routes.flatMap((route) => {
    const pattern = patternOf(route.regex);
    return pattern ? [{ pattern, owner: route.owner_domain_name }] : [];
  });
  return phones.map((phone) => {
    const forms = new Set(storedForms(phone, plan));
    const own = rows.find((row) => row.domain_uuid === domainUuid && storedAs(row, forms));
    // A number the tenant has is its own whoever claims it since: refusing its re-write frees nothing and stops its every change.
    if (own) return own;
    // Another domain holds the number when a call to it would reach that domain's destination, or a route naming it
    // (a route for a whole range does not: a tenant admin may make one; the drift report shows it instead).
    const dialled = new Set(dialledForms(phone));
    const foreign = rows.find((row) => row.domain_uuid !== domainUuid && catches(row, dialled));
    if (foreign) throw new NumberOwnedError(phone.canonical, foreign.owner_domain_name ?? null);
    const route = patterns.find((candidate) => routeClaim(candidate.pattern, dialled) === 'number');
    if (route) throw new NumberOwnedError(phone.canonical, route.owner ?? null);
    return null;
  });
}

/** The tenant's row for the number, or null; another domain holding it is a NumberOwnedError naming it. */
export async function ownRowOfNumber(tx: Tx, domainUuid: string, phone: PhoneNumber, plan: NumberPlan): Promise<CanonicalRow | null> {
  const [own] = await ownRowsOfNumbers(tx, domainUuid, [phone], plan);
  return own;
}

export interface NewDestination {
  phone: Pick<PhoneNumber, 'prefix' | 'number'>;
  action: StoredAction;
  callerIdNamePrefix: string | null;
  enabled: boolean;
  description: string | null;
  destinationUuid?: string;
}

function specOf(domainUuid: string, domainName: string, destination: NewDestination, dialplanUuid: string): InboundDestination {
  return { domainUuid, domainName, destinationUuid: destination.destinationUuid ?? newUuid(), dialplanUuid, ...destination };
}

/**
 * Inserts destinations like one database->save() of the page: dialplans, their details, then the
 * destinations, each table in one multi-row statement whatever the count (at most 3 statements).
 */
export async function insertInboundDestinations(
  tx: Tx,
  domainUuid: string,
  domainName: string,
  destinations: readonly NewDestination[],
  batch?: InsertBatch,
): Promise<InboundDestination[]> {
  if (destinations.length === 0) return [];
  const is53 = isFusionpbx53(tx);
  const specs = destinations.map((destination) => specOf(domainUuid, domainName, destination, newUuid()));
  if (batch) {
    // Written with the converge's other inserts in one statement (FusionPBX declares no references between these tables).
    batch.add(
      'v_dialplans',
      specs.map((spec) => dialplanRow(spec, is53)),
    );
    batch.add(
      'v_dialplan_details',
      specs.flatMap((spec) => detailRows(spec, is53)),
    );
    batch.add('v_destinations', specs.map(destinationRow));
    return specs;
  }
  await insertRows(
    tx,
    'v_dialplans',
    specs.map((spec) => dialplanRow(spec, is53)),
  );
  await insertRows(
    tx,
    'v_dialplan_details',
    specs.flatMap((spec) => detailRows(spec, is53)),
  );
  await insertRows(tx, 'v_destinations', specs.map(destinationRow));
  return specs;
}

/**
 * The page's update of a destination's action or caller-id prefix: the dialplan row rewritten, its
 * details deleted and saved again ("delete the previous details"), the destination row converged.
 * Returns true when anything changed.
 */
export async function rewriteInboundDestination(
  tx: Tx,
  row: CanonicalRow,
  domainName: string,
  change: { action: StoredAction; callerIdNamePrefix: string | null; description?: string | null },
): Promise<boolean> {
  const is53 = isFusionpbx53(tx);
  const dialplanUuid = (row.dialplan_uuid as string | null) ?? newUuid();
  const [dialplan] = await selectRows(tx, 'select * from v_dialplans where dialplan_uuid = $1', [dialplanUuid]);
  const order = Number(row.destination_order);
  const spec: InboundDestination = {
    domainUuid: row.domain_uuid as string,
    domainName,
    destinationUuid: row.destination_uuid as string,
    dialplanUuid,
    phone: { prefix: row.destination_prefix, number: row.destination_number as string },
    action: change.action,
    callerIdNamePrefix: change.callerIdNamePrefix,
    enabled: row.destination_enabled === 'true',
    description: change.description === undefined ? row.destination_description : change.description,
    ...(row.destination_order != null && Number.isInteger(order) ? { order } : {}),
    ...(dialplan?.dialplan_name ? { dialplanName: dialplan.dialplan_name as string } : {}),
  };
  const desired = destinationRow(spec);
  const wroteDestination = await convergeRow(tx, 'v_destinations', 'destination_uuid', row, {
    dialplan_uuid: spec.dialplanUuid,
    destination_actions: desired.destination_actions,
    destination_cid_name_prefix: desired.destination_cid_name_prefix,
    destination_description: desired.destination_description,
  });
  const wanted = dialplanRow(spec, is53);
  if (!dialplan) {
    await insertRows(tx, 'v_dialplans', [wanted]);
  } else if (!(await convergeRow(tx, 'v_dialplans', 'dialplan_uuid', dialplan, wanted)) && !wroteDestination) {
    return false;
  }
  await deleteRows(tx, 'v_dialplan_details', 'dialplan_uuid = $1 and (domain_uuid = $2 or domain_uuid is null)', [spec.dialplanUuid, spec.domainUuid]);
  await insertRows(tx, 'v_dialplan_details', detailRows(spec, is53));
  return true;
}

/**
 * What the page would build into this number's dialplan that the bridge's rewrite does not (it writes
 * one action, the caller-id prefix and the order): recording, hold music, Alert-Info, ringback, account
 * code, fax detection, caller-id conditions, another condition field, a trunk prefix or area code, more
 * than one action. A rewrite of such a number would drop them from FreeSWITCH's dialplan.
 */
export function unmodelledFeatures(row: Pick<CanonicalRow, string>): string[] {
  const set = (column: string) => typeof row[column] === 'string' && (row[column] as string).trim() !== '';
  const features: string[] = [];
  if (row.destination_record === 'true') features.push('record');
  const columns: [string, string][] = [
    ['destination_hold_music', 'hold music'],
    ['destination_distinctive_ring', 'distinctive ring'],
    ['destination_ringback', 'ringback'],
    ['destination_accountcode', 'account code'],
    ['destination_trunk_prefix', 'trunk prefix'],
    ['destination_area_code', 'area code'],
  ];
  for (const [column, feature] of columns) if (set(column)) features.push(feature);
  if (row.fax_uuid) features.push('fax detection');
  if (set('destination_condition_field') && row.destination_condition_field !== 'destination_number') features.push('condition field');
  if (jsonListLength(row.destination_conditions) > 0) features.push('conditions');
  if (jsonListLength(row.destination_actions) > 1) features.push('more than one action');
  return features;
}

/** The length of a json column holding a list (the driver gives the text of json columns). */
function jsonListLength(value: unknown): number {
  if (typeof value !== 'string' || value.trim() === '') return 0;
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.length : 0;
  } catch {
    return 0;
  }
}

/** A description-only change: the destination's and its dialplan's (the page sets both), nothing rebuilt. */
export async function setInboundDestinationDescription(tx: Tx, row: CanonicalRow, description: string | null): Promise<boolean> {
  const wrote = await convergeRow(tx, 'v_destinations', 'destination_uuid', row, { destination_description: description });
  if (!row.dialplan_uuid) return wrote;
  const [dialplan] = await selectRows(tx, 'select dialplan_uuid, dialplan_description from v_dialplans where dialplan_uuid = $1', [row.dialplan_uuid]);
  const wroteDialplan = dialplan ? await convergeRow(tx, 'v_dialplans', 'dialplan_uuid', dialplan, { dialplan_description: description }) : false;
  return wrote || wroteDialplan;
}

/** destination_enabled and its dialplan's dialplan_enabled (dialplan.lua reads only enabled dialplans). */
export async function setInboundDestinationEnabled(tx: Tx, row: CanonicalRow, enabled: boolean): Promise<boolean> {
  const wrote = await convergeRow(tx, 'v_destinations', 'destination_uuid', row, { destination_enabled: enabled });
  if (!row.dialplan_uuid) return wrote;
  const [dialplan] = await selectRows(tx, 'select dialplan_uuid, dialplan_enabled from v_dialplans where dialplan_uuid = $1', [row.dialplan_uuid]);
  const wroteDialplan = dialplan ? await convergeRow(tx, 'v_dialplans', 'dialplan_uuid', dialplan, { dialplan_enabled: enabled }) : false;
  return wrote || wroteDialplan;
}

/** destinations->delete(): the destination, its dialplan and the dialplan's details. */
export async function deleteInboundDestinations(tx: Tx, rows: readonly CanonicalRow[]): Promise<void> {
  if (rows.length === 0) return;
  const dialplans = rows.map((row) => row.dialplan_uuid).filter((uuid): uuid is string => !!uuid);
  if (dialplans.length > 0) {
    await deleteRows(tx, 'v_dialplan_details', 'dialplan_uuid = any($1::uuid[])', [dialplans]);
    await deleteRows(tx, 'v_dialplans', 'dialplan_uuid = any($1::uuid[])', [dialplans]);
  }
  await deleteRows(tx, 'v_destinations', 'destination_uuid = any($1::uuid[])', [rows.map((row) => row.destination_uuid)]);
}

/** The stored action of a destination row (the first of destination_actions), or null. */
export function storedActionOf(row: Pick<CanonicalRow, string>): StoredAction | null {
  const text = row.destination_actions;
  if (!text) return null;
  try {
    const parsed = JSON.parse(text) as { destination_app?: string; destination_data?: string }[] | null;
    const first = Array.isArray(parsed) ? parsed[0] : undefined;
    return first?.destination_app ? { app: first.destination_app, data: first.destination_data ?? '' } : null;
  } catch {
    return null;
  }
}

export { actionsJson };
