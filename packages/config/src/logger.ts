import pino, { type Logger } from 'pino';

/** Paths whose values are replaced before a line is written, wherever they appear in a log object. */
export const REDACTED_PATHS = [
  'secret', 'password', 'token', 'apiKey', 'authorization',
  '*.secret', '*.password', '*.servicePassword', '*.token', '*.apiKey', '*.authorization', '*.accesshash',
  'secrets', '*.secrets', 'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-ictvoip-signature"]',
  'config.webhook.secrets', 'config.sealing', 'config.adminToken', 'config.esl.password', 'config.whmcs.secret',
];

export interface LoggerOptions {
  level: string;
  name: string;
  pretty?: boolean;
  destination?: pino.DestinationStream;
}

export type { Logger };

/** Lines are written in batches of this many bytes, and at least every LOG_FLUSH_MS. */
export const LOG_BUFFER_BYTES = 4096;
export const LOG_FLUSH_MS = 250;

/**
 * JSON lines in production; readable lines on a developer's terminal. Production lines are
 * buffered: one write per line cost the API more per webhook than the HMAC check. pino flushes the
 * buffer when the process exits (a crash included); only a kill -9 loses the last LOG_FLUSH_MS.
 */
export function createLogger(options: LoggerOptions): Logger {
  const base = { level: options.level, name: options.name, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty) return pino({ ...base, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  return pino(base, pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS }));
}
