/**
 * Loads chkcon_whitelist.conf and keeps it current.
 *
 * - Start-up is strict: a missing file or any bad line throws WhitelistError, so the process
 *   refuses to start rather than run with a list the operator did not intend.
 * - Reloads are forgiving: a bad or missing file is reported (logger + onError) and the last
 *   good list stays in force; a good file replaces the list in one reference swap.
 * - Change detection: fs.watch on the DIRECTORY (editors and config-management tools replace the
 *   file by rename, which a watch on the file's inode would miss after the first swap) plus a slow
 *   stat poll, because fs.watch is unreliable on network and container-mounted filesystems.
 *   Every signal is debounced; reloads run one at a time and identical content is skipped.
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, type Stats, promises as fsp, watch } from 'node:fs';
import path from 'node:path';
import { WhitelistError, type WhitelistLineError } from './errors';
import { compileWhitelist, Whitelist } from './whitelist';

/** Structural subset of pino's logger, so any pino instance (or console wrapper) fits. */
export interface WhitelistLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface LoadWhitelistOptions {
  /** Path to the whitelist file; relative paths resolve against process.cwd(). */
  readonly file: string;
  readonly logger?: WhitelistLogger;
  /** Quiet period after the last change signal before reloading. Default 200 ms. */
  readonly debounceMs?: number;
  /** Stat-poll interval; 0 disables polling. Default 5000 ms. */
  readonly pollIntervalMs?: number;
  /** Use fs.watch on the directory. Default true. */
  readonly fsWatch?: boolean;
  /** Called after a reload put a new list in force. */
  readonly onReload?: (snapshot: WhitelistSnapshot) => void;
  /** Called when a reload failed; the previous list stays in force. */
  readonly onError?: (error: WhitelistError) => void;
}

export interface WhitelistSnapshot {
  readonly file: string;
  readonly entryCount: number;
  /** When the list now in force was loaded. */
  readonly loadedAt: Date;
  /** How many lists have been put in force (1 after start-up). */
  readonly generation: number;
  /** The latest failed reload, cleared by the next successful one. */
  readonly lastError: WhitelistError | null;
  readonly lastErrorAt: Date | null;
  readonly warnings: readonly WhitelistLineError[];
}

export type ReloadOutcome = 'reloaded' | 'unchanged' | 'failed';

const DEFAULT_DEBOUNCE_MS = 200;
const DEFAULT_POLL_MS = 5000;
/** A whitelist is a handful of lines; refuse absurd files instead of reading them into memory. */
const MAX_FILE_BYTES = 1024 * 1024;

const silentLogger: WhitelistLogger = { info() {}, warn() {}, error() {} };

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function statSignature(stats: Stats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === code;
}

async function readWhitelistFile(file: string): Promise<string> {
  try {
    const stats = await fsp.stat(file);
    if (stats.size > MAX_FILE_BYTES) {
      throw new WhitelistError('WHITELIST_TOO_LARGE', `whitelist file ${file} is larger than ${MAX_FILE_BYTES} bytes`, file);
    }
    return await fsp.readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof WhitelistError) throw error;
    if (isErrno(error, 'ENOENT')) {
      throw new WhitelistError('WHITELIST_FILE_MISSING', `whitelist file not found: ${file} (set CHKCON_WHITELIST_FILE)`, file);
    }
    const reason = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new WhitelistError('WHITELIST_READ_FAILED', `cannot read whitelist file ${file}: ${reason}`, file);
  }
}

