import { fusionServerOfError } from '@ictvoip/fusionpbx';

/** The database a connection failure came from, as the 503 names it (FusionTargets marks each server's pool). */
export function unavailableDatabase(error: unknown): string {
  const server = fusionServerOfError(error);
  return server !== null ? `the FusionPBX database of server ${server}` : 'the bridge database';
}
