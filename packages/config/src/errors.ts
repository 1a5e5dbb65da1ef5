export interface ConfigProblem {
  variable: string;
  message: string;
}

/** Thrown at start-up; the message lists every bad variable (names only, never values). */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p.variable}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * A start-up failure the operator fixes in the file or setting its message names (a bad provisioning
 * file, a whitelist line): like a bad variable, the process exits EX_CONFIG and `ictvoip start` stops
 * instead of restarting it. A package that does not depend on this one carries the marker without importing it.
 */
export interface SettingFault {
  readonly settingFault: true;
}

export function isSettingFault(error: unknown): error is Error & SettingFault {
  return error instanceof Error && (error as Partial<SettingFault>).settingFault === true;
}
