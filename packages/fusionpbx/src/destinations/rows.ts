import type { DesiredRow, Tx } from '../db';
import { newUuid } from '../db';
import type { PhoneNumber } from './numbers';
import { numberRegex } from './numbers';

/**
 * The rows FusionPBX's destination page writes for one inbound number, as 5.1.0 and 5.3.0
 * app/destinations/destination_edit.php build them for a superadmin's "add" with one action, no
 * conditions, no fax, no record/ringback/hold music (5.3.0 lines ~390-1135; 5.1.0 ~380-1040):
 * a v_destinations row, its v_dialplans row in context `public` with the XML the page renders, and
 * the v_dialplan_details the page saves beside it (default setting destinations/dialplan_details = true).
 */

/** app_uuid of inbound routes (destination_edit.php: `$dialplan["app_uuid"]` for type inbound). */
export const INBOUND_APP_UUID = 'c03b422e-13a8-bd1b-e42b-b6b9b4d27ce4';
export const PUBLIC_CONTEXT = 'public';
/** The page's default `destination_order` ("set the defaults": '100'); also the dialplan's order. */
export const DEFAULT_DESTINATION_ORDER = 100;

/** One action as destination_actions stores it (`[{destination_app, destination_data}]`, 5.1 and 5.3 alike). */
export interface StoredAction {
  app: string;
  data: string;
}

export interface InboundDestination {
  domainUuid: string;
  domainName: string;
  destinationUuid: string;
  dialplanUuid: string;
  phone: Pick<PhoneNumber, 'prefix' | 'number'>;
  action: StoredAction;
  callerIdNamePrefix: string | null;
  enabled: boolean;
  description: string | null;
  /** destination_order and dialplan_order (default DEFAULT_DESTINATION_ORDER; an update keeps the row's). */
  order?: number;
  /** The dialplan's name (default the number; an update keeps the one the operator gave it, as the page does). */
  dialplanName?: string;
}

/**
 * 5.1.0 and 5.3.0 differ in two places of this page: the detail group of the number's condition
 * (5.1 writes '1', 5.3 `$dialplan_detail_group = 0`) and the caller-id-name prefix action's inline
 * flag (5.1 "false", 5.3 "true"). 5.3.0 is told apart by v_destinations.destination_ringback, the
 * column the same 5.3 page added.
 */
export function isFusionpbx53(tx: Tx): boolean {
  return tx.catalog.hasColumn('v_destinations', 'destination_ringback');
}

