import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createTestDatabase, sealLegacy, testKeyring, testSealingKey, type TestDatabase } from '@ictvoip/testkit';
import {
  createPool,
  FusionServersRepository,
  InboxRepository,
  migrateBridgeDatabase,
  openSecrets,
  resealAll,
  SEALED_COLUMNS,
  SealedSecretError,
  sealedKeyId,
  sealSecrets,
  TenantWritesRepository,
  type SealingKeyring,
} from '@ictvoip/store';

const WEBHOOK_SECRET = 'rotation-test-webhook-secret-0123';
let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('sealing_rotation');
  pool = createPool(db.url);
  await migrateBridgeDatabase(pool);
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

let seq = 0;
/** One row of each table that holds sealed secrets, sealed with the keyring given (or the old format). */
async function seedRows(keyring: SealingKeyring, tag: string, legacy = false): Promise<{ eventId: string; writeId: string; server: string }> {
  seq += 1;
  const seal = (value: Record<string, string>) => (legacy ? sealLegacy(value, WEBHOOK_SECRET) : sealSecrets(value, keyring));
  const eventId = randomUUID();
  await new InboxRepository(pool).record({
    eventId,
    bodyHash: 'h',
    action: 'create',
    serviceId: 900 + seq,
    clientId: 1,
    payload: {},
    sealedSecrets: seal({ servicePassword: `Svc-${tag}` }),
    jobId: `job-${eventId}`,
  });
  const writeId = `tw-${900 + seq}-${'0'.repeat(31)}${seq % 10}`;
  await new TenantWritesRepository(pool).record({
    writeId,
    serviceId: 900 + seq,
    resource: 'extension',
    operation: 'create',
    target: '100',
    input: {},
    sealedSecrets: seal({ password: `Ext-${tag}` }),
    requestId: `r-${seq}`,
  });
  const server = `pbx-${tag}`;
  await pool.query(`INSERT INTO fusionpbx_servers (name, database_url, esl_host, esl_port, esl_password) VALUES ($1, $2, 'fs.example.net', 8021, $3)`, [
    server,
    seal({ url: `postgres://u:Url-${tag}@db.example.net/fusionpbx` }),
    seal({ password: `Esl-${tag}` }),
  ]);
  return { eventId, writeId, server };
}

async function allSealed(): Promise<string[]> {
  const values: string[] = [];
  for (const { table, column } of SEALED_COLUMNS) {
    const { rows } = await pool.query<{ v: string }>(`SELECT ${column} AS v FROM ${table} WHERE ${column} IS NOT NULL`);
    values.push(...rows.map((r) => r.v));
  }
  return values;
}

async function openRows(keyring: SealingKeyring, rows: { eventId: string; writeId: string; server: string }): Promise<string[]> {
  const inbox = await new InboxRepository(pool).get(rows.eventId);
  const write = await new TenantWritesRepository(pool).get(rows.writeId);
  const spec = await new FusionServersRepository(pool, keyring).spec(rows.server);
  return [openSecrets(inbox!.sealedSecrets!, keyring).servicePassword!, openSecrets(write!.sealedSecrets!, keyring).password!, spec!.databaseUrl, spec!.eslPassword];
}

