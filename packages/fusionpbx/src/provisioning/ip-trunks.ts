/**
 * IP-authenticated customer trunks: the plan's `trunkCidrs` as nodes of one FusionPBX access control
 * list (default `providers`, the list the 5.1.0 and 5.3.0 sip profiles apply with apply-inbound-acl),
 * written the way app/access_controls/access_control_edit.php saves a node (5.3.0 lines 155-235):
 * node_type `allow`, node_cidr with `/32` added to a bare IPv4 address, and the tenant's domain name
 * as node_description. Afterwards the page deletes the `configuration:acl.conf` cache and sends
 * `reloadacl` (lines 240-243); the bridge queues the same two FreeSWITCH steps.
 * Only nodes whose uuids the tenant state lists are changed or removed; the operator's own stay.
 */
import { BlockList, isIPv4 } from 'node:net';
import { type CanonicalRow, type InsertBatch, type Tx, deleteRows, newUuid, selectRows } from '../db';
import { FusionpbxConfigError, TrunkCidrOwnedError } from '../errors';
import { ACL_CACHE_KEY } from '@ictvoip/freeswitch';
import type { Changes } from './converge';
import type { Tenant, TenantState } from './tenant-state';
import type { TrunkNodeMemory } from './types';

export const DEFAULT_TRUNK_ACCESS_CONTROL = 'providers';

/** A CIDR another tenant holds: the node's (or remembered node's) CIDR and the tenant's domain name. */
interface ClaimedCidr {
  cidr: string;
  owner: string;
}

/**
 * One read (issue #20's statement budget): the configured list (the oldest of that name; no insert_date
 * means made before the GUI, by the installer) and every trunk CIDR other tenants hold: nodes named
 * after another domain, and the nodes a suspended tenant's memory keeps for its unsuspend
 * (`ictvoip/state`, suspendMemory.trunkNodes; the LIKE keeps the JSON cast to those rows).
 */
async function readListAndClaims(tx: Tx, name: string, domainUuid: string): Promise<{ listUuid: string | null; claimed: ClaimedCidr[] }> {
  const [row] = await selectRows(
    tx,
    `select (select access_control_uuid from v_access_controls where access_control_name = $1 order by insert_date nulls first, access_control_uuid limit 1) as access_control_uuid,
       (select coalesce(json_agg(json_build_object('cidr', c.cidr, 'owner', c.owner) order by c.owner, c.cidr), '[]'::json) from (
          select n.node_cidr as cidr, d.domain_name as owner from v_access_control_nodes n join v_domains d on lower(d.domain_name) = lower(n.node_description)
           where d.domain_uuid <> $2 and n.node_cidr is not null
          union all
          select m.node->>'cidr', d.domain_name from v_domain_settings s join v_domains d on d.domain_uuid = s.domain_uuid
            cross join lateral jsonb_array_elements(s.domain_setting_value::jsonb #> '{suspendMemory,trunkNodes}') as m(node)
           where s.domain_setting_category = 'ictvoip' and s.domain_setting_subcategory = 'state' and s.domain_uuid <> $2
             and s.domain_setting_value like '%"trunkNodes":[{%'
        ) c) as claimed`,
    [name, domainUuid],
  );
  return { listUuid: row?.access_control_uuid ?? null, claimed: JSON.parse(row?.claimed ?? '[]') as ClaimedCidr[] };
}

/** A new list as access_control_edit.php adds one (lines 63-68: `providers` and `domains` are always `deny` by default; the page's default is `deny` too). */
function newList(name: string, inserts: InsertBatch): string {
  const uuid = newUuid();
  inserts.add('v_access_controls', [{ access_control_uuid: uuid, access_control_name: name, access_control_default: 'deny', access_control_description: null }]);
  return uuid;
}

function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address = '', prefix] = cidr.split('/');
  const family = isIPv4(address) ? 'ipv4' : 'ipv6';
  return { address, prefix: prefix === undefined ? (family === 'ipv4' ? 32 : 128) : Number(prefix), family };
}

/** Two CIDRs overlap exactly when one contains the other, hence either's own address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const [left, right] = [parseCidr(a), parseCidr(b)];
  if (left.family !== right.family) return false;
  try {
    const contains = (outer: typeof left, inner: typeof left) => {
      const list = new BlockList();
      list.addSubnet(outer.address, outer.prefix, outer.family);
      return list.check(inner.address, inner.family);
    };
    return contains(left, right) || contains(right, left);
  } catch {
    // A node the operator typed that is no address at all claims nothing.
    return false;
  }
}

/** Refuses the first CIDR about to be written that overlaps another tenant's. */
function assertCidrsFree(cidrs: readonly string[], claimed: readonly ClaimedCidr[]): void {
  for (const cidr of cidrs) {
    const taken = claimed.find((claim) => cidrsOverlap(cidr, claim.cidr));
    if (taken) throw new TrunkCidrOwnedError(cidr, taken.cidr, taken.owner);
  }
}

function requireTables(tx: Tx): void {
  if (!tx.catalog.hasTable('v_access_controls') || !tx.catalog.hasTable('v_access_control_nodes')) {
    throw new FusionpbxConfigError('this FusionPBX database has no Access Controls tables (v_access_controls, v_access_control_nodes)');
  }
}

