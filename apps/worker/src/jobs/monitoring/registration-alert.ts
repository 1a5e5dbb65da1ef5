import type { MonitoringAlertType } from '@ictvoip/config';
import { MONITORING_JOBS, type TypedJob } from '@ictvoip/queue';
import {
  getCreditAlert,
  markCreditAlertSent,
  noteCreditAlertFailure,
  GatewayMonitoringRepository,
  MonitoringAlertsRepository,
  MonitoringWatchRepository,
  RegistrationsRepository,
  type AlertDelivery,
  type AlertKind,
  type AlertTarget,
  type CreditAlert,
  type GatewayHistoryEntry,
  type RegistrationHistoryEntry,
} from '@ictvoip/store';
import { signBody, WhmcsTransportError } from '@ictvoip/whmcs';
import type { WorkerDeps } from '../../deps';
import type { WorkerMetrics } from '../../metrics';

const ALERT_TIMEOUT_MS = 10000;
/** A delivery refused this many times is given up (`failed`); until then each job attempt and outbox round retries it. */
const MAX_DELIVERY_ATTEMPTS = 10;
/** The recipient name of the global alert webhook: the URL is read from ALERT_WEBHOOK_URL when sending. */
export const DEFAULT_WEBHOOK_RECIPIENT = 'ALERT_WEBHOOK_URL';
/** The recipient of the WHMCS e-mail: the service's client (SendEmail with a product template, related id = service id). */
export const CLIENT_EMAIL_RECIPIENT = 'client';
/** The recipient of the WHMCS admin e-mail: the operator's admins (SendAdminEmail with an admin template). */
export const ADMIN_EMAIL_RECIPIENT = 'admin';

/** Another worker is sending one of this transition's deliveries: the job retries later and finds it settled. */
export class AlertInFlightError extends Error {
  readonly code = 'ALERT_IN_FLIGHT';
  constructor(kind: AlertKind, historyId: number) {
    super(`a delivery of ${kind} alert ${historyId} is being sent by another worker`);
    this.name = 'AlertInFlightError';
  }
}

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

/** One transition as the deliveries see it. */
interface AlertNotice {
  kind: AlertKind;
  id: number;
  serviceId: number;
  alertSentAt: Date | null;
  type: MonitoringAlertType | 'credit.unreadable';
  body: Record<string, unknown>;
  /** The subject of the alert for the e-mail: `101@tenant.example` or the gateway's name. */
  subject: { extension: string; domain: string; gatewayName: string; gatewayUuid: string; userAgent: string };
  at: Date;
}

/** One history table seen as an alert outbox: `alert_sent_at` is set once every delivery is settled. */
interface AlertOutbox {
  load(id: number): Promise<AlertNotice | null>;
  markSettled(id: number, at: Date): Promise<boolean>;
  noteFailure(id: number, error: string): Promise<void>;
}

/** The alert webhook's JSON body of a credit alert (an unreadable balance): the operator's, never the client's. */
export function creditAlertBody(alert: CreditAlert): Record<string, unknown> {
  return { ...alert.figures, type: alert.type, id: alert.id, serviceId: alert.serviceId, clientId: alert.clientId, at: alert.at.toISOString() };
}

