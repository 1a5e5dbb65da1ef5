import { XMLParser } from 'fast-xml-parser';

/**
 * Parser for `sofia xmlstatus gateway <uuid>` (mod_sofia.c xml_gateway_status). FreeSWITCH answers
 * `Invalid Gateway!` for a gateway that is not running (stopped, disabled, or never started).
 */

/** mod_sofia.c sofia_state_names. */
export const GATEWAY_STATES = ['UNREGED', 'TRYING', 'REGISTER', 'REGED', 'UNREGISTER', 'FAILED', 'FAIL_WAIT', 'EXPIRED', 'NOREG', 'TIMEOUT'] as const;

export type GatewayStatus =
  | { running: false }
  | {
      running: true;
      name: string | null;
      profile: string | null;
      /** Registration state, one of GATEWAY_STATES (or what a newer build reports). */
      state: string | null;
      /** Ping status `UP` / `DOWN`. */
      status: string | null;
      proxy: string | null;
      realm: string | null;
      username: string | null;
      pingSeconds: string | null;
      pingTimeMs: string | null;
      uptimeSeconds: number | null;
      callsIn: number | null;
      callsOut: number | null;
      failedCallsIn: number | null;
      failedCallsOut: number | null;
      retrySeconds: number | null;
    };

export class GatewayStatusError extends Error {
  readonly code = 'GATEWAY_STATUS_INVALID';
  constructor(message: string) {
    super(`gateway status: ${message}`);
    this.name = 'GatewayStatusError';
  }
}

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true });

export function isGatewayNotRunning(body: string): boolean {
  return /invalid gateway/i.test(body) || /^-ERR.*(no such gateway|not found)/i.test(body.trim());
}

function text(value: unknown): string | null {
  if (value === undefined || value === null || typeof value === 'object') return null;
  const result = String(value).trim();
  return result === '' ? null : result;
}

function integer(value: unknown): number | null {
  const raw = text(value);
  return raw !== null && /^-?\d{1,15}$/.test(raw) ? Number(raw) : null;
}

export function parseGatewayStatus(body: string): GatewayStatus {
  if (isGatewayNotRunning(body)) return { running: false };
  const trimmed = body.trim();
  if (!trimmed.startsWith('<')) throw new GatewayStatusError(trimmed.split('\n')[0].slice(0, 200) || 'empty reply');
  let document: Record<string, unknown>;
  try {
    document = parser.parse(trimmed, true) as Record<string, unknown>;
  } catch (error) {
    throw new GatewayStatusError(`not well-formed XML (${(error as Error).message.split('\n')[0]})`);
  }
  const gateway = document.gateway as Record<string, unknown> | undefined;
  if (!gateway || typeof gateway !== 'object') throw new GatewayStatusError('no <gateway> element');
  const uptimeUsec = integer(gateway['uptime-usec']);
  return {
    running: true,
    name: text(gateway.name),
    profile: text(gateway.profile),
    state: text(gateway.state),
    status: text(gateway.status),
    proxy: text(gateway.proxy),
    realm: text(gateway.realm),
    username: text(gateway.username),
    pingSeconds: text(gateway.ping),
    pingTimeMs: text(gateway.pingtime),
    uptimeSeconds: uptimeUsec === null ? null : Math.floor(uptimeUsec / 1_000_000),
    callsIn: integer(gateway['calls-in']),
    callsOut: integer(gateway['calls-out']),
    failedCallsIn: integer(gateway['failed-calls-in']),
    failedCallsOut: integer(gateway['failed-calls-out']),
    retrySeconds: integer(gateway.retry),
  };
}
