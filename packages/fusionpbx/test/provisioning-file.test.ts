import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@ictvoip/config';
import { DEFAULT_BRAND, loadProvisioningFile, parseTenantInput, provisionerOptionsFrom, ProvisioningFileError, tenantPortalUrl, type ProvisioningFile } from '@ictvoip/fusionpbx';
import { parseTenantCommand, type TenantCommand } from '@ictvoip/whmcs';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ictvoip-provisioning-file-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD: ProvisioningFile = {
  brand: {
    default: [
      { subcategory: 'title', value: 'Acme Hosted PBX' },
      { subcategory: 'logo', value: '/themes/acme/logo.png' },
    ],
    plans: { gold: [{ subcategory: 'login_background_color', value: '#112233' }] },
  },
  gatewayTemplates: {
    'carrier-a': { proxy: 'sip.carrier-a.example', register: true, username: 'acme', password: 'secret', profile: 'external', expireSeconds: 800 },
    'carrier-b': { proxy: 'sip.carrier-b.example', register: false },
  },
  // Issue #15: outbound routes as dialplan_outbound_add.php's fields.
  routeTemplates: {
    nanp: [
      { pattern: '^(?:\\+1|1)?([2-9]\\d{2}[2-9]\\d{2}\\d{4})$' },
      { pattern: '^(011\\d{9,17})$', tollAllow: 'international', order: 110 },
      { pattern: '(^911$|^933$)', description: 'Emergency' },
    ],
    office: [{ pattern: '^9(\\d{10})$', prefix: '1010', limit: 5, accountcode: 'acct-77', pinNumbers: true }],
  },
  trunkAccessControl: 'providers',
};

/** Writes the file pretty-printed (one value a line), so lines can be checked. */
function fileWith(content: unknown): string {
  const file = join(dir, `${randomUUID()}.json`);
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  return file;
}

function startupError(file: string): ProvisioningFileError {
  try {
    provisionerOptionsFrom(loadConfig({ PROVISIONING_FILE: file }));
  } catch (error) {
    if (error instanceof ProvisioningFileError) return error;
    throw error;
  }
  throw new Error('start-up accepted the file');
}

function createEvent(plan: Record<string, unknown>): TenantCommand {
  return parseTenantCommand({
    schemaVersion: 1,
    eventId: randomUUID(),
    action: 'create',
    occurredAt: '2026-11-28T23:00:00Z',
    service: { id: 42 },
    client: { id: 7, email: 'owner@example.com' },
    plan: { maxExtensions: 3, firstExtension: 100, ...plan },
    secrets: { servicePassword: 'Sup3r-Secret!' },
  });
}

