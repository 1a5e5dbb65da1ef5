import { MONITORING_JOBS, QUEUE_NAMES, type QueueName } from './names';

/** The fields of a WHMCS event (the store's inbox row) the decision names. */
export interface RetryInboxEvent {
  eventId: string;
  action: string;
  serviceId: number;
  status: string;
}

/** The parts of a BullMQ job the decision reads. */
export interface RetryableJob {
  id?: string;
  name: string;
  data: unknown;
  /** when it was added (ms) */
  timestamp: number;
  getState(): Promise<string>;
}

/** What a retry decision reads: the inbox (a provisioning job's WHMCS event) and the poll interval. */
export interface JobRetryDeps {
  /** the store's InboxRepository */
  inbox: { get(eventId: string): Promise<RetryInboxEvent | null> };
  /** REGISTRATION_POLL_SECONDS: a failed poll older than this has been superseded by a newer one. */
  pollSeconds: number;
  now?: Date;
}

/**
 * Why a failed job is not retried: `NOT_FAILED` it left the failed state meanwhile (retried elsewhere);
 * `EVENT_FINISHED` it ran a WHMCS event that is finished, so a retry does nothing and the event's
 * sealed secrets are gone (the admin must press the action again in WHMCS); `STALE_POLL` a registration
 * and gateway poll that newer scheduled polls have replaced. `state` is what the audit log records.
 */
export interface RetryRefusal {
  code: 'NOT_FAILED' | 'EVENT_FINISHED' | 'STALE_POLL';
  state: string;
  message: string;
}

/** WHMCS's own button for each event action (what the admin presses to send the event again). */
const WHMCS_BUTTONS: Record<string, string> = {
  create: 'Create',
  suspend: 'Suspend',
  unsuspend: 'Unsuspend',
  terminate: 'Terminate',
  change_package: 'Change Package',
  change_password: 'Change Password',
  reconcile: 'Reconcile',
};

const POLL_JOBS: ReadonlySet<string> = new Set([MONITORING_JOBS.poll, MONITORING_JOBS.pollAll]);

/**
 * The WHMCS event a failed provisioning job ran, when that event is finished: the worker skips a
 * finished event, and its sealed secrets (a create's service password) were wiped when it finished,
 * so retrying the job cannot do the work. Null for other queues and unfinished events.
 */
async function finishedEventOf(inbox: JobRetryDeps['inbox'], queue: QueueName, job: RetryableJob): Promise<RetryInboxEvent | null> {
  const eventId = queue === QUEUE_NAMES.provisioning ? (job.data as { eventId?: unknown } | undefined)?.eventId : undefined;
  if (typeof eventId !== 'string' || !/^[0-9a-f-]{36}$/i.test(eventId)) return null;
  const event = await inbox.get(eventId);
  return event && (event.status === 'failed' || event.status === 'succeeded') ? event : null;
}

/**
 * Whether retrying this job (of `queue`) would do its work: null when it would, else why not. The
 * WHMCS addon's Retry and `ictvoip jobs retry-failed` both ask this before `job.retry('failed')`.
 */
export async function retryRefusal(deps: JobRetryDeps, queue: QueueName, job: RetryableJob): Promise<RetryRefusal | null> {
  const id = job.id ?? '';
  const state = await job.getState();
  // A second press (or a replayed request) finds the job no longer failed: nothing is retried twice.
  if (state !== 'failed') return { code: 'NOT_FAILED', state, message: `job ${id} is ${state}, not failed: nothing to retry` };
  const finished = await finishedEventOf(deps.inbox, queue, job);
  if (finished) {
    return {
      code: 'EVENT_FINISHED',
      state: `event ${finished.status}`,
      message: `job ${id} ran WHMCS event ${finished.eventId} (${finished.action} of service ${finished.serviceId}), which ${finished.status === 'failed' ? 'failed for good' : 'has finished'}: a retry here would do nothing, and the bridge no longer holds the event's service password. Press the action again in WHMCS (the service's ${WHMCS_BUTTONS[finished.action] ?? 'module'} button, or Retry in Utilities → Module Queue): the module sends it anew, with the password.`,
    };
  }
  const ageMs = (deps.now ?? new Date()).getTime() - job.timestamp;
  if (queue === QUEUE_NAMES.monitoring && POLL_JOBS.has(job.name) && ageMs > deps.pollSeconds * 1000) {
    return {
      code: 'STALE_POLL',
      state: 'stale',
      message: `job ${id} (${job.name}) is a registration and gateway poll from ${new Date(job.timestamp).toISOString()}, more than one poll interval (${deps.pollSeconds} s) ago: the scheduled polls since have replaced it, so it is not run again`,
    };
  }
  return null;
}
