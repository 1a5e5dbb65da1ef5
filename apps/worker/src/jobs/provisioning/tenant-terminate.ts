import { PROVISIONING_JOBS } from '@ictvoip/queue';
import type { ProvisioningJobDefinition } from '../../tenant-action';
import { enqueueFinalBill } from '../billing/final-bill';
import { runTenantAction } from '../../event-processor';

/**
 * Disables the tenant at once; its rows are purged after the retention period, never its unbilled CDRs.
 * Once terminated, a final bill (CDR sync, then close + push) is scheduled, idempotently per event.
 */
export const terminateJob: ProvisioningJobDefinition = {
  jobName: PROVISIONING_JOBS.terminate,
  action: 'terminate',
  perService: true,
  run: async (context) => {
    const result = await runTenantAction(context, 'terminate', 'terminated');
    await enqueueFinalBill(context.deps, context.inboxEvent.serviceId, context.inboxEvent.eventId);
    return result;
  },
};
