import { AuditRepository, InboxRepository, inTransaction, ServicesRepository } from '@ictvoip/store';
import type { WorkerDeps } from './deps';

export interface TransactionRepositories {
  services: ServicesRepository;
  inbox: InboxRepository;
  audit: AuditRepository;
}

/** Runs `work` in one transaction of the bridge database: its writes (an event's state, its audit line, a backlog) land together or not at all. */
export async function inBridgeTransaction<T>(deps: Pick<WorkerDeps, 'pool'>, work: (repos: TransactionRepositories) => Promise<T>): Promise<T> {
  const client = await deps.pool.connect();
  try {
    return await inTransaction(client, () => work({ services: new ServicesRepository(client), inbox: new InboxRepository(client), audit: new AuditRepository(client) }));
  } finally {
    client.release();
  }
}
