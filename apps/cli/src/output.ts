import { InvalidArgumentError } from 'commander';
import { ConfigError, loadConfigFromProcess, type BridgeConfig } from '@ictvoip/config';

/** A failure the operator can act on; `exitCode` 2 means "ran fine, the answer is no" (e.g. drift found). */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface JsonOption {
  json?: boolean;
}

let cachedConfig: BridgeConfig | null = null;

/** The environment's configuration, validated once; a bad variable becomes a clear CLI error. */
export function config(): BridgeConfig {
  if (cachedConfig) return cachedConfig;
  try {
    cachedConfig = loadConfigFromProcess();
    return cachedConfig;
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.code, error.message);
    throw error;
  }
}

/** Writes the result: JSON for scripts, or the human text. */
export function emit(options: JsonOption, value: unknown, human: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, bigintSafe)}\n` : `${human()}\n`);
}

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** Progress for long work, on stderr so stdout stays parseable; silent with --json. */
export function progress(options: JsonOption, message: string): void {
  if (!options.json) process.stderr.write(`… ${message}\n`);
}

function describe(error: unknown): { code: string; message: string; exitCode: number } {
  if (error instanceof CliError) return { code: error.code, message: error.message, exitCode: error.exitCode };
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'FAILED';
  return { code, message: error instanceof Error ? error.message : String(error), exitCode: 1 };
}

/**
 * Wraps a command action: any error becomes `ictvoip: <message>` on stderr (plus a JSON error object
 * on stdout with --json) and a non-zero exit code.
 */
export function action<Args extends unknown[]>(work: (...args: Args) => Promise<void>): (...args: Args) => Promise<void> {
  return async (...args: Args) => {
    try {
      await work(...args);
    } catch (error) {
      const { code, message, exitCode } = describe(error);
      const options = args.find((arg): arg is JsonOption => typeof arg === 'object' && arg !== null && 'json' in arg);
      if (options?.json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
      process.stderr.write(`ictvoip: ${message}\n`);
      process.exitCode = exitCode;
    }
  };
}

/** Positive integer option (service ids); refuses anything else by name. */
export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    if (!/^[1-9]\d{0,15}$/.test(value)) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return Number(value);
  };
}
