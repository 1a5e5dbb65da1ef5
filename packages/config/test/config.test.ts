import { ConfigError, DEVELOPMENT_SECRETS, loadConfig } from '@ictvoip/config';

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
    // no HOST: the API listens on every address, IPv6 and IPv4
    expect(config.http.host).toBeNull();
    expect(config.esl).toMatchObject({ host: '127.0.0.1', port: 8021, password: 'ClueCon' });
    expect(config.chkcon.whitelistFile).toBe('./chkcon_whitelist.conf');
    expect(config.http.trustProxy).toBe('');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads and converts the documented variables', () => {
    const config = loadConfig({ PORT: '8080', REDIS_URL: 'redis://10.0.0.5:6380', WEBHOOK_SECRET: 'a'.repeat(32), WEBHOOK_SECRET_PREVIOUS: 'b'.repeat(32), ESL_PORT: '9021', HOST: '192.0.2.5' });
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
    const config = loadConfig({ NODE_ENV: 'production', WEBHOOK_SECRET: 'x'.repeat(40), ADMIN_TOKEN: 'y'.repeat(40), ESL_PASSWORD: 'not-the-default', SEALING_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}` });
    expect(config.nodeEnv).toBe('production');
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '' }).http.port).toBe(3000);
  });
});
