import type { GatewayObservation } from '@ictvoip/store';

/** The tenant domain of the gateways below. */
export const TENANT_DOMAIN = 'a.pbx.test';

/** A gateway of `server`'s tenant (service 42, TENANT_DOMAIN), registered and up, seen at `at`. */
export function upGateway(server: string, gatewayUuid: string, at: number): GatewayObservation {
  return {
    server,
    serviceId: 42,
    domain: TENANT_DOMAIN,
    gatewayUuid,
    gatewayName: 'gw',
    register: true,
    state: 'REGED',
    status: 'UP',
    failing: false,
    at: new Date(at),
    downAfterSeconds: 0,
  };
}
