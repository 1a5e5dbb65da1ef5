import { Session, type Debugger, type Profiler } from 'node:inspector';
import { relative, sep } from 'node:path';
import { Client } from 'pg';

/**
 * Which project source files run code for one piece of work: V8 precise coverage with call counts,
 * taken once to reset the counters after start-up, optionally once at a chosen moment (`mark()`), and
 * once after the work. Only functions whose count went up after the reset are counted, so start-up code
 * and modules merely imported do not inflate it.
 */
export interface SourceCounter {
  /** Resets the call counters; the next `files()` sees only what ran after this. */
  reset(): void;
  /**
   * Takes the coverage now, synchronously (the in-process inspector answers inside `post`): called from
   * a hook, it splits what ran before the hook from what ran after.
   */
  mark(): void;
  /** Whether `mark()` was called since the last `reset()`. */
  marked(): boolean;
  /** Project source files (relative to the repository root) in which at least one function ran between `reset()` and `mark()`, each with the names of those functions. */
  filesUntilMark(): Map<string, string[]>;
  /** The same for everything since `reset()` (with or without a mark in between). */
  files(): Map<string, string[]>;
  stop(): void;
}

/**
 * Not counted, named here so the exclusion is visible (everything else under apps/<name>/src and
 * packages/<name>/src counts):
 * - packages/config: the logger and config loading — infrastructure every line of the bridge uses;
 * - apps/<name>/src/metrics.ts: registers and observes Prometheus series (and wraps job logging);
 * - packages/whitelist: the chkcon whitelist file's 5-second poll timer, which fires whenever it is
 *   due; the webhook route does not consult the whitelist;
 * - packages/testkit: the test kit and its stand-ins (event socket, WHMCS) are not the bridge.
 */
export const EXCLUDED_INFRASTRUCTURE: readonly RegExp[] = [/^packages\/config\/src\//, /^apps\/[a-z-]+\/src\/metrics\.ts$/, /^packages\/whitelist\/src\//, /^packages\/testkit\//];

const PROJECT_SOURCE = /^(apps|packages)\/[a-z-]+\/src\/.+\.ts$/;

/**
 * One inspector call, answered before `post` returns: Node's in-process session dispatches the
 * message and runs the callback synchronously. Checked on every call, so a Node release that stops
 * doing so fails the measure instead of skewing it.
 */
function postSync<T>(session: Session, method: string, params?: object): T {
  let answered = false;
  let failure: Error | null = null;
  let result: T | undefined;
  session.post(method, params, (error: Error | null, value?: object) => {
    answered = true;
    failure = error;
    result = value as T;
  });
  if (!answered) throw new Error(`inspector ${method} did not answer synchronously`);
  if (failure) throw failure;
  return result as T;
}

export function startSourceCounter(repoRoot: string): SourceCounter {
  const session = new Session();
  session.connect();
  postSync(session, 'Profiler.enable');
  // The debugger only to read the compiled text of a script (to tell swc's export glue from code).
  postSync(session, 'Debugger.enable');
  // callCount: counts since the last take; detailed: false is enough (function granularity).
  postSync(session, 'Profiler.startPreciseCoverage', { callCount: true, detailed: false });
  const take = () => postSync<Profiler.TakePreciseCoverageReturnType>(session, 'Profiler.takePreciseCoverage').result;
  const sources = new Map<string, string>();
  const sourceOf = (scriptId: string) => {
    let source = sources.get(scriptId);
    if (source === undefined) {
      source = postSync<Debugger.GetScriptSourceReturnType>(session, 'Debugger.getScriptSource', { scriptId }).scriptSource;
      sources.set(scriptId, source);
    }
    return source;
  };
  const ranIn = (takes: Profiler.ScriptCoverage[][]) => {
    const ran = new Map<string, Set<string>>();
    for (const script of takes.flat()) {
      const path = projectPath(repoRoot, script.url);
      if (!path) continue;
      // The first range of a function is the whole function. Counters were reset, so a module's top level
      // (run once at import) reads 0 here.
      const called = script.functions.filter((fn) => fn.ranges[0]!.count > 0);
      if (called.length === 0) continue;
      const source = sourceOf(script.scriptId);
      const own = called.filter((fn) => !isModuleGlue(fn.functionName, source.slice(fn.ranges[0]!.startOffset, fn.ranges[0]!.endOffset)));
      if (own.length === 0) continue;
      const names = ran.get(path) ?? new Set<string>();
      for (const fn of own) names.add(fn.functionName || '(anonymous)');
      ran.set(path, names);
    }
    return new Map([...ran].sort(([a], [b]) => a.localeCompare(b)).map(([path, names]) => [path, [...names]]));
  };
  let untilMark: Profiler.ScriptCoverage[] | null = null;
  return {
    reset() {
      take();
      untilMark = null;
    },
    mark() {
      untilMark = take();
    },
    marked: () => untilMark !== null,
    filesUntilMark: () => ranIn(untilMark ? [untilMark] : []),
    files: () => ranIn(untilMark ? [untilMark, take()] : [take()]),
    stop() {
      postSync(session, 'Profiler.stopPreciseCoverage');
      postSync(session, 'Profiler.disable');
      postSync(session, 'Debugger.disable');
      session.disconnect();
    },
  };
}

/**
 * Calls `onMatch` (once) at the moment a statement whose text matches `pattern` is handed to the
 * PostgreSQL driver, before it is sent. Patches `pg`'s Client for the calling test only; the returned
 * function puts it back.
 */
export function onFirstQuery(pattern: RegExp, onMatch: () => void): () => void {
  const original = Client.prototype.query;
  let pending = true;
  const patched = function (this: Client, ...args: unknown[]): unknown {
    const [config] = args;
    const text = typeof config === 'string' ? config : (config as { text?: unknown } | null)?.text;
    if (pending && typeof text === 'string' && pattern.test(text)) {
      pending = false;
      onMatch();
    }
    return Reflect.apply(original, this, args);
  };
  Client.prototype.query = patched as typeof original;
  return () => {
    Client.prototype.query = original;
  };
}

function projectPath(repoRoot: string, url: string): string | null {
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  if (!file.startsWith(repoRoot)) return null;
  const path = relative(repoRoot, file).split(sep).join('/');
  if (path.includes('node_modules/') || !PROJECT_SOURCE.test(path)) return null;
  return EXCLUDED_INFRASTRUCTURE.some((rule) => rule.test(path)) ? null : path;
}

/**
 * What swc adds when it compiles ES exports to CommonJS: a getter per export (`get name () { return x; }`)
 * and `export *`'s forwarding getter. They run whenever another module reads an import, so a barrel
 * (index.ts) would count as "ran" without any of its own code running. Nothing else is glue.
 */
function isModuleGlue(functionName: string, text: string): boolean {
  if (/^_(export|export_star|interop_require_\w+)$/.test(functionName)) return true;
  if (/^get [\w$]+ \(\) \{\s*return [\w$]+(\.[\w$]+)?;\s*\}$/.test(text)) return true;
  return /^function\(\) \{\s*return from\[k\];\s*\}$/.test(text);
}
