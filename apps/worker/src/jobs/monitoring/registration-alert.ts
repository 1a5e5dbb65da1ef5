import { MONITORING_JOBS, type TypedJob } from '@ictvoip/queue';
import { GatewayMonitoringRepository, RegistrationsRepository, type GatewayHistoryEntry, type RegistrationHistoryEntry } from '@ictvoip/store';
import { signBody } from '@ictvoip/whmcs';
import type { WorkerDeps } from '../../deps';
import type { WorkerMetrics } from '../../metrics';

const ALERT_TIMEOUT_MS = 10000;

/** The alert webhook's JSON body. */
export function alertBody(entry: RegistrationHistoryEntry): Record<string, unknown> {
  return {
    type: `registration.${entry.transition}`,
    id: entry.id,
    extension: entry.extension,
    domain: entry.domain,
    serviceId: entry.serviceId,
    server: entry.server,
    at: entry.at.toISOString(),
    missingSince: entry.missingSince.toISOString(),
    figures: entry.figures,
  };
}

/** The alert webhook's JSON body of a gateway transition. */
export function gatewayAlertBody(entry: GatewayHistoryEntry): Record<string, unknown> {
  return {
    type: `gateway.${entry.transition}`,
    id: entry.id,
    gatewayUuid: entry.gatewayUuid,
    gatewayName: entry.gatewayName,
    domain: entry.domain,
    serviceId: entry.serviceId,
    server: entry.server,
    at: entry.at.toISOString(),
    failingSince: entry.failingSince.toISOString(),
    figures: entry.figures,
  };
}

/** One history table seen as an alert outbox. */
interface AlertOutbox {
  kind: 'registration' | 'gateway';
  load(id: number): Promise<{ id: number; serviceId: number; alertSentAt: Date | null; type: string; body: Record<string, unknown> } | null>;
  markSent(id: number, at: Date): Promise<boolean>;
  noteFailure(id: number, error: string): Promise<void>;
}

function outboxOf(deps: WorkerDeps, kind: 'registration' | 'gateway'): AlertOutbox {
  if (kind === 'gateway') {
    const repository = new GatewayMonitoringRepository(deps.pool);
    return {
      kind,
      load: async (id) => {
        const entry = await repository.historyEntry(id);
        return entry && { id: entry.id, serviceId: entry.serviceId, alertSentAt: entry.alertSentAt, type: `gateway.${entry.transition}`, body: gatewayAlertBody(entry) };
      },
      markSent: (id, at) => repository.markAlertSent(id, at),
      noteFailure: (id, error) => repository.noteAlertFailure(id, error),
    };
  }
  const repository = new RegistrationsRepository(deps.pool);
  return {
    kind,
    load: async (id) => {
      const entry = await repository.historyEntry(id);
      return entry && { id: entry.id, serviceId: entry.serviceId, alertSentAt: entry.alertSentAt, type: `registration.${entry.transition}`, body: alertBody(entry) };
    },
    markSent: (id, at) => repository.markAlertSent(id, at),
    noteFailure: (id, error) => repository.noteAlertFailure(id, error),
  };
}

/**
 * Delivers the alert of one transition to ALERT_WEBHOOK_URL, signed like the inbound webhooks
 * (X-Ictvoip-Timestamp, X-Ictvoip-Signature: v1=HMAC-SHA256 of `<timestamp>.<body>` with
 * WEBHOOK_SECRET). A non-2xx answer or a network error throws: the job retries with backoff. The
 * history row is the outbox: once `alert_sent_at` is set, no delivery sends it again.
 */
export async function deliverRegistrationAlert(
  deps: WorkerDeps,
  historyId: number,
  metrics?: WorkerMetrics,
  kind: 'registration' | 'gateway' = 'registration',
): Promise<{ sent: boolean; reason?: string }> {
  const url = deps.config.monitoring.alertWebhookUrl;
  if (!url) return { sent: false, reason: 'ALERT_WEBHOOK_URL is not set' };
  const outbox = outboxOf(deps, kind);
  const entry = await outbox.load(historyId);
  if (!entry) return { sent: false, reason: 'no such transition' };
  if (entry.alertSentAt) return { sent: false, reason: 'already sent' };
  const body = JSON.stringify(entry.body);
  const timestamp = Math.floor(Date.now() / 1000);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-ictvoip-timestamp': String(timestamp),
        'x-ictvoip-signature': signBody(deps.config.webhook.secrets[0]!, timestamp, body),
        'x-ictvoip-delivery': `${kind}-alert-${entry.id}`,
      },
      body,
      signal: AbortSignal.timeout(ALERT_TIMEOUT_MS),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) throw new Error(`alert webhook answered HTTP ${response.status}`);
  } catch (error) {
    const message = (error as Error).message;
    metrics?.registrationAlerts.inc({ outcome: 'failed' });
    await outbox.noteFailure(entry.id, message);
    deps.logger.warn({ historyId: entry.id, kind, err: message }, 'monitoring alert not delivered (retried)');
    throw error;
  }
  await outbox.markSent(entry.id, new Date());
  metrics?.registrationAlerts.inc({ outcome: 'sent' });
  deps.logger.info({ historyId: entry.id, type: entry.type, serviceId: entry.serviceId }, 'monitoring alert sent');
  return { sent: true };
}

export function handleRegistrationAlert(deps: WorkerDeps, job: TypedJob<typeof MONITORING_JOBS.alert>, metrics?: WorkerMetrics): Promise<{ sent: boolean; reason?: string }> {
  return deliverRegistrationAlert(deps, job.data.historyId, metrics, job.data.kind ?? 'registration');
}
