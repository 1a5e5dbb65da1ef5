import { PROVISIONING_JOBS } from '@ictvoip/queue';
import type { ProvisioningJobDefinition } from '../../tenant-action';
import { runTenantAction } from './run-tenant-action';

/** Disables the tenant and drops its registrations, remembering what was enabled so unsuspend restores exactly that. */
export const suspendJob: ProvisioningJobDefinition = {
  jobName: PROVISIONING_JOBS.suspend,
  action: 'suspend',
  perService: true,
  run: (context) => runTenantAction(context, 'suspend', 'suspended'),
};
