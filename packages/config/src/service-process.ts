import { ConfigError, loadConfigFromProcess, type BridgeConfig } from './config';
import { createLogger, type Logger } from './logger';

export interface RunningService {
  close(): Promise<void>;
}

/** Exit code for a configuration error (EX_CONFIG), so supervisors can tell it from a crash. */
export const EXIT_CONFIG = 78;

/**
 * The life of an api or worker process: validate the environment (a bad variable stops it, named),
 * start, and on SIGTERM/SIGINT close within the shutdown deadline (then exit regardless).
 */
export async function runService(name: string, start: (config: BridgeConfig, logger: Logger) => Promise<RunningService>): Promise<void> {
  let config: BridgeConfig;
  try {
    config = loadConfigFromProcess();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const logger = createLogger({ level: config.logLevel, name, pretty: config.nodeEnv === 'development' && process.stdout.isTTY });
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  const running = await start(config, logger).catch((error: Error & { code?: string }) => {
    logger.fatal({ code: error.code }, error.message);
    process.exit(1);
  });
  let closing = false;
  const shutdown = (signal: string) => {
    // A Ctrl-C in a terminal reaches this process and its parent (`npm start`), which sends SIGTERM too: one shutdown.
    if (closing) return;
    closing = true;
    logger.info({ signal }, `${name} shutting down`);
    const hardStop = setTimeout(() => process.exit(1), config.worker.shutdownDeadlineMs + 5000);
    hardStop.unref();
    running.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
