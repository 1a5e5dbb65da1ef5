import type { GatewayTemplate } from './types';

/**
 * The name (`v_gateways.gateway`) the provisioner gives the gateway of template `key`: the
 * template's `name`, else the key. Routes through it are named after it, and drift and adoption
 * look the plan's gateway up by it, so they all take it from here.
 */
export function gatewayTemplateName(key: string, template: Pick<GatewayTemplate, 'name'> | undefined): string {
  return template?.name ?? key;
}
