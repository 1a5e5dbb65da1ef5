import { describeError, PermanentJobError } from '../../errors';
import type { ActionResult, ProvisioningJobDefinition, TenantActionContext } from '../../tenant-action';

interface ProbeResult {
  name: string;
  ok: boolean;
  latencyMs: number;
  detail: string;
}

async function probe(name: string, work: () => Promise<string>): Promise<ProbeResult> {
  const started = Date.now();
  try {
    return { name, ok: true, latencyMs: Date.now() - started, detail: await work() };
  } catch (error) {
    return { name, ok: false, latencyMs: Date.now() - started, detail: describeError(error) };
  }
}

/** WHMCS "Test Connection": reaches the FusionPBX database and the event socket and reports each. */
async function testConnection({ deps }: TenantActionContext): Promise<ActionResult> {
  const results = await Promise.all([
    probe('FusionPBX database', async () => {
      const { rows } = await deps.fusion.pool.query<{ domains: string }>('SELECT count(*)::text AS domains FROM v_domains');
      return `${rows[0].domains} domains`;
    }),
    probe('event socket', async () => {
      const status = await deps.fusion.esl.api('status');
      return status.split('\n')[0]?.trim() || 'answered';
    }),
  ]);
  const summary = results.map((r) => `${r.name}: ${r.ok ? 'ok' : 'FAILED'} (${r.latencyMs} ms, ${r.detail})`).join('; ');
  const detail = { checks: results };
  if (results.every((r) => r.ok)) return { message: summary, detail };
  // A probe reports; it does not retry. The failure goes back to WHMCS as the message.
  throw new PermanentJobError('CONNECTION_TEST_FAILED', summary);
}

export const testConnectionJob: ProvisioningJobDefinition = {
  perService: false,
  run: testConnection,
};
