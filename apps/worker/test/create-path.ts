import { Session } from 'node:inspector/promises';
import { relative, sep } from 'node:path';

/**
 * Which project source files run code for one piece of work: V8 precise coverage with call counts,
 * read once to reset the counters after start-up and once after the work. Only functions whose count
 * went up in between are counted, so start-up code and modules merely imported do not inflate it.
 */
export interface SourceCounter {
  /** Resets the call counters; the next `files()` sees only what ran after this. */
  reset(): Promise<void>;
  /** Project source files (relative to the repository root) in which at least one function ran since `reset()`, each with the names of those functions. */
  files(): Promise<Map<string, string[]>>;
  stop(): Promise<void>;
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

export async function startSourceCounter(repoRoot: string): Promise<SourceCounter> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // The debugger only to read the compiled text of a script (to tell swc's export glue from code).
  await session.post('Debugger.enable');
  // callCount: counts since the last take; detailed: false is enough (function granularity).
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
  const take = async () => (await session.post('Profiler.takePreciseCoverage')).result;
  return {
    async reset() {
      await take();
    },
    async files() {
      const ran = new Map<string, string[]>();
      for (const script of await take()) {
        const path = projectPath(repoRoot, script.url);
        if (!path) continue;
        // The first range of a function is the whole function. Counters were reset, so a module's top level
        // (run once at import) reads 0 here.
        const called = script.functions.filter((fn) => fn.ranges[0]!.count > 0);
        if (called.length === 0) continue;
        const { scriptSource } = await session.post('Debugger.getScriptSource', { scriptId: script.scriptId });
        const own = called.filter((fn) => !isModuleGlue(fn.functionName, scriptSource.slice(fn.ranges[0]!.startOffset, fn.ranges[0]!.endOffset)));
        if (own.length > 0) ran.set(path, [...(ran.get(path) ?? []), ...own.map((fn) => fn.functionName || '(anonymous)')]);
      }
      return new Map([...ran].sort(([a], [b]) => a.localeCompare(b)));
    },
    async stop() {
      await session.post('Profiler.stopPreciseCoverage');
      await session.post('Profiler.disable');
      await session.post('Debugger.disable');
      session.disconnect();
    },
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