function outboxOf(deps: WorkerDeps, kind: AlertKind): AlertOutbox {
  if (kind === 'credit') {
    return {
      load: async (id) => {
        const alert = await getCreditAlert(deps.pool, id);
        if (!alert) return null;
        const subject = { extension: '', domain: '', gatewayName: '', gatewayUuid: '', userAgent: '' };
        return { kind, id, serviceId: alert.serviceId, alertSentAt: alert.alertSentAt, type: alert.type, body: creditAlertBody(alert), subject, at: alert.at };
      },
      markSettled: (id, at) => markCreditAlertSent(deps.pool, id, at),
      noteFailure: (id, error) => noteCreditAlertFailure(deps.pool, id, error),
    };
  }
  if (kind === 'gateway') {
    const repository = new GatewayMonitoringRepository(deps.pool);
    return {
      load: async (id) => {
        const entry = await repository.historyEntry(id);
        if (!entry) return null;
        const subject = { extension: '', domain: entry.domain, gatewayName: entry.gatewayName ?? entry.gatewayUuid, gatewayUuid: entry.gatewayUuid, userAgent: '' };
        return { kind, id, serviceId: entry.serviceId, alertSentAt: entry.alertSentAt, type: `gateway.${entry.transition}`, body: gatewayAlertBody(entry), subject, at: entry.at };
      },
      markSettled: (id, at) => repository.markAlertSent(id, at),
      noteFailure: (id, error) => repository.noteAlertFailure(id, error),
    };
  }
  const repository = new RegistrationsRepository(deps.pool);
  return {
    load: async (id) => {
      const entry = await repository.historyEntry(id);
      if (!entry) return null;
      const userAgent = typeof entry.figures.userAgent === 'string' ? entry.figures.userAgent : '';
      const subject = { extension: entry.extension, domain: entry.domain, gatewayName: '', gatewayUuid: '', userAgent };
      return { kind, id, serviceId: entry.serviceId, alertSentAt: entry.alertSentAt, type: `registration.${entry.transition}`, body: alertBody(entry), subject, at: entry.at };
    },
    markSettled: (id, at) => repository.markAlertSent(id, at),
    noteFailure: (id, error) => repository.noteAlertFailure(id, error),
  };
}

/** Who gets this alert: ALERT_WEBHOOK_URL, the tenant's extra webhook recipients, the client's WHMCS e-mail and the admins' WHMCS e-mail when a template is set for the type. */
async function targetsOf(deps: WorkerDeps, notice: AlertNotice): Promise<AlertTarget[]> {
  const targets: AlertTarget[] = [];
  if (deps.config.monitoring.alertWebhookUrl) targets.push({ channel: 'webhook', recipient: DEFAULT_WEBHOOK_RECIPIENT });
  // A credit alert is about WHMCS, for the operator: not the tenant's recipients, not the client's e-mail.
  if (notice.type === 'credit.unreadable') return targets;
  const watch = await new MonitoringWatchRepository(deps.pool).get(notice.serviceId);
  for (const url of watch.recipients) targets.push({ channel: 'webhook', recipient: url });
  if (deps.whmcs && deps.config.monitoring.emailTemplates[notice.type]) targets.push({ channel: 'email', recipient: CLIENT_EMAIL_RECIPIENT });
  if (deps.whmcs && deps.config.monitoring.adminEmailTemplates[notice.type]) targets.push({ channel: 'email', recipient: ADMIN_EMAIL_RECIPIENT });
  return targets;
}

/** The idempotency key of one alert: the same for every attempt and every receiver, so a repeat can be dropped. */
export const alertDeliveryKey = (kind: AlertKind, historyId: number) => `${kind}-alert-${historyId}`;

async function sendWebhook(deps: WorkerDeps, notice: AlertNotice, delivery: AlertDelivery): Promise<void> {
  const url = delivery.recipient === DEFAULT_WEBHOOK_RECIPIENT ? deps.config.monitoring.alertWebhookUrl : delivery.recipient;
  if (!url) throw new Error('ALERT_WEBHOOK_URL is no longer set');
  const body = JSON.stringify(notice.body);
  const timestamp = Math.floor(Date.now() / 1000);
  const key = alertDeliveryKey(notice.kind, notice.id);
  // Signed with its own key: a receiver holding WEBHOOK_SECRET's signatures could replay them on the bridge.
  const secret = deps.config.monitoring.alertSigningSecret;
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-ictvoip-timestamp': String(timestamp),
      ...(secret ? { 'x-ictvoip-signature': signBody(secret, timestamp, body) } : {}),
      'x-ictvoip-delivery': key,
      'idempotency-key': key,
    },
    body,
    // A recipient is a URL an operator chose: a redirect would send the POST anywhere inside the network.
    redirect: 'manual',
    signal: AbortSignal.timeout(ALERT_TIMEOUT_MS),
  });
  await response.arrayBuffer().catch(() => undefined);
  if (response.status >= 300 && response.status < 400) throw new Error(`alert webhook answered HTTP ${response.status} (redirects are not followed)`);
  if (!response.ok) throw new Error(`alert webhook answered HTTP ${response.status}`);
}

