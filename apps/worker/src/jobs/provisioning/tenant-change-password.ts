import type { ProvisioningJobDefinition } from '../../tenant-action';
import { runTenantAction } from '../../event-processor';

/** Sets the tenant admin user's portal password. */
export const changePasswordJob: ProvisioningJobDefinition = {
  perService: true,
  run: (context) => runTenantAction(context, 'changePassword', null),
};
