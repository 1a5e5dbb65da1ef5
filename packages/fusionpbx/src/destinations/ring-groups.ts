import { type DesiredRow, type FusionpbxRelease, type Tx, insertRows, newUuid, releaseOf, selectRows } from '../db';
import { FusionpbxValidationError, UniquenessError } from '../errors';
import { dialplanKey, type FreeswitchStep } from '@ictvoip/freeswitch';
import { validateCacheKey } from '../provisioning/input';
import { xmlSanitize } from './rows';

/**
 * A ring group of the plan's extensions, written as 5.1.0 and 5.3.0 app/ring_groups/ring_group_edit.php
 * save an "add" with the form's defaults ("set the defaults": call timeout 30, enabled true; each
 * destination row delay 0, timeout 30, enabled): v_ring_groups, v_ring_group_destinations and the
 * ring group's own dialplan (order 101, no dialplan details: the page writes none), then
 * `cache->delete("dialplan:<ring_group_context>")`.
 */

export const RING_GROUP_APP_UUID = '1d61fb65-1eec-bc73-a6ee-a6203b4fe6f2';
export const RING_GROUP_NAME = 'Ring Group';
/** The strategy that rings every extension at once; the page's list starts with enterprise, which needs per-destination sessions. */
export const RING_GROUP_STRATEGY = 'simultaneous';
/**
 * The ringback an added group gets: 5.1.0's page fills an empty one with FusionPBX's default ringback
 * variable (lines 519-521, vars.xml `us-ring`); 5.3.0's dropped that and its select starts blank
 * (NULL: the call keeps its own ringback).
 */
export const RING_GROUP_RINGBACK: Record<FusionpbxRelease, string | null> = { '5.1': '${us-ring}', '5.3': null };

/** The ring group's dialplan XML (ring_group_edit.php, "build the xml dialplan"; 5.1.0 and 5.3.0 identical). */
export function ringGroupXml(name: string, extension: string, ringGroupUuid: string, dialplanUuid: string): string {
  return [
    `<extension name="${xmlSanitize(name)}" continue="" uuid="${xmlSanitize(dialplanUuid)}">`,
    `\t<condition field="destination_number" expression="^${xmlSanitize(extension)}$">`,
    `\t\t<action application="ring_ready" data=""/>`,
    `\t\t<action application="set" data="ring_group_uuid=${xmlSanitize(ringGroupUuid)}"/>`,
    `\t\t<action application="lua" data="app.lua ring_groups"/>`,
    `\t</condition>`,
    `</extension>`,
    '',
  ].join('\n');
}

export interface RingGroupRows {
  ringGroup: DesiredRow;
  destinations: DesiredRow[];
  dialplan: DesiredRow;
}

export function ringGroupRows(domainUuid: string, domainName: string, extension: string, members: readonly string[], release: FusionpbxRelease): RingGroupRows {
  const ringGroupUuid = newUuid();
  const dialplanUuid = newUuid();
  return {
    ringGroup: {
      ring_group_uuid: ringGroupUuid,
      domain_uuid: domainUuid,
      ring_group_name: RING_GROUP_NAME,
      ring_group_extension: extension,
      ring_group_greeting: null,
      ring_group_strategy: RING_GROUP_STRATEGY,
      ring_group_call_timeout: 30,
      ring_group_caller_id_name: null,
      ring_group_caller_id_number: null,
      ring_group_cid_name_prefix: null,
      ring_group_cid_number_prefix: null,
      ring_group_distinctive_ring: null,
      ring_group_ringback: RING_GROUP_RINGBACK[release],
      ring_group_call_screen_enabled: null,
      ring_group_call_forward_enabled: null,
      ring_group_follow_me_enabled: null,
      ring_group_missed_call_app: null,
      ring_group_missed_call_data: null,
      // The forward select's first option (5.1.0 line 1081, 5.3.0 line 1249), saved for an admin.
      ring_group_forward_enabled: false,
      ring_group_forward_destination: null,
      ring_group_forward_toll_allow: null,
      ring_group_context: domainName,
      ring_group_enabled: true,
      ring_group_description: null,
      dialplan_uuid: dialplanUuid,
      ring_group_timeout_app: null,
      ring_group_timeout_data: null,
    },
    destinations: members.map((number) => ({
      ring_group_uuid: ringGroupUuid,
      ring_group_destination_uuid: newUuid(),
      destination_number: number,
      destination_description: null,
      destination_delay: 0,
      destination_timeout: 30,
      destination_prompt: null,
      destination_enabled: true,
      domain_uuid: domainUuid,
    })),
    dialplan: {
      domain_uuid: domainUuid,
      dialplan_uuid: dialplanUuid,
      dialplan_name: RING_GROUP_NAME,
      dialplan_number: extension,
      dialplan_context: domainName,
      dialplan_continue: 'false',
      dialplan_xml: ringGroupXml(RING_GROUP_NAME, extension, ringGroupUuid, dialplanUuid),
      dialplan_order: 101,
      dialplan_enabled: true,
      dialplan_description: null,
      app_uuid: RING_GROUP_APP_UUID,
    },
  };
}

/**
 * The plan's ring group, created once when missing (the tenant may edit it afterwards; the bridge
 * does not rewrite it). Returns the FreeSWITCH steps of a creation, or none.
 */
export async function ensureRingGroup(
  tx: Tx,
  domain: { uuid: string; name: string },
  extension: string,
  members: readonly string[],
  /** Whether the group was made before (the plan's numbers ring it): its number taken by an extension since is then the tenant's choice, not an error. */
  madeBefore: () => Promise<boolean> = () => Promise.resolve(false),
): Promise<FreeswitchStep[]> {
  if (!tx.catalog.hasTable('v_ring_groups')) throw new FusionpbxValidationError('plan.ringGroup', 'this FusionPBX has no ring groups app (v_ring_groups)');
  const existing = await selectRows(tx, 'select ring_group_uuid from v_ring_groups where domain_uuid = $1 and ring_group_extension = $2 limit 1', [domain.uuid, extension]);
  if (existing.length > 0) return [];
  const clash = await selectRows(tx, 'select extension_uuid from v_extensions where domain_uuid = $1 and (extension = $2 or number_alias = $2) limit 1', [domain.uuid, extension]);
  if (clash.length > 0 && (await madeBefore())) return [];
  if (clash.length > 0) throw new UniquenessError('ring group extension (used by an extension)', extension, domain.name);
  const rows = ringGroupRows(domain.uuid, domain.name, extension, members, releaseOf(tx));
  await insertRows(tx, 'v_dialplans', [rows.dialplan]);
  await insertRows(tx, 'v_ring_groups', [rows.ringGroup]);
  if (rows.destinations.length > 0) await insertRows(tx, 'v_ring_group_destinations', rows.destinations);
  return [{ kind: 'cache_delete', key: validateCacheKey(dialplanKey(domain.name), 'ring_group_context') }];
}
