import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScenarioTally, clientErrorsOf, scenarioVerdict } from '../chaos/support/run-scenario';
import { formatTable, readResults } from '../chaos/support/summary';

/** The chaos summary table: its verdict is the scenario's assertions and completed runs, never a separate tally. */
describe('chaos summary', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ictvoip-chaos-summary-'));
    process.env.ICTVOIP_CHAOS_SUMMARY = join(dir, 'summary.jsonl');
  });
  afterEach(() => {
    delete process.env.ICTVOIP_CHAOS_SUMMARY;
    rmSync(dir, { recursive: true, force: true });
  });

  const clean = { events: 10, lost: 0, doubled: 0, problems: [] } as never;

  it('a run whose assertion failed makes the scenario FAIL, even with a clean tally (0 lost, 0 doubled, 0 5xx)', async () => {
    const tally = new ScenarioTally('s', 2);
    await tally.run(async () => tally.add(clean));
    await expect(
      tally.run(async () => {
        tally.add(clean);
        expect(1).toBe(2);
      }),
    ).rejects.toThrow();
    expect(tally.record()).toMatchObject({ runs: 1, plannedRuns: 2, lost: 0, doubled: 0, serverErrors: 0, verdict: 'FAIL' });
  });

  it('fewer completed runs than planned is a FAIL; all planned runs passing is a pass', async () => {
    const short = new ScenarioTally('short', 3);
    await short.run(async () => undefined);
    expect(short.record().verdict).toBe('FAIL');
    const whole = new ScenarioTally('whole', 2);
    await whole.run(async () => undefined);
    await whole.run(async () => undefined);
    expect(whole.record().verdict).toBe('pass');
    expect(scenarioVerdict(0, 0, 0)).toBe('FAIL');
    expect(readResults().map((r) => [r.scenario, r.verdict])).toEqual([
      ['short', 'FAIL'],
      ['whole', 'pass'],
    ]);
  });

  it('counts 5xx other than 503, 503s and network errors apart, and the table says so', async () => {
    const errors = clientErrorsOf(
      { posted: 9, statuses: { '202': 3, '503': 2, '500': 1 }, serverErrors: 1, networkErrors: 3 },
      { posted: 1, statuses: { '503': 1 }, serverErrors: 0, networkErrors: 0 },
    );
    expect(errors).toEqual({ serverErrors: 1, unavailable: 3, networkErrors: 3 });
    const tally = new ScenarioTally('faults', 1);
    await tally.run(async () => tally.add(clean, errors));
    const table = formatTable([tally.record()]);
    const [header, , row, note] = table.split('\n');
    const cells = (line: string) => line.split('|').map((cell) => cell.trim());
    const at = (name: string) => cells(row!)[cells(header!).indexOf(name)];
    expect({ runs: at('runs passed'), other5xx: at('5xx not 503'), unavailable: at('503'), network: at('net err'), verdict: at('verdict') }).toEqual({
      runs: '1/1',
      other5xx: '1',
      unavailable: '3',
      network: '3',
      verdict: 'pass',
    });
    expect(note).toMatch(/503.*counted apart/);
  });

  it('shows per run the work in flight the fault hit, and - for a scenario that does not count it', async () => {
    const counted = new ScenarioTally('kills', 2);
    await counted.run(async () => counted.add(clean, { kills: 3, interrupted: 5 }));
    await counted.run(async () => counted.add(clean, { kills: 2, interrupted: 2 }));
    const uncounted = new ScenarioTally('restart', 1);
    await uncounted.run(async () => uncounted.add(clean));
    const [header, , first, second] = formatTable([counted.record(), uncounted.record()]).split('\n');
    const cells = (line: string) => line.split('|').map((cell) => cell.trim());
    const column = cells(header!).indexOf('in flight hit');
    expect([cells(first!)[column], cells(second!)[column]]).toEqual(['5, 2', '-']);
    expect(readResults()[0]!.interrupted).toEqual([5, 2]);
  });
});
