import { readFileSync } from 'node:fs';
import { ConfigError, loadConfigFromProcess, type BridgeConfig } from './config';
import { isSettingFault } from './errors';
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
/** The parent pid of `pid` from /proc (Linux), or null when it cannot be read. */
function parentOf(pid: number): number | null {
  try {
    // "pid (comm) state ppid …"; comm may contain spaces and parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

/** Whether `pid` is the tsx command-line wrapper (`node …/.bin/tsx main.ts`), not a node process loading tsx. */
function isTsxWrapper(pid: number): boolean {
  try {
    const script = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1] ?? '';
    return /(^|\/)tsx$|\/tsx\/dist\/cli\.[cm]?js$/.test(script);
  } catch {
    return false;
  }
}

/**
 * Calls `gone` once when whatever launched this process has exited. `npm run start:api` execs it
 * from `sh -c "…"`, but npm dies of a SIGHUP without passing it on, and a script without `exec` leaves
 * a shell that keeps a SIGTERM to itself (dash): the process is re-parented and would run on unseen. So a changed parent counts as a SIGTERM; when the
 * parent is the tsx wrapper (which passes signals on but is itself left running), its parent counts.
 * Linux (/proc) for the tsx case; elsewhere only a changed parent is seen.
 */
export function watchLauncher(gone: () => void, everyMs = 500): () => void {
  const parent = process.ppid;
  const grandparent = isTsxWrapper(parent) ? parentOf(parent) : null;
  const timer = setInterval(() => {
    const orphaned = process.ppid !== parent || (grandparent !== null && parentOf(parent) !== grandparent);
    if (!orphaned) return;
    clearInterval(timer);
    gone();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

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
    // A file or setting to fix is not a crash: a supervisor that restarts on exit 1 would only repeat it.
    process.exit(isSettingFault(error) ? EXIT_CONFIG : 1);
  });
  let closing = false;
  const shutdown = (signal: string) => {
    // A Ctrl-C in a terminal reaches this process and its parent (`npm start`), which sends SIGTERM too: one shutdown.
    if (closing) return;
    closing = true;
    logger.info({ signal }, `${name} shutting down`);
    const hardStop = setTimeout(() => process.exit(1), config.worker.shutdownDeadlineMs + 5000);
    hardStop.unref();
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => shutdown('SIGHUP'));
  // Only under npm (`npm run start:api`): a process started with nohup/setsid from a shell that then
  // exits is re-parented too, and must keep running.
  if (process.env.npm_lifecycle_event) watchLauncher(() => shutdown('launcher exited'));
}
