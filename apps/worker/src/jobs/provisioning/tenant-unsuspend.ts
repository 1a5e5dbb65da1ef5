import { PROVISIONING_JOBS } from '@ictvoip/queue';
import type { ProvisioningJobDefinition } from '../../tenant-action';
import { runTenantAction } from './run-tenant-action';

/** Restores exactly what suspend found enabled (an extension the customer had disabled stays disabled). */
export const unsuspendJob: ProvisioningJobDefinition = {
  jobName: PROVISIONING_JOBS.unsuspend,
  action: 'unsuspend',
  perService: true,
  run: (context) => runTenantAction(context, 'unsuspend', 'active'),
};
