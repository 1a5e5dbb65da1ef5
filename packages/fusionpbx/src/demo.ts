import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Pool } from 'pg';

/**
 * The demo FusionPBX of `npm start` (`ictvoip start --demo`): the project's FusionPBX fixture schema
 * and what a fresh FusionPBX install has (groups, SIP profiles, a template domain with dialplans),
 * so a signed create converges end to end on a laptop with no FusionPBX. Production code: the test
 * kit re-exports it for the test databases.
 */

/**
 * How the set-up's connections show in pg_stat_activity: the caller's name (`ictvoip start --demo` gives
 * `ictvoip-cli fs:default`); none when not given (the test kit's loads are not the CLI's). As a
 * fallback_application_name, so an application_name in the URL still wins.
 */
export interface SchemaLoadOptions {
  applicationName?: string;
}

/** The project fixture: the FusionPBX tables the bridge touches, copied from the 5.3.0 schema. */
export const FUSIONPBX_FIXTURE_PATH = path.resolve(__dirname, '../fixture/fusionpbx-fixture.sql');

/**
 * A schema file made loadable: psql meta-commands dropped (a pg_dump of a real install starts with
 * `\connect` etc.), pgcrypto/uuid-ossp created first when the file uses them.
 */
export function prepareFusionpbxSchemaSql(sql: string): string {
  const body = sql
    .split('\n')
    .filter((line) => !line.startsWith('\\'))
    .join('\n');
  const prelude: string[] = [];
  if (/gen_random_uuid|pgcrypto|crypt\(/i.test(body)) prelude.push('create extension if not exists pgcrypto;');
  if (/uuid_generate_v4|uuid-ossp/i.test(body)) prelude.push('create extension if not exists "uuid-ossp";');
  return `${prelude.join('\n')}\n${body}`;
}

/** Loads a FusionPBX schema file into an (empty) database. */
export async function loadFusionpbxSchemaFile(databaseUrl: string, schemaPath: string = FUSIONPBX_FIXTURE_PATH, options: SchemaLoadOptions = {}): Promise<void> {
  const sql = prepareFusionpbxSchemaSql(await readFile(schemaPath, 'utf8'));
  const client = new Client({ connectionString: databaseUrl, fallback_application_name: options.applicationName });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface FusionpbxBasics {
  templateDomainUuid: string;
  templateDomainName: string;
  /** group_name → group_uuid (random per install, like FusionPBX). */
  groups: Record<string, string>;
  /** sip_profile_name → sip_profile_uuid. */
  sipProfiles: Record<string, string>;
  /** The template domain's dialplans (uuid, name) and one global dialplan that must never be copied. */
  templateDialplans: { uuid: string; name: string; appUuid: string }[];
  globalDialplanUuid: string;
}

/** Default global groups as FusionPBX 5.3 groups::defaults() creates them. */
const GROUPS: [string, number][] = [
  ['superadmin', 80],
  ['admin', 50],
  ['user', 30],
  ['agent', 20],
  ['fax', 20],
  ['public', 10],
];

interface DialplanSeed {
  name: string;
  appUuid: string;
  number: string;
  order: number;
  continue: boolean;
  details: [tag: string, type: string, data: string, group: number][];
}

/** A few of FusionPBX's per-domain dialplan templates (app/dialplans/resources/switch/conf/dialplan). */
const TEMPLATE_DIALPLANS: DialplanSeed[] = [
  {
    name: 'domain-variables',
    appUuid: '9f356fe7-8cf8-4c14-8fe2-6daf89304458',
    number: '',
    order: 20,
    continue: true,
    details: [
      ['condition', '', '', 0],
      ['action', 'set', 'default_language=en', 0],
      ['action', 'set', 'domain_name=${context}', 0],
    ],
  },
  {
    name: 'user_exists',
    appUuid: '5a1a3d0f-5f0b-4bd2-9fa8-2c9b0d6a4c11',
    number: '',
    order: 60,
    continue: true,
    details: [
      ['condition', '${user_exists}', '^true$', 0],
      ['action', 'set', 'user_exists=${user_exists id ${destination_number} ${domain_name}}', 0],
    ],
  },
  {
    name: 'local_extension',
    appUuid: '71cf1310-b6e3-415b-8745-3cbdc8e15212',
    number: '[extension]',
    order: 890,
    continue: false,
    details: [
      ['condition', '${user_exists}', 'true', 0],
      ['action', 'bridge', 'user/${destination_number}@${domain_name}', 0],
    ],
  },
];

function dialplanXml(uuid: string, seed: DialplanSeed, context: string): string {
  const lines = [`<extension name="${seed.name}" continue="${seed.continue}" uuid="${uuid}">`, `\t<condition field="context" expression="^${context.replace(/\./g, '\\.')}$">`];
  for (const [tag, type, data] of seed.details) {
    if (tag === 'action') lines.push(`\t\t<action application="${type}" data="${data}"/>`);
  }
  lines.push('\t</condition>', '</extension>');
  return lines.join('\n');
}

async function insertDialplan(pool: Pool, domainUuid: string | null, context: string, seed: DialplanSeed): Promise<string> {
  const uuid = randomUUID();
  await pool.query(
    `insert into v_dialplans (domain_uuid, dialplan_uuid, app_uuid, hostname, dialplan_context, dialplan_name, dialplan_number,
       dialplan_continue, dialplan_xml, dialplan_order, dialplan_enabled, dialplan_description, insert_date)
     values ($1, $2, $3, null, $4, $5, $6, $7, $8, $9, 'true', null, now())`,
    [domainUuid, uuid, seed.appUuid, context, seed.name, seed.number || null, String(seed.continue), dialplanXml(uuid, seed, context), seed.order],
  );
  let order = 5;
  for (const [tag, type, data, group] of seed.details) {
    await pool.query(
      `insert into v_dialplan_details (domain_uuid, dialplan_uuid, dialplan_detail_uuid, dialplan_detail_tag, dialplan_detail_type,
         dialplan_detail_data, dialplan_detail_group, dialplan_detail_order, dialplan_detail_enabled, insert_date)
       values ($1, $2, $3, $4, $5, $6, $7, $8, 'true', now())`,
      [domainUuid, uuid, randomUUID(), tag, type || null, data || null, group, order],
    );
    order += 5;
  }
  return uuid;
}

/**
 * Seeds what a fresh FusionPBX install has and the bridge relies on: the global groups, the SIP
 * profiles internal/external (+ipv6), a template domain with a few per-domain dialplans, and one
 * global dialplan. Plain SQL that works on the fixture and on schema-5.1/5.3.
 */
export async function seedFusionpbxBasics(pool: Pool, templateDomainName = 'template.pbx.test'): Promise<FusionpbxBasics> {
  const groups: Record<string, string> = {};
  for (const [name, level] of GROUPS) {
    const uuid = randomUUID();
    groups[name] = uuid;
    await pool.query(
      `insert into v_groups (group_uuid, domain_uuid, group_name, group_protected, group_level, group_description, insert_date)
       values ($1, null, $2, 'false', $3, $4, now())`,
      [uuid, name, level, `${name} group`],
    );
  }
  const sipProfiles: Record<string, string> = {};
  for (const name of ['internal', 'external', 'internal-ipv6', 'external-ipv6']) {
    const uuid = randomUUID();
    sipProfiles[name] = uuid;
    await pool.query(
      `insert into v_sip_profiles (sip_profile_uuid, sip_profile_name, sip_profile_hostname, sip_profile_enabled, sip_profile_description, insert_date)
       values ($1, $2, null, $3, null, now())`,
      [uuid, name, name.endsWith('ipv6') ? 'false' : 'true'],
    );
  }
  // The default setting of a fresh install that an extension's page reads (app/voicemails/app_config.php, 5.1.0 and 5.3.0).
  await pool.query(
    `insert into v_default_settings (default_setting_uuid, app_uuid, default_setting_category, default_setting_subcategory, default_setting_name,
       default_setting_value, default_setting_order, default_setting_enabled, default_setting_description, insert_date)
     values ($1, null, 'voicemail', 'voicemail_file', 'text', 'attach', 0, 'true', 'Define whether to attach voicemail files to email notifications, or only include a link.', now())`,
    [randomUUID()],
  );
  const templateDomainUuid = randomUUID();
  await pool.query(
    `insert into v_domains (domain_uuid, domain_parent_uuid, domain_name, domain_enabled, domain_description, insert_date)
     values ($1, null, $2, 'true', 'dialplan template', now())`,
    [templateDomainUuid, templateDomainName],
  );
  const templateDialplans = [];
  for (const seed of TEMPLATE_DIALPLANS) {
    templateDialplans.push({ uuid: await insertDialplan(pool, templateDomainUuid, templateDomainName, seed), name: seed.name, appUuid: seed.appUuid });
  }
  const globalDialplanUuid = await insertDialplan(pool, null, 'global', {
    name: 'call_direction',
    appUuid: '3780f814-5543-4350-b65d-563512d1fe71',
    number: '',
    order: 15,
    continue: true,
    details: [['condition', '${call_direction}', '^$', 0]],
  });
  return { templateDomainUuid, templateDomainName, groups, sipProfiles, templateDialplans, globalDialplanUuid };
}

/** Fills an empty database with the demo FusionPBX: the fixture schema and the basics above. */
export async function createDemoFusionpbx(databaseUrl: string, templateDomainName: string, options: SchemaLoadOptions = {}): Promise<FusionpbxBasics> {
  await loadFusionpbxSchemaFile(databaseUrl, FUSIONPBX_FIXTURE_PATH, options);
  const pool = new Pool({ connectionString: databaseUrl, max: 1, fallback_application_name: options.applicationName });
  try {
    return await seedFusionpbxBasics(pool, templateDomainName);
  } finally {
    await pool.end();
  }
}
