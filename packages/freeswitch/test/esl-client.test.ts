import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { EslStandin, startEslStandin } from '@ictvoip/testkit';
import { EslAuthError, EslClient, EslCommandError, EslConnectionError, EslFrameParser, EslTimeoutError, FreeswitchValidationError } from '@ictvoip/freeswitch';

/** Polls a condition (an event the test waits for) instead of sleeping a fixed time. */
async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A real TCP listener on `port` that resets every connection it accepts, and counts them. */
async function resettingListener(port: number): Promise<{ attempts: () => number; close: () => Promise<void> }> {
  let attempts = 0;
  const server = createServer((socket) => {
    attempts += 1;
    socket.resetAndDestroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { attempts: () => attempts, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const SAMPLES = path.join(__dirname, 'samples/esl');
let standin: EslStandin;
const clients: EslClient[] = [];

function client(overrides: Partial<ConstructorParameters<typeof EslClient>[0]> = {}): EslClient {
  const made = new EslClient({
    host: standin.host,
    port: standin.port,
    password: 'ClueCon',
    commandTimeoutMs: 500,
    connectTimeoutMs: 500,
    reconnectAttempts: 3,
    reconnectInitialDelayMs: 20,
    ...overrides,
  });
  clients.push(made);
  return made;
}

beforeAll(async () => {
  standin = await startEslStandin();
});

afterEach(() => {
  standin.rejectConnections = false;
  standin.replyDelayMs = 0;
  standin.dropWhen = null;
  standin.failures.length = 0;
  standin.responses.length = 0;
});

afterAll(async () => {
  await Promise.all(clients.map((made) => made.close()));
  await standin.stop();
});

describe('framing on real captures', () => {
  test('every sample wire file parses into whole frames with exact Content-Length bodies', () => {
    const files = readdirSync(SAMPLES).filter((name) => name.endsWith('.wire') && !name.startsWith('outbound'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const bytes = readFileSync(path.join(SAMPLES, file));
      const whole = new EslFrameParser().push(bytes);
      const split = new EslFrameParser();
      const pieces = [];
      for (let offset = 0; offset < bytes.length; offset += 7) pieces.push(...split.push(bytes.subarray(offset, offset + 7)));
      expect(pieces).toEqual(whole);
      expect(whole.length).toBeGreaterThan(0);
      for (const frame of whole) {
        if (frame.headers['Content-Length']) expect(Buffer.byteLength(frame.body)).toBe(Number(frame.headers['Content-Length']));
      }
    }
    const rude = new EslFrameParser().push(readFileSync(path.join(SAMPLES, 'rude-rejection-then-disconnect.decoded.wire')));
    expect(rude.map((frame) => frame.headers['Content-Type'])).toEqual(['text/rude-rejection', 'text/disconnect-notice']);
  });

  test('a multi-megabyte body arriving in socket-sized chunks, the next frames in its last chunk, comes out whole', () => {
    const body = `<profile>${'<registration><user>101@a.example</user></registration>'.repeat(60_000)}</profile>\n`;
    const wire = Buffer.from(
      `Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}Content-Type: command/reply\nReply-Text: +OK\n\nContent-Type: api/response\nContent-Length: 3\n\n+OK`,
    );
    const parser = new EslFrameParser();
    const frames = [];
    for (let offset = 0; offset < wire.length; offset += 65_536) frames.push(...parser.push(wire.subarray(offset, offset + 65_536)));
    expect(frames.map((frame) => frame.headers['Content-Type'])).toEqual(['api/response', 'command/reply', 'api/response']);
    expect(frames[0]!.body).toBe(body);
    expect(frames[2]!.body).toBe('+OK');
  });
});

describe('EslClient against the stand-in', () => {
  test('auth, api with Content-Length (multi-byte body) and the recorded command stream', async () => {
    standin.respond('sofia xmlstatus gateway 0b9c3c0e-8f1e-4c55-9d4a-6f1f0d2b8a11', '<?xml version="1.0"?>\n<gateway><name>ü</name><state>REGED</state></gateway>\n');
    standin.clearRecorded();
    const esl = client();
    expect(await esl.api('switchname')).toBe(standin.switchname);
    expect(await esl.api('sofia xmlstatus gateway 0b9c3c0e-8f1e-4c55-9d4a-6f1f0d2b8a11')).toContain('<state>REGED</state>');
    expect(standin.received).toEqual(['auth ClueCon', 'api switchname', 'api sofia xmlstatus gateway 0b9c3c0e-8f1e-4c55-9d4a-6f1f0d2b8a11']);
  });

  test('concurrent commands are serialised and each gets its own reply', async () => {
    standin.respond(/^echo-\d+$/, (command) => `reply to ${command}\n`);
    standin.replyDelayMs = 5;
    const esl = client();
    const replies = await Promise.all(Array.from({ length: 10 }, (_, index) => esl.api(`echo-${index}`)));
    expect(replies).toEqual(Array.from({ length: 10 }, (_, index) => `reply to echo-${index}\n`));
  });

  test('wrong password → EslAuthError, not retried', async () => {
    const before = standin.connectionsAccepted;
    const error = await client({ password: 'wrong' })
      .api('status')
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EslAuthError);
    expect((error as EslAuthError).code).toBe('ESL_AUTH_FAILED');
    expect((error as Error).message).not.toContain('wrong');
    expect(standin.connectionsAccepted - before).toBe(1);
  });

  test('rude-rejection (ACL) → EslConnectionError ESL_ACCESS_DENIED', async () => {
    standin.rejectConnections = true;
    const error = await client()
      .api('status')
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EslConnectionError);
    expect((error as EslConnectionError).code).toBe('ESL_ACCESS_DENIED');
    expect((error as Error).message).toContain('Access Denied');
  });

  test('-ERR body → EslCommandError; allowErr returns it', async () => {
    const esl = client();
    await expect(esl.api('no_such_command')).rejects.toBeInstanceOf(EslCommandError);
    expect(await esl.api('no_such_command', { allowErr: true })).toBe('-ERR no_such_command Command not found!\n');
    expect(await esl.api('status')).toContain('is ready');
  });

  test('slow answer → EslTimeoutError; the next command works on a fresh connection', async () => {
    const esl = client({ commandTimeoutMs: 100 });
    await esl.api('status');
    standin.replyDelayMs = 300;
    const error = await esl.api('status').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EslTimeoutError);
    expect((error as EslTimeoutError).code).toBe('ESL_TIMEOUT');
    standin.replyDelayMs = 0;
    expect(await esl.api('switchname')).toBe(standin.switchname);
  });

  test('dropped connection → EslConnectionError; reconnects on the next command', async () => {
    const esl = client();
    await esl.api('status');
    standin.dropWhen = (command) => command === 'reloadxml';
    await expect(esl.api('reloadxml')).rejects.toMatchObject({ code: 'ESL_CONNECTION' });
    standin.dropWhen = null;
    expect(await esl.api('reloadxml')).toBe('+OK [Success]\n');
  });

  test('down then up: reconnect with backoff within the attempts', async () => {
    const esl = client({ reconnectAttempts: 6, reconnectInitialDelayMs: 50 });
    await esl.api('status');
    expect(esl.connectedNow).toBe(true);
    await standin.stop();
    // Until the client has seen the close (a command written into a dying socket fails and is not resent).
    await waitUntil(() => !esl.connectedNow);
    // While FreeSWITCH is down, its port resets every connection (a refused connect could not be
    // counted here; to the client both are the same "unreachable" connect error). It comes back up once the
    // client has failed twice, i.e. once the backoff has had to ride out the fault, not after a set time.
    const down = await resettingListener(standin.port);
    const answer = esl.api('switchname');
    await waitUntil(() => down.attempts() >= 2);
    await down.close();
    await standin.start();
    expect(await answer).toBe(standin.switchname);
    expect(down.attempts()).toBeGreaterThanOrEqual(2);
  });

  test('bgapi resolves with the BACKGROUND_JOB body', async () => {
    standin.respond('status', '+OK all good\n');
    const esl = client();
    expect(await esl.bgapi('status')).toBe('+OK all good\n');
    expect(standin.received.some((block) => /^bgapi status\nJob-UUID: [0-9a-f-]{36}$/.test(block))).toBe(true);
  });

  test('line breaks in a command or password are rejected before anything is sent', async () => {
    standin.clearRecorded();
    const esl = client();
    await expect(esl.api('status\n\napi fsctl shutdown')).rejects.toBeInstanceOf(FreeswitchValidationError);
    expect(() => new EslClient({ host: '127.0.0.1', port: standin.port, password: 'Clue\nCon' })).toThrow(FreeswitchValidationError);
    expect(standin.received).toEqual([]);
  });
});

describe('pipelined api commands', () => {
  afterEach(() => {
    standin.beforeAnswer = null;
  });

  test('every command is on the wire before the first is answered, and replies pair in order (-ERR bodies returned as they are)', async () => {
    const esl = client();
    await esl.api('status');
    standin.clearRecorded();
    standin.respond('show calls count', '\n3 total.\n');
    let arrivedAtFirstAnswer = 0;
    standin.beforeAnswer = async () => {
      arrivedAtFirstAnswer ||= standin.apiCommandsArrived;
    };
    const commands = ['switchname', 'show calls count', 'no_such_command', 'memcache delete directory:100@t1.example.net'];
    const bodies = await esl.apiPipelined(commands);
    expect(arrivedAtFirstAnswer).toBe(commands.length);
    expect(standin.apiCommands).toEqual(commands);
    expect(bodies).toEqual([standin.switchname, '\n3 total.\n', '-ERR no_such_command Command not found!\n', '+OK\n']);
    // The connection stays in step: the next plain command gets its own reply.
    expect(await esl.api('switchname')).toBe(standin.switchname);
  });

  test('a reply that does not come drops the connection, so a late reply cannot pair with the next command', async () => {
    const esl = client({ commandTimeoutMs: 200 });
    await esl.api('status');
    const before = standin.connectionsAccepted;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    standin.beforeAnswer = async (command) => {
      if (command === 'status') await held;
    };
    await expect(esl.apiPipelined(['switchname', 'status', 'switchname'])).rejects.toBeInstanceOf(EslTimeoutError);
    standin.beforeAnswer = null;
    release();
    expect(await esl.api('switchname')).toBe(standin.switchname);
    expect(standin.connectionsAccepted).toBe(before + 1);
  });

  test('a line break in any command is refused before anything is sent', async () => {
    const esl = client();
    standin.clearRecorded();
    await expect(esl.apiPipelined(['status', 'status\napi reloadxml'])).rejects.toBeInstanceOf(FreeswitchValidationError);
    expect(standin.apiCommandsArrived).toBe(0);
  });
});
