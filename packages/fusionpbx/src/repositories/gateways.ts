import { type CanonicalRow, type DesiredRow, type Tx, convergeRow, convergeRowsTo, insertRow, newUuid, selectRows } from '../db';

/** v_gateways. The gateway_uuid is also the gateway's name inside FreeSWITCH. */

export function listGateways(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(tx, 'select * from v_gateways where domain_uuid = $1 order by gateway, gateway_uuid', [domainUuid]);
}

export async function findGatewayByName(tx: Tx, domainUuid: string, name: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_gateways where domain_uuid = $1 and gateway = $2 order by gateway_uuid', [domainUuid, name]);
  return rows[0] ?? null;
}

export interface GatewayWrite {
  gateway: CanonicalRow | null;
  gatewayUuid: string;
  outcome: 'created' | 'changed' | 'unchanged';
}

/** Creates the gateway or converges its columns. */
export async function upsertGateway(tx: Tx, domainUuid: string, desired: DesiredRow & { gateway: string }): Promise<GatewayWrite> {
  const existing = await findGatewayByName(tx, domainUuid, desired.gateway);
  if (existing) {
    const changed = await convergeRow(tx, 'v_gateways', 'gateway_uuid', existing, desired);
    return { gateway: existing, gatewayUuid: existing.gateway_uuid as string, outcome: changed ? 'changed' : 'unchanged' };
  }
  const gatewayUuid = newUuid();
  await insertRow(tx, 'v_gateways', { gateway_uuid: gatewayUuid, domain_uuid: domainUuid, ...desired });
  return { gateway: null, gatewayUuid, outcome: 'created' };
}

export function setGatewayEnabled(tx: Tx, gateway: CanonicalRow, enabled: boolean): Promise<boolean> {
  return convergeRow(tx, 'v_gateways', 'gateway_uuid', gateway, { enabled });
}

export function setGatewaysEnabled(tx: Tx, gateways: readonly CanonicalRow[], enabled: boolean): Promise<number> {
  return convergeRowsTo(tx, 'v_gateways', 'gateway_uuid', gateways, { enabled });
}
