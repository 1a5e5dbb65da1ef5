import { PROVISIONING_JOBS } from '@ictvoip/queue';
import type { ProvisioningJobDefinition } from '../../tenant-action';
import { runTenantAction } from './run-tenant-action';

/** Disables the tenant at once; its rows are purged after the retention period, never its unbilled CDRs. */
export const terminateJob: ProvisioningJobDefinition = {
  jobName: PROVISIONING_JOBS.terminate,
  action: 'terminate',
  perService: true,
  run: (context) => runTenantAction(context, 'terminate', 'terminated'),
};