function managedNodes(tx: Tx, uuids: string[]): Promise<CanonicalRow[]> {
  if (uuids.length === 0) return Promise.resolve([]);
  return selectRows(tx, 'select * from v_access_control_nodes where access_control_node_uuid = any($1::uuid[]) order by node_cidr', [uuids]);
}

export function reloadSteps(changes: Pick<Changes, 'steps'>): void {
  changes.steps.push({ kind: 'cache_delete', key: ACL_CACHE_KEY }, { kind: 'reload_acl' });
}

/** Removes every node the bridge wrote for the tenant (terminate, or a plan without trunkCidrs). */
export async function removeTrunkCidrs(tx: Tx, state: TenantState, changes: Changes): Promise<void> {
  if (state.trunkNodes.length === 0) return;
  const deleted = await deleteRows(tx, 'v_access_control_nodes', 'access_control_node_uuid = any($1::uuid[])', [state.trunkNodes]);
  state.trunkNodes = [];
  changes.wrote(deleted > 0);
  reloadSteps(changes);
}

/**
 * One allow node per CIDR of the plan in the configured list: a CIDR the plan dropped (or a node in a
 * list the operator no longer configures) is deleted, a new one inserted (into `inserts`, written by
 * the caller), the rest left alone.
 */
export async function convergeTrunkCidrs(tx: Tx, tenant: Tenant, cidrs: string[], listName: string, state: TenantState, changes: Changes, inserts: InsertBatch): Promise<void> {
  if (cidrs.length === 0) return removeTrunkCidrs(tx, state, changes);
  requireTables(tx);
  const { listUuid: existingList, claimed } = await readListAndClaims(tx, listName, tenant.domainUuid);
  const listUuid = existingList ?? newList(listName, inserts);
  const nodes = await managedNodes(tx, state.trunkNodes);
  const keep = nodes.filter(
    (node) =>
      node.access_control_uuid?.toLowerCase() === listUuid.toLowerCase() &&
      cidrs.includes(node.node_cidr ?? '') &&
      node.node_type === 'allow' &&
      node.node_description === tenant.domainName,
  );
  const stale = state.trunkNodes.filter((uuid) => !keep.some((node) => node.access_control_node_uuid?.toLowerCase() === uuid.toLowerCase()));
  const missing = cidrs.filter((cidr) => !keep.some((node) => node.node_cidr === cidr));
  if (stale.length === 0 && missing.length === 0) return;
  // Only CIDRs about to be written are checked: an overlap older than this check does not block the tenant's other changes.
  assertCidrsFree(missing, claimed);
  if (stale.length > 0) await deleteRows(tx, 'v_access_control_nodes', 'access_control_node_uuid = any($1::uuid[])', [stale]);
  const added = missing.map((cidr) => ({
    access_control_node_uuid: newUuid(),
    access_control_uuid: listUuid,
    node_type: 'allow',
    node_cidr: cidr,
    node_description: tenant.domainName,
  }));
  inserts.add('v_access_control_nodes', added);
  state.trunkNodes = [...keep.map((node) => node.access_control_node_uuid as string), ...added.map((node) => node.access_control_node_uuid)];
  changes.wrote(true);
  reloadSteps(changes);
}

/**
 * Suspend: the access control node table has no enabled column (5.1.0 and 5.3.0), so a suspended
 * tenant's trunk nodes are deleted, as the page's delete does, and remembered whole for unsuspend.
 */
export async function suspendTrunkCidrs(tx: Tx, state: TenantState, changes: Changes): Promise<TrunkNodeMemory[]> {
  const nodes = await managedNodes(tx, state.trunkNodes);
  if (state.trunkNodes.length === 0) return [];
  await removeTrunkCidrs(tx, state, changes);
  return nodes.map((node) => ({
    uuid: node.access_control_node_uuid as string,
    listUuid: node.access_control_uuid as string,
    type: node.node_type ?? 'allow',
    cidr: node.node_cidr as string,
    description: node.node_description,
  }));
}

/** Unsuspend: the remembered nodes written back with their own uuids (one already there is kept as it is). */
export async function restoreTrunkCidrs(tx: Tx, state: TenantState, nodes: readonly TrunkNodeMemory[], changes: Changes, inserts: InsertBatch): Promise<void> {
  if (nodes.length === 0) return;
  requireTables(tx);
  const present = new Set(
    (
      await managedNodes(
        tx,
        nodes.map((node) => node.uuid),
      )
    ).map((node) => (node.access_control_node_uuid as string).toLowerCase()),
  );
  const missing = nodes.filter((node) => !present.has(node.uuid.toLowerCase()));
  inserts.add(
    'v_access_control_nodes',
    missing.map((node) => ({
      access_control_node_uuid: node.uuid,
      access_control_uuid: node.listUuid,
      node_type: node.type,
      node_cidr: node.cidr,
      node_description: node.description,
    })),
  );
  state.trunkNodes = [...new Set([...state.trunkNodes, ...nodes.map((node) => node.uuid)])];
  changes.wrote(missing.length > 0);
  reloadSteps(changes);
}
