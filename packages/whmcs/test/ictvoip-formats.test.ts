import { randomUUID } from 'node:crypto';
import { EventValidationError, IctvoipFormatError, parseIctvoipDomainField, parseIctvoipExtensionList, parseTenantCommand } from '../src';

// ictVoIP's service-field formats (clientadmin/clientadmin.rst): "domain | DID" and "2112 | 2113".
describe('ictVoIP service fields', () => {
  it('splits the documented Domain field into the tenant domain and its main DID, and refuses Vodia’s longer form', () => {
    expect(parseIctvoipDomainField('mcon.wat7.ictvoip.ca | 5192229000')).toEqual({ domain: 'mcon.wat7.ictvoip.ca', dids: ['5192229000'] });
    expect(() => parseIctvoipDomainField('rucken.wat1.ictvoip.ca | 5484815577 | 5197830020 | 8300')).toThrow(/^service\.domain lists 3 numbers .*Vodia products are not supported/);
    expect(parseIctvoipDomainField('Plain.Example.COM')).toEqual({ domain: 'plain.example.com', dids: [] });
    // Empty parts (a trailing or doubled |) are skipped like the spaces around |.
    expect(parseIctvoipDomainField('a.example.ca | ')).toEqual({ domain: 'a.example.ca', dids: [] });
    expect(parseIctvoipDomainField('a.example.ca | | 2125551234')).toEqual({ domain: 'a.example.ca', dids: ['2125551234'] });
    expect(parseIctvoipExtensionList('2112 | 2113 |')).toEqual(['2112', '2113']);
    expect(() => parseIctvoipExtensionList(' | ')).toThrow('lists no extension number');
    expect(parseIctvoipDomainField('a.example.ca|+1 (519) 222-9000')).toEqual({ domain: 'a.example.ca', dids: ['+15192229000'] });
  });

  it('names the part at fault', () => {
    expect(() => parseIctvoipDomainField('not a domain | 5192229000')).toThrow(IctvoipFormatError);
    expect(() => parseIctvoipDomainField('a.example.ca | 51x')).toThrow('service.domain part 2 must be a DID');
    expect(() => parseIctvoipDomainField('a.example.ca | | 51x')).toThrow('service.domain part 3 must be a DID');
    expect(() => parseIctvoipDomainField('| 5192229000')).toThrow('must start with a tenant domain');
  });

  it('reads a non-consecutive extension list, refusing non-numbers and repeats', () => {
    expect(parseIctvoipExtensionList('2112 | 2113 | 2120')).toEqual(['2112', '2113', '2120']);
    expect(parseIctvoipExtensionList('2112|2113|2114|2115|2216')).toEqual(['2112', '2113', '2114', '2115', '2216']);
    expect(parseIctvoipExtensionList('2112')).toEqual(['2112']);
    expect(() => parseIctvoipExtensionList('2112 | abc')).toThrow('extensions part 2 must be an extension number');
    expect(() => parseIctvoipExtensionList('2112 | 2112')).toThrow('lists extension 2112 twice');
  });
});

describe('the WHMCS event with ictVoIP’s service fields', () => {
  const event = (service: Record<string, unknown>, plan: Record<string, unknown> = {}) => ({
    schemaVersion: 1,
    eventId: randomUUID(),
    action: 'create',
    occurredAt: new Date().toISOString(),
    service: { id: 42, ...service },
    client: { id: 7 },
    plan,
    secrets: { servicePassword: 'Adm1n-Pass-Example!' },
  });

  it('keeps the tenant domain of "domain | DID" and reads the extension list, as a string or a list', () => {
    const command = parseTenantCommand(event({ domain: 'mcon.wat7.ictvoip.ca | 5192229000' }, { extensionNumbers: '2112 | 2113 | 2120' }));
    expect(command.service.domain).toBe('mcon.wat7.ictvoip.ca');
    expect(command.plan.extensionNumbers).toEqual(['2112', '2113', '2120']);
    expect(parseTenantCommand(event({}, { extensionNumbers: ['2112', 2120] })).plan.extensionNumbers).toEqual(['2112', '2120']);
  });

  it('refuses a malformed field with a 400 detail naming it', () => {
    const domainError = (() => {
      try {
        parseTenantCommand(event({ domain: 'mcon.example.ca | 51-x' }));
      } catch (error) {
        return error;
      }
      return null;
    })();
    expect(domainError).toBeInstanceOf(EventValidationError);
    expect((domainError as EventValidationError).details[0]).toMatchObject({ path: 'service.domain' });
    expect(() => parseTenantCommand(event({}, { extensionNumbers: '2112 | 2112' }))).toThrow(/plan\.extensionNumbers.*2112 twice/);
  });
});