/** The client's name and the device model as WHMCS last sent them (the service's latest module event). */
async function clientOf(deps: WorkerDeps, serviceId: number): Promise<{ clientId: string; clientName: string; deviceModel: string; service: string }> {
  const { rows } = await deps.pool.query<{ client_id: string; payload: Record<string, unknown> }>(
    'SELECT client_id, payload FROM webhook_inbox WHERE service_id = $1 ORDER BY seq DESC LIMIT 1',
    [serviceId],
  );
  const payload = rows[0]?.payload ?? {};
  const client = (payload.client ?? {}) as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === 'string' ? value.trim() : '');
  const clientName = text(client.companyName) || [text(client.firstName), text(client.lastName)].filter(Boolean).join(' ');
  const customFields = (payload.customFields ?? {}) as Record<string, unknown>;
  const deviceKey = Object.keys(customFields).find((key) => /^device[\s_-]?model$/i.test(key));
  const service = (payload.service ?? {}) as Record<string, unknown>;
  return { clientId: rows[0]?.client_id ?? '', clientName, deviceModel: deviceKey ? text(customFields[deviceKey]) : '', service: text(service.domain) };
}

/** `YYYY-MM-DD HH:MM:SS UTC`, the alert's time as the e-mail shows it. */
const mailDate = (at: Date) => `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;

/**
 * The merge fields of the e-mail, named like ictVoIP's ictsipreg templates where they exist
 * (`{$extension}@{$tenant_domain}`, `{$client_id}`, `{$client_name}`, `{$date_time}`; the device
 * model is `{$device_model}`, from the service's `devicemodel` custom field, else the phone's user agent).
 */
export async function alertMergeFields(deps: WorkerDeps, notice: AlertNotice): Promise<Record<string, string>> {
  const client = await clientOf(deps, notice.serviceId);
  return {
    alert_type: notice.type,
    alert_id: alertDeliveryKey(notice.kind, notice.id),
    extension: notice.subject.extension,
    tenant_domain: notice.subject.domain,
    extension_address: notice.subject.extension ? `${notice.subject.extension}@${notice.subject.domain}` : '',
    gateway_name: notice.subject.gatewayName,
    gateway_uuid: notice.subject.gatewayUuid,
    client_id: client.clientId,
    client_name: client.clientName,
    service_id: String(notice.serviceId),
    service: client.service || notice.subject.domain,
    device_model: client.deviceModel || notice.subject.userAgent,
    date_time: mailDate(notice.at),
  };
}

/** The client's e-mail (SendEmail, related id = service id) or the admins' (SendAdminEmail), with the same merge fields. */
async function sendEmail(deps: WorkerDeps, notice: AlertNotice, delivery: AlertDelivery): Promise<void> {
  const admin = delivery.recipient === ADMIN_EMAIL_RECIPIENT;
  const templates = admin ? deps.config.monitoring.adminEmailTemplates : deps.config.monitoring.emailTemplates;
  const templateName = notice.type === 'credit.unreadable' ? '' : templates[notice.type];
  if (!deps.whmcs || !templateName) throw new Error(`no WHMCS API or ${admin ? 'admin ' : ''}e-mail template for ${notice.type}`);
  const fields = await alertMergeFields(deps, notice);
  if (admin) await deps.whmcs.sendAdminEmail({ templateName, type: deps.config.monitoring.adminEmailType, mergeFields: fields });
  else await deps.whmcs.sendEmail({ templateName, relatedId: notice.serviceId, customVars: fields });
}

/** How long a claim stands before another worker may take the row over (longer than any one send). */
function leaseMs(deps: WorkerDeps): number {
  return Math.max(ALERT_TIMEOUT_MS, deps.config.whmcs.timeoutMs * 3) + 5000;
}

export interface AlertDeliveryResult {
  sent: number;
  /** Every delivery of the transition is settled (history alert_sent_at set). */
  settled: boolean;
  reason?: string;
}

/**
 * Delivers every alert of one transition, each exactly once as far as its channel allows: a delivery
 * row is claimed (`sending`, committed) before its send and marked `sent` after it. A refused or
 * undelivered send goes back to `pending` and the job retries it; a WHMCS e-mail whose outcome is
 * unknown (a timeout after the request left, or a worker killed between the send and the mark) is
 * settled `unknown` and never sent again; a webhook in that state is sent again with the same
 * `Idempotency-Key`/`X-Ictvoip-Delivery`, so the receiver can drop the repeat.
 */
export async function deliverRegistrationAlert(deps: WorkerDeps, historyId: number, metrics?: WorkerMetrics, kind: AlertKind = 'registration'): Promise<AlertDeliveryResult> {
  const outbox = outboxOf(deps, kind);
  const notice = await outbox.load(historyId);
  if (!notice) return { sent: 0, settled: false, reason: 'no such transition' };
  if (notice.alertSentAt) return { sent: 0, settled: true, reason: 'already sent' };
  const alerts = new MonitoringAlertsRepository(deps.pool);
  const deliveries = await alerts.plan(kind, historyId, await targetsOf(deps, notice));
  let sent = 0;
  let failure: Error | null = null;
  let inFlight = false;
  for (const delivery of deliveries) {
    if (delivery.state !== 'pending' && delivery.state !== 'sending') continue;
    const claim = await alerts.claim(delivery.id, new Date(), leaseMs(deps));
    if (claim.outcome === 'in-flight') inFlight = true;
    if (claim.outcome === 'unknown') {
      metrics?.registrationAlerts.inc({ channel: delivery.channel, outcome: 'unknown' });
      deps.logger.error({ historyId, kind, channel: delivery.channel }, 'monitoring alert e-mail abandoned mid-send: may have been sent, not sent again');
    }
    if (claim.outcome !== 'claimed') continue;
    try {
      if (delivery.channel === 'email') await sendEmail(deps, notice, delivery);
      else await sendWebhook(deps, notice, delivery);
    } catch (error) {
      failure = await settleFailure(deps, alerts, outbox, claim.delivery, notice, error as Error, metrics);
      continue;
    }
    await alerts.markSent(delivery.id, new Date());
    sent += 1;
    metrics?.registrationAlerts.inc({ channel: delivery.channel, outcome: 'sent' });
    deps.logger.info({ historyId, type: notice.type, serviceId: notice.serviceId, channel: delivery.channel }, 'monitoring alert sent');
  }
  const open = (await alerts.deliveries(kind, historyId)).some((delivery) => delivery.state === 'pending' || delivery.state === 'sending');
  if (!open) await outbox.markSettled(historyId, new Date());
  if (failure) throw failure;
  if (inFlight) throw new AlertInFlightError(kind, historyId);
  return { sent, settled: !open };
}

/** Decides what a failed send leaves behind; returns the error to retry on, or null when nothing will be retried. */
async function settleFailure(
  deps: WorkerDeps,
  alerts: MonitoringAlertsRepository,
  outbox: AlertOutbox,
  delivery: AlertDelivery,
  notice: AlertNotice,
  error: Error,
  metrics?: WorkerMetrics,
): Promise<Error | null> {
  const message = error.message;
  await outbox.noteFailure(notice.id, message);
  if (delivery.channel === 'email' && error instanceof WhmcsTransportError && error.mayHaveTakenEffect) {
    await alerts.settle(delivery.id, 'unknown', message);
    metrics?.registrationAlerts.inc({ channel: delivery.channel, outcome: 'unknown' });
    deps.logger.error({ historyId: notice.id, kind: notice.kind, err: message }, 'monitoring alert e-mail outcome unknown: not sent again');
    return null;
  }
  if (delivery.attempts >= MAX_DELIVERY_ATTEMPTS) {
    await alerts.settle(delivery.id, 'failed', message);
    metrics?.registrationAlerts.inc({ channel: delivery.channel, outcome: 'failed' });
    deps.logger.error({ historyId: notice.id, kind: notice.kind, channel: delivery.channel, attempts: delivery.attempts, err: message }, 'monitoring alert given up');
    return null;
  }
  await alerts.release(delivery.id, message);
  metrics?.registrationAlerts.inc({ channel: delivery.channel, outcome: 'retried' });
  deps.logger.warn({ historyId: notice.id, kind: notice.kind, channel: delivery.channel, err: message }, 'monitoring alert not delivered (retried)');
  return error;
}

export function handleRegistrationAlert(deps: WorkerDeps, job: TypedJob<typeof MONITORING_JOBS.alert>, metrics?: WorkerMetrics): Promise<AlertDeliveryResult> {
  return deliverRegistrationAlert(deps, job.data.historyId, metrics, job.data.kind ?? 'registration');
}
