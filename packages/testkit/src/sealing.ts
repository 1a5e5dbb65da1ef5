import { createCipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/** A deterministic SEALING_KEY entry for tests: `<id>:<base64 of sha256(id)>`. */
export function testSealingKey(id: string): string {
  return `${id}:${createHash('sha256').update(`ictvoip-test-sealing-${id}`).digest('base64')}`;
}

/** The SEALING_KEY the test harnesses set. */
export const TEST_SEALING_KEY = testSealingKey('test1');

/** A keyring (the shape of config.sealing) of test keys: the first id seals. */
export function testKeyring(ids: readonly string[], legacySecrets: readonly string[] = []): { keys: { id: string; key: Buffer }[]; legacySecrets: readonly string[] } {
  return {
    keys: ids.map((id) => ({ id, key: Buffer.from(testSealingKey(id).slice(id.length + 1), 'base64') })),
    legacySecrets,
  };
}

/** A value in the format of before SEALING_KEY (v1, key derived from a webhook secret): upgrade tests. */
export function sealLegacy(value: Record<string, string>, webhookSecret: string): string {
  const key = Buffer.from(hkdfSync('sha256', webhookSecret, 'ictvoip-inbox', 'sealed-secrets-v1', 32));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
}
