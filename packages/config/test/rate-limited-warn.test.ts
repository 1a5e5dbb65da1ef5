import { createLogger, rateLimitedWarn } from '@ictvoip/config';

interface Line {
  fields: Record<string, unknown>;
  message: string;
}

/** A logger that records warn calls, and a clock and scheduler the test moves by hand. */
function harness(intervalMs = 60_000) {
  const lines: Line[] = [];
  let time = 1_000_000;
  let pending: Array<{ at: number; callback: () => void; cancelled: boolean }> = [];
  const warn = rateLimitedWarn(
    { warn: (fields, message) => void lines.push({ fields, message }) },
    {
      intervalMs,
      now: () => time,
      schedule: (callback, ms) => {
        const entry = { at: time + ms, callback, cancelled: false };
        pending.push(entry);
        return { cancel: () => void (entry.cancelled = true) };
      },
    },
  );
  const advance = (ms: number) => {
    const until = time + ms;
    for (;;) {
      const next = pending.filter((entry) => !entry.cancelled && entry.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      time = next.at;
      pending = pending.filter((entry) => entry !== next);
      next.callback();
    }
    time = until;
  };
  return { lines, warn, advance };
}

describe('rateLimitedWarn', () => {
  it('writes the first warning at once and one line with the count per interval while it repeats', () => {
    const { lines, warn, advance } = harness();
    warn({ server: 'default', attempt: 1 }, 'event socket down');
    expect(lines).toEqual([{ fields: { server: 'default', attempt: 1 }, message: 'event socket down' }]);
    for (let attempt = 2; attempt <= 58; attempt += 1) {
      advance(1000);
      warn({ server: 'default', attempt }, 'event socket down');
    }
    expect(lines).toHaveLength(1);
    advance(3000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual({ fields: { server: 'default', attempt: 58, repeated: 57 }, message: 'event socket down (repeated 57 times in the last 60 s)' });
    // Still failing: counted in the next interval, summarised once at its end.
    advance(10_000);
    warn({ server: 'default', attempt: 59 }, 'event socket down');
    advance(50_000);
    expect(lines.map((line) => line.message)).toEqual([
      'event socket down',
      'event socket down (repeated 57 times in the last 60 s)',
      'event socket down (repeated 1 time in the last 60 s)',
    ]);
    // A quiet interval ends the window without a line; the next warning is written in full again.
    advance(120_000);
    expect(lines).toHaveLength(3);
    warn({ server: 'default', attempt: 60 }, 'event socket down');
    expect(lines[3]).toEqual({ fields: { server: 'default', attempt: 60 }, message: 'event socket down' });
  });

  it('counts each key on its own, and flush writes the pending counts', () => {
    const { lines, warn, advance } = harness();
    for (let i = 0; i < 3; i += 1) {
      warn({ server: 'a' }, 'event socket down', 'esl:a');
      warn({ server: 'b' }, 'event socket down', 'esl:b');
      warn({}, 'pool error');
    }
    expect(lines.map((line) => line.fields)).toEqual([{ server: 'a' }, { server: 'b' }, {}]);
    advance(5000);
    warn.flush();
    expect(lines.slice(3)).toEqual([
      { fields: { server: 'a', repeated: 2 }, message: 'event socket down (repeated 2 times in the last 5 s)' },
      { fields: { server: 'b', repeated: 2 }, message: 'event socket down (repeated 2 times in the last 5 s)' },
      { fields: { repeated: 2 }, message: 'pool error (repeated 2 times in the last 5 s)' },
    ]);
    warn.flush();
    expect(lines).toHaveLength(6);
  });

  it('with the real clock and timers, the summary line arrives when the interval ends', async () => {
    const written: Array<Record<string, unknown>> = [];
    let summarised!: () => void;
    const summary = new Promise<void>((resolve) => (summarised = resolve));
    const logger = createLogger({
      level: 'warn',
      name: 'test',
      destination: {
        write(line: string) {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          written.push(parsed);
          if (parsed.repeated !== undefined) summarised();
        },
      },
    });
    const warn = rateLimitedWarn(logger, { intervalMs: 200 });
    const started = Date.now();
    for (let i = 0; i < 25; i += 1) warn({ server: 'default' }, 'event socket down');
    expect(written.map((line) => line.msg)).toEqual(['event socket down']);
    await summary;
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(written.map((line) => [line.msg, line.repeated])).toEqual([
      ['event socket down', undefined],
      ['event socket down (repeated 24 times in the last 0.2 s)', 24],
    ]);
    warn.flush();
  });
});
