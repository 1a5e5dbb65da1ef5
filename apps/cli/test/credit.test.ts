import { useBillingCli } from './billing-cli-kit';

const { kit, cli } = useBillingCli(
  { WHMCS_API_TIMEOUT_MS: '10000', CREDIT_CACHE_SECONDS: '0' },
  {
    standin: {
      emailTemplates: [
        { name: 'VoIP Zero Balance', type: 'product' },
        { name: 'VoIP Low Balance Alert', type: 'product' },
      ],
    },
  },
);

it('credit check --dry-run decides and changes nothing; credit check acts once; credit status shows it', async () => {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"billingMode":"prepaid","lowBalanceThreshold":"2.00"}'::jsonb WHERE service_id = $1`, [tenant.serviceId]);
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = '-0.50';

  const preview = await cli('credit', 'check', '--dry-run', '--json');
  expect({ code: preview.code, stderr: preview.stderr }).toEqual({ code: 0, stderr: '' });
  expect(preview.json).toMatchObject({
    dryRun: true,
    services: [{ serviceId: tenant.serviceId, before: 'ok', after: 'zero', actions: ['mail:zero', 'restrict'], figures: { credit: '-0.500000', available: '-0.500000' } }],
  });
  expect((await kit.deps.pool.query('SELECT 1 FROM credit_states')).rowCount).toBe(0);
  expect(kit.whmcs.state.requests.filter((request) => request.action !== 'GetClientsDetails')).toEqual([]);

  const run = await cli('credit', 'check', '--service', String(tenant.serviceId), '--json');
  expect(run.code).toBe(0);
  expect(run.json).toMatchObject({ dryRun: false, services: [{ serviceId: tenant.serviceId, after: 'zero', actions: ['mail:zero', 'restrict', 'mailed:zero', 'suspended'] }] });
  expect(kit.whmcs.state.services.get(tenant.serviceId)).toMatchObject({ status: 'Suspended', suspendreason: 'VoIP zero balance' });

  const status = await cli('credit', 'status', '--service', String(tenant.serviceId), '--json');
  expect(status.code).toBe(0);
  expect(status.json).toMatchObject({ services: [{ serviceId: tenant.serviceId, state: 'zero', suspendedBy: 'bridge', pendingAction: null, lastTransition: 'zero' }] });
  const human = await cli('credit', 'status');
  expect(human.stdout).toContain(`service ${tenant.serviceId}\tclient ${tenant.clientId}\tzero\tbalance -0.500000 USD`);
}, 180_000);

it('bad input names the option; an unknown service is refused', async () => {
  const bad = await cli('credit', 'status', '--service', 'abc');
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('--service must be a positive integer');
  const unknown = await cli('credit', 'check', '--service', '999999', '--dry-run', '--json');
  expect(unknown.code).toBe(1);
  expect(unknown.json).toEqual({ error: { code: 'UNKNOWN_SERVICE', message: 'service 999999 is not known to the bridge' } });
}, 120_000);
