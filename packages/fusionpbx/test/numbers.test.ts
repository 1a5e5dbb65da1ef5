import { FusionpbxValidationError, normaliseNumber, numberPlanOf } from '@ictvoip/fusionpbx';
import { EventValidationError, parseTenantCommand } from '@ictvoip/whmcs';
import { destinationCacheKeys, numberRegex } from '../src/destinations/numbers';

/** Numbers as the plan's numbering reads them, and destinations->to_regex() (5.1.0 = 5.3.0 app/destinations/resources/classes/destinations.php). */
describe('phone numbers', () => {
  const nanp = numberPlanOf('1', 'national');
  const uk = numberPlanOf('+44', undefined);

  it('reads every written form of one number as the same number', () => {
    for (const written of ['+1 (555) 201-0001', '001 555 201 0001', '15552010001', '555.201.0001', 5552010001]) {
      expect(normaliseNumber(written, nanp, 'n')).toEqual({ prefix: '1', number: '5552010001', canonical: '+15552010001' });
    }
    // A national trunk 0 is dropped before the country code completes the number.
    expect(normaliseNumber('020 7946 0001', uk, 'n')).toEqual({ prefix: '44', number: '2079460001', canonical: '+442079460001' });
    expect(normaliseNumber('020 7946 0001', numberPlanOf('44', 'e164'), 'n')).toEqual({ prefix: null, number: '+442079460001', canonical: '+442079460001' });
    // Without a country the number is kept as written (formatting removed).
    expect(normaliseNumber('+49 30 1234567', numberPlanOf(undefined, undefined), 'n')).toEqual({ prefix: null, number: '+49301234567', canonical: '+49301234567' });
  });

  it('refuses what is not a number of the plan, naming the field', () => {
    const refusal = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return error as FusionpbxValidationError;
      }
      throw new Error('accepted');
    };
    expect(refusal(() => normaliseNumber('call me', nanp, 'plan.dids[0]'))).toMatchObject({ field: 'plan.dids[0]' });
    expect(refusal(() => normaliseNumber('+44 20 7946 0001', nanp, 'number')).message).toBe(
      "number: '+44 20 7946 0001' is not a number of country code +1 (the plan's countryCode)",
    );
    expect(refusal(() => numberPlanOf('0', undefined))).toMatchObject({ field: 'plan.countryCode' });
    expect(refusal(() => numberPlanOf('1', 'local'))).toMatchObject({ field: 'plan.numberFormat' });
  });

  it("holds a stored plan's country code to the webhook's rule: refused by one exactly when refused by the other, with the same words", () => {
    const atIngest = (countryCode: unknown): string | null => {
      try {
        parseTenantCommand({
          schemaVersion: 1,
          eventId: '6f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
          action: 'change_package',
          occurredAt: '2026-12-05T00:00:00Z',
          service: { id: 41 },
          client: { id: 7 },
          plan: { countryCode },
        });
        return null;
      } catch (error) {
        if (!(error instanceof EventValidationError)) throw error;
        expect(error.details.map((detail) => detail.path)).toEqual(['plan.countryCode']);
        return error.details[0]!.message;
      }
    };
    const stored = (countryCode: unknown): string | null => {
      try {
        numberPlanOf(countryCode, undefined);
        return null;
      } catch (error) {
        expect(error).toMatchObject({ field: 'plan.countryCode' });
        return (error as Error).message;
      }
    };
    const values = ['1', '44', '+44', ' 44 ', '1868', '9999', '0', '01', '+01', '0044', '12345', '++44', '4 4', '44a', '+', ' ', 44, 1, 9999, 0, 10_000, -1, 1.5, true, ['44']];
    for (const value of values) {
      const ingest = atIngest(value);
      expect({ value, refused: stored(value) !== null }).toEqual({ value, refused: ingest !== null });
    }
    // Where the webhook's answer is the pattern's (a text code), both say the same rule.
    const rule = atIngest('01')!.replace("'plan.countryCode' ", '');
    expect(stored('01')).toContain(rule);
  });

  it('builds the regex to_regex() builds: one-digit prefix `\\+?1?`, longer `\\+?(?:44)?`, a + number `^\\+(…)$`, none `^(…)$`', () => {
    expect(numberRegex({ prefix: '1', number: '5552010001' })).toBe('^\\+?1?(5552010001)$');
    expect(numberRegex({ prefix: '44', number: '2079460001' })).toBe('^\\+?(?:44)?(2079460001)$');
    expect(numberRegex({ prefix: null, number: '+442079460001' })).toBe('^\\+(442079460001)$');
    expect(numberRegex({ prefix: null, number: '2079460001' })).toBe('^(2079460001)$');
    // The regex matches the forms a carrier sends.
    const regex = new RegExp(numberRegex({ prefix: '44', number: '2079460001' }));
    for (const sent of ['+442079460001', '442079460001', '2079460001']) expect(regex.test(sent)).toBe(true);
    expect(regex.test('12079460001')).toBe(false);
  });

  it('deletes the cache keys destination_edit.php deletes, by dialplan mode', () => {
    expect(destinationCacheKeys('multiple', 'public', { prefix: '1', number: '5552010001' })).toEqual(['dialplan:public']);
    expect(destinationCacheKeys('single', 'public', { prefix: '1', number: '5552010001' })).toEqual([
      'dialplan:public:15552010001',
      'dialplan:public:+15552010001',
      'dialplan:public:5552010001',
    ]);
    expect(destinationCacheKeys('single', 'public', { prefix: null, number: '+15552010001' })).toEqual(['dialplan:public:+15552010001']);
  });
});
