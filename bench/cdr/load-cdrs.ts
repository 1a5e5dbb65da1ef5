import type { Pool } from 'pg';
import type { SyntheticCdr } from './generator';

export interface TenantRef {
  serviceId: number;
  domainUuid: string;
  domainName: string;
}

/** Writes CDRs into FusionPBX's v_xml_cdr as its CDR importer would (one unnest INSERT per batch). */
export async function insertCdrs(fusion: Pool, tenants: readonly TenantRef[], cdrs: readonly SyntheticCdr[]): Promise<void> {
  const col = <T>(pick: (cdr: SyntheticCdr) => T) => cdrs.map(pick);
  const tenantOf = (cdr: SyntheticCdr) => tenants[cdr.domainIndex];
  await fusion.query(
    `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, originating_leg_uuid, caller_id_number,
       destination_number, caller_destination, start_epoch, start_stamp, answer_stamp, end_stamp, duration, billsec, hangup_cause,
       insert_date, context)
     SELECT u, d, n, dir, leg, orig, cid, dest, dest, (ms / 1000)::bigint, to_timestamp(ms / 1000.0),
       CASE WHEN bs > 0 THEN to_timestamp(ms / 1000.0 + (dur - bs)) END, to_timestamp(ms / 1000.0 + dur), dur, bs, cause,
       to_timestamp(ms / 1000.0 + dur + CASE WHEN late THEN 7200 ELSE 3 END), n
     FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::text[], $9::float8[], $10::int[], $11::int[], $12::text[], $13::bool[])
       AS t(u, d, n, dir, leg, orig, cid, dest, ms, dur, bs, cause, late)`,
    [
      col((c) => c.xmlCdrUuid),
      col((c) => tenantOf(c).domainUuid),
      col((c) => tenantOf(c).domainName),
      col((c) => c.direction),
      col((c) => c.leg),
      col((c) => c.originatingLegUuid),
      col((c) => c.callerIdNumber),
      col((c) => c.destinationNumber),
      col((c) => c.startEpochMs),
      col((c) => c.duration),
      col((c) => c.billsec),
      col((c) => c.hangupCause),
      col((c) => c.late),
    ],
  );
}
