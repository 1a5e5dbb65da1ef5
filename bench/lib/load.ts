import autocannon from 'autocannon';
import { signBody } from '@ictvoip/whmcs';
import { buildEvent } from '@ictvoip/testkit';

export interface LoadOptions {
  url: string;
  secret: string;
  connections: number;
  durationSeconds: number;
  /** Fixed total request rate (autocannon overallRate); omit for "as fast as it answers". */
  overallRate?: number;
  /** Service ids are drawn from this range so every run writes distinct services. */
  firstServiceId: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  total: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

export class LoadRunError extends Error {
  readonly code = 'BENCH_LOAD_FAILED';
}

/** A fresh signed `create` event per request: unique eventId, valid timestamp and signature. */
export function signedCreateRequest(secret: string, serviceId: number): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(buildEvent({ serviceId }));
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-ictvoip-timestamp': String(timestamp),
      'x-ictvoip-signature': signBody(secret, timestamp, body),
    },
  };
}

/** Drives POST /webhooks/whmcs with autocannon; every request is a new, validly signed event. */
export async function runSignedLoad(options: LoadOptions): Promise<LoadResult> {
  let nextServiceId = options.firstServiceId;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    overallRate: options.overallRate,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/webhooks/whmcs',
        setupRequest: (request) => {
          const { body, headers } = signedCreateRequest(options.secret, nextServiceId);
          nextServiceId += 1;
          return { ...request, body, headers: { ...request.headers, ...headers } };
        },
      },
    ],
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stats.count ?? 0;
  const total = result['2xx'] + result.non2xx;
  return {
    requestsPerSecond: total / result.duration,
    total,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
  };
}

/** A benchmark figure is only valid when every request was accepted. */
export function assertAllAccepted(name: string, result: LoadResult): void {
  if (result.non2xx > 0 || result.errors > 0) {
    throw new LoadRunError(`${name}: ${result.non2xx} non-2xx replies and ${result.errors} errors out of ${result.total} (${JSON.stringify(result.statusCodes)})`);
  }
}
