import type { BridgeConfig, Logger } from '@ictvoip/config';
import { FinishListener } from '@ictvoip/store';
import type { ApiMetrics } from './metrics';

/**
 * The process's one LISTEN connection (not started: the caller starts it once the API listens).
 * Outside the pool, as it is held for as long as the API runs; its state is a metric.
 */
export function finishListenerFor(config: BridgeConfig, logger: Logger, metrics: ApiMetrics): FinishListener {
  return new FinishListener({ connectionString: config.database.url, log: logger, onState: (state) => metrics.finishListener(state) });
}
