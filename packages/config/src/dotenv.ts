/**
 * `.env` support without a dependency: Node's own parser (`util.parseEnv`, the one behind
 * `process.loadEnvFile`, Node >= 20.12) after a line check of our own, because Node's parser
 * silently turns a malformed line into a strange variable (or swallows the lines after an
 * unterminated quote) instead of failing.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError, type ConfigProblem } from './errors';

export interface DotEnvOptions {
  /** Folder holding `.env` (default: the working directory). */
  dir?: string;
  /** Where the values go (default: process.env); a name already present there is never overwritten. */
  env?: Record<string, string | undefined>;
}

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/;

/** Every malformed line of a `.env` text, as `<file> line <n>` problems (never the line itself: it may hold a secret). */
export function dotEnvProblems(text: string, file: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index]!;
    if (/^\s*(#.*)?$/.test(line)) continue;
    const match = ASSIGNMENT.exec(line);
    const where = `${file} line ${index + 1}`;
    if (match === null) {
      problems.push({ variable: where, message: 'is not NAME=value (a name is letters, digits and _, not starting with a digit)' });
      continue;
    }
    const value = match[2]!;
    const quote = value[0];
    if (quote !== '"' && quote !== "'" && quote !== '`') continue;
    // A quoted value may span lines; it must be closed somewhere.
    const rest = [value.slice(1), ...lines.slice(index + 1)].join('\n');
    const close = rest.indexOf(quote);
    if (close < 0) {
      problems.push({ variable: where, message: `${match[1]}: the quoted value is never closed (missing ${quote})` });
      break;
    }
    index += rest.slice(0, close).split('\n').length - 1;
  }
  return problems;
}

/**
 * Reads `<dir>/.env` into `env`, leaving every variable that is already set alone (the real
 * environment wins, as with `process.loadEnvFile`). A missing file is fine (returns null); an
 * unreadable or malformed one throws a ConfigError naming the file and line. Returns the file read.
 */
export function loadDotEnv(options: DotEnvOptions = {}): string | null {
  const file = resolve(options.dir ?? process.cwd(), '.env');
  const env = options.env ?? process.env;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new ConfigError([{ variable: file, message: `cannot be read (${code ?? 'error'})` }]);
  }
  const problems = dotEnvProblems(text, file);
  if (problems.length > 0) throw new ConfigError(problems);
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (value !== undefined && !(name in env)) env[name] = value;
  }
  return file;
}
