import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadWhitelist, WhitelistError, type WhitelistLogger, type WhitelistSnapshot, type WhitelistWatcher } from '@ictvoip/whitelist';
import { waitFor, withTempDir } from './helpers';

interface Recorder {
  readonly logger: WhitelistLogger;
  readonly reloads: WhitelistSnapshot[];
  readonly errors: WhitelistError[];
  readonly logged: { level: string; object: object; message: string }[];
}

function recorder(): Recorder {
  const logged: Recorder['logged'] = [];
  const record = (level: string) => (object: object, message: string) => logged.push({ level, object, message });
  return { logger: { info: record('info'), warn: record('warn'), error: record('error') }, reloads: [], errors: [], logged };
}

describe('loadWhitelist / WhitelistWatcher', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let file: string;
  const watchers: WhitelistWatcher[] = [];

  async function start(initial: string, extra: { fsWatch?: boolean; pollIntervalMs?: number; debounceMs?: number } = {}) {
    await writeFile(file, initial);
    const rec = recorder();
    const watcher = await loadWhitelist({
      file,
      logger: rec.logger,
      debounceMs: extra.debounceMs ?? 30,
      pollIntervalMs: extra.pollIntervalMs ?? 0,
      fsWatch: extra.fsWatch ?? true,
      onReload: (snapshot) => rec.reloads.push(snapshot),
      onError: (error) => rec.errors.push(error),
    });
    watchers.push(watcher);
    return { watcher, rec };
  }

  beforeEach(async () => {
    ({ dir, cleanup } = await withTempDir());
    file = path.join(dir, 'chkcon_whitelist.conf');
  });

  afterEach(async () => {
    await Promise.all(watchers.splice(0).map((watcher) => watcher.close()));
    await cleanup();
  });

  test('start-up reads the file and exposes a snapshot', async () => {
    const before = Date.now();
    const { watcher } = await start('# lab\n10.0.0.0/8\n::1\n');
    const snapshot = watcher.current();
    expect(snapshot).toMatchObject({ file, entryCount: 2, generation: 1, lastError: null, lastErrorAt: null });
    expect(snapshot.loadedAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(watcher.isAllowed('10.1.2.3')).toBe(true);
    expect(watcher.isAllowed('::ffff:10.1.2.3')).toBe(true);
    expect(watcher.isAllowed('192.0.2.1')).toBe(false);
  });

  test('a bad line at start-up refuses to start with file:line in a typed error', async () => {
    await writeFile(file, '10.0.0.1\n\n10.0.0.0/40\n');
    const attempt = loadWhitelist({ file, pollIntervalMs: 0, fsWatch: false });
    await expect(attempt).rejects.toBeInstanceOf(WhitelistError);
    await expect(attempt).rejects.toMatchObject({ code: 'WHITELIST_INVALID', file });
    await expect(attempt).rejects.toThrow(`${file}:3:`);
  });

  test('a missing file at start-up is a clear error naming the path', async () => {
    const missing = path.join(dir, 'nope.conf');
    const attempt = loadWhitelist({ file: missing, pollIntervalMs: 0, fsWatch: false });
    await expect(attempt).rejects.toMatchObject({ code: 'WHITELIST_FILE_MISSING', file: missing });
    await expect(attempt).rejects.toThrow(missing);
  });

  test('a relative path is resolved against the working directory', async () => {
    await writeFile(file, '127.0.0.1\n');
    const watcher = await loadWhitelist({ file: path.relative(process.cwd(), file), pollIntervalMs: 0, fsWatch: false });
    watchers.push(watcher);
    expect(watcher.file).toBe(file);
  });

  test('an empty file starts and denies everyone', async () => {
    const { watcher } = await start('# nobody yet\n');
    expect(watcher.current().entryCount).toBe(0);
    expect(watcher.isAllowed('127.0.0.1')).toBe(false);
    expect(watcher.isAllowed('::1')).toBe(false);
  });

  test('hot reload: a rewritten file puts the new rule in force', async () => {
    const { watcher, rec } = await start('192.0.2.1\n');
    expect(watcher.isAllowed('198.51.100.7')).toBe(false);
    await writeFile(file, '192.0.2.1\n198.51.100.0/24  # added\n');
    await waitFor(() => rec.reloads.length === 1);
    expect(watcher.isAllowed('198.51.100.7')).toBe(true);
    expect(watcher.current()).toMatchObject({ entryCount: 2, generation: 2, lastError: null });
    expect(rec.logged.some((entry) => entry.level === 'info' && entry.message.includes('reloaded'))).toBe(true);
  });

  test('hot reload can also remove a rule', async () => {
    const { watcher, rec } = await start('192.0.2.1\n192.0.2.2\n');
    await writeFile(file, '192.0.2.2\n');
    await waitFor(() => rec.reloads.length === 1);
    expect(watcher.isAllowed('192.0.2.1')).toBe(false);
    expect(watcher.isAllowed('192.0.2.2')).toBe(true);
  });

  test('a bad reload keeps the last good list and reports file and line', async () => {
    const { watcher, rec } = await start('192.0.2.1\n');
    await writeFile(file, '192.0.2.1\n# comment\n198.51.100.0/24\nnot-an-ip\n');
    await waitFor(() => rec.errors.length === 1);
    const [error] = rec.errors;
    expect(error).toBeInstanceOf(WhitelistError);
    expect(error).toMatchObject({ code: 'WHITELIST_INVALID', file });
    expect(error!.lineErrors.map((line) => [line.file, line.line, line.text])).toEqual([[file, 4, 'not-an-ip']]);
    expect(error!.message).toContain(`${file}:4:`);
    // nothing half-applied: the valid new line 3 is NOT in force
    expect(watcher.isAllowed('198.51.100.7')).toBe(false);
    expect(watcher.isAllowed('192.0.2.1')).toBe(true);
    expect(watcher.current()).toMatchObject({ generation: 1, entryCount: 1, lastError: error });
    expect(watcher.current().lastErrorAt).toBeInstanceOf(Date);
    const logged = rec.logged.find((entry) => entry.level === 'error');
    expect(logged?.message).toContain(`${file}:4:`);
    expect(logged?.object).toMatchObject({ file, code: 'WHITELIST_INVALID', lines: [4] });

    // fixing the file clears the error and applies the fix
    await writeFile(file, '192.0.2.1\n198.51.100.0/24\n');
    await waitFor(() => rec.reloads.length === 1);
    expect(watcher.isAllowed('198.51.100.7')).toBe(true);
    expect(watcher.current()).toMatchObject({ generation: 2, lastError: null, lastErrorAt: null });
  });

  test('a deleted file keeps the last good list; the file coming back is picked up', async () => {
    const { watcher, rec } = await start('192.0.2.1\n');
    await rm(file);
    await waitFor(() => rec.errors.length === 1);
    expect(rec.errors[0]).toMatchObject({ code: 'WHITELIST_FILE_MISSING' });
    expect(watcher.isAllowed('192.0.2.1')).toBe(true);
    await writeFile(file, '192.0.2.9\n');
    await waitFor(() => rec.reloads.length === 1);
    expect(watcher.isAllowed('192.0.2.9')).toBe(true);
    expect(watcher.isAllowed('192.0.2.1')).toBe(false);
  });

  test('a file replaced by rename (editor save) is picked up, repeatedly', async () => {
    const { watcher, rec } = await start('192.0.2.1\n');
    for (const [round, address] of ['198.51.100.1', '203.0.113.1'].entries()) {
      const temp = path.join(dir, `.chkcon_whitelist.conf.swp${round}`);
      await writeFile(temp, `${address}\n`);
      await rename(temp, file);
      await waitFor(() => rec.reloads.length === round + 1);
      expect(watcher.isAllowed(address)).toBe(true);
    }
    expect(watcher.isAllowed('192.0.2.1')).toBe(false);
    expect(watcher.current().generation).toBe(3);
  });

  test('polling alone (no fs.watch) picks up a change', async () => {
    const { watcher, rec } = await start('192.0.2.1\n', { fsWatch: false, pollIntervalMs: 50 });
    await writeFile(file, '192.0.2.1\n192.0.2.77\n');
    await waitFor(() => rec.reloads.length === 1);
    expect(watcher.isAllowed('192.0.2.77')).toBe(true);
  });

  test('a burst of writes is debounced into one reload of the final content', async () => {
    // a wide debounce window so a slow CI machine cannot split the burst
    const { watcher, rec } = await start('192.0.2.1\n', { debounceMs: 400 });
    // Write k holds k addresses, so a reload's entryCount tells which content it read.
    const lines = (count: number) => Array.from({ length: count }, (_, i) => `192.0.2.${i + 1}\n`).join('');
    for (let index = 2; index <= 6; index += 1) await writeFile(file, lines(index));
    await waitFor(() => rec.reloads.length >= 1);
    expect(watcher.isAllowed('192.0.2.6')).toBe(true);
    // Instead of a fixed wait for a stray second reload: one more change, and its reload. A burst
    // split in two would show a reload of part of it (fewer than 6 entries) before this one.
    await writeFile(file, lines(7));
    await waitFor(() => rec.reloads.length >= 2);
    expect(rec.reloads.map((reload) => reload.entryCount)).toEqual([6, 7]);
  });

  test('reloading the same content twice is a no-op', async () => {
    const { watcher, rec } = await start('192.0.2.1\n', { fsWatch: false });
    expect(await watcher.reloadNow()).toBe('unchanged');
    await writeFile(file, '192.0.2.2\n');
    expect(await watcher.reloadNow()).toBe('reloaded');
    expect(await watcher.reloadNow()).toBe('unchanged');
    expect(rec.reloads).toHaveLength(1);
    expect(watcher.current().generation).toBe(2);
  });

  test('concurrent reloadNow calls share one reload', async () => {
    const { watcher, rec } = await start('192.0.2.1\n', { fsWatch: false });
    await writeFile(file, '192.0.2.3\n');
    const outcomes = await Promise.all([watcher.reloadNow(), watcher.reloadNow(), watcher.reloadNow()]);
    expect(outcomes).toEqual(['reloaded', 'reloaded', 'reloaded']);
    expect(rec.reloads).toHaveLength(1);
  });

  test('host-bit warnings are logged with file and line', async () => {
    const { watcher, rec } = await start('10.1.2.3/8\n');
    expect(watcher.isAllowed('10.200.0.1')).toBe(true);
    const warning = rec.logged.find((entry) => entry.level === 'warn');
    expect(warning?.message).toContain(`${file}:1: host bits set`);
    expect(watcher.current().warnings).toHaveLength(1);
  });

  test('close() stops watching: later changes are ignored', async () => {
    const { watcher, rec } = await start('192.0.2.1\n', { pollIntervalMs: 30 });
    await watcher.close();
    // A second, open watcher of the same file with the same settings is the clock: once it has
    // seen two changes, the closed one would have seen the first (instead of a fixed wait).
    const control = await start('192.0.2.1\n', { pollIntervalMs: 30 });
    await writeFile(file, '192.0.2.8\n');
    await waitFor(() => control.rec.reloads.length === 1);
    await writeFile(file, '192.0.2.9\n');
    await waitFor(() => control.rec.reloads.length === 2);
    expect(rec.reloads).toHaveLength(0);
    expect(watcher.isAllowed('192.0.2.1')).toBe(true);
    await watcher.close(); // closing twice is harmless
  });
});