/** xml::sanitize() (resources/classes/xml.php): `${…}` removed, then htmlspecialchars(ENT_XML1), which leaves quotes. */
export function xmlSanitize(text: string): string {
  return text
    .replace(/\$\{[^}]+\}/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

export function actionsJson(action: StoredAction): string {
  return JSON.stringify([{ destination_app: action.app, destination_data: action.data }]);
}

export function destinationRow(spec: InboundDestination): DesiredRow {
  return {
    domain_uuid: spec.domainUuid,
    destination_uuid: spec.destinationUuid,
    dialplan_uuid: spec.dialplanUuid,
    fax_uuid: null,
    user_uuid: null,
    group_uuid: null,
    destination_type: 'inbound',
    destination_condition_field: null,
    destination_number: spec.phone.number,
    destination_number_regex: numberRegex(spec.phone),
    destination_prefix: spec.phone.prefix,
    destination_trunk_prefix: null,
    destination_area_code: null,
    destination_caller_id_name: null,
    destination_caller_id_number: null,
    destination_cid_name_prefix: spec.callerIdNamePrefix,
    destination_context: PUBLIC_CONTEXT,
    destination_hold_music: null,
    destination_distinctive_ring: null,
    destination_record: null,
    destination_accountcode: null,
    destination_type_voice: null,
    destination_type_fax: null,
    destination_type_text: null,
    destination_type_emergency: null,
    destination_conditions: null,
    destination_actions: actionsJson(spec.action),
    destination_order: spec.order ?? DEFAULT_DESTINATION_ORDER,
    destination_enabled: spec.enabled,
    destination_description: spec.description,
  };
}

/** The page's `$dialplan["dialplan_xml"]` for this destination (dialplan/destination default setting = destination_number). */
export function destinationXml(spec: InboundDestination, is53: boolean): string {
  const name = spec.dialplanName ?? spec.phone.number;
  const lines = [
    `<extension name="${xmlSanitize(name)}" continue="false" uuid="${xmlSanitize(spec.dialplanUuid)}">`,
    `\t<condition field="destination_number" expression="${xmlSanitize(numberRegex(spec.phone))}">`,
    `\t\t<action application="export" data="call_direction=inbound" inline="true"/>`,
    `\t\t<action application="set" data="domain_uuid=${spec.domainUuid}" inline="true"/>`,
    `\t\t<action application="set" data="domain_name=${spec.domainName}" inline="true"/>`,
  ];
  if (spec.callerIdNamePrefix) {
    lines.push(`\t\t<action application="set" data="effective_caller_id_name=${xmlSanitize(spec.callerIdNamePrefix)}#\${caller_id_name}" inline="${is53 ? 'true' : 'false'}"/>`);
  }
  lines.push(`\t\t<action application="${xmlSanitize(spec.action.app)}" data="${xmlSanitize(spec.action.data)}"/>`, `\t</condition>`, `</extension>`);
  return `${lines.join('\n')}\n`;
}

export function dialplanRow(spec: InboundDestination, is53: boolean): DesiredRow {
  return {
    app_uuid: INBOUND_APP_UUID,
    dialplan_uuid: spec.dialplanUuid,
    domain_uuid: spec.domainUuid,
    dialplan_name: spec.dialplanName ?? spec.phone.number,
    dialplan_number: spec.phone.number,
    dialplan_context: PUBLIC_CONTEXT,
    dialplan_continue: 'false',
    dialplan_order: spec.order ?? DEFAULT_DESTINATION_ORDER,
    dialplan_enabled: spec.enabled,
    dialplan_description: spec.description,
    dialplan_xml: destinationXml(spec, is53),
  };
}

/**
 * The page's `$dialplan["dialplan_details"]`: order starts at 10 and is raised to 20 before the
 * first row; the number's condition at 20; +10 (the bridge-only rows are skipped) and +10 again, so
 * the caller-id prefix (when set) is at 40 and the action after it at 40 or 50.
 */
export function detailRows(spec: InboundDestination, is53: boolean): DesiredRow[] {
  const group = is53 ? 0 : 1;
  // Every row names the same columns (inline NULL where the page sets none), so all go in one multi-row insert.
  const base = { domain_uuid: spec.domainUuid, dialplan_uuid: spec.dialplanUuid, dialplan_detail_group: group };
  const rows: DesiredRow[] = [
    {
      ...base,
      dialplan_detail_uuid: newUuid(),
      dialplan_detail_tag: 'condition',
      dialplan_detail_type: 'destination_number',
      dialplan_detail_data: numberRegex(spec.phone),
      dialplan_detail_inline: null,
      dialplan_detail_order: 20,
    },
  ];
  let order = 40;
  if (spec.callerIdNamePrefix) {
    rows.push({
      ...base,
      dialplan_detail_uuid: newUuid(),
      dialplan_detail_tag: 'action',
      dialplan_detail_type: 'set',
      dialplan_detail_data: `effective_caller_id_name=${spec.callerIdNamePrefix}#\${caller_id_name}`,
      dialplan_detail_inline: is53 ? 'true' : 'false',
      dialplan_detail_order: order,
    });
    order += 10;
  }
  rows.push({
    ...base,
    dialplan_detail_uuid: newUuid(),
    dialplan_detail_tag: 'action',
    dialplan_detail_type: spec.action.app,
    dialplan_detail_data: spec.action.data,
    // "set inline to true" only for set/export actions; transfer leaves the column unset.
    dialplan_detail_inline: spec.action.app === 'set' || spec.action.app === 'export' ? 'true' : null,
    dialplan_detail_order: order,
  });
  return rows;
}
