import type { DestinationStream, Logger } from 'pino';

/**
 * pino, loaded by the first createLogger: the CLI imports this package for its configuration and logs
 * nothing, and loading pino was a tenth of a short command's start-up.
 */
function pino(): typeof import('pino') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('pino') as typeof import('pino');
}

/** Paths whose values are replaced before a line is written, wherever they appear in a log object. */
export const REDACTED_PATHS = [
  'secret',
  'password',
  'token',
  'apiKey',
  'authorization',
  '*.secret',
  '*.password',
  '*.servicePassword',
  '*.token',
  '*.apiKey',
  '*.authorization',
  '*.accesshash',
  'secrets',
  '*.secrets',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-ictvoip-signature"]',
  'config.webhook.secrets',
  'config.sealing',
  'config.adminToken',
  'config.esl.password',
  'config.whmcs.secret',
];

export interface LoggerOptions {
  level: string;
  name: string;
  pretty?: boolean;
  destination?: DestinationStream;
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
  const create = pino();
  if (options.destination) return withPrimitivesUnredacted(create(base, options.destination));
  if (options.pretty)
    return withPrimitivesUnredacted(create({ ...base, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }));
  return withPrimitivesUnredacted(create(base, create.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS })));
}

/** The paths that censor a field itself, whatever its value (`secret`, not `*.secret`). */
const WHOLE_FIELD_PATHS = new Set(REDACTED_PATHS.filter((path) => !/[.[]/.test(path)));

type Stringifier = (value: unknown, stringifySafe?: unknown) => string | undefined;

/**
 * pino compiles one redactor per top-level key of the paths (`req`, `config`) plus one for `*.x`, which it
 * runs on every field of every line and every child binding; @pinojs/redact 0.4 then clones and re-parses
 * all its paths on each call, primitives included: 18 KB of garbage and ~10 µs for the five-field line of
 * each webhook. A string, number, boolean or null has no member a nested path could reach, so for those
 * the line gets what that redactor would have returned (JSON.stringify of the value, as pino's own
 * serializer) without the call. The whole-field censors (`secret`, `password`, …) are left alone: they
 * replace any value. Objects, errors and arrays still go through pino's redactors. Should pino's internals
 * change shape, nothing is wrapped and lines are redacted as before, only slower
 * (test: packages/config/test/logger-redaction.test.ts compares the lines with plain pino's).
 */
function withPrimitivesUnredacted(logger: Logger): Logger {
  const stringifiers: unknown = Reflect.get(logger, pino().symbols.stringifiersSym);
  if (stringifiers === null || typeof stringifiers !== 'object') return logger;
  const table = stringifiers as Record<string | symbol, unknown>;
  for (const key of [...Object.keys(table), ...Object.getOwnPropertySymbols(table)]) {
    const redact = table[key];
    if (typeof redact !== 'function' || (typeof key === 'string' && WHOLE_FIELD_PATHS.has(key))) continue;
    const nested = redact as Stringifier;
    table[key] = ((value, stringifySafe) =>
      value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? JSON.stringify(value) : nested(value, stringifySafe)) as Stringifier;
  }
  return logger;
}

export interface RateLimitedWarnOptions {
  /** One line per key per interval (default 60 s). */
  intervalMs?: number;
  /** The clock, for tests (default Date.now). */
  now?: () => number;
  /** Schedules the end of an interval, for tests (default an unref'd setTimeout). */
  schedule?: (callback: () => void, ms: number) => { cancel(): void };
}

export interface RateLimitedWarn {
  /**
   * Logs `message` at warn level the first time it (or `key`) is seen in an interval; later calls in
   * the interval are counted, and when it ends one line says how many there were:
   * `<message> (repeated 57 times in the last 60 s)`, with the last call's fields and `repeated: 57`.
   */
  (fields: Record<string, unknown>, message: string, key?: string): void;
  /** Writes the pending counts now and stops the timers (at shutdown). */
  flush(): void;
}

interface WarnWindow {
  started: number;
  repeated: number;
  fields: Record<string, unknown>;
  message: string;
  timer: { cancel(): void };
}

function defaultSchedule(callback: () => void, ms: number): { cancel(): void } {
  const timer = setTimeout(callback, ms);
  timer.unref?.();
  return { cancel: () => clearTimeout(timer) };
}

/**
 * Rate-limits identical warnings (an event socket that is down, a pool that cannot connect): a
 * retry loop or a poll must not print the same line hundreds of times a minute, and the count must
 * still be visible.
 */
export interface WarnSink {
  warn(fields: Record<string, unknown>, message: string): void;
}

export function rateLimitedWarn(logger: WarnSink, options: RateLimitedWarnOptions = {}): RateLimitedWarn {
  const intervalMs = options.intervalMs ?? 60_000;
  const now = options.now ?? Date.now;
  const schedule = options.schedule ?? defaultSchedule;
  const windows = new Map<string, WarnWindow>();

  const close = (key: string, window: WarnWindow, reopen: boolean): void => {
    windows.delete(key);
    if (window.repeated === 0) return;
    const elapsed = reopen ? intervalMs : now() - window.started;
    const seconds = Number((elapsed / 1000).toFixed(elapsed < 10_000 ? 1 : 0));
    logger.warn(
      { ...window.fields, repeated: window.repeated },
      `${window.message} (repeated ${window.repeated} time${window.repeated === 1 ? '' : 's'} in the last ${seconds} s)`,
    );
    if (reopen) open(key, window.fields, window.message);
  };
  const open = (key: string, fields: Record<string, unknown>, message: string): void => {
    const window: WarnWindow = { started: now(), repeated: 0, fields, message, timer: { cancel() {} } };
    window.timer = schedule(() => close(key, window, true), intervalMs);
    windows.set(key, window);
  };

  const warn = ((fields: Record<string, unknown>, message: string, key = message) => {
    const window = windows.get(key);
    if (window) {
      window.repeated += 1;
      window.fields = fields;
      return;
    }
    logger.warn(fields, message);
    open(key, fields, message);
  }) as RateLimitedWarn;
  warn.flush = () => {
    for (const [key, window] of [...windows]) {
      window.timer.cancel();
      close(key, window, false);
    }
  };
  return warn;
}
