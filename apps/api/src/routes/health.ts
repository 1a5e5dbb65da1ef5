import { Router } from 'express';
import type { FreeswitchOwedSummary } from '@ictvoip/store';
import type { ApiDeps, ReadinessCheck } from '../deps';

const CHECK_TIMEOUT_MS = 2000;

interface CheckResult {
  status: 'up' | 'down';
  latencyMs: number;
  error?: string;
}

async function runCheck(check: ReadinessCheck): Promise<CheckResult> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number((process.hrtime.bigint() - started) / 1000n) / 1000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { status: 'up', latencyMs: elapsed() };
  } catch (error) {
    return { status: 'down', latencyMs: elapsed(), error: error instanceof Error ? error.message : 'failed' };
  } finally {
    clearTimeout(timer);
  }
}

/** The registered servers' checks; a registry that cannot be read is one failed check. */
async function serverResults(deps: ApiDeps): Promise<Record<string, CheckResult>> {
  if (!deps.serverReadiness) return {};
  let checks: Record<string, ReadinessCheck>;
  try {
    checks = await deps.serverReadiness();
  } catch (error) {
    return { 'fusionpbx:registry': { status: 'down', latencyMs: 0, error: error instanceof Error ? error.message : 'failed' } };
  }
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => runCheck(checks[name]!)));
  return Object.fromEntries(names.map((name, i) => [name, results[i]!]));
}

/** What FreeSWITCH is owed (services behind, global gateway applies); null when the database cannot say (its own check reports that). */
async function freeswitchBacklog(deps: ApiDeps): Promise<FreeswitchOwedSummary | null> {
  if (!deps.freeswitchBehind) return null;
  return deps.freeswitchBehind().catch(() => null);
}

export function healthRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) });
  });
  router.get('/readyz', async (_req, res) => {
    const names = Object.keys(deps.readiness);
    const degrading = deps.degradingReadiness ?? {};
    const softNames = Object.keys(degrading);
    const [results, softResults, servers, freeswitch] = await Promise.all([
      Promise.all(names.map((name) => runCheck(deps.readiness[name]))),
      Promise.all(softNames.map((name) => runCheck(degrading[name]!))),
      serverResults(deps),
      freeswitchBacklog(deps),
    ]);
    const soft = Object.fromEntries(softNames.map((name, i) => [name, softResults[i]!]));
    const checks = { ...Object.fromEntries(names.map((name, i) => [name, results[i]])), ...soft, ...servers };
    const ready = results.every((r) => r.status === 'up');
    const degraded = [...softResults, ...Object.values(servers)].some((r) => r.status === 'down') || (freeswitch?.behind ?? 0) > 0 || (freeswitch?.globalApplies ?? 0) > 0;
    if (!ready) res.setHeader('Retry-After', '5');
    res.status(ready ? 200 : 503).json({ status: ready ? (degraded ? 'degraded' : 'ready') : 'not_ready', checks, ...(freeswitch ? { freeswitch } : {}) });
  });
  router.get('/metrics', async (_req, res) => {
    if (!deps.metrics) return void res.status(404).end();
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.send(await deps.metrics.registry.metrics());
  });
  return router;
}
