import { createHash, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import { portalPasswordMatches } from '../passwords';

/**
 * A FusionPBX login checked the way FusionPBX 5.1 and 5.3 check it
 * (core/authentication/resources/classes/plugins/database.php): the user is found by username or
 * e-mail, case-insensitively, among enabled users of type 'default' (or none); a stored password
 * starting with `$` is a password_hash() (bcrypt `$2y$`), anything else is the deprecated
 * md5(salt . password). The bridge never rewrites the hash (FusionPBX upgrades it at the next GUI
 * login); it only reads. On top of FusionPBX's check the user must be in the superadmin group, as
 * ictVoIP's endpoints require.
 */

interface UserRow {
  username: string;
  password: string | null;
  salt: string | null;
  superadmin: boolean;
}

const sameText = (a: string, b: string) => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

/** FusionPBX's deprecated form: md5(salt . password) in lower-case hex. */
export function legacyMd5Matches(password: string, salt: string | null, stored: string): boolean {
  const digest = createHash('md5')
    .update(`${salt ?? ''}${password}`, 'utf8')
    .digest('hex');
  return sameText(digest, stored);
}

export async function fusionpbxPasswordMatches(password: string, salt: string | null, stored: string | null): Promise<boolean> {
  if (!stored || password === '') return false;
  if (stored.startsWith('$')) return portalPasswordMatches(password, stored);
  return legacyMd5Matches(password, salt, stored);
}

/**
 * The username of a FusionPBX superadmin whose password matches, or null. With per-domain user
 * names (FusionPBX's default) several rows may share a name: any one of them that is a superadmin
 * with this password is the caller.
 */
export async function verifySuperadmin(pool: Pool, username: string, password: string): Promise<string | null> {
  if (username === '' || password === '') return null;
  const { rows } = await pool.query<UserRow>(
    `select u.username, u.password, u.salt,
            exists (select 1 from v_user_groups g where g.user_uuid = u.user_uuid and g.group_name = 'superadmin') as superadmin
       from v_users u
      where (lower(u.username) = lower($1) or lower(u.user_email) = lower($1))
        and (u.user_type = 'default' or u.user_type is null)
        and (u.user_enabled::text = 'true' or u.user_enabled is null)`,
    [username],
  );
  for (const row of rows) {
    if (!row.superadmin) continue;
    if (await fusionpbxPasswordMatches(password, row.salt, row.password)) return row.username;
  }
  return null;
}
