import { type DesiredRow, newUuid } from '../db';
import { generateVoicemailPin, newSipPassword } from '../passwords';

/**
 * A new extension as FusionPBX's extension_edit.php fills the form by default, so rows the bridge
 * makes (provisioning or the REST API) look like rows the GUI made. `overrides` set the caller's fields.
 */
export function newExtensionRow(domainUuid: string, domainName: string, number: string, overrides: DesiredRow = {}): DesiredRow {
  return {
    extension_uuid: newUuid(),
    domain_uuid: domainUuid,
    extension: number,
    number_alias: null,
    password: newSipPassword(),
    accountcode: domainName,
    effective_caller_id_name: number,
    effective_caller_id_number: number,
    limit_max: '5',
    limit_destination: '!USER_BUSY',
    user_context: domainName,
    call_timeout: 30,
    call_screen_enabled: false,
    directory_visible: true,
    directory_exten_visible: true,
    extension_type: 'default',
    enabled: true,
    description: null,
    ...overrides,
  };
}

/** The voicemail box the GUI creates with an extension. */
export function newVoicemailRow(domainUuid: string, number: string, overrides: DesiredRow = {}): DesiredRow & { domain_uuid: string; voicemail_id: string } {
  return {
    voicemail_uuid: newUuid(),
    voicemail_password: generateVoicemailPin(8),
    voicemail_mail_to: null,
    voicemail_file: null,
    voicemail_local_after_email: true,
    voicemail_transcription_enabled: false,
    voicemail_enabled: true,
    voicemail_tutorial: true,
    voicemail_description: null,
    ...overrides,
    domain_uuid: domainUuid,
    voicemail_id: number,
  };
}