/** What an event does with the file's content as is (options built without the start-up check). */
function eventProblem(content: ProvisioningFile, plan: Record<string, unknown>): string | null {
  try {
    parseTenantInput(
      createEvent(plan),
      {
        baseDomain: 'pbx.example.net',
        templateDomain: 'template.invalid',
        brand: content.brand ?? DEFAULT_BRAND,
        gatewayTemplates: content.gatewayTemplates ?? {},
        routeTemplates: content.routeTemplates ?? {},
      },
      'create',
    );
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('provisioner options from the configuration', () => {
  it('FUSIONPBX_PORTAL_URL is the fixed portal URL; unset, the portal is the tenant domain', () => {
    expect(provisionerOptionsFrom(loadConfig({ FUSIONPBX_PORTAL_URL: 'https://portal.example.net/' })).portalUrl).toBe('https://portal.example.net/');
    expect(tenantPortalUrl(provisionerOptionsFrom(loadConfig({})).portalUrl, 't1.pbx.example.net')).toBe('https://t1.pbx.example.net/');
    expect(tenantPortalUrl('https://portal.example.net/', 't1.pbx.example.net')).toBe('https://portal.example.net/');
  });
});

describe('PROVISIONING_FILE at start-up and per event', () => {
  it('a good file starts, and events using every template and brand succeed', () => {
    const file = fileWith(GOOD);
    expect(loadProvisioningFile(file)).toEqual(GOOD);
    for (const plan of [
      {},
      { brand: 'gold' },
      { gatewayTemplate: 'carrier-a' },
      { gatewayTemplate: 'carrier-b', brand: 'gold' },
      { gatewayTemplate: 'carrier-a', routeTemplate: 'office' },
    ])
      expect(eventProblem(GOOD, plan)).toBeNull();
  });

  it('refuses a route pattern that would break the dialplan XML at start-up, naming field and line (an event fails on it)', () => {
    const content = structuredClone(GOOD);
    content.routeTemplates!.nanp![1]!.pattern = '^(011\\d{9,17})$" onload="';
    expect(eventProblem(content, { gatewayTemplate: 'carrier-a', routeTemplate: 'nanp' })).toMatch(/routeTemplates\.nanp\[1\]\.pattern/);
    const file = fileWith(content);
    const error = startupError(file);
    expect(error.code).toBe('PROVISIONING_FILE_INVALID');
    expect(error.message).toMatch(/routeTemplates\.nanp\[1\]\.pattern \(line 42\): must not contain " < > &/);
  });

  it('refuses an Alternate 2 without an Alternate 1 at start-up, naming field and line', () => {
    const content = structuredClone(GOOD);
    content.routeTemplates!.office![0]!.gateway3 = 'backup-carrier';
    expect(startupError(fileWith(content)).message).toMatch(/routeTemplates\.office\[0\]\.gateway3 \(line \d+\): needs gateway2/);
  });

  it('refuses a route template entry without a pattern at start-up, naming the field', () => {
    const content = structuredClone(GOOD) as unknown as { routeTemplates: Record<string, Record<string, unknown>[]> };
    delete content.routeTemplates.office![0]!.pattern;
    expect(startupError(fileWith(content)).message).toMatch(/routeTemplates\.office\[0\]\.pattern \(line \d+\): is required/);
  });

  it("refuses a theme value of '' at start-up, naming the file, field and line (an event fails on it)", () => {
    const content = { ...GOOD, brand: { ...GOOD.brand!, default: [GOOD.brand!.default[0]!, { subcategory: 'logo', value: '' }] } };
    expect(eventProblem(content, {})).toMatch(/brand\.default\[1\]\.value/);
    const file = fileWith(content);
    const error = startupError(file);
    expect(error.code).toBe('PROVISIONING_FILE_INVALID');
    expect(error.message).toContain(file);
    // "value" of the second setting is on line 10 of the pretty-printed file.
    expect(error.message).toMatch(/brand\.default\[1\]\.value \(line 10\): /);
  });

  it('refuses a registering gateway without a username at start-up, naming the field (an event fails on it)', () => {
    const { username: _, ...withoutUsername } = GOOD.gatewayTemplates!['carrier-a']!;
    const content = { ...GOOD, gatewayTemplates: { ...GOOD.gatewayTemplates, 'carrier-a': withoutUsername } };
    expect(eventProblem(content, { gatewayTemplate: 'carrier-a' })).toMatch(/gatewayTemplates\.carrier-a\.username/);
    const file = fileWith(content);
    const error = startupError(file);
    expect(error.message).toContain(file);
    // the field is missing: the line named is its template's
    expect(error.message).toMatch(/gatewayTemplates\.carrier-a\.username \(line 23\): is required when register is true/);
  });

  // Each variant breaks one thing; start-up refuses exactly the variants an event using them fails on.
  const variants: [string, (c: ProvisioningFile) => void, Record<string, unknown>][] = [
    [
      'empty theme value in a plan',
      (c) => {
        c.brand!.plans!.gold![0]!.value = '';
      },
      { brand: 'gold' },
    ],
    [
      'theme value with a line break',
      (c) => {
        c.brand!.default[0]!.value = 'Acme\nPBX';
      },
      {},
    ],
    [
      'theme value of 4096 characters',
      (c) => {
        c.brand!.default[0]!.value = 'x'.repeat(4096);
      },
      {},
    ],
    [
      'theme value of 4097 characters',
      (c) => {
        c.brand!.default[0]!.value = 'x'.repeat(4097);
      },
      {},
    ],
    [
      'upper-case subcategory',
      (c) => {
        c.brand!.default[0]!.subcategory = 'Title';
      },
      {},
    ],
    [
      'subcategory with a dash',
      (c) => {
        c.brand!.default[0]!.subcategory = 'login-color';
      },
      {},
    ],
    [
      'registering gateway with an empty password',
      (c) => {
        c.gatewayTemplates!['carrier-a']!.password = '';
      },
      { gatewayTemplate: 'carrier-a' },
    ],
    [
      'registering gateway without a password',
      (c) => {
        delete c.gatewayTemplates!['carrier-a']!.password;
      },
      { gatewayTemplate: 'carrier-a' },
    ],
    [
      'a gateway that does not register, without credentials',
      (c) => {
        c.gatewayTemplates!['carrier-b']!.register = false;
      },
      { gatewayTemplate: 'carrier-b' },
    ],
    [
      'gateway profile with a space',
      (c) => {
        c.gatewayTemplates!['carrier-b']!.profile = 'ext ernal';
      },
      { gatewayTemplate: 'carrier-b' },
    ],
    [
      'gateway profile of 80 characters',
      (c) => {
        c.gatewayTemplates!['carrier-b']!.profile = 'p'.repeat(80);
      },
      { gatewayTemplate: 'carrier-b' },
    ],
    [
      'empty gateway proxy',
      (c) => {
        c.gatewayTemplates!['carrier-b']!.proxy = '';
      },
      { gatewayTemplate: 'carrier-b' },
    ],
    [
      'gateway proxy with a tab',
      (c) => {
        c.gatewayTemplates!['carrier-b']!.proxy = 'sip.example\t';
      },
      { gatewayTemplate: 'carrier-b' },
    ],
    ...(
      [
        ['route pattern with a quote', (c) => (c.routeTemplates!.nanp![0]!.pattern = '^(\\d{10})$"')],
        ['route pattern that is no regular expression', (c) => (c.routeTemplates!.nanp![0]!.pattern = '^(\\d{10}$')],
        ['route pattern used twice', (c) => (c.routeTemplates!.nanp![1]!.pattern = c.routeTemplates!.nanp![0]!.pattern)],
        ['route prefix with a space', (c) => (c.routeTemplates!.nanp![0]!.prefix = '10 10')],
        ['route limit 0', (c) => (c.routeTemplates!.nanp![0]!.limit = 0)],
        ['route order 1000', (c) => (c.routeTemplates!.nanp![0]!.order = 1000)],
        ['route order 990', (c) => (c.routeTemplates!.nanp![0]!.order = 990)],
        ['toll allow with <', (c) => (c.routeTemplates!.nanp![0]!.tollAllow = '<international>')],
        ['account code with a space', (c) => (c.routeTemplates!.nanp![0]!.accountcode = 'acct 1')],
        ['gateway name with a quote', (c) => (c.gatewayTemplates!['carrier-a']!.name = 'carrier "a"')],
        ['alternate gateway with a colon', (c) => (c.routeTemplates!.nanp![0]!.gateway2 = 'uuid:backup')],
        ['Alternate 2 without Alternate 1', (c) => (c.routeTemplates!.nanp![0]!.gateway3 = 'backup-carrier')],
        ['the same alternate twice', (c) => Object.assign(c.routeTemplates!.nanp![0]!, { gateway2: 'backup-carrier', gateway3: 'backup-carrier' })],
      ] as [string, (c: ProvisioningFile) => void][]
    ).map(([name, breakIt]): [string, (c: ProvisioningFile) => void, Record<string, unknown>] => [name, breakIt, { gatewayTemplate: 'carrier-a', routeTemplate: 'nanp' }]),
  ];
  it.each(variants)('%s: start-up and event agree', (_name, breakIt, plan) => {
    const content = structuredClone(GOOD);
    breakIt(content);
    const eventFails = eventProblem(content, plan) !== null;
    const file = fileWith(content);
    let startupFails = false;
    try {
      loadProvisioningFile(file);
    } catch (error) {
      expect(error).toBeInstanceOf(ProvisioningFileError);
      startupFails = true;
    }
    expect({ startupFails }).toEqual({ startupFails: eventFails });
  });

  it('names every problem of a file at once, and a JSON syntax error with the file', () => {
    const content = structuredClone(GOOD);
    content.brand!.default[0]!.value = '';
    delete content.gatewayTemplates!['carrier-a']!.username;
    const message = startupError(fileWith(content)).message;
    expect(message).toContain('brand.default[0].value');
    expect(message).toContain('gatewayTemplates.carrier-a.username');
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "brand": ');
    expect(startupError(broken).message).toContain(broken);
  });
});
