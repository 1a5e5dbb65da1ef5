import type { ActionResult, ProvisioningJobDefinition, TenantActionContext } from '../../tenant-action';
import { buildDriftReport, driftSourcesOf } from '@ictvoip/operations';

/**
 * WHMCS's "Reconcile" button: compares this service in WHMCS, the bridge and FusionPBX now and reports
 * each difference. It changes nothing; `npx ictvoip reconcile --fix` (or Resync) converges.
 */
async function reconcileService({ deps, inboxEvent, service }: TenantActionContext): Promise<ActionResult> {
  const report = await buildDriftReport(await driftSourcesOf(deps));
  const server = service?.fusionpbxServer ?? null;
  // The service's own server not answering means it was not compared: that is a difference to report, not "in step".
  const items = report.items.filter((item) => item.serviceId === inboxEvent.serviceId || (item.kind === 'fusionpbx_unreachable' && item.server === server));
  if (items.length === 0)
    return { message: `in step: WHMCS${report.whmcsChecked ? '' : ' (not checked: WHMCS API not configured)'}, bridge and FusionPBX agree`, detail: { items } };
  const lines = items.map((item) => `${item.kind}: expected ${item.expected}, found ${item.actual}${item.fixAction ? ` (fix: ${item.fixAction})` : ' (needs an operator)'}`);
  return { message: `${items.length} difference(s): ${lines.join('; ')}`, detail: { items } };
}

export const reconcileJob: ProvisioningJobDefinition = {
  perService: true,
  run: reconcileService,
};
