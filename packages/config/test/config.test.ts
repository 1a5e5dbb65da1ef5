import { ConfigError, DEVELOPMENT_SECRETS, loadConfig } from '@ictvoip/config';
import { planBillingProblems } from '@ictvoip/whmcs';

function problemsOf(env: Record<string, string>): { variable: string; message: string }[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives laptop defaults from an empty environment', () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(3000);
    // no HOST and the published development secrets: loopback only (a laptop default is no open door)
    expect(config.http).toMatchObject({ host: '127.0.0.1', loopbackForDevelopmentSecrets: true });
    expect(config.esl).toMatchObject({ host: '127.0.0.1', port: 8021, password: 'ClueCon' });
    expect(config.chkcon.whitelistFile).toBe('./chkcon_whitelist.conf');
    expect(config.http.trustProxy).toBe('');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('without HOST, listens on every address (IPv6 and IPv4) once the API has real secrets; a HOST is always taken as given', () => {
    const real = { ADMIN_TOKEN: 'a-real-admin-token-0123456789', WEBHOOK_SECRET: 'a-real-webhook-secret-0123456789' };
    expect(loadConfig(real).http).toMatchObject({ host: null, loopbackForDevelopmentSecrets: false });
    // One development secret is enough to keep it on loopback: either lets anyone drive the bridge.
    expect(loadConfig({ ADMIN_TOKEN: real.ADMIN_TOKEN }).http).toMatchObject({ host: '127.0.0.1', loopbackForDevelopmentSecrets: true });
    expect(loadConfig({ WEBHOOK_SECRET: real.WEBHOOK_SECRET }).http.host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '::' }).http).toMatchObject({ host: '::', loopbackForDevelopmentSecrets: false });
  });

  it('refuses a database or Redis URL the drivers cannot read (a port past 65535), naming the variable, never the value', () => {
    const problems = problemsOf({ DATABASE_URL: 'postgres://u:Secret-Pw-1@db.example:99999/ictvoip', REDIS_URL: 'redis://:Secret-Pw-2@cache:70000' });
    expect(problems.map((p) => p.variable).sort()).toEqual(['DATABASE_URL', 'REDIS_URL']);
    expect(JSON.stringify(problems)).not.toMatch(/Secret-Pw/);
  });

  it('reads and converts the documented variables', () => {
    const config = loadConfig({
      PORT: '8080',
      REDIS_URL: 'redis://10.0.0.5:6380',
      WEBHOOK_SECRET: 'a'.repeat(32),
      WEBHOOK_SECRET_PREVIOUS: 'b'.repeat(32),
      ESL_PORT: '9021',
      HOST: '192.0.2.5',
    });
    expect(config.http.port).toBe(8080);
    expect(config.http.host).toBe('192.0.2.5');
    expect(config.redis.url).toBe('redis://10.0.0.5:6380');
    expect(config.webhook.secrets).toEqual(['a'.repeat(32), 'b'.repeat(32)]);
    expect(config.esl.port).toBe(9021);
  });

  it('lists every bad variable at once, by name', () => {
    const problems = problemsOf({ PORT: 'eighty', DATABASE_URL: 'mysql://x', REDIS_URL: 'nope', ESL_PORT: '70000' });
    expect(problems.map((p) => p.variable).sort()).toEqual(['DATABASE_URL', 'ESL_PORT', 'PORT', 'REDIS_URL']);
  });

  it('names the allowed words of a variable that takes one of a list', () => {
    expect(problemsOf({ COMPAT_ICTVOIP: 'yes', LOG_LEVEL: 'loud' })).toEqual([
      { variable: 'LOG_LEVEL', message: 'must be one of [fatal, error, warn, info, debug, trace, silent]' },
      { variable: 'COMPAT_ICTVOIP', message: 'must be one of [0, 1]' },
    ]);
  });

  it('checks HOST and TRUST_PROXY with the other variables, naming each without its value', () => {
    const problems = problemsOf({ HOST: '999.1.1.1', TRUST_PROXY: 'yes-please', PORT: 'abc' });
    expect(problems.map((p) => p.variable).sort()).toEqual(['HOST', 'PORT', 'TRUST_PROXY']);
    expect(problems.find((p) => p.variable === 'TRUST_PROXY')!.message).toMatch(/hop count .* CIDRs/);
    const message = JSON.stringify(problems);
    expect(message).not.toContain('yes-please');
    expect(message).not.toContain('999.1.1.1');
    expect(problemsOf({ TRUST_PROXY: 'true' }).map((p) => p.variable)).toEqual(['TRUST_PROXY']);
    for (const [HOST, TRUST_PROXY] of [
      ['::', 'loopback, 10.0.0.0/8'],
      ['127.0.0.1', '2'],
      ['bridge.example.net', 'off'],
    ]) {
      expect(loadConfig({ HOST, TRUST_PROXY }).http).toMatchObject({ host: HOST, trustProxy: TRUST_PROXY });
    }
  });

  it('reads the Redis job history bounds (JOB_HISTORY_*), with defaults, and refuses bad ones by name', () => {
    expect(loadConfig({}).redis.jobHistory).toEqual({ completed: { count: 1000, age: 86_400 }, failed: { count: 1000, age: 604_800 } });
    const set = loadConfig({
      JOB_HISTORY_COMPLETED_COUNT: '50',
      JOB_HISTORY_COMPLETED_AGE_SECONDS: '3600',
      JOB_HISTORY_FAILED_COUNT: '200',
      JOB_HISTORY_FAILED_AGE_SECONDS: '86400',
    });
    expect(set.redis.jobHistory).toEqual({ completed: { count: 50, age: 3600 }, failed: { count: 200, age: 86_400 } });
    const problems = problemsOf({
      JOB_HISTORY_COMPLETED_COUNT: '0',
      JOB_HISTORY_COMPLETED_AGE_SECONDS: 'a day',
      JOB_HISTORY_FAILED_COUNT: '1.5',
      JOB_HISTORY_FAILED_AGE_SECONDS: '-1',
    });
    expect(problems.map((p) => p.variable).sort()).toEqual([
      'JOB_HISTORY_COMPLETED_AGE_SECONDS',
      'JOB_HISTORY_COMPLETED_COUNT',
      'JOB_HISTORY_FAILED_AGE_SECONDS',
      'JOB_HISTORY_FAILED_COUNT',
    ]);
    // No count means "keep everything" to BullMQ: an unbounded Redis is not a setting.
    expect(problemsOf({ JOB_HISTORY_FAILED_COUNT: 'unlimited' }).map((p) => p.variable)).toEqual(['JOB_HISTORY_FAILED_COUNT']);
  });

  it("reads how often the worker's /metrics counts the CDR backlog (CDR_BACKLOG_METRIC_SECONDS), 60 by default, 0 = every scrape; refuses a bad one by name", () => {
    expect(loadConfig({}).worker.cdrBacklogMetricSeconds).toBe(60);
    expect(loadConfig({ CDR_BACKLOG_METRIC_SECONDS: '0' }).worker.cdrBacklogMetricSeconds).toBe(0);
    expect(loadConfig({ CDR_BACKLOG_METRIC_SECONDS: '300' }).worker.cdrBacklogMetricSeconds).toBe(300);
    for (const bad of ['-1', 'a minute', '1.5', '86401']) {
      const problems = problemsOf({ CDR_BACKLOG_METRIC_SECONDS: bad });
      expect(problems.map((p) => p.variable)).toEqual(['CDR_BACKLOG_METRIC_SECONDS']);
    }
    expect(problemsOf({ CDR_BACKLOG_METRIC_SECONDS: '-1' })[0].message).toMatch(/greater than or equal to 0/);
  });

  it('reads registration monitoring settings, with defaults, and refuses bad ones', () => {
    expect(loadConfig({}).monitoring).toEqual({
      pollSeconds: 60,
      lostAfterSeconds: 180,
      gatewayDownAfterSeconds: 180,
      historyRetentionDays: 90,
      alertWebhookUrl: '',
      alertSigningSecret: '',
      emailTemplates: { 'registration.lost': '', 'registration.restored': '', 'gateway.down': '', 'gateway.up': '' },
      adminEmailTemplates: { 'registration.lost': '', 'registration.restored': '', 'gateway.down': '', 'gateway.up': '' },
      adminEmailType: 'system',
      statusRateLimit: 100,
    });
    const config = loadConfig({ REGISTRATION_POLL_SECONDS: '30', REGISTRATION_LOST_AFTER_SECONDS: '600', ALERT_WEBHOOK_URL: 'https://alerts.example.net/hook' });
    expect(config.monitoring).toMatchObject({ pollSeconds: 30, lostAfterSeconds: 600, alertWebhookUrl: 'https://alerts.example.net/hook' });
    expect(loadConfig({ ALERT_SIGNING_SECRET: 'an-alert-signing-secret' }).monitoring.alertSigningSecret).toBe('an-alert-signing-secret');
    const problems = problemsOf({
      REGISTRATION_POLL_SECONDS: '0',
      REGISTRATION_LOST_AFTER_SECONDS: '-1',
      ALERT_WEBHOOK_URL: 'ftp://x.example.net/',
      ALERT_SIGNING_SECRET: 'short',
    });
    expect(problems.map((p) => p.variable).sort()).toEqual(['ALERT_SIGNING_SECRET', 'ALERT_WEBHOOK_URL', 'REGISTRATION_LOST_AFTER_SECONDS', 'REGISTRATION_POLL_SECONDS']);
  });

  it('reads billing periods and exclusions, with defaults, and refuses bad ones by name', () => {
    expect(loadConfig({}).billing).toMatchObject({ periods: undefined, excludes: '[emergency],[tollfree]' });
    expect(loadConfig({ BILLING_PERIODS: 'service', BILLING_EXCLUDES: '' }).billing).toMatchObject({ periods: 'service', excludes: '' });
    expect(loadConfig({ BILLING_EXCLUDES: '911, *xx, 1-800-xxx-xxxx, [local]' }).billing.excludes).toBe('911, *xx, 1-800-xxx-xxxx, [local]');
    const problems = problemsOf({ BILLING_PERIODS: 'weekly', BILLING_EXCLUDES: '911,[voip]' });
    expect(problems.map((p) => p.variable).sort()).toEqual(['BILLING_EXCLUDES', 'BILLING_PERIODS']);
  });

  it('reads the hangup causes of a billed answered call: the default list, "*", upper-cased; a malformed list is refused by name', () => {
    expect(loadConfig({}).billing.hangupCauses).toEqual(['NORMAL_CLEARING', 'NORMAL_UNSPECIFIED', 'MEDIA_TIMEOUT', 'ALLOTTED_TIMEOUT', 'BLIND_TRANSFER', 'ATTENDED_TRANSFER']);
    expect(loadConfig({ BILLING_HANGUP_CAUSES: '*' }).billing.hangupCauses).toEqual(['*']);
    expect(loadConfig({ BILLING_HANGUP_CAUSES: 'normal_clearing,RECOVERY_ON_TIMER_EXPIRE' }).billing.hangupCauses).toEqual(['NORMAL_CLEARING', 'RECOVERY_ON_TIMER_EXPIRE']);
    expect(problemsOf({ BILLING_HANGUP_CAUSES: 'NORMAL CLEARING' }).map((p) => p.variable)).toEqual(['BILLING_HANGUP_CAUSES']);
  });

  // One grammar: what a plan's billingExcludes accepts (the plan contract's planBillingProblems, @ictvoip/whmcs) is what BILLING_EXCLUDES accepts.
  it.each([
    ['[Emergency], [ tollfree ]', true],
    ['911,,112', true],
    ['(800) xxx-xxxx, +1800xxxxxxx, 1800*', true],
    ['9+11', false],
    ['-', false],
    ['911,[voip]', false],
  ])('BILLING_EXCLUDES %j is accepted (%s) exactly when a plan accepts it', (text, accepted) => {
    expect(planBillingProblems({ billingExcludes: text })).toHaveLength(accepted ? 0 : 1);
    if (accepted) {
      expect(loadConfig({ BILLING_EXCLUDES: text }).billing.excludes).toBe(text);
      return;
    }
    const problems = problemsOf({ BILLING_EXCLUDES: text });
    expect(problems.map((p) => p.variable)).toEqual(['BILLING_EXCLUDES']);
    expect(problems[0]!.message).toBe(planBillingProblems({ billingExcludes: text })[0]!.message.replace('plan.billingExcludes', 'BILLING_EXCLUDES'));
  });

  it('reads the per-day CDR count check: 7 days, daily by default; 0 turns it off', () => {
    expect(loadConfig({}).cdr).toMatchObject({ reconcileDays: 7, reconcileEverySeconds: 86400 });
    expect(loadConfig({ CDR_RECONCILE_DAYS: '0', CDR_RECONCILE_EVERY_SECONDS: '3600' }).cdr).toMatchObject({ reconcileDays: 0, reconcileEverySeconds: 3600 });
  });

  it.each([
    ['CDR_RECONCILE_DAYS', '-1'],
    ['CDR_RECONCILE_DAYS', 'x'],
    ['CDR_RECONCILE_DAYS', '1.5'],
    ['CDR_RECONCILE_EVERY_SECONDS', '0'],
    ['CDR_RECONCILE_EVERY_SECONDS', 'daily'],
  ])('%s=%j is a start-up error naming the variable', (variable, value) => {
    expect(problemsOf({ [variable]: value }).map((problem) => problem.variable)).toEqual([variable]);
  });

  it('reads the gateway grace period and the alert e-mail templates, and names a bad one', () => {
    const config = loadConfig({
      REGISTRATION_LOST_AFTER_SECONDS: '600',
      GATEWAY_DOWN_AFTER_SECONDS: '30',
      ALERT_EMAIL_TEMPLATE_LOST: 'Phone Lost',
      ALERT_EMAIL_TEMPLATE_GATEWAY_UP: 'Trunk Up',
      ALERT_ADMIN_EMAIL_TEMPLATE_GATEWAY_DOWN: 'Trunk Down (staff)',
    });
    expect(config.monitoring).toMatchObject({
      lostAfterSeconds: 600,
      gatewayDownAfterSeconds: 30,
      emailTemplates: { 'registration.lost': 'Phone Lost', 'registration.restored': '', 'gateway.down': '', 'gateway.up': 'Trunk Up' },
      adminEmailTemplates: { 'registration.lost': '', 'registration.restored': '', 'gateway.down': 'Trunk Down (staff)', 'gateway.up': '' },
      adminEmailType: 'system',
    });
    const problems = problemsOf({ GATEWAY_DOWN_AFTER_SECONDS: 'soon', ALERT_EMAIL_TEMPLATE_RESTORED: 'x'.repeat(201), STATUS_RATE_LIMIT: '0', ALERT_ADMIN_EMAIL_TYPE: 'everyone' });
    expect(problems.map((p) => p.variable).sort()).toEqual(['ALERT_ADMIN_EMAIL_TYPE', 'ALERT_EMAIL_TEMPLATE_RESTORED', 'GATEWAY_DOWN_AFTER_SECONDS', 'STATUS_RATE_LIMIT']);
  });

  it('never puts a secret value into the error message', () => {
    const secret = 'short-secret';
    try {
      loadConfig({ WEBHOOK_SECRET: secret, ADMIN_TOKEN: 'tiny' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain('WEBHOOK_SECRET');
      expect((error as Error).message).toContain('ADMIN_TOKEN');
      expect((error as Error).message).not.toContain(secret);
      expect((error as Error).message).not.toContain('tiny');
    }
  });

  it('refuses development secrets in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems.map((p) => p.variable).sort()).toEqual(Object.keys(DEVELOPMENT_SECRETS).sort());
  });

  it('accepts production with real secrets', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      WEBHOOK_SECRET: 'x'.repeat(40),
      ADMIN_TOKEN: 'y'.repeat(40),
      ESL_PASSWORD: 'not-the-default',
      SEALING_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
    });
    expect(config.nodeEnv).toBe('production');
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '' }).http.port).toBe(3000);
  });

  describe('SEALING_KEY', () => {
    const k1 = Buffer.alloc(32, 1).toString('base64');
    const k2 = Buffer.alloc(32, 2).toString('base64');

    it('defaults to the documented development key outside production', () => {
      const config = loadConfig({});
      expect(config.sealing.keys.map((k) => k.id)).toEqual(['dev']);
      expect(config.sealing.keys[0]!.key).toEqual(Buffer.from('dev-sealing-key-change-me-000000'));
      expect(config.sealing.legacySecrets).toEqual([DEVELOPMENT_SECRETS.WEBHOOK_SECRET]);
    });

    it('reads several keys, the first sealing, and keeps the webhook secrets only for the old format', () => {
      const config = loadConfig({ SEALING_KEY: `k2:${k2}, k1:${k1}`, WEBHOOK_SECRET: 'a'.repeat(32), WEBHOOK_SECRET_PREVIOUS: 'b'.repeat(32) });
      expect(config.sealing.keys.map((k) => k.id)).toEqual(['k2', 'k1']);
      expect(config.sealing.keys[1]!.key).toEqual(Buffer.alloc(32, 1));
      expect(config.sealing.legacySecrets).toEqual(['a'.repeat(32), 'b'.repeat(32)]);
      // The key bytes stay out of a config printed or serialised by mistake.
      expect(JSON.stringify(config)).not.toContain(k2);
      expect(JSON.stringify(config.sealing)).toBe('{"keys":[{"id":"k2"},{"id":"k1"}],"legacySecrets":["' + 'a'.repeat(32) + '","' + 'b'.repeat(32) + '"]}');
    });

    it.each([
      ['no key id', k1, /must be <key id>:<base64 key>/],
      ['a bad key id', `k.1:${k1}`, /must be <key id>:<base64 key>/],
      ['a short key', `k1:${Buffer.alloc(16, 3).toString('base64')}`, /key id "k1": the key must be 32 bytes/],
      ['a key that is no base64', 'k1:not base64 at all!!', /key id "k1": the key must be 32 bytes/],
      ['a key id twice', `k1:${k1},k1:${k2}`, /key id "k1" is listed twice/],
    ])('refuses %s, naming the variable and never the key', (_case, value, message) => {
      const problems = problemsOf({ SEALING_KEY: value });
      expect(problems).toEqual([{ variable: 'SEALING_KEY', message: expect.stringMatching(message) }]);
      const material = value.split(',').map((entry) => entry.slice(entry.indexOf(':') + 1));
      for (const secret of [...material, k1, k2]) expect(JSON.stringify(problems)).not.toContain(secret);
    });

    it('is required in production, and the development key is refused there', () => {
      const real = { NODE_ENV: 'production', WEBHOOK_SECRET: 'x'.repeat(40), ADMIN_TOKEN: 'y'.repeat(40), ESL_PASSWORD: 'not-the-default' };
      expect(problemsOf(real)).toEqual([{ variable: 'SEALING_KEY', message: expect.stringContaining('is required for NODE_ENV=production') }]);
      expect(problemsOf({ ...real, SEALING_KEY: '' })).toEqual([{ variable: 'SEALING_KEY', message: expect.stringContaining('is required') }]);
      expect(problemsOf({ ...real, SEALING_KEY: `k2:${k2},${DEVELOPMENT_SECRETS.SEALING_KEY}` })).toEqual([
        { variable: 'SEALING_KEY', message: expect.stringContaining('development key') },
      ]);
      expect(loadConfig({ ...real, SEALING_KEY: `k2:${k2}` }).sealing.keys.map((k) => k.id)).toEqual(['k2']);
    });
  });
});
