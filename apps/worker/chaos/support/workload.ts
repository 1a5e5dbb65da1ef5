import { seededRandom } from '@ictvoip/testkit';
import { signBody } from '@ictvoip/whmcs';
import { CHAOS_SECRETS } from './chaos-bridge';
import { sleep } from './processes';

// The test kit's generator: a seed gives the same run here as in the tests.
export { seededRandom };

export function seededUuid(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((Math.floor(random() * 4) + 8) as number).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The tenant lifecycle's events; change_package (same limits) and change_password only reach an active tenant. */
export type ChaosAction = 'create' | 'suspend' | 'unsuspend' | 'terminate' | 'change_package' | 'change_password';

/** One signed webhook body to deliver, of any action. */
export interface DeliverableEvent {
  serviceId: number;
  action: string;
  eventId: string;
  body: string;
}

export interface PlannedEvent extends DeliverableEvent {
  action: ChaosAction;
}

export interface ServicePlan {
  serviceId: number;
  events: PlannedEvent[];
}

const SEQUENCES: ChaosAction[][] = [['create'], ['create', 'suspend'], ['create', 'terminate'], ['create', 'suspend', 'terminate'], ['create', 'suspend', 'unsuspend']];

export const MAX_EXTENSIONS = 3;

export function eventBody(random: () => number, serviceId: number, action: ChaosAction): { eventId: string; body: string } {
  const eventId = seededUuid(random);
  const body: Record<string, unknown> = {
    schemaVersion: 1,
    eventId,
    action,
    occurredAt: new Date().toISOString(),
    service: { id: serviceId, pid: 3, domain: '', username: 'admin', status: 'Active' },
    client: { id: 7000 + (serviceId % 97), email: 'owner@example.com', companyName: 'Chaos Ltd', firstName: 'Ada', lastName: 'Lovelace' },
    server: { id: 1, hostname: 'bridge.example.net' },
    plan: { maxExtensions: MAX_EXTENSIONS, firstExtension: 100 },
    configurableOptions: {},
    customFields: {},
  };
  if (action === 'create' || action === 'change_password') body.secrets = { servicePassword: CHAOS_SECRETS.servicePassword };
  return { eventId, body: JSON.stringify(body) };
}

/** About `eventCount` events over services, each service a valid sequence (create first). */
export function planWorkload(seed: number, eventCount: number, firstServiceId: number): ServicePlan[] {
  const random = seededRandom(seed);
  const plans: ServicePlan[] = [];
  let total = 0;
  let serviceId = firstServiceId;
  while (total < eventCount) {
    const sequence = SEQUENCES[Math.floor(random() * SEQUENCES.length)].slice(0, eventCount - total);
    const events = sequence.map((action) => ({ serviceId, action, ...eventBody(random, serviceId, action) }));
    plans.push({ serviceId, events });
    total += events.length;
    serviceId += 1;
  }
  return plans;
}

export interface PostTally {
  posted: number;
  statuses: Record<string, number>;
  /** 5xx other than 503 (a 503 is the contract's "retry later"). */
  serverErrors: number;
  networkErrors: number;
  /** Requests sent and not answered yet (a scenario reads it at the moment its fault hits). */
  inFlight?: number;
}

export function emptyTally(): PostTally {
  return { posted: 0, statuses: {}, serverErrors: 0, networkErrors: 0, inFlight: 0 };
}

/** POSTs one signed body; answers the HTTP status (0 for a network error). */
export async function postSigned(baseUrl: string, body: string, tally: PostTally): Promise<{ status: number; text: string }> {
  const timestamp = Math.floor(Date.now() / 1000);
  tally.posted += 1;
  tally.inFlight = (tally.inFlight ?? 0) + 1;
  try {
    const reply = await fetch(`${baseUrl}/webhooks/whmcs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-ictvoip-timestamp': String(timestamp), 'x-ictvoip-signature': signBody(CHAOS_SECRETS.webhook, timestamp, body) },
      body,
      signal: AbortSignal.timeout(20000),
    });
    const text = await reply.text();
    tally.statuses[reply.status] = (tally.statuses[reply.status] ?? 0) + 1;
    if (reply.status >= 500 && reply.status !== 503) tally.serverErrors += 1;
    return { status: reply.status, text };
  } catch {
    tally.networkErrors += 1;
    return { status: 0, text: '' };
  } finally {
    tally.inFlight = (tally.inFlight ?? 1) - 1;
  }
}

/** Delivers one event like WHMCS would: retry until the bridge accepted it (202/200), never past `deadline`. */
export async function deliver(urls: () => string[], event: DeliverableEvent, tally: PostTally, random: () => number, deadline: number): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    const candidates = urls();
    const url = candidates[Math.floor(random() * candidates.length)];
    const { status, text } = await postSigned(url, event.body, tally);
    if (status === 202 || status === 200) return;
    if (status !== 0 && status !== 503) throw new Error(`event ${event.eventId} (${event.action} ${event.serviceId}) refused with ${status}: ${text.slice(0, 300)}`);
    if (Date.now() > deadline) throw new Error(`event ${event.eventId} not accepted before the deadline (last status ${status})`);
    await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 4)));
  }
}

/**
 * Delivers every planned event: services in parallel (up to `parallel` at once), each service's
 * events in order, each event accepted before the next is sent. `copies` extra deliveries of an
 * event (duplicates, possibly to another API process) are sent at random later moments;
 * `onDuplicateAccepted` is called once each duplicate copy was accepted.
 */
export async function deliverAll(
  urls: () => string[],
  plans: readonly { events: readonly DeliverableEvent[] }[],
  options: {
    seed: number;
    parallel: number;
    duplicateRate?: number;
    timeoutMs?: number;
    tally?: PostTally;
    onDuplicateAccepted?: (event: DeliverableEvent) => Promise<void>;
  },
): Promise<PostTally> {
  const random = seededRandom(options.seed ^ 0x5eed);
  const tally = options.tally ?? emptyTally();
  const deadline = Date.now() + (options.timeoutMs ?? 300000);
  const queue = [...plans];
  const duplicates: Promise<void>[] = [];
  const runner = async () => {
    for (let plan = queue.shift(); plan; plan = queue.shift()) {
      for (const event of plan.events) {
        await deliver(urls, event, tally, random, deadline);
        if (options.duplicateRate && random() < options.duplicateRate) {
          duplicates.push(deliver(urls, event, tally, random, deadline).then(() => options.onDuplicateAccepted?.(event)));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.parallel }, runner));
  await Promise.all(duplicates);
  return tally;
}
