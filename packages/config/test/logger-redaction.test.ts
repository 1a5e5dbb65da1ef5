import { Writable } from 'node:stream';
import pino from 'pino';
import { createLogger, REDACTED_PATHS, type Logger } from '../src';

/** Lines written to memory, `time` taken out so two loggers' lines compare byte for byte. */
function capture(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => line.replace(/"time":\d+,/, '')),
  };
}

class LeakyError extends Error {
  readonly code = 'LEAKY';
  constructor(
    message: string,
    readonly password: string,
  ) {
    super(message);
  }
}

// One error for both loggers: its stack names where it was made.
const LEAKY = new LeakyError('failed', 'from-error');

/** Log calls covering every redacted path, as a field, nested, in a child's bindings and on an error. */
function writeCorpus(logger: Logger): void {
  logger.info({ requestId: 'r-1', eventId: 'e-1', action: 'create', serviceId: 7, repeat: false }, 'webhook event recorded');
  logger.info({ secret: 's3cret', password: 'pw', token: 42, apiKey: null, authorization: true, secrets: ['a', 'b'] }, 'whole fields');
  logger.info(
    {
      event: {
        secret: 'x',
        password: 'y',
        servicePassword: 'z',
        token: 't',
        apiKey: 'k',
        authorization: 'Bearer q',
        accesshash: 'h',
        secrets: { servicePassword: 'p' },
        kept: 'ok',
      },
      list: [{ password: 'in an array' }],
      deep: { a: { password: 'two levels: not a listed path' } },
    },
    'nested',
  );
  logger.info(
    { req: { headers: { authorization: 'Bearer abc', cookie: 'c=1', 'x-ictvoip-signature': 'v1=ff', host: 'h' } }, n: Number.NaN, big: 1e21, u: 'Grüße \u2028 😀' },
    'request',
  );
  logger.info(
    {
      config: { webhook: { secrets: ['w1'] }, sealing: { keys: ['k'] }, adminToken: 'the-admin-token', esl: { password: 'ClueCon', host: 'h' }, whmcs: { secret: 'ws', url: 'u' } },
    },
    'config',
  );
  logger.error({ err: LEAKY }, 'error line');
  logger.child({ secret: 'bound', tenant: 'acme', nested: { token: 'bound-token' }, id: 3 }).warn({ password: 'child-field', ok: 1 }, 'child');
  logger.info('a message alone');
}

const SECRETS = ['s3cret', 'Bearer q', 'Bearer abc', 'c=1', 'v1=ff', 'ClueCon', 'the-admin-token', 'from-error', 'bound', 'bound-token', 'child-field', 'servicePassword":"p'];

describe('createLogger redaction', () => {
  it('writes the same lines as pino with the same redact paths, so primitives skipping the redactors changes nothing', () => {
    const ours = capture();
    const plain = capture();
    writeCorpus(createLogger({ level: 'info', name: 'redaction', destination: ours.stream }));
    writeCorpus(pino({ level: 'info', name: 'redaction', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, plain.stream));
    expect(ours.lines()).toHaveLength(8);
    expect(ours.lines()).toEqual(plain.lines());
    const text = ours.lines().join('\n');
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    expect(text).toContain('"serviceId":7');
    expect(text).toContain('"kept":"ok"');
  });

  it('takes a primitive field past the nested redactors', () => {
    const ours = capture();
    const logger = createLogger({ level: 'info', name: 'redaction', destination: ours.stream });
    const stringifiers = (logger as unknown as Record<symbol, Record<symbol, (value: unknown) => string>>)[pino.symbols.stringifiersSym];
    const wildcard = stringifiers[pino.symbols.wildcardFirstSym];
    expect(wildcard('a "quoted" value')).toBe('"a \\"quoted\\" value"');
    // The wrapped redactor: a primitive is written at once; an object still has its paths censored.
    expect(wildcard.toString()).toContain('JSON.stringify(value)');
    expect(wildcard({ password: 'x' } as unknown)).toBe('{"password":"[redacted]"}');
  });
});
