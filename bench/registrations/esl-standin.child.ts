/**
 * Child of monitoring-poll.child.ts: the event-socket stand-in in a process of its own, so writing a
 * 7.8 MB `sofia xmlstatus` reply is not counted in the bridge's CPU. Listens on BENCH_ESL_PORT;
 * answers profile internal with the file BENCH_REPLY_FILE (read again when its size or mtime
 * changes: the parent replaces it between polls), profile external with no registrations. Prints
 * "esl stand-in ready" once listening; stops on SIGTERM.
 */
import { readFileSync, statSync } from 'node:fs';
import { startEslStandin } from '@ictvoip/testkit';

const replyFile = process.env.BENCH_REPLY_FILE ?? '';
let cached: { stamp: string; body: string } | null = null;

function reply(): string {
  const stat = statSync(replyFile);
  const stamp = `${stat.size}:${stat.mtimeMs}:${stat.ino}`;
  if (cached?.stamp !== stamp) cached = { stamp, body: readFileSync(replyFile, 'utf8') };
  return cached.body;
}

async function main(): Promise<void> {
  const esl = await startEslStandin({ port: Number(process.env.BENCH_ESL_PORT) });
  esl.respond("sofia xmlstatus profile 'internal' reg", () => reply());
  esl.respond("sofia xmlstatus profile 'external' reg", () => '<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n  </registrations>\n</profile>\n');
  process.stdout.write('esl stand-in ready\n');
  process.once('SIGTERM', () => {
    void esl.stop().then(() => process.exit(0));
  });
}

void main();
