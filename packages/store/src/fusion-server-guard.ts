import type { PoolClient } from 'pg';

/** Name of the server configured by FUSIONPBX_DATABASE_URL / ESL_*; never a registry row. */
export const DEFAULT_FUSION_SERVER = 'default';

/** A poll wrote observations of a server removed (`ictvoip servers remove`) since the poll began: none of them is written. */
export class FusionServerGoneError extends Error {
  readonly code = 'FUSIONPBX_SERVER_GONE';
  constructor(readonly servers: readonly string[]) {
    super(`FusionPBX server ${servers.join(', ')} was removed during the poll: its observations are not written`);
    this.name = 'FusionServerGoneError';
  }
}

/**
 * SQL condition, for a statement writing rows of the server named by the text parameter `param`: the
 * default server, or a registered one whose row it key-share locks. A removal holds that row FOR UPDATE
 * before it deletes the server's rows, so the statement either commits before the removal's DELETEs
 * (which then take its rows too) or waits and finds the server gone (and writes nothing): never a row of
 * a removed server. KEY SHARE: polls do not wait on each other, nor on `servers update` / enable.
 */
export function serverKeptSql(param: string): string {
  return `(${param}::text = '${DEFAULT_FUSION_SERVER}' OR EXISTS (SELECT 1 FROM fusionpbx_servers f WHERE f.name = ${param}::text FOR KEY SHARE OF f))`;
}

/**
 * Key-share locks the registry rows of the servers a batch writes, in `client`'s open transaction,
 * before the batch locks any of their state rows: the order a removal takes them in (server row, then
 * its state rows), so the two cannot deadlock. Throws FusionServerGoneError when one is no longer
 * registered (removed before, or while this waited for the removal).
 */
export async function lockServersOfBatch(client: PoolClient, servers: Iterable<string>): Promise<void> {
  const registered = [...new Set(servers)].filter((server) => server !== DEFAULT_FUSION_SERVER).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (registered.length === 0) return;
  const { rows } = await client.query<{ name: string }>('SELECT f.name FROM fusionpbx_servers f WHERE f.name = ANY($1::text[]) ORDER BY f.name COLLATE "C" FOR KEY SHARE OF f', [
    registered,
  ]);
  if (rows.length === registered.length) return;
  const kept = new Set(rows.map((row) => row.name));
  throw new FusionServerGoneError(registered.filter((server) => !kept.has(server)));
}