export class WhitelistWatcher {
  private list: Whitelist;
  private snapshot: WhitelistSnapshot;
  private lastAttemptHash: string;
  private readonly logger: WhitelistLogger;
  private dirWatcher: FSWatcher | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private lastStat = '';
  private reloading: Promise<ReloadOutcome> | null = null;
  private reloadAgain = false;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly options: LoadWhitelistOptions,
    initial: { whitelist: Whitelist; warnings: readonly WhitelistLineError[]; hash: string },
  ) {
    this.logger = options.logger ?? silentLogger;
    this.list = initial.whitelist;
    this.lastAttemptHash = initial.hash;
    this.snapshot = {
      file,
      entryCount: initial.whitelist.size,
      loadedAt: new Date(),
      generation: 1,
      lastError: null,
      lastErrorAt: null,
      warnings: initial.warnings,
    };
  }

  /** Reads and validates the file (throws WhitelistError), then starts watching it. */
  static async start(options: LoadWhitelistOptions): Promise<WhitelistWatcher> {
    const file = path.resolve(options.file);
    const text = await readWhitelistFile(file);
    const compiled = compileWhitelist(text, file);
    const watcher = new WhitelistWatcher(file, options, { ...compiled, hash: hashOf(text) });
    watcher.logWarnings(compiled.warnings);
    watcher.logger.info({ file, entries: compiled.whitelist.size }, 'chkcon whitelist loaded');
    await watcher.startWatching();
    return watcher;
  }

  /** The list in force right now. Callers should not cache it across requests. */
  get whitelist(): Whitelist {
    return this.list;
  }

  isAllowed(peer: unknown): boolean {
    return this.list.isAllowed(peer);
  }

  current(): WhitelistSnapshot {
    return this.snapshot;
  }

  /**
   * Re-reads the file now (also what the watchers trigger). Concurrent calls share one read;
   * a signal arriving during a read causes exactly one more read afterwards.
   */
  reloadNow(): Promise<ReloadOutcome> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = this.reloadLoop().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.dirWatcher?.close();
    this.debounceTimer = null;
    this.pollTimer = null;
    this.dirWatcher = null;
    await this.reloading?.catch(() => undefined);
  }

  private async reloadLoop(): Promise<ReloadOutcome> {
    // A follow-up pass over the same content says 'unchanged'; report what actually happened.
    let outcome: ReloadOutcome = 'unchanged';
    do {
      this.reloadAgain = false;
      const pass = await this.reloadOnce();
      if (pass !== 'unchanged') outcome = pass;
    } while (this.reloadAgain && !this.closed);
    return outcome;
  }

  private async reloadOnce(): Promise<ReloadOutcome> {
    let text: string;
    try {
      text = await readWhitelistFile(this.file);
    } catch (error) {
      return this.reportFailure(error as WhitelistError, null);
    }
    const hash = hashOf(text);
    if (hash === this.lastAttemptHash) return 'unchanged';
    if (this.closed) return 'unchanged';
    try {
      const compiled = compileWhitelist(text, this.file);
      this.applyNewList(compiled.whitelist, compiled.warnings, hash);
      return 'reloaded';
    } catch (error) {
      return this.reportFailure(error as WhitelistError, hash);
    }
  }

  private applyNewList(whitelist: Whitelist, warnings: readonly WhitelistLineError[], hash: string): void {
    this.list = whitelist;
    this.lastAttemptHash = hash;
    this.snapshot = {
      file: this.file,
      entryCount: whitelist.size,
      loadedAt: new Date(),
      generation: this.snapshot.generation + 1,
      lastError: null,
      lastErrorAt: null,
      warnings,
    };
    this.logWarnings(warnings);
    this.logger.info({ file: this.file, entries: whitelist.size }, 'chkcon whitelist reloaded');
    this.options.onReload?.(this.snapshot);
  }

  /** `hash` is null when the file could not be read: retry on the next signal regardless of content. */
  private reportFailure(error: WhitelistError, hash: string | null): ReloadOutcome {
    if (hash !== null) this.lastAttemptHash = hash;
    else this.lastAttemptHash = '';
    this.snapshot = { ...this.snapshot, lastError: error, lastErrorAt: new Date() };
    this.logger.error(
      { file: this.file, code: error.code, lines: error.lineErrors.map((line) => line.line) },
      `chkcon whitelist reload failed, keeping the previous list: ${error.message}`,
    );
    this.options.onError?.(error);
    return 'failed';
  }

  private logWarnings(warnings: readonly WhitelistLineError[]): void {
    for (const warning of warnings) {
      this.logger.warn({ file: warning.file, line: warning.line }, warning.message);
    }
  }

  private async startWatching(): Promise<void> {
    if (this.options.fsWatch !== false) this.watchDirectory();
    const interval = this.options.pollIntervalMs ?? DEFAULT_POLL_MS;
    if (interval <= 0) return;
    this.lastStat = await this.statSignatureOrEmpty();
    this.pollTimer = setInterval(() => void this.poll(), interval);
    this.pollTimer.unref();
  }

  /**
   * Any event in the directory schedules a reload: symlink swaps (Kubernetes ConfigMaps change
   * `..data`, not the file name) would be missed by a filename filter, and identical content
   * is skipped by hash anyway.
   */
  private watchDirectory(): void {
    try {
      this.dirWatcher = watch(path.dirname(this.file), { persistent: false }, () => this.scheduleReload());
      this.dirWatcher.on('error', (error) => {
        this.logger.warn({ file: this.file, err: error.message }, 'directory watch failed; relying on polling');
        this.dirWatcher?.close();
        this.dirWatcher = null;
      });
    } catch (error) {
      this.logger.warn({ file: this.file, err: (error as Error).message }, 'cannot watch directory; relying on polling');
    }
  }

  private async poll(): Promise<void> {
    const signature = await this.statSignatureOrEmpty();
    if (signature === this.lastStat) return;
    this.lastStat = signature;
    this.scheduleReload();
  }

  private async statSignatureOrEmpty(): Promise<string> {
    try {
      return statSignature(await fsp.stat(this.file));
    } catch {
      return '';
    }
  }

  private scheduleReload(): void {
    if (this.closed) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      void this.reloadNow();
    }, this.options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.debounceTimer.unref();
  }
}

/** Reads, validates and starts watching the whitelist file. Throws WhitelistError on a bad start. */
export function loadWhitelist(options: LoadWhitelistOptions): Promise<WhitelistWatcher> {
  return WhitelistWatcher.start(options);
}
