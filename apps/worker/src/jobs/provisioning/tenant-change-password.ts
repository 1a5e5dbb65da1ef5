import { PROVISIONING_JOBS } from '@ictvoip/queue';
import type { ProvisioningJobDefinition } from '../../tenant-action';
import { runTenantAction } from '../../event-processor';

/** Sets the tenant admin user's portal password. */
export const changePasswordJob: ProvisioningJobDefinition = {
  jobName: PROVISIONING_JOBS.change_password,
  action: 'change_password',
  perService: true,
  run: (context) => runTenantAction(context, 'changePassword', null),
};
