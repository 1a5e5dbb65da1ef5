import { CHAOS_SECRETS } from './chaos-bridge';
import { loadAware, sleep } from './processes';

/** One REST write a tenant's client sends, and the answers that mean it was done. */
export interface RestWrite<M> {
  method: 'POST' | 'PUT' | 'DELETE';
  /** Under /v1/tenants/{id}; e.g. a gateway's uuid is known only once it is created. */
  path: (model: M) => string;
  body?: Record<string, unknown>;
  /** Final statuses that are an expected outcome (a 202 whose FreeSWITCH side a job sends later counts as done too). */
  expect: readonly number[];
  /** What the tenant looks like once it is done (applied to the model on an expected answer). */
  apply(model: M, answer: Record<string, unknown>, status: number): void;
}

export interface ClientTally {
  writes: number;
  repeats: number;
  serverErrors: number;
  unavailable: number;
  networkErrors: number;
  problems: string[];
}

/**
 * Sends one write until it has its final answer, as a careful client does: a 202 pending, a 503 or
 * a dropped connection is repeated with the same X-Request-Id (the same write, applied once).
 */
export async function sendUntilDone<M>(url: string, serviceId: number, write: RestWrite<M>, model: M, requestId: string, tally: ClientTally): Promise<void> {
  const path = write.path(model);
  const { body } = write;
  const limitMs = loadAware(240_000);
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`${write.method} ${path} of ${serviceId} had no final answer in ${limitMs / 1000} s`);
    let status = 0;
    let answer: Record<string, unknown> = {};
    try {
      const response = await fetch(`${url}/v1/tenants/${serviceId}${path}`, {
        method: write.method,
        headers: { authorization: `Bearer ${CHAOS_SECRETS.admin}`, 'x-request-id': requestId, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      status = response.status;
      const text = await response.text();
      answer = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      status = 0;
    }
    if (status >= 500 && status !== 503) tally.serverErrors += 1;
    if (status === 503) tally.unavailable += 1;
    if (status === 0) tally.networkErrors += 1;
    const pending = status === 202 && answer.outcome === 'pending';
    if (status === 0 || status >= 500 || pending) {
      tally.repeats += 1;
      await sleep(pending ? 100 : 300);
      continue;
    }
    tally.writes += 1;
    // 202 with freeswitch.applied=false is a finished write whose FreeSWITCH side a job sends later.
    if (!write.expect.includes(status) && status !== 202) {
      tally.problems.push(`${write.method} ${path} of ${serviceId} (${requestId}) answered ${status} ${JSON.stringify(answer).slice(0, 200)}, expected ${write.expect}`);
      return;
    }
    write.apply(model, answer, status);
    return;
  }
}

export function emptyClientTally(): ClientTally {
  return { writes: 0, repeats: 0, serverErrors: 0, unavailable: 0, networkErrors: 0, problems: [] };
}
