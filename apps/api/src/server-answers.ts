import { DEFAULT_SERVER_NAME, fusionServerOfError } from '@ictvoip/fusionpbx';
import { withDeadline, type Logger } from '@ictvoip/config';
import { ServerUnavailableError } from './fusion-scope';

/** A FusionPBX server left out of a listing over every server, and why (never a secret). */
export interface UnavailableServer {
  server: string;
  reason: string;
}

/** How long one server's part of a listing may take before it is left out (as /status waits on each server). */
export const SERVER_ANSWER_MS = 3000;

class ServerSilentError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'ServerSilentError';
  }
}

/**
 * The answers of a listing over every server's tenants: one server that cannot be used (disabled,
 * its secrets unreadable), whose database fails, or that does not answer within SERVER_ANSWER_MS is
 * left out, named with its reason, and not asked again in the same request; the other servers'
 * answers still come. Anything else (the bridge database failing) fails the listing as before.
 */
export class ServerAnswers {
  private readonly failed = new Map<string, string>();

  constructor(
    private readonly logger: Logger,
    private readonly ms = SERVER_ANSWER_MS,
  ) {}

  /** `work` for a tenant of `server` (stored name; null = default); undefined when the server is or becomes unavailable. */
  async attempt<T>(server: string | null, work: () => Promise<T>): Promise<T | undefined> {
    const name = server ?? DEFAULT_SERVER_NAME;
    if (this.failed.has(name)) return undefined;
    try {
      return await withDeadline(work(), this.ms, () => new ServerSilentError(this.ms));
    } catch (error) {
      const reason = reasonOf(error);
      if (reason === null) throw error;
      if (!this.failed.has(name)) {
        this.failed.set(name, reason);
        this.logger.warn({ server: name, reason, err: error instanceof Error ? error.message : String(error) }, 'FusionPBX server left out of a listing over every server');
      }
      return undefined;
    }
  }

  /** The servers left out, in the order they failed. */
  get unavailable(): UnavailableServer[] {
    return [...this.failed].map(([server, reason]) => ({ server, reason }));
  }
}

/** Why a server is left out, or null when the error is not that server's (it fails the listing). */
function reasonOf(error: unknown): string | null {
  if (error instanceof ServerUnavailableError) return error.reason;
  if (error instanceof ServerSilentError) return error.message;
  // Its pool's own error (refused, timed out, authentication): the message may name a host, so only the kind is said.
  if (fusionServerOfError(error) !== null) return 'its FusionPBX database did not answer (see the bridge log)';
  return null;
}
