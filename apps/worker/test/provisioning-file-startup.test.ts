import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '@ictvoip/config';
import { startApi } from '@ictvoip/api';
import { startWorker } from '../src';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ictvoip-provisioning-startup-'));
  writeFileSync(join(dir, 'chkcon_whitelist.conf'), '127.0.0.1\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const logger = pino({ level: 'silent' });

const BAD_FILES: [string, unknown, RegExp][] = [
  ["a theme value of ''", { brand: { default: [{ subcategory: 'title', value: '' }] } }, /brand\.default\[0\]\.value \(line \d+\): is required/],
  [
    'a registering gateway without a username',
    { gatewayTemplates: { trunk: { proxy: 'sip.example.net', register: true, password: 'x' } } },
    /gatewayTemplates\.trunk\.username \(line \d+\): is required when register is true/,
  ],
  [
    'an outbound route pattern that would break the dialplan XML',
    { routeTemplates: { uk: [{ pattern: '^(0\\d{10})$' }, { pattern: '^(00\\d+)$" x="' }] } },
    /routeTemplates\.uk\[1\]\.pattern \(line \d+\): must not contain/,
  ],
  ['an access control list name with a space', { trunkAccessControl: 'my providers' }, /trunkAccessControl \(line \d+\): /],
];

describe.each(['api', 'worker'] as const)('%s start-up', (name) => {
  it.each(BAD_FILES)('refuses a PROVISIONING_FILE with %s, naming the file and the field', async (_case, content, field) => {
    const file = join(dir, `${name}-${BAD_FILES.findIndex(([, c]) => c === content)}.json`);
    writeFileSync(file, JSON.stringify(content, null, 2));
    // Nothing answers on these URLs: the file is checked before any connection is made.
    const config = loadConfig({
      NODE_ENV: 'test',
      PROVISIONING_FILE: file,
      CHKCON_WHITELIST_FILE: join(dir, 'chkcon_whitelist.conf'),
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    const start = name === 'api' ? startApi(config, logger, { port: 0 }) : startWorker(config, logger);
    const error = await start.then(
      () => null,
      (reason: Error & { code?: string }) => reason,
    );
    expect(error?.code).toBe('PROVISIONING_FILE_INVALID');
    expect(error?.message).toContain(file);
    expect(error?.message).toMatch(field);
  });
});
