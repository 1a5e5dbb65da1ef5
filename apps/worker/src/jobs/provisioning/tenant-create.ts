import { PROVISIONING_JOBS } from '@ictvoip/queue';
import type { ProvisioningJobDefinition } from '../../tenant-action';
import { runTenantAction } from '../../event-processor';

/** Creates (or adopts) the tenant: domain, dialplans, branding, admin user, extensions with voicemail, gateway. */
export const createJob: ProvisioningJobDefinition = {
  jobName: PROVISIONING_JOBS.create,
  action: 'create',
  perService: true,
  run: (context) => runTenantAction(context, 'create', 'active'),
};
