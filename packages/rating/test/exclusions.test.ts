import { isEmergencyNumber, matchExclusion, parseExclusions, RatingConfigError } from '@ictvoip/rating';

describe('ictVoIP exclusion patterns (table of cases)', () => {
  test.each<[string, string, string, string | undefined]>([
    // patterns, direction, dialled number, rule that matches
    ['*xx', 'local', '*97', '*xx'],
    ['*xx', 'local', '*9', undefined],
    ['*xx', 'local', '*972', undefined],
    ['#xx', 'local', '#72', '#xx'],
    ['800xxxxxxx', 'outbound', '8005550100', '800xxxxxxx'],
    ['800xxxxxxx', 'outbound', '18005550100', undefined],
    ['800xxxxxxx', 'outbound', '800555010', undefined],
    ['1-800-xxx-xxxx', 'outbound', '+1 (800) 555-0100', '1-800-xxx-xxxx'],
    ['911,112', 'outbound', '112', '112'],
    ['911,112', 'outbound', '9115551234', undefined],
    ['1800*', 'outbound', '18009', '1800*'],
    ['4443,4747', 'local', '4747', '4747'],
    ['[local]', 'local', '201', '[local]'],
    ['[local]', 'outbound', '201', undefined],
    ['[inbound]', 'inbound', '+12125550100', '[inbound]'],
    ['[outbound]', 'outbound', '2125550100', '[outbound]'],
    ['[emergency]', 'outbound', '911', '[emergency]911'],
    ['[emergency]', 'outbound', '000', '[emergency]000'],
    ['[emergency]', 'outbound', '9110', undefined],
    ['[tollfree]', 'outbound', '8885550100', '[tollfree]888xxxxxxx'],
    ['[tollfree]', 'outbound', '+18335550100', '[tollfree]1833xxxxxxx'],
    ['[tollfree]', 'outbound', '9005550100', undefined],
    ['  911 , [LOCAL] ', 'local', '200', '[local]'],
    ['', 'outbound', '911', undefined],
  ])('%s on %s %s → %s', (patterns, direction, number, rule) => {
    expect(matchExclusion(parseExclusions(patterns), { direction, number })).toBe(rule);
  });

  test.each(['9x1a', '[voip]', '[]', 'sip:911', '()'])('refuses "%s" naming the field and the pattern', (patterns) => {
    expect(() => parseExclusions(patterns, 'plan.billingExcludes')).toThrow(RatingConfigError);
    expect(() => parseExclusions(patterns, 'plan.billingExcludes')).toThrow(/plan\.billingExcludes/);
  });

  test('isEmergencyNumber reads the [emergency] list: the whole number, formatting and a leading + ignored', () => {
    expect(['911', '933', '112', '999', '000', '110', '119', '+911', '9-1-1'].map(isEmergencyNumber)).toEqual(Array(9).fill(true));
    expect(['9115551234', '9911', '411', '', null, undefined].map(isEmergencyNumber)).toEqual(Array(6).fill(false));
  });
});

describe('the union prefilter (anyNumber) answers as the rules one by one', () => {
  // Lists mixing direction and number rules in both orders, outgoing-only sets, open-ended patterns.
  const lists = ['[emergency],[tollfree]', '[local],911,[emergency]', '911,[local],[tollfree],1800*', '[inbound],800xxxxxxx,[outbound]', '*xx,#xx,[inbound]', '[outbound]'];
  const numbers = ['911', '9115551234', '112', '000', '8005550100', '18005550100', '+1 (800) 555-0100', '2125550100', '18009', '*97', '#72', '201', '', 'sip:911'];
  test.each(lists)('%s', (text) => {
    const list = parseExclusions(text);
    expect(list.anyNumber).toBeDefined();
    const oneByOne = { rules: list.rules };
    for (const direction of ['inbound', 'outbound', 'local'])
      for (const number of numbers)
        expect([direction, number, matchExclusion(list, { direction, number })]).toEqual([direction, number, matchExclusion(oneByOne, { direction, number })]);
  });

  test('a direction rule listed after a number rule is still found when no number matches', () => {
    expect(matchExclusion(parseExclusions('911,[local]'), { direction: 'local', number: '201' })).toBe('[local]');
    expect(matchExclusion(parseExclusions('[tollfree]'), { direction: 'inbound', number: '8005550100' })).toBeUndefined();
  });
});
