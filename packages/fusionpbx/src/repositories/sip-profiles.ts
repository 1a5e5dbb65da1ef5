import { type Tx, selectRows } from '../db';

/** v_sip_profiles (read-only): names of the enabled profiles. */
export async function enabledSipProfileNames(tx: Tx): Promise<string[]> {
  const rows = await selectRows(tx, "select sip_profile_name from v_sip_profiles where sip_profile_enabled = 'true' order by sip_profile_name");
  return rows.map((row) => row.sip_profile_name).filter((name): name is string => name !== null);
}
