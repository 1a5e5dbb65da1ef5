import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Bridge } from './harness';

/** Helpers of the ictVoIP endpoint suites (COMPAT_ICTVOIP=1): FusionPBX users, form POSTs, the error envelope. */

/** PHP's own hashes, so the check is FusionPBX's, not ours mirrored. */
export const php = (code: string, ...args: string[]) => execFileSync('php', ['-r', code, '--', ...args], { encoding: 'utf8' });

export const bcryptOf = (password: string) => php('echo password_hash($argv[1], PASSWORD_DEFAULT);', password);

/** A v_users row (with its groups) in the FusionPBX database, as FusionPBX itself stores one. */
export async function addFusionUser(bridge: Bridge, username: string, stored: { password: string; salt: string | null }, groups: string[], enabled = 'true'): Promise<void> {
  const { rows } = await bridge.fusion.query<{ domain_uuid: string }>('select domain_uuid from v_domains order by domain_name limit 1');
  const userUuid = randomUUID();
  await bridge.fusion.query(
    `insert into v_users (user_uuid, domain_uuid, username, password, salt, user_email, user_type, user_enabled, insert_date)
     values ($1, $2, $3, $4, $5, $6, 'default', $7, now())`,
    [userUuid, rows[0]!.domain_uuid, username, stored.password, stored.salt, `${username}@example.net`, enabled],
  );
  for (const group of groups) {
    await bridge.fusion.query('insert into v_user_groups (user_group_uuid, domain_uuid, group_name, user_uuid, insert_date) values ($1, $2, $3, $4, now())', [
      randomUUID(),
      rows[0]!.domain_uuid,
      group,
      userUuid,
    ]);
  }
}

export interface FormReply {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function reply(response: Response): Promise<FormReply> {
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = {};
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** A urlencoded form POST (curl -d). */
export async function postForm(baseUrl: string, path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<FormReply> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  return reply(response);
}

/** A GET (curl -u user:pass <url>): the query string is the form. */
export async function getForm(baseUrl: string, pathAndQuery: string, headers: Record<string, string> = {}): Promise<FormReply> {
  return reply(await fetch(`${baseUrl}${pathAndQuery}`, { headers }));
}

/** A multipart/form-data POST (curl -F); fetch writes the boundary. */
export async function postMultipart(baseUrl: string, path: string, form: FormData, headers: Record<string, string> = {}): Promise<FormReply> {
  return reply(await fetch(`${baseUrl}${path}`, { method: 'POST', headers, body: form }));
}

export const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

export function expectError(reply: FormReply, status: number, message: string | RegExp): void {
  expect(reply.status).toBe(status);
  expect(Object.keys(reply.body)).toEqual(['status', 'message', 'timestamp']);
  expect(reply.body.status).toBe('error');
  expect(reply.body.message).toEqual(typeof message === 'string' ? message : expect.stringMatching(message));
  expect(reply.body.timestamp).toMatch(TIMESTAMP);
}
