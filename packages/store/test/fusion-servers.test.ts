import type { Pool } from 'pg';
import { createTestDatabase, testKeyring, type TestDatabase } from '@ictvoip/testkit';
import {
  createPool,
  FusionServerConflictError,
  FusionServerInputError,
  FusionServerInUseError,
  FusionServersRepository,
  migrateBridgeDatabase,
  redactDatabaseUrl,
  SealedSecretError,
  ServicesRepository,
  type NewFusionServer,
} from '@ictvoip/store';

const KEY = testKeyring(['k2']);
const OLD_KEY = testKeyring(['k1']);
let db: TestDatabase;
let pool: Pool;
let registry: FusionServersRepository;

const server = (name: string, extra: Partial<NewFusionServer> = {}): NewFusionServer => ({
  name,
  databaseUrl: `postgres://pbx:Url-Secret-${name}@db.${name}.example.net:5432/fusionpbx`,
  eslHost: `fs.${name}.example.net`,
  eslPort: 8021,
  eslPassword: `Esl-Secret-${name}`,
  ...extra,
});

beforeAll(async () => {
  db = await createTestDatabase('fusion_servers');
  pool = createPool(db.url);
  await migrateBridgeDatabase(pool);
  registry = new FusionServersRepository(pool, KEY);
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe('the FusionPBX server registry', () => {
  it('stores secrets sealed, shows the URL without its password, and opens them with the key', async () => {
    const added = await registry.add(server('a', { whmcsServerId: 10, whmcsHostname: 'a.whmcs.example.net' }));
    expect(added).toMatchObject({ name: 'a', database: 'postgres://pbx@db.a.example.net:5432/fusionpbx', eslHost: 'fs.a.example.net', enabled: true, boundServices: 0 });
    expect(JSON.stringify(added)).not.toContain('Secret');
    const { rows } = await pool.query("SELECT row_to_json(s)::text AS row FROM fusionpbx_servers s WHERE name = 'a'");
    expect(rows[0].row).not.toContain('Url-Secret-a');
    expect(rows[0].row).not.toContain('Esl-Secret-a');
    expect(await registry.spec('a')).toMatchObject({ databaseUrl: server('a').databaseUrl, eslPassword: 'Esl-Secret-a' });
    expect(await registry.spec('missing')).toBeNull();
  });

  it('opens secrets sealed with the previous key after a rotation, and refuses with a typed error without it', async () => {
    await new FusionServersRepository(pool, OLD_KEY).add(server('old'));
    expect(await new FusionServersRepository(pool, testKeyring(['k2', 'k1'])).spec('old')).toMatchObject({ eslPassword: 'Esl-Secret-old' });
    await expect(registry.spec('old')).rejects.toBeInstanceOf(SealedSecretError);
    // Listing still works (no secret needed), it only says the URL cannot be shown.
    expect((await registry.list()).find((s) => s.name === 'old')).toMatchObject({ database: '(sealed with another key)' });
    // The other servers are still listed with their secrets; this one apart, with the key id.
    const { specs, unreadable } = await registry.specs();
    expect(specs.map((s) => s.name)).toContain('a');
    expect(unreadable).toEqual([{ name: 'old', enabled: true, reason: expect.stringContaining('"k1"') }]);
    // Mended by giving both secrets again (one alone cannot be: the other is unreadable).
    await expect(registry.update('old', { eslPassword: 'Esl-Secret-new' })).rejects.toBeInstanceOf(SealedSecretError);
    await registry.update('old', { databaseUrl: server('old').databaseUrl, eslPassword: 'Esl-Secret-new' });
    expect(await registry.spec('old')).toMatchObject({ eslPassword: 'Esl-Secret-new' });
    await registry.remove('old');
  });

  it('matches an event by WHMCS server id first, then by hostname (case-insensitive)', async () => {
    await registry.add(server('b', { whmcsServerId: 11, whmcsHostname: 'b.whmcs.example.net' }));
    expect(await registry.findForWhmcsServer({ id: 11, hostname: 'a.whmcs.example.net' })).toEqual({ name: 'b', enabled: true });
    expect(await registry.findForWhmcsServer({ id: 99, hostname: 'A.WHMCS.example.net' })).toEqual({ name: 'a', enabled: true });
    expect(await registry.findForWhmcsServer({ id: 99, hostname: 'none.example.net' })).toBeNull();
    expect(await registry.findForWhmcsServer({})).toBeNull();
    expect(await registry.findForWhmcsServer(undefined)).toBeNull();
    await registry.setEnabled('b', false);
    expect(await registry.findForWhmcsServer({ id: 11 })).toEqual({ name: 'b', enabled: false });
  });

  it('refuses bad input by field, duplicates and taken mappings, writing nothing', async () => {
    const bad: [Partial<NewFusionServer>, string][] = [
      [{ name: 'Upper' }, 'name'],
      [{ name: 'default' }, 'name'],
      [{ databaseUrl: 'mysql://x@h/db' }, 'databaseUrl'],
      [{ databaseUrl: 'postgres://h' }, 'databaseUrl'],
      [{ eslHost: 'bad host' }, 'eslHost'],
      [{ eslPort: 0 }, 'eslPort'],
      [{ eslPassword: '' }, 'eslPassword'],
      [{ eslPassword: 'two\nlines' }, 'eslPassword'],
      [{ whmcsServerId: -1 }, 'whmcsServerId'],
      [{ whmcsHostname: 'no spaces please' }, 'whmcsHostname'],
    ];
    for (const [change, field] of bad) {
      const error = await registry.add({ ...server('c'), ...change }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FusionServerInputError);
      expect((error as FusionServerInputError).field).toBe(field);
      expect((error as Error).message).not.toContain('Secret');
    }
    await expect(registry.add(server('a'))).rejects.toBeInstanceOf(FusionServerConflictError);
    await expect(registry.add(server('c', { whmcsServerId: 10 }))).rejects.toThrow('WHMCS server id 10 is already mapped');
    await expect(registry.add(server('c', { whmcsHostname: 'A.whmcs.example.net' }))).rejects.toThrow('already mapped');
    expect((await registry.list()).map((s) => s.name)).toEqual(['a', 'b']);
  });

  it('binds a service once (sticky), and removal is refused while a service is bound', async () => {
    const services = new ServicesRepository(pool);
    await services.setDesired({ serviceId: 501, clientId: 1, desiredState: 'active', eventId: '00000000-0000-4000-8000-000000000001', fusionpbxServer: 'a' });
    // A later event naming another server never moves it.
    await services.setDesired({ serviceId: 501, clientId: 1, desiredState: 'suspended', eventId: '00000000-0000-4000-8000-000000000002', fusionpbxServer: 'b' });
    expect(await services.get(501)).toMatchObject({ fusionpbxServer: 'a', desiredState: 'suspended' });
    await expect(registry.remove('a')).rejects.toBeInstanceOf(FusionServerInUseError);
    expect((await registry.summary('a'))?.boundServices).toBe(1);
    await pool.query('DELETE FROM services WHERE service_id = 501');
    expect(await registry.remove('a')).toBe(true);
    expect(await registry.remove('a')).toBe(false);
  });

  it('removes a decommissioned server whose services are all purged; one with live services is refused, naming how many, with nothing removed', async () => {
    await registry.add(server('retired', { whmcsServerId: 61 }));
    const services = new ServicesRepository(pool);
    const bind = (serviceId: number, desiredState: 'active' | 'terminated') =>
      services.setDesired({ serviceId, clientId: 1, desiredState, eventId: `00000000-0000-4000-8000-000000000${serviceId}`, fusionpbxServer: 'retired' });
    await bind(601, 'terminated');
    await pool.query("UPDATE services SET observed_state = 'purged' WHERE service_id = 601");
    await bind(602, 'active');
    await bind(603, 'terminated');
    await pool.query("INSERT INTO registration_servers (server, state_token, polled_at) VALUES ('retired', 't', now())");
    const refused = await registry.remove('retired').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(FusionServerInUseError);
    expect(refused).toMatchObject({ services: 2, terminated: 1, message: expect.stringContaining('tenants list --server retired') });
    expect((refused as Error).message).toContain('2 live service(s) (1 of them terminated');
    // Nothing half-removed.
    expect(await registry.summary('retired')).toMatchObject({ boundServices: 3 });
    expect((await pool.query("SELECT count(*)::int AS n FROM registration_servers WHERE server = 'retired'")).rows[0].n).toBe(1);
    // Once the others are purged too, the server goes; the purged services keep its name (history).
    await pool.query("UPDATE services SET desired_state = 'terminated', observed_state = 'purged' WHERE service_id IN (602, 603)");
    expect(await registry.remove('retired')).toBe(true);
    expect(await registry.summary('retired')).toBeNull();
    expect((await services.get(601))?.fusionpbxServer).toBe('retired');
    expect((await pool.query("SELECT count(*)::int AS n FROM registration_servers WHERE server = 'retired'")).rows[0].n).toBe(0);
    // Its WHMCS mapping is free again.
    await registry.add(server('successor', { whmcsServerId: 61 }));
    await registry.remove('successor');
    await pool.query('DELETE FROM services WHERE service_id IN (601, 602, 603)');
  });

  it('updates in place, validating the result as a whole', async () => {
    const updated = await registry.update('b', { eslPassword: 'Rotated-Secret', eslPort: 8022, whmcsHostname: null });
    expect(updated).toMatchObject({ name: 'b', eslPort: 8022, whmcsHostname: null, whmcsServerId: 11, enabled: false });
    expect(await registry.spec('b')).toMatchObject({ eslPassword: 'Rotated-Secret', databaseUrl: server('b').databaseUrl });
    await expect(registry.update('b', { eslPort: 70000 })).rejects.toBeInstanceOf(FusionServerInputError);
    expect(await registry.update('nope', { eslPort: 8021 })).toBeNull();
  });

  it('stores a cache method per server (NULL follows FUSIONPBX_CACHE_METHOD), refusing what cannot work with nothing written', async () => {
    expect(await registry.add(server('cache-own', { cacheMethod: 'file-esl' }))).toMatchObject({ cacheMethod: 'file-esl', cacheDir: null });
    expect(await registry.spec('cache-own')).toMatchObject({ cacheMethod: 'file-esl', cacheDir: null });
    // A server added without one (as every server before migration 026) follows the bridge-wide setting.
    expect(await registry.add(server('cache-none'))).toMatchObject({ cacheMethod: null, cacheDir: null });
    const refusals: [Partial<NewFusionServer>, string][] = [
      [{ cacheMethod: 'redis' as never }, 'cacheMethod'],
      [{ cacheMethod: 'file' }, 'cacheDir'],
      [{ cacheMethod: 'file', cacheDir: 'relative/dir' }, 'cacheDir'],
      [{ cacheMethod: 'file', cacheDir: '/var/cache/x\nother' }, 'cacheDir'],
      [{ cacheMethod: 'memcache', cacheDir: '/mnt/pbx/cache' }, 'cacheDir'],
      [{ cacheDir: '/mnt/pbx/cache' }, 'cacheDir'],
    ];
    for (const [extra, field] of refusals) {
      const refused = await registry.add(server('cache-bad', extra)).catch((error: unknown) => error);
      expect({ extra, field: (refused as FusionServerInputError).field }).toEqual({ extra, field });
    }
    // With FUSIONPBX_CACHE_METHOD=file, a server that would follow it is refused on add and on any update.
    const underFile = new FusionServersRepository(pool, KEY, { bridgeCacheMethod: 'file' });
    await expect(underFile.add(server('cache-bad'))).rejects.toMatchObject({ field: 'cacheMethod', message: expect.stringContaining('FUSIONPBX_CACHE_METHOD is file') });
    await expect(underFile.update('cache-none', { eslPort: 8022 })).rejects.toMatchObject({ field: 'cacheMethod' });
    await expect(underFile.update('cache-own', { cacheMethod: null })).rejects.toMatchObject({ field: 'cacheMethod' });
    expect((await registry.list()).map((s) => s.name)).not.toContain('cache-bad');
    expect(await registry.spec('cache-none')).toMatchObject({ eslPort: 8021, cacheMethod: null });
    // Mended by giving it one; leaving `file` drops its directory.
    expect(await underFile.update('cache-none', { cacheMethod: 'file', cacheDir: '/mnt/pbx-none/cache' })).toMatchObject({ cacheMethod: 'file', cacheDir: '/mnt/pbx-none/cache' });
    expect(await underFile.update('cache-none', { cacheMethod: 'memcache' })).toMatchObject({ cacheMethod: 'memcache', cacheDir: null });
    expect(await registry.update('cache-own', { cacheMethod: null })).toMatchObject({ cacheMethod: null });
    // The table refuses what the validation refuses, for a write that bypasses it.
    await expect(pool.query("UPDATE fusionpbx_servers SET cache_dir = '/x' WHERE name = 'cache-own'")).rejects.toThrow(/fusionpbx_servers_cache_dir/);
    await expect(pool.query("UPDATE fusionpbx_servers SET cache_method = 'file' WHERE name = 'cache-own'")).rejects.toThrow(/fusionpbx_servers_cache_dir/);
    for (const name of ['cache-own', 'cache-none']) await registry.remove(name);
  });

  it('never shows a password in a redacted URL', () => {
    expect(redactDatabaseUrl('postgresql://u:p%40ss@h:1/d?sslmode=require')).toBe('postgresql://u@h:1/d?sslmode=require');
    expect(redactDatabaseUrl('not a url')).toBe('(unparseable)');
    // libpq's connection options may carry the password too.
    expect(redactDatabaseUrl('postgresql://u@h:1/d?password=Secret-1&sslmode=require&sslpassword=Secret-2')).toBe('postgresql://u@h:1/d?sslmode=require');
  });
});
