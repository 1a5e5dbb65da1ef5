/** A client of FreeSWITCH's event socket (mod_event_socket, inbound mode): the wire format, then the connection and its commands. */
import { randomUUID } from 'node:crypto';
import { Socket, connect as tcpConnect } from 'node:net';
import { FreeswitchValidationError } from '../errors';
import { EslAuthError, EslCommandError, EslConnectionError, EslTimeoutError } from './errors';

/*
 * The wire format: a block of "Key: Value" lines ended by an empty line; when the block has
 * Content-Length, exactly that many bytes of body follow. Works on bytes so multi-byte bodies are
 * measured the way FreeSWITCH measures them. (The test kit's event-socket stand-in speaks it too.)
 */

export interface EslFrame {
  headers: Record<string, string>;
  /** The body as UTF-8 text, decoded on first read (a caller comparing a multi-megabyte reply as bytes never pays for it). */
  readonly body: string;
  /** The body's bytes as they came. */
  readonly bytes: Buffer;
}

function frameOf(headers: Record<string, string>, bytes: Buffer): EslFrame {
  let body: string | undefined;
  return {
    headers,
    bytes,
    get body(): string {
      body ??= bytes.toString('utf8');
      return body;
    },
  };
}

export function parseHeaderBlock(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** Decodes a text/event-plain body: URL-encoded event headers, then an optional inner body. */
export function parseEventPlain(body: string): EslFrame {
  const end = body.indexOf('\n\n');
  const headText = end === -1 ? body : body.slice(0, end);
  const raw = parseHeaderBlock(headText);
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) headers[key] = safeDecode(value);
  const rest = Buffer.from(end === -1 ? '' : body.slice(end + 2));
  const length = Number(headers['Content-Length'] ?? NaN);
  return frameOf(headers, Number.isFinite(length) ? rest.subarray(0, length) : rest);
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

const NEWLINE = 0x0a;

const EMPTY = Buffer.alloc(0);

/** A frame whose headers are read and whose body is still arriving. */
interface PartialBody {
  headers: Record<string, string>;
  target: Buffer;
  filled: number;
  length: number;
}

/**
 * Incremental parser: push bytes, get whole frames back. A body that spans chunks (a megabyte reply
 * comes in hundreds) is copied once into storage of its size as they arrive, never re-joined; a caller
 * done with such a body can offer its storage back for the next one.
 */
export class EslFrameParser {
  /** Bytes not yet framed (headers still incomplete, or whole frames not yet taken). */
  private buffer: Buffer = EMPTY;
  private body: PartialBody | null = null;
  private spare: Buffer | null = null;
  /** Storage this parser allocated (only that is taken back whole: any other buffer may share its memory). */
  private readonly own = new WeakSet<ArrayBufferLike>();

  /**
   * An earlier frame's bytes the caller no longer reads: the next body that spans chunks is read into
   * their storage when it fits. Fresh memory of a multi-megabyte body costs its page faults on every
   * read (tens of ms, more than comparing the body); reused memory does not.
   */
  offer(bytes: Buffer): void {
    if (this.own.has(bytes.buffer)) this.spare = Buffer.from(bytes.buffer);
  }

  push(chunk: Buffer): EslFrame[] {
    const frames: EslFrame[] = [];
    let rest = chunk;
    if (this.body) {
      const body = this.body;
      const take = Math.min(rest.length, body.length - body.filled);
      rest.copy(body.target, body.filled, 0, take);
      body.filled += take;
      if (body.filled < body.length) return frames;
      this.body = null;
      frames.push(frameOf(body.headers, body.target.subarray(0, body.length)));
      rest = rest.subarray(take);
    }
    this.buffer = this.buffer.length === 0 ? rest : Buffer.concat([this.buffer, rest]);
    for (;;) {
      const frame = this.next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  private next(): EslFrame | null {
    while (this.buffer.length > 0 && this.buffer[0] === NEWLINE) this.buffer = this.buffer.subarray(1);
    const end = this.buffer.indexOf('\n\n');
    if (end === -1) return null;
    const headers = parseHeaderBlock(this.buffer.subarray(0, end).toString('utf8'));
    const length = headers['Content-Length'] === undefined ? 0 : Number(headers['Content-Length']);
    if (!Number.isInteger(length) || length < 0) throw new Error(`bad Content-Length ${headers['Content-Length']}`);
    const bodyStart = end + 2;
    if (this.buffer.length < bodyStart + length) {
      const target = this.storage(length);
      const filled = this.buffer.copy(target, 0, bodyStart);
      this.body = { headers, target, filled, length };
      this.buffer = EMPTY;
      return null;
    }
    const bytes = this.buffer.subarray(bodyStart, bodyStart + length);
    this.buffer = this.buffer.subarray(bodyStart + length);
    return frameOf(headers, bytes);
  }

  /** The offered storage when the body fits, else new storage with an eighth to spare (the next reply of a poll is rarely exactly as long). */
  private storage(length: number): Buffer {
    const spare = this.spare;
    this.spare = null;
    if (spare && spare.length >= length) return spare;
    const made = Buffer.allocUnsafeSlow(length + (length >> 3));
    this.own.add(made.buffer);
    return made;
  }
}

export interface EslClientOptions {
  host: string;
  port: number;
  password: string;
  /** TCP connect + auth handshake limit (FusionPBX uses 3 s). */
  connectTimeoutMs?: number;
  /** Per-command reply limit; on expiry the connection is dropped (a late reply would be mis-paired). */
  commandTimeoutMs?: number;
  /** Connection attempts per command when FreeSWITCH is unreachable, with doubling delay. */
  reconnectAttempts?: number;
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Receives every text/event-plain event (decoded). */
  onEvent?: (event: EslFrame) => void;
}

interface Waiter {
  resolve(frame: EslFrame): void;
  reject(error: Error): void;
}

/** One authenticated TCP connection. Replies are matched to commands strictly in order. */
class Connection {
  private readonly parser = new EslFrameParser();
  private readonly frames: EslFrame[] = [];
  private waiter: Waiter | null = null;
  private failure: Error | null = null;
  readonly jobs = new Map<string, Waiter>();
  backgroundJobsSubscribed = false;

  constructor(
    readonly socket: Socket,
    private readonly onEvent?: (event: EslFrame) => void,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(new EslConnectionError('closed', `event socket error: ${error.message}`)));
    socket.on('close', () => this.fail(new EslConnectionError('closed', 'event socket connection closed')));
  }

  get alive(): boolean {
    return this.failure === null && !this.socket.destroyed;
  }

  private receive(chunk: Buffer): void {
    let frames: EslFrame[];
    try {
      frames = this.parser.push(chunk);
    } catch (error) {
      this.fail(new EslConnectionError('protocol', `event socket framing error: ${(error as Error).message}`));
      this.socket.destroy();
      return;
    }
    for (const frame of frames) this.dispatch(frame);
  }

  private dispatch(frame: EslFrame): void {
    const type = frame.headers['Content-Type'];
    if (type === 'text/event-plain') return this.event(parseEventPlain(frame.body));
    if (type === 'text/disconnect-notice') {
      return this.fail(new EslConnectionError('closed', `event socket disconnected: ${frame.body.split('\n')[0]}`));
    }
    if (type === 'text/rude-rejection') {
      return this.fail(new EslConnectionError('rejected', `event socket refused this client (ACL): ${frame.body.trim()}`));
    }
    if (type?.startsWith('text/event-')) return;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = null;
      waiter.resolve(frame);
    } else {
      this.frames.push(frame);
    }
  }

  private event(event: EslFrame): void {
    const jobUuid = event.headers['Job-UUID'];
    if (event.headers['Event-Name'] === 'BACKGROUND_JOB' && jobUuid) {
      const job = this.jobs.get(jobUuid);
      this.jobs.delete(jobUuid);
      job?.resolve(event);
    }
    this.onEvent?.(event);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.waiter?.reject(error);
    this.waiter = null;
    for (const job of this.jobs.values()) job.reject(error);
    this.jobs.clear();
    this.socket.destroy();
  }

  /** The next reply frame (command/reply, api/response, auth/request). */
  nextFrame(): Promise<EslFrame> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** See EslFrameParser.offer. */
  offer(bytes: Buffer): void {
    this.parser.offer(bytes);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  destroy(error: Error): void {
    this.fail(error);
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects anything that could smuggle a second command (the protocol is line based). */
function assertSingleLine(command: string): void {
  if (command.length === 0) throw new FreeswitchValidationError('command', 'is empty');
  if (/[\r\n\0]/.test(command)) throw new FreeswitchValidationError('command', 'contains a line break or NUL');
}

const ERR_REPLY = Buffer.from('-ERR');

/** Whether a reply body starts with `-ERR` (read on the bytes: a long reply is not decoded to be checked). */
export function isErrReply(bytes: Buffer): boolean {
  return bytes.length >= ERR_REPLY.length && bytes.compare(ERR_REPLY, 0, ERR_REPLY.length, 0, ERR_REPLY.length) === 0;
}

export interface ApiOptions {
  /** Return bodies starting with "-ERR" instead of throwing EslCommandError. */
  allowErr?: boolean;
}

export interface ApiBytesOptions extends ApiOptions {
  /** Bytes of an earlier apiBytes reply the caller no longer reads (nor keeps): their memory may hold this reply. */
  reuse?: Buffer;
}

/**
 * FreeSWITCH event-socket client (inbound mode). Commands are serialised per client: one in flight,
 * replies matched in order. A dead connection is replaced on the next command, with backoff.
 */
export class EslClient {
  private connection: Connection | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly options: Required<Omit<EslClientOptions, 'onEvent'>> & Pick<EslClientOptions, 'onEvent'>;

  constructor(options: EslClientOptions) {
    if (/[\s]/.test(options.password) || options.password.length === 0) {
      throw new FreeswitchValidationError('ESL password', 'must be non-empty without whitespace or line breaks');
    }
    this.options = {
      connectTimeoutMs: 3000,
      commandTimeoutMs: 5000,
      reconnectAttempts: 3,
      reconnectInitialDelayMs: 100,
      reconnectMaxDelayMs: 2000,
      ...options,
    };
  }

  /** `api <command>`: the api/response body. Throws EslCommandError on "-ERR" unless allowErr. */
  async api(command: string, options: ApiOptions = {}): Promise<string> {
    return (await this.apiFrame(command, options)).body;
  }

  /**
   * `api` answering the body's bytes undecoded (`reuse`: an earlier reply's bytes the caller is done
   * with, read into again when the reply fits): a poll that compares a multi-megabyte reply with the
   * last one decodes it only when it differs.
   */
  async apiBytes(command: string, options: ApiBytesOptions = {}): Promise<Buffer> {
    return (await this.apiFrame(command, options)).bytes;
  }

  private async apiFrame(command: string, options: ApiBytesOptions): Promise<EslFrame> {
    assertSingleLine(command);
    return this.serial(async (connection) => {
      if (options.reuse) connection.offer(options.reuse);
      const frame = await this.roundTrip(connection, `api ${command}\n\n`, command);
      if (frame.headers['Content-Type'] !== 'api/response') throw new EslCommandError(command, `unexpected reply ${frame.headers['Content-Type']}`);
      if (!options.allowErr && isErrReply(frame.bytes)) throw new EslCommandError(command, frame.body);
      return frame;
    });
  }

  /**
   * Several `api` commands written back to back on one connection; FreeSWITCH runs them in order and
   * answers in order, so replies pair by position. Bodies come back as they are ("-ERR …" included):
   * the caller decides which errors count. One round trip instead of one per command.
   */
  async apiPipelined(commands: readonly string[]): Promise<string[]> {
    commands.forEach(assertSingleLine);
    if (commands.length === 0) return [];
    return this.serial(async (connection) => {
      connection.send(commands.map((command) => `api ${command}\n\n`).join(''));
      const bodies: string[] = [];
      try {
        for (const command of commands) {
          const frame = await this.reply(connection, command);
          if (frame.headers['Content-Type'] !== 'api/response') throw new EslCommandError(command, `unexpected reply ${frame.headers['Content-Type']}`);
          bodies.push(frame.body);
        }
      } catch (error) {
        // Replies still owed would pair with the next command's: this connection is done.
        connection.destroy(error as Error);
        throw error;
      }
      return bodies;
    });
  }

  /** A non-api command (e.g. `event plain BACKGROUND_JOB`); returns Reply-Text, throws on -ERR. */
  async command(command: string): Promise<string> {
    assertSingleLine(command);
    return this.serial((connection) => this.commandOn(connection, command));
  }

  /** `bgapi <command>` with our Job-UUID; resolves with the BACKGROUND_JOB body. */
  async bgapi(command: string, timeoutMs = this.options.commandTimeoutMs): Promise<string> {
    assertSingleLine(command);
    const jobUuid = randomUUID();
    const { done } = await this.serial(async (connection) => {
      if (!connection.backgroundJobsSubscribed) {
        await this.commandOn(connection, 'event plain BACKGROUND_JOB');
        connection.backgroundJobsSubscribed = true;
      }
      const done = new Promise<EslFrame>((resolve, reject) => connection.jobs.set(jobUuid, { resolve, reject }));
      done.catch(() => undefined);
      const frame = await this.roundTrip(connection, `bgapi ${command}\nJob-UUID: ${jobUuid}\n\n`, `bgapi ${command}`);
      const reply = frame.headers['Reply-Text'] ?? '';
      if (!reply.startsWith('+OK')) {
        connection.jobs.delete(jobUuid);
        throw new EslCommandError(`bgapi ${command}`, reply);
      }
      return { done };
    });
    const event = await withTimeout(done, timeoutMs, () => new EslTimeoutError(`bgapi ${command}`, timeoutMs));
    if (event.body.startsWith('-ERR')) throw new EslCommandError(`bgapi ${command}`, event.body);
    return event.body;
  }

  /** Whether a live, authenticated connection is open now (a dropped one is replaced on the next command). */
  get connectedNow(): boolean {
    return this.connection?.alive === true;
  }

  /** Closes the connection; later commands fail. */
  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection;
    this.connection = null;
    if (connection?.alive) {
      connection.send('exit\n\n');
      connection.destroy(new EslConnectionError('closed', 'client closed'));
    }
    await this.queue.catch(() => undefined);
  }

  private async commandOn(connection: Connection, command: string): Promise<string> {
    const frame = await this.roundTrip(connection, `${command}\n\n`, command);
    const reply = frame.headers['Reply-Text'] ?? '';
    if (!reply.startsWith('+OK')) throw new EslCommandError(command, reply || frame.body);
    return reply;
  }

  private serial<T>(work: (connection: Connection) => Promise<T>): Promise<T> {
    const run = async () => work(await this.connected());
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private roundTrip(connection: Connection, wire: string, label: string): Promise<EslFrame> {
    connection.send(wire);
    return this.reply(connection, label);
  }

  /** The next reply on the connection, within the command timeout (on expiry the connection is dropped). */
  private async reply(connection: Connection, label: string): Promise<EslFrame> {
    const timeoutMs = this.options.commandTimeoutMs;
    try {
      return await withTimeout(connection.nextFrame(), timeoutMs, () => new EslTimeoutError(label, timeoutMs));
    } catch (error) {
      if (error instanceof EslTimeoutError) connection.destroy(error);
      throw error;
    }
  }

  private async connected(): Promise<Connection> {
    if (this.closed) throw new EslConnectionError('closed', 'client closed');
    if (this.connection?.alive) return this.connection;
    this.connection = null;
    let delay = this.options.reconnectInitialDelayMs;
    for (let attempt = 1; ; attempt += 1) {
      try {
        this.connection = await this.open();
        return this.connection;
      } catch (error) {
        const retryable = error instanceof EslConnectionError && (error.reason === 'unreachable' || error.reason === 'closed');
        if (!retryable || attempt >= this.options.reconnectAttempts) throw error;
        await sleep(delay);
        delay = Math.min(delay * 2, this.options.reconnectMaxDelayMs);
      }
    }
  }

  private async open(): Promise<Connection> {
    const { host, port, connectTimeoutMs } = this.options;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const candidate = tcpConnect({ host, port });
      const timer = setTimeout(() => {
        candidate.destroy();
        reject(new EslConnectionError('unreachable', `event socket ${host}:${port} connect timed out`));
      }, connectTimeoutMs);
      candidate.once('connect', () => {
        clearTimeout(timer);
        resolve(candidate);
      });
      candidate.once('error', (error) => {
        clearTimeout(timer);
        reject(new EslConnectionError('unreachable', `event socket ${host}:${port} unreachable: ${error.message}`));
      });
    });
    const connection = new Connection(socket, this.options.onEvent);
    try {
      await withTimeout(this.authenticate(connection), connectTimeoutMs, () => new EslConnectionError('unreachable', `event socket ${host}:${port} handshake timed out`));
      return connection;
    } catch (error) {
      connection.destroy(error as Error);
      throw error;
    }
  }

  private async authenticate(connection: Connection): Promise<void> {
    const greeting = await connection.nextFrame();
    if (greeting.headers['Content-Type'] !== 'auth/request') {
      throw new EslConnectionError('protocol', `expected auth/request, got ${greeting.headers['Content-Type']}`);
    }
    connection.send(`auth ${this.options.password}\n\n`);
    const reply = await connection.nextFrame();
    const text = reply.headers['Reply-Text'] ?? '';
    if (!text.startsWith('+OK')) throw new EslAuthError(text || 'no reply text');
  }
}
