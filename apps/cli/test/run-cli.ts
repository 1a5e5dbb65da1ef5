import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../../..');
/** The `ictvoip` bin wrapper, as operators run it. */
export const BIN = join(ROOT, 'apps/cli/bin/ictvoip.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** the last stdout line parsed as JSON ({} when it is not JSON) */
  json: Record<string, unknown>;
}

export interface ProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `file args` to its end (killed after `timeoutMs`), collecting its output; `input` is piped to stdin. */
export function runProcess(file: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number; input?: string }): Promise<ProcessRun> {
  return new Promise((done, fail) => {
    const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', fail);
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs the real `ictvoip` binary (a separate process) with the bridge's environment; `input` is piped to stdin. */
export async function runCli(env: Record<string, string>, args: readonly string[], input?: string): Promise<CliRun> {
  const run = await runProcess(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'silent' }, input });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  } catch {
    json = {};
  }
  return { ...run, json };
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/**
 * Output with what each run generates replaced — row uuids, and a new user's add_date (the second it
 * was made, as user_edit.php writes it) — so two dry-runs can be compared.
 */
export function withoutGenerated(text: string): string {
  return text.replace(UUID, '<uuid>').replace(/"add_date":"[^"]+"/g, '"add_date":"<date>"');
}

interface Queryable {
  query<R extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/**
 * Every table of a database's public schema with its row count and a digest of its content: equal
 * before and after a command proves it wrote nothing there (not even an UPDATE to the same count).
 */
export async function databaseDigest(db: Queryable): Promise<Record<string, string>> {
  const { rows: tables } = await db.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
  );
  const digest: Record<string, string> = {};
  for (const { name } of tables) {
    const { rows } = await db.query<{ n: number; h: string }>(`SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h FROM "${name}" t`);
    digest[name] = `${rows[0]?.n}:${rows[0]?.h}`;
  }
  return digest;
}
