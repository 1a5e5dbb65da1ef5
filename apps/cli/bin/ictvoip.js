#!/usr/bin/env node
// The CLI runs compiled (dist/main.js, from `npm run build`, built here when it is missing);
// ICTVOIP_FROM_SOURCE=1 (set by the jest configs) runs src/main.ts through tsx instead. A compiled
// command other than `start` runs in this process: one node start-up instead of two, which is a fifth of
// a short command's CPU time (a signal reaches the command itself). `start`, and every command from
// source, runs as a child of this wrapper: start's supervisor treats its parent (this wrapper) leaving as
// a SIGTERM, so `nohup ictvoip start &` outlives the shell that ran it. SIGTERM/SIGINT/SIGHUP sent to the
// wrapper (by npm, a supervisor or `kill`) are passed on to the child, and the wrapper exits with the
// child's status (128 + the signal's number when killed).
const { spawn, spawnSync } = require('node:child_process');
const { constants } = require('node:os');
const path = require('node:path');
const { existsSync } = require('node:fs');

const fromSource = process.env.ICTVOIP_FROM_SOURCE === '1';
const main = fromSource ? path.join(__dirname, '..', 'src', 'main.ts') : path.join(__dirname, '..', 'dist', 'main.js');
const build = path.join(__dirname, '..', '..', '..', 'scripts', 'build.js');
if (!fromSource && !existsSync(main) && (!existsSync(build) || spawnSync(process.execPath, [build], { stdio: ['ignore', 2, 2] }).status !== 0)) {
  process.stderr.write('ictvoip: the CLI is not built (apps/cli/dist/main.js is missing): run "npm run build"\n');
  process.exit(1);
}
const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const inProcess = !fromSource && command !== 'start';

/**
 * `npm start` execs this from its `sh -c`, so npm passes SIGTERM and SIGINT straight on; a SIGHUP kills
 * npm without being passed on (and a script run without `exec` leaves a shell that keeps signals to
 * itself). When the launcher is gone this process is re-parented: under npm (or npx) that counts as a
 * SIGTERM. (Not otherwise: `nohup ictvoip start &` from a shell that then exits must keep running.)
 */
function watchLauncher(terminate) {
  if (!process.env.npm_lifecycle_event) return;
  const launcher = process.ppid;
  const orphanWatch = setInterval(() => {
    if (process.ppid === launcher) return;
    clearInterval(orphanWatch);
    terminate();
  }, 500);
  orphanWatch.unref();
}

if (inProcess) {
  watchLauncher(() => process.kill(process.pid, 'SIGTERM'));
  require(main);
} else {
  const launch = fromSource ? ['--import', 'tsx', main] : [main];
  const child = spawn(process.execPath, [...launch, ...process.argv.slice(2)], { stdio: 'inherit' });
  const running = () => child.exitCode === null && child.signalCode === null;
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(signal, () => {
      if (running()) child.kill(signal);
    });
  }
  watchLauncher(() => {
    if (running()) child.kill('SIGTERM');
  });
  child.once('error', (error) => {
    process.stderr.write(`ictvoip: ${error.message}\n`);
    process.exit(1);
  });
  child.once('exit', (code, signal) => {
    process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
  });
}
