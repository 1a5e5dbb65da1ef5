import { ConfigError, createLogger, loadConfigFromProcess } from '@ictvoip/config';
import { startWorker } from './worker';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfigFromProcess();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel, name: 'worker', pretty: config.nodeEnv === 'development' && process.stdout.isTTY });
  const running = await startWorker(config, logger).catch((error: Error & { code?: string }) => {
    logger.fatal({ code: error.code }, error.message);
    process.exit(1);
  });
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'worker shutting down');
    const hardStop = setTimeout(() => process.exit(1), config.worker.shutdownDeadlineMs + 5000);
    hardStop.unref();
    running.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
}

void main();
