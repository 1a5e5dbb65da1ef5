import type { ProvisioningJobDefinition } from '../../tenant-action';
import { enqueueFinalBill } from '../billing/final-bill';
import { runTenantAction } from '../../event-processor';

/**
 * Disables the tenant at once; its rows are purged after the retention period, never its unbilled CDRs.
 * Once the database side is terminated, a final bill (CDR sync, then close + push) is scheduled,
 * idempotently per event, before the event reads as finished.
 */
export const terminateJob: ProvisioningJobDefinition = {
  perService: true,
  run: async (context) => {
    // Scheduled before the event can be marked finished: a crash in between would otherwise leave the
    // job's replay finding the event done and the final bill never scheduled.
    const scheduleFinalBill = async () => {
      await enqueueFinalBill(context.deps, context.inboxEvent.serviceId, context.inboxEvent.eventId);
    };
    return runTenantAction(context, 'terminate', 'terminated', scheduleFinalBill);
  },
};
