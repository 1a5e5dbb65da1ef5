import { ConfigError, createLogger, loadConfigFromProcess } from '@ictvoip/config';
import { startApi } from './server';

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
  const logger = createLogger({ level: config.logLevel, name: 'api', pretty: config.nodeEnv === 'development' && process.stdout.isTTY });
  const api = await startApi(config, logger).catch((error: Error & { code?: string }) => {
    logger.fatal({ code: error.code }, error.message);
    process.exit(1);
  });
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'api shutting down');
    const timer = setTimeout(() => process.exit(1), config.worker.shutdownDeadlineMs);
    timer.unref();
    api.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
}

void main();
