import { spawn } from 'node:child_process';
import path from 'node:path';
import { LOG_FLUSH_MS } from '@ictvoip/config';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const CHILD = path.join(__dirname, 'fixtures', 'log-child.ts');

interface ChildRun {
  code: number | null;
  /** ms from the child's start until its first stdout byte (null: none). */
  firstLineAfterMs: number | null;
  stdout: string;
  /** ms from the child's start until it exited. */
  exitedAfterMs: number;
}

function runChild(mode: string): Promise<ChildRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'], env: { PATH: process.env.PATH ?? '' } });
    let started = 0;
    let firstLineAfterMs: number | null = null;
    let stdout = '';
    child.once('spawn', () => (started = Date.now()));
    child.stdout.on('data', (chunk: Buffer) => {
      if (firstLineAfterMs === null) firstLineAfterMs = Date.now() - started;
      stdout += chunk.toString('utf8');
    });
    child.once('close', (code) => resolve({ code, firstLineAfterMs, stdout, exitedAfterMs: Date.now() - started }));
  });
}

const lastLine = (run: ChildRun) => JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as { msg?: string; mode?: string };

describe('createLogger (production lines are buffered)', () => {
  it('writes a lone line within the flush interval while the process stays idle', async () => {
    const run = await runChild('idle');
    expect(lastLine(run)).toMatchObject({ msg: 'the last line', mode: 'idle' });
    // The child idles 3 s after logging: the line came from the periodic flush, not from the exit.
    expect(run.firstLineAfterMs).not.toBeNull();
    expect(run.exitedAfterMs - run.firstLineAfterMs!).toBeGreaterThan(3000 - LOG_FLUSH_MS * 4);
  }, 30_000);

  it('flushes the buffer when the process exits', async () => {
    const run = await runChild('exit');
    expect(run.code).toBe(3);
    expect(lastLine(run)).toMatchObject({ msg: 'the last line', mode: 'exit' });
  }, 30_000);

  it('flushes the buffer when the process dies of an uncaught exception', async () => {
    const run = await runChild('throw');
    expect(run.code).toBe(1);
    expect(lastLine(run)).toMatchObject({ msg: 'the last line', mode: 'throw' });
  }, 30_000);
});
