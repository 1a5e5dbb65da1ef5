import type { Pool } from 'pg';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import { createPool, migrateBridgeDatabase, RegistrationsRepository, type RegistrationObservation, type RegistrationSighting } from '@ictvoip/store';

let db: TestDatabase;
let pool: Pool;
let repository: RegistrationsRepository;

const T0 = Date.parse('2026-03-02T10:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const SEEN: RegistrationSighting = {
  profile: 'internal',
  contactIp: '203.0.113.7',
  contactPort: 5060,
  lanIp: '192.168.1.7',
  userAgent: 'Yealink SIP-T46S 66.86.0.15',
  expires: '2026-03-02 11:00:00',
  expiresInSeconds: 3600,
};

const observation = (extension: string, seconds: number, seen: RegistrationSighting | null): RegistrationObservation => ({
  server: 'default',
  serviceId: 42,
  domain: 'reg.pbx.test',
  extension,
  seen,
  at: at(seconds),
  lostAfterSeconds: 180,
});

beforeAll(async () => {
  db = await createTestDatabase('registrations');
  pool = createPool(db.url, { max: 12 });
  await migrateBridgeDatabase(pool);
  repository = new RegistrationsRepository(pool);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe('RegistrationsRepository', () => {
  it('records lost once, even with ten polls of the same moment at once, and restored once', async () => {
    expect(await repository.observe(observation('101', 0, SEEN))).toBeNull();
    expect(await repository.observe(observation('101', 60, null))).toBeNull();
    const racing = await Promise.all(Array.from({ length: 10 }, () => repository.observe(observation('101', 240, null))));
    expect(racing.filter((entry) => entry !== null).map((entry) => entry!.transition)).toEqual(['lost']);
    const [lost] = await repository.history(42, { limit: 10 });
    expect(lost).toMatchObject({ transition: 'lost', at: at(240), missingSince: at(60), figures: { contactIp: '203.0.113.7', lanIp: '192.168.1.7', profile: 'internal' } });
    const back = await Promise.all(Array.from({ length: 10 }, () => repository.observe(observation('101', 300, SEEN))));
    expect(back.filter((entry) => entry !== null).map((entry) => entry!.transition)).toEqual(['restored']);
    expect((await repository.history(42, { limit: 10 })).map((entry) => entry.transition)).toEqual(['restored', 'lost']);
  });

  it('an older poll applied after a newer one changes nothing; a never-registered extension is never lost', async () => {
    expect(await repository.observe(observation('101', 100, null))).toBeNull();
    expect((await repository.states(42)).find((state) => state.extension === '101')).toMatchObject({ registered: true, missingSince: null, lastSeen: at(300) });
    expect(await repository.observe(observation('102', 0, null))).toBeNull();
    expect(await repository.observe(observation('102', 1000, null))).toBeNull();
    expect((await repository.states(42)).find((state) => state.extension === '102')).toMatchObject({ registered: false, lost: false, firstSeen: null, missingSince: null });
  });

  it('is the outbox of the alerts: marked sent once', async () => {
    const [latest] = await repository.history(42, { limit: 1 });
    expect((await repository.unsentAlerts()).map((entry) => entry.id)).toContain(latest!.id);
    expect(await repository.markAlertSent(latest!.id, new Date())).toBe(true);
    expect(await repository.markAlertSent(latest!.id, new Date())).toBe(false);
    expect((await repository.unsentAlerts()).map((entry) => entry.id)).not.toContain(latest!.id);
  });
});
