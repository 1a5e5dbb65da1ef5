import type { ProvisioningJobDefinition } from '../../tenant-action';
import { runTenantAction } from '../../event-processor';

/** Creates (or adopts) the tenant: domain, dialplans, branding, admin user, extensions with voicemail, gateway. */
export const createJob: ProvisioningJobDefinition = {
  perService: true,
  run: (context) => runTenantAction(context, 'create', 'active'),
};
