import type { Request, Response } from 'express';
import { iterateCdrs, type CdrFilter } from '@ictvoip/fusionpbx';
import type { Principal } from '../../api-keys/principal';
import type { ApiDeps } from '../../deps';
import { csvTable, withCharges, type CdrWithCharge } from '../v1/cdr-format';
import { chargesFor } from '../v1/charges';
import type { TenantContext } from '../v1/tenant-context';
import { formField } from './auth';
import { envelope, invalidParameter, missingParameter } from './envelope';
import { tenantsInScope, unavailableServersField } from './tenants';
import { ServerAnswers, type UnavailableServer } from '../../server-answers';
import { streamChunks } from '../../streamed-response';

const EXPORT_BATCH = 1000;
const FORMATS = ['JSON', 'CSV', 'XML'] as const;
type ExportFormat = (typeof FORMATS)[number];

/** FusionPBX's v_xml_cdr column names (what ictVoIP's export carries), then the bridge's rated amount. */
export const EXPORT_COLUMNS = [
  'xml_cdr_uuid',
  'domain_name',
  'direction',
  'caller_id_name',
  'caller_id_number',
  'destination_number',
  'extension',
  'start_stamp',
  'answer_stamp',
  'end_stamp',
  'duration',
  'billsec',
  'hangup_cause',
  'sip_hangup_disposition',
  'accountcode',
  'amount',
] as const;
type ExportRecord = Record<(typeof EXPORT_COLUMNS)[number], string | number | null>;

function exportRecord(domainName: string, cdr: CdrWithCharge): ExportRecord {
  return {
    xml_cdr_uuid: cdr.uuid,
    domain_name: domainName,
    direction: cdr.direction,
    caller_id_name: cdr.callerIdName,
    caller_id_number: cdr.callerIdNumber,
    destination_number: cdr.destinationNumber,
    extension: cdr.extension,
    start_stamp: cdr.startStamp,
    answer_stamp: cdr.answerStamp,
    end_stamp: cdr.endStamp,
    duration: cdr.duration,
    billsec: cdr.billsec,
    hangup_cause: cdr.hangupCause,
    sip_hangup_disposition: cdr.sipHangupDisposition,
    accountcode: cdr.accountcode,
    amount: cdr.amount ?? null,
  };
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * `2024-01-01` (a whole day, UTC) or `2024-01-01 10:30[:00]` / ISO 8601 with an offset. A day as
 * `date_end` includes that day, as ictVoIP's "2024-01-01 to 2024-01-31" reads; a time as `date_end` is the
 * first instant left out, so consecutive windows (10:00–11:00, 11:00–12:00) tile without overlap or gap.
 */
export function parseExportDate(value: string, field: string, end: boolean): Date {
  const text = value.trim();
  const day = DAY.exec(text);
  if (day) {
    const start = new Date(Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])));
    if (Number.isNaN(start.getTime()) || start.toISOString().slice(0, 10) !== text) throw invalidParameter(field, 'is not a calendar date');
    return end ? new Date(start.getTime() + 86_400_000) : start;
  }
  const moment = DATE_TIME.exec(text);
  if (!moment) throw invalidParameter(field, 'must be a date (YYYY-MM-DD) or a date and time (YYYY-MM-DD HH:MM[:SS])');
  const iso = `${moment[1]}-${moment[2]}-${moment[3]}T${moment[4]}:${moment[5]}:${moment[6] ?? '00'}${moment[7] ? moment[7].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2') : 'Z'}`;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw invalidParameter(field, 'is not a valid date and time');
  return date;
}

interface ExportRequest {
  format: ExportFormat;
  from: Date;
  to: Date;
  dateRange: string;
}

function exportRequest(req: Request): ExportRequest {
  const start = formField(req, 'date_start');
  const end = formField(req, 'date_end');
  if (!start) throw missingParameter('date_start');
  if (!end) throw missingParameter('date_end');
  const format = (formField(req, 'format') || 'JSON').trim().toUpperCase();
  if (!(FORMATS as readonly string[]).includes(format)) throw invalidParameter('format', `must be one of ${FORMATS.join(', ')}`);
  const from = parseExportDate(start, 'date_start', false);
  const to = parseExportDate(end, 'date_end', true);
  if (to.getTime() <= from.getTime()) throw invalidParameter('date_end', 'must be after date_start');
  return { format: format as ExportFormat, from, to, dateRange: `${start.trim()} to ${end.trim()}` };
}