describe('rotating SEALING_KEY', () => {
  it('opens rows of the old key while it is listed, seals new rows with the new key id, re-seals all, then works without the old key', async () => {
    const k1 = testKeyring(['k1'], [WEBHOOK_SECRET]);
    const before = await seedRows(k1, 'one');
    const upgraded = await seedRows(k1, 'legacy', true);
    expect(new Set((await allSealed()).map(sealedKeyId))).toEqual(new Set(['k1', 'legacy']));

    // Step 1: the new key first, the old one still listed.
    const rotating = testKeyring(['k2', 'k1'], [WEBHOOK_SECRET]);
    expect(await openRows(rotating, before)).toEqual(['Svc-one', 'Ext-one', 'postgres://u:Url-one@db.example.net/fusionpbx', 'Esl-one']);
    expect(await openRows(rotating, upgraded)).toEqual(['Svc-legacy', 'Ext-legacy', 'postgres://u:Url-legacy@db.example.net/fusionpbx', 'Esl-legacy']);
    const after = await seedRows(rotating, 'two');
    expect(sealedKeyId((await new TenantWritesRepository(pool).get(after.writeId))!.sealedSecrets!)).toBe('k2');

    // Step 2: reseal (a dry run changes nothing).
    const dry = await resealAll(pool, rotating, { dryRun: true });
    expect(dry).toMatchObject({ resealed: 8, current: 4, unreadable: [], byKeyId: { k1: 4, k2: 4, legacy: 4 } });
    expect((await allSealed()).filter((v) => sealedKeyId(v) !== 'k2')).toHaveLength(8);
    const report = await resealAll(pool, rotating);
    expect(report).toMatchObject({ resealed: 8, current: 4, unreadable: [] });
    expect((await allSealed()).map(sealedKeyId)).toEqual(Array(12).fill('k2'));
    expect(await resealAll(pool, rotating)).toMatchObject({ resealed: 0, current: 12 });

    // Step 3: the old key (and the webhook secret) removed: everything still opens.
    const rotated = testKeyring(['k2']);
    expect(await openRows(rotated, before)).toEqual(['Svc-one', 'Ext-one', 'postgres://u:Url-one@db.example.net/fusionpbx', 'Esl-one']);
    expect(await openRows(rotated, upgraded)).toEqual(['Svc-legacy', 'Ext-legacy', 'postgres://u:Url-legacy@db.example.net/fusionpbx', 'Esl-legacy']);
    expect((await openRows(rotated, after))[0]).toBe('Svc-two');
  });

  it('refuses a value whose key id is not configured with a typed error naming the id, never a key or secret', async () => {
    const k3 = testKeyring(['k3']);
    const sealed = sealSecrets({ password: 'Never-Shown-77' }, k3);
    const error = (() => {
      try {
        openSecrets(sealed, testKeyring(['k2', 'k1']));
      } catch (caught) {
        return caught;
      }
      return null;
    })() as SealedSecretError;
    expect(error).toBeInstanceOf(SealedSecretError);
    expect(error.code).toBe('SEALED_SECRET_UNKNOWN_KEY');
    expect(error.keyId).toBe('k3');
    expect(error.message).toContain('"k3"');
    expect(error.message).toContain('SEALING_KEY');
    for (const text of [error.message, JSON.stringify(error), String(error.stack)]) {
      expect(text).not.toContain('Never-Shown-77');
      expect(text).not.toContain(testSealingKey('k3').slice(3));
      expect(text).not.toContain(testSealingKey('k2').slice(3));
    }
    // Same id, different key (or a damaged value): unreadable, still named by id.
    const other = { keys: [{ id: 'k3', key: Buffer.alloc(32, 1) }], legacySecrets: [] };
    expect(() => openSecrets(sealed, other)).toThrow(expect.objectContaining({ code: 'SEALED_SECRET_UNREADABLE', keyId: 'k3' }));
    // The key id is authenticated: relabelling a value to another configured id does not open it.
    expect(() => openSecrets(sealed.replace('v2.k3.', 'v2.k2.'), testKeyring(['k2', 'k3']))).toThrow(expect.objectContaining({ code: 'SEALED_SECRET_UNREADABLE', keyId: 'k2' }));
    // An old-format value once its webhook secret is gone.
    expect(() => openSecrets(sealLegacy({ a: 'b' }, WEBHOOK_SECRET), testKeyring(['k2']))).toThrow(expect.objectContaining({ code: 'SEALED_SECRET_UNREADABLE', keyId: 'legacy' }));
  });

  it('reseal reports rows no configured key opens (table, row, key id) and leaves them as they are', async () => {
    const stray = await seedRows(testKeyring(['k9']), 'stray');
    const report = await resealAll(pool, testKeyring(['k2']));
    expect(report.resealed).toBe(0);
    expect(report.unreadable).toEqual(
      expect.arrayContaining([
        { table: 'webhook_inbox', column: 'sealed_secrets', row: stray.eventId, keyId: 'k9', code: 'SEALED_SECRET_UNKNOWN_KEY' },
        { table: 'fusionpbx_servers', column: 'esl_password', row: stray.server, keyId: 'k9', code: 'SEALED_SECRET_UNKNOWN_KEY' },
      ]),
    );
    expect(report.unreadable).toHaveLength(4);
    expect(JSON.stringify(report)).not.toContain('stray@');
    await expect(new FusionServersRepository(pool, testKeyring(['k2'])).spec(stray.server)).rejects.toMatchObject({ code: 'SEALED_SECRET_UNKNOWN_KEY', keyId: 'k9' });
  });
});
