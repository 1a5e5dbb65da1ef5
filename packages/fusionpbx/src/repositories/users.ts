import { type CanonicalRow, type Tx, convergeRow, convergeRowsTo, insertRow, newUuid, selectRows } from '../db';
import { FusionpbxConfigError } from '../errors';

/** v_users, v_user_groups and (read-only) v_groups. Groups are looked up by name, never by a fixed uuid. */

export async function findUser(tx: Tx, domainUuid: string, username: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_users where domain_uuid = $1 and username = $2 order by user_uuid', [domainUuid, username]);
  return rows[0] ?? null;
}

export function listUsers(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(tx, 'select * from v_users where domain_uuid = $1 order by username, user_uuid', [domainUuid]);
}

/** The global group (domain_uuid NULL) with this name. */
export async function findGlobalGroup(tx: Tx, groupName: string): Promise<CanonicalRow> {
  const rows = await selectRows(tx, 'select * from v_groups where group_name = $1 and domain_uuid is null order by group_uuid', [groupName]);
  const group = rows[0];
  if (!group) throw new FusionpbxConfigError(`FusionPBX has no global group "${groupName}" in v_groups`);
  return group;
}

export async function insertUser(tx: Tx, domainUuid: string, username: string, passwordHash: string, email: string | null): Promise<CanonicalRow> {
  const userUuid = newUuid();
  await insertRow(tx, 'v_users', {
    user_uuid: userUuid,
    domain_uuid: domainUuid,
    username,
    password: passwordHash,
    salt: null,
    user_email: email,
    user_type: 'default',
    user_enabled: true,
  });
  const rows = await selectRows(tx, 'select * from v_users where user_uuid = $1', [userUuid]);
  return rows[0];
}

export function setUserPassword(tx: Tx, user: CanonicalRow, passwordHash: string): Promise<boolean> {
  return convergeRow(tx, 'v_users', 'user_uuid', user, { password: passwordHash, salt: null });
}

export function setUserEnabled(tx: Tx, user: CanonicalRow, enabled: boolean): Promise<boolean> {
  return convergeRow(tx, 'v_users', 'user_uuid', user, { user_enabled: enabled });
}

export function setUsersEnabled(tx: Tx, users: readonly CanonicalRow[], enabled: boolean): Promise<number> {
  return convergeRowsTo(tx, 'v_users', 'user_uuid', users, { user_enabled: enabled });
}

/** Adds the user to the group unless already a member. Returns true when it wrote. */
export async function ensureUserGroup(tx: Tx, user: CanonicalRow, group: CanonicalRow): Promise<boolean> {
  const existing = await selectRows(tx, 'select 1 from v_user_groups where user_uuid = $1 and group_uuid = $2', [user.user_uuid, group.group_uuid]);
  if (existing.length > 0) return false;
  await insertRow(tx, 'v_user_groups', {
    user_group_uuid: newUuid(),
    domain_uuid: user.domain_uuid,
    group_name: group.group_name,
    group_uuid: group.group_uuid,
    user_uuid: user.user_uuid,
  });
  return true;
}
