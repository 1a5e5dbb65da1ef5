import { DEFAULT_SERVER_NAME } from '@ictvoip/fusionpbx';
import type { Logger } from '@ictvoip/config';
import { ServerUnavailableError } from './fusion-scope';

/** A FusionPBX server left out of a listing over every server, and why (never a secret). */
export interface UnavailableServer {
  server: string;
  reason: string;
}

/**
 * The answers of a listing over every server's tenants: one server that cannot be used is left out,
 * named with its reason, and not asked again in the same request; the other servers' answers still
 * come. Anything else (the bridge database failing) fails the listing as before.
 */
export class ServerAnswers {
  private readonly failed = new Map<string, string>();

  constructor(private readonly logger: Logger) {}

  /** `work` for a tenant of `server` (stored name; null = default); undefined when the server is or becomes unavailable. */
  async attempt<T>(server: string | null, work: () => Promise<T>): Promise<T | undefined> {
    const name = server ?? DEFAULT_SERVER_NAME;
    if (this.failed.has(name)) return undefined;
    try {
      return await work();
    } catch (error) {
      const reason = this.reasonOf(error);
      if (reason === null) throw error;
      this.failed.set(name, reason);
      this.logger.warn({ server: name, reason }, 'FusionPBX server left out of a listing over every server');
      return undefined;
    }
  }

  /** The servers left out, in the order they failed. */
  get unavailable(): UnavailableServer[] {
    return [...this.failed].map(([server, reason]) => ({ server, reason }));
  }

  private reasonOf(error: unknown): string | null {
    if (error instanceof ServerUnavailableError) return error.reason;
    return null;
  }
}
