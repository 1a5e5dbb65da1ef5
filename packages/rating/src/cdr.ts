/** The CDR fields rating needs, as read from FusionPBX `v_xml_cdr` by the integrator. */

export type CdrDirection = 'inbound' | 'outbound' | 'local';

export interface RatingCdr {
  /** `v_xml_cdr.xml_cdr_uuid`, the charge's natural key. */
  readonly xmlCdrUuid: string;
  /** `v_xml_cdr.direction` (FusionPBX's call_direction): inbound, outbound or local. */
  readonly direction: CdrDirection | string;
  readonly leg: 'a' | 'b' | string;
  /** `v_xml_cdr.caller_destination`: the number as the caller dialled it. */
  readonly callerDestination?: string | null;
  /** `v_xml_cdr.destination_number`: the number after the dialplan (provider prefix stripped). */
  readonly destinationNumber?: string | null;
  /** `v_xml_cdr.start_stamp`: selects the rate in force (effective dates). */
  readonly startStamp: Date;
  /** `v_xml_cdr.billsec`, whole answered seconds (convert pg's numeric string with a digit check). */
  readonly billsec: number;
  readonly hangupCause: string | null;
  readonly domainName: string;
}