async function* exportRecords(deps: ApiDeps, contexts: TenantContext[], request: ExportRequest): AsyncGenerator<ExportRecord[]> {
  for (const context of contexts) {
    if (!context.domain) continue;
    const filter: CdrFilter = { domainUuid: context.domain.domainUuid, from: request.from, to: request.to, leg: 'a' };
    for await (const batch of iterateCdrs(context.deps.fusion.pool, filter, EXPORT_BATCH)) {
      const charges = await chargesFor(
        deps.pool,
        context.service.serviceId,
        batch.map((record) => record.uuid),
      );
      yield withCharges(batch, charges).map((record) => exportRecord(context.domain!.domainName, record));
    }
  }
}

// XML 1.0 allows tab, LF, CR and everything from U+0020 up; other control characters are dropped.
const XML_INVALID = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g;
export const xmlText = (value: string | number | null) =>
  value === null ? '' : String(value).replace(XML_INVALID, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
const xmlElement = (name: string, value: string | number | null) => `<${name}>${xmlText(value)}</${name}>`;
const xmlRecord = (record: ExportRecord) => `<record>${EXPORT_COLUMNS.map((column) => xmlElement(column, record[column])).join('')}</record>\n`;

const unavailableXml = (left: readonly UnavailableServer[]) =>
  `<unavailable_servers>${left.map((entry) => `<server>${xmlElement('name', entry.server)}${xmlElement('reason', entry.reason)}</server>`).join('')}</unavailable_servers>`;

const CONTENT_TYPES: Record<ExportFormat, string> = {
  JSON: 'application/json; charset=utf-8',
  CSV: 'text/csv; charset=utf-8',
  XML: 'application/xml; charset=utf-8',
};

/**
 * `/app/xml_cdr/export_cdr.php` (`date_start`, `date_end`, `format` JSON | CSV | XML; optional
 * `tenant_domain`): the a-leg CDRs of the named tenant, or of every tenant the caller may see,
 * streamed batch by batch. JSON and XML carry the envelope (`status`, `message`, `timestamp`,
 * `date_range`, `export_format`), the `records`, and `total_records` last: it is the count of what
 * was actually written, so it can never disagree with the records. CSV is the bare file. A FusionPBX
 * database failing after the first bytes drops the connection (streamChunks): never a file that looks whole.
 */
export async function exportCdrs(deps: ApiDeps, principal: Principal, req: Request, res: Response): Promise<void> {
  const request = exportRequest(req);
  const answers = new ServerAnswers(deps.logger);
  const contexts = await tenantsInScope(deps, principal, req, ['tenant_domain', 'domain'], answers);
  const headers: Record<string, string> = { 'Content-Type': CONTENT_TYPES[request.format] };
  // CSV has no envelope: the servers left out are named in a header.
  if (answers.unavailable.length > 0) headers['X-Unavailable-Servers'] = answers.unavailable.map((entry) => entry.server).join(', ');
  if (request.format === 'CSV') headers['Content-Disposition'] = `attachment; filename="cdr_export.csv"`;
  await streamChunks(res, deps.logger, { status: 200, headers }, exportChunks(deps, contexts, request, answers), 'export_cdr.php');
}

/** The export as text: the first batch is read before the envelope, so a failure there is a clean error status. */
async function* exportChunks(deps: ApiDeps, contexts: TenantContext[], request: ExportRequest, answers: ServerAnswers): AsyncGenerator<string> {
  const left = answers.unavailable;
  const head = envelope('success', 'CDR export completed', { date_range: request.dateRange, export_format: request.format, ...unavailableServersField(answers) });
  const iterator = exportRecords(deps, contexts, request);
  try {
    let current = await iterator.next();
    if (request.format === 'JSON') yield `${JSON.stringify(head).slice(0, -1)},"records":[`;
    if (request.format === 'XML')
      yield `<?xml version="1.0" encoding="UTF-8"?>\n<response>${Object.entries(head)
        .map(([name, value]) => (name === 'unavailable_servers' ? unavailableXml(left) : xmlElement(name, value as string)))
        .join('')}<records>\n`;
    if (request.format === 'CSV') yield csvTable([[...EXPORT_COLUMNS]]);
    let total = 0;
    while (!current.done) {
      const records = current.value;
      if (request.format === 'JSON') yield `${total > 0 ? ',' : ''}${records.map((record) => JSON.stringify(record)).join(',')}`;
      if (request.format === 'XML') yield records.map(xmlRecord).join('');
      if (request.format === 'CSV') yield csvTable(records.map((record) => EXPORT_COLUMNS.map((column) => record[column])));
      total += records.length;
      current = await iterator.next();
    }
    if (request.format === 'JSON') yield `],"total_records":${total}}`;
    if (request.format === 'XML') yield `</records>${xmlElement('total_records', total)}</response>\n`;
  } finally {
    await iterator.return(undefined);
  }
}
