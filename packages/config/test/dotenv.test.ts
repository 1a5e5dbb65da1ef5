import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfigFromProcess, loadDotEnv } from '@ictvoip/config';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ictvoip-dotenv-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(work: () => unknown): ConfigError {
  try {
    work();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadDotEnv', () => {
  it('reads .env of the given folder; the environment wins over the file', () => {
    writeFileSync(join(dir, '.env'), '# comment\n\nPORT=8088\nexport QUEUE_PREFIX=fromfile\nESL_PASSWORD="with # hash"\nWEBHOOK_SECRET=from-file-secret-123\nLOG_LEVEL=debug\n');
    const env: Record<string, string | undefined> = { WEBHOOK_SECRET: 'from-environment-secret', LOG_LEVEL: '' };
    expect(loadDotEnv({ dir, env })).toBe(join(dir, '.env'));
    expect(env).toEqual({
      PORT: '8088',
      QUEUE_PREFIX: 'fromfile',
      ESL_PASSWORD: 'with # hash',
      WEBHOOK_SECRET: 'from-environment-secret',
      // set (even empty) in the environment: the file does not fill it in
      LOG_LEVEL: '',
    });
  });

  it('a missing .env is fine', () => {
    const env = {};
    expect(loadDotEnv({ dir, env })).toBeNull();
    expect(env).toEqual({});
  });

  it('a multi-line double-quoted value is one variable', () => {
    writeFileSync(join(dir, '.env'), 'A="one\ntwo"\nB=2\n');
    const env: Record<string, string | undefined> = {};
    loadDotEnv({ dir, env });
    expect(env).toEqual({ A: 'one\ntwo', B: '2' });
  });

  it.each([
    ['a line without =', 'PORT=1\nnot an assignment\n', 2],
    ['a name starting with a digit', 'PORT=1\n1PORT=2\n', 2],
    ['a name with a dash', '\nMY-VAR=1\n', 2],
    ['an unterminated quote', 'A=1\nWEBHOOK_SECRET="abc\nB=2\n', 2],
    ['an empty name', '=value\n', 1],
  ])('refuses %s, naming the file and the line, never the value', (_name, text, line) => {
    writeFileSync(join(dir, '.env'), text);
    const env: Record<string, string | undefined> = {};
    const error = problemsOf(() => loadDotEnv({ dir, env }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(`${join(dir, '.env')} line ${line}`);
    expect(error.message).not.toContain('abc');
    expect(env).toEqual({});
  });
});

describe('loadConfigFromProcess', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  });

  it('sees a .env value, and an environment variable wins over it', () => {
    delete process.env.PORT;
    delete process.env.FUSIONPBX_BASE_DOMAIN;
    process.env.ESL_PORT = '9021';
    writeFileSync(join(dir, '.env'), 'PORT=8089\nESL_PORT=7021\nFUSIONPBX_BASE_DOMAIN=pbx.from-dotenv.example\n');
    const config = loadConfigFromProcess({ dir });
    expect(config.http.port).toBe(8089);
    expect(config.fusionpbx.baseDomain).toBe('pbx.from-dotenv.example');
    expect(config.esl.port).toBe(9021);
  });
});
