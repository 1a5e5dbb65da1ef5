import { NIL_UUID, type CdrPosition } from '@ictvoip/operations';
import { LookBackSkip } from '../src/jobs/cdr/sync-tenant';

// The charged CDRs a read leaves out are sent with it as an array its anti-join checks each row against.
// PostgreSQL may run that as a nested loop (rows read × uuids sent) when it expects few rows, as for days
// newer than v_xml_cdr's last ANALYZE: a day's collection sends at most a page of them per read.

const key = (second: number): CdrPosition => ({
  startStamp: `2026-12-05T00:00:${String(second).padStart(2, '0')}.000000Z`,
  xmlCdrUuid: `00000000-0000-4000-8000-${String(second).padStart(12, '0')}`,
});
const dayStart: CdrPosition = { startStamp: '2026-12-05T00:00:00.000000Z', xmlCdrUuid: NIL_UUID };
const charged = Array.from({ length: 10 }, (_, i) => key(i + 1));

/** The uuids each read sends when every read up to its bound comes back short (nothing missing), to the end of the list. */
function sentPerRead(skip: LookBackSkip): number[] {
  const sent: number[] = [];
  for (let from = dayStart; ;) {
    const window = skip.window(from);
    sent.push(window.ids.length);
    if (!window.upTo) return sent;
    skip.shortRead();
    from = window.upTo;
  }
}

test('a day’s collection sends at most a page of charged uuids per read, however many the day holds, and still leaves every one out', () => {
  const skip = new LookBackSkip(charged, 3);
  const seen: string[] = [];
  for (let from = dayStart; ;) {
    const window = skip.window(from);
    expect(window.ids.length).toBeLessThanOrEqual(3);
    seen.push(...window.ids);
    if (!window.upTo) break;
    skip.shortRead();
    from = window.upTo;
  }
  expect(seen).toEqual(charged.map((position) => position.xmlCdrUuid));
  expect(sentPerRead(new LookBackSkip(charged, 3))).toEqual([3, 3, 3, 1]);
});

test('after a full page the next read still sends at most a page, where the look-back doubles what the page covered', () => {
  const day = new LookBackSkip(charged, 2);
  day.window(dayStart);
  day.fullPage(key(4), 2);
  expect(day.window(key(4)).ids).toEqual([key(5).xmlCdrUuid, key(6).xmlCdrUuid]);
  // The sync's look-back (no cap): its first read sends the whole list, after a full page twice what that page covered.
  const lookBack = new LookBackSkip(charged);
  expect(lookBack.window(dayStart).ids.length).toBe(10);
  lookBack.fullPage(key(3), 2);
  expect(lookBack.window(key(3)).ids.length).toBe(6);
});
