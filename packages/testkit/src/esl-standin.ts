import { randomUUID } from 'node:crypto';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';

/**
 * A FreeSWITCH mod_event_socket stand-in (inbound mode) speaking the real framing over TCP:
 * `auth/request` greeting, `auth <pw>` → command/reply, `api` → api/response with Content-Length,
 * `bgapi` → command/reply + BACKGROUND_JOB event (after `event plain BACKGROUND_JOB`),
 * text/disconnect-notice and text/rude-rejection. Every command received is recorded.
 */

/** Bytes FreeSWITCH sends to a client refused by its ACL (samples/esl/rude-rejection-then-disconnect.decoded.wire). */
export const RUDE_REJECTION_WIRE =
  'Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n' +
  'Content-Type: text/disconnect-notice\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';

const DISCONNECT_NOTICE = 'Content-Type: text/disconnect-notice\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';

export interface EslStandinOptions {
  password?: string;
  port?: number;
  switchname?: string;
}

export type CannedReply = string | ((command: string) => string);

/** The client connection a command came on: its port on the client's side names the process that sent it. */
export interface EslConnectionInfo {
  remotePort: number;
}

export class EslStandin {
  /** Every command block received (first line, plus header lines for bgapi), in order, across connections. */
  readonly received: string[] = [];
  /** api/bgapi command blocks that have arrived on the wire, counted before any of them is answered (shows pipelining). */
  apiCommandsArrived = 0;
  /** The `api`/`bgapi` command strings only (without the `api ` prefix), in order. */
  readonly apiCommands: string[] = [];
  password: string;
  switchname: string;
  /** Refuse every new connection like an ACL deny (rude-rejection + disconnect-notice). */
  rejectConnections = false;
  /** Delay before each reply (answer slowly). */
  replyDelayMs = 0;
  /** Awaited before an api/bgapi command is answered: lets a test change the world while FreeSWITCH is "busy". */
  beforeAnswer: ((command: string, connection: EslConnectionInfo) => Promise<void>) | null = null;
  /** Close the connection without a reply when a received api command matches. */
  dropWhen: ((command: string) => boolean) | null = null;
  /** api commands answered with this -ERR body (first match wins). */
  readonly failures: { match: string | RegExp; reply: string }[] = [];
  /** Canned api bodies: exact command or RegExp → body. */
  readonly responses: { match: string | RegExp; reply: CannedReply }[] = [];
  connectionsAccepted = 0;

  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private portNumber: number;

  constructor(options: EslStandinOptions = {}) {
    this.password = options.password ?? 'ClueCon';
    this.switchname = options.switchname ?? 'fs-standin.example.net';
    this.portNumber = options.port ?? 0;
  }

  get host(): string {
    return '127.0.0.1';
  }

  get port(): number {
    return this.portNumber;
  }

  /** Whether FreeSWITCH is "up" (start() called and not stopped since). */
  get listening(): boolean {
    return this.server !== null;
  }

  /** Starts listening (again, on the same port after stop()). */
  async start(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portNumber, '127.0.0.1', () => resolve());
    });
    this.portNumber = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** FreeSWITCH goes down: listener closed, every connection cut. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forget recorded commands (keeps behaviour settings). */
  clearRecorded(): void {
    this.apiCommandsArrived = 0;
    this.received.length = 0;
    this.apiCommands.length = 0;
  }

  /** Answer `api <command>` (exact string or RegExp) with `body`. */
  respond(match: string | RegExp, reply: CannedReply): void {
    this.responses.unshift({ match, reply });
  }

  /** Answer matching api commands with `-ERR <message>`. */
  fail(match: string | RegExp, message = 'failure'): void {
    this.failures.unshift({ match, reply: `-ERR ${message}\n` });
  }

  private accept(socket: Socket): void {
    this.connectionsAccepted += 1;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (this.rejectConnections) {
      socket.end(RUDE_REJECTION_WIRE);
      return;
    }
    const session = { authed: false, events: false, buffer: '', chain: Promise.resolve() };
    socket.write('Content-Type: auth/request\n\n');
    socket.on('data', (chunk: Buffer) => {
      session.buffer += chunk.toString('utf8');
      for (;;) {
        const end = session.buffer.indexOf('\n\n');
        if (end === -1) break;
        const block = session.buffer.slice(0, end);
        session.buffer = session.buffer.slice(end + 2);
        if (/^(bg)?api /.test(block)) this.apiCommandsArrived += 1;
        session.chain = session.chain.then(() => this.handle(socket, session, block));
      }
    });
  }

  private async handle(socket: Socket, session: { authed: boolean; events: boolean }, block: string): Promise<void> {
    if (socket.destroyed) return;
    const [line, ...headerLines] = block.replace(/\r/g, '').split('\n');
    this.received.push(block);
    if (this.replyDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.replyDelayMs));
    if (socket.destroyed) return;
    if (this.beforeAnswer && session.authed && /^(bg)?api /.test(line)) await this.beforeAnswer(line.replace(/^(bg)?api /, ''), { remotePort: socket.remotePort ?? 0 });
    if (socket.destroyed) return;
    if (!session.authed) return this.authenticate(socket, session, line);
    if (line.startsWith('api ')) return this.api(socket, line.slice(4));
    if (line.startsWith('bgapi ')) return this.bgapi(socket, session, line.slice(6), headerLines);
    if (line.startsWith('event plain')) {
      session.events = true;
      return this.reply(socket, '+OK event listener enabled plain');
    }
    if (line === 'exit') {
      this.reply(socket, '+OK bye');
      socket.end(DISCONNECT_NOTICE);
      return;
    }
    this.reply(socket, '-ERR command not found');
  }

  private authenticate(socket: Socket, session: { authed: boolean }, line: string): void {
    if (line === `auth ${this.password}`) {
      session.authed = true;
      return this.reply(socket, '+OK accepted');
    }
    this.reply(socket, '-ERR invalid');
    socket.end(DISCONNECT_NOTICE);
  }

  private reply(socket: Socket, text: string, extra = ''): void {
    socket.write(`Content-Type: command/reply\nReply-Text: ${text}\n${extra}\n`);
  }

  private api(socket: Socket, command: string): void {
    this.apiCommands.push(command);
    if (this.dropWhen?.(command)) {
      socket.destroy();
      return;
    }
    const body = this.answer(command);
    socket.write(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
  }

  private bgapi(socket: Socket, session: { events: boolean }, command: string, headerLines: string[]): void {
    this.apiCommands.push(command);
    const jobHeader = headerLines.find((header) => header.startsWith('Job-UUID:'));
    const jobUuid = jobHeader ? jobHeader.slice('Job-UUID:'.length).trim() : randomUUID();
    this.reply(socket, `+OK Job-UUID: ${jobUuid}`, `Job-UUID: ${jobUuid}\n`);
    if (this.dropWhen?.(command)) {
      socket.destroy();
      return;
    }
    if (!session.events) return;
    const result = this.answer(command);
    const event =
      `Job-UUID: ${jobUuid}\nJob-Command: ${encodeURIComponent(command.split(' ')[0])}\n` +
      `Job-Command-Arg: ${encodeURIComponent(command.split(' ').slice(1).join(' '))}\nEvent-Name: BACKGROUND_JOB\n` +
      `Core-UUID: ${randomUUID()}\nFreeSWITCH-Hostname: ${this.switchname}\nFreeSWITCH-Switchname: ${this.switchname}\n` +
      `Content-Length: ${Buffer.byteLength(result)}\n\n${result}`;
    socket.write(`Content-Length: ${Buffer.byteLength(event)}\nContent-Type: text/event-plain\n\n${event}`);
  }

  private answer(command: string): string {
    const matches = (match: string | RegExp) => (typeof match === 'string' ? match === command : match.test(command));
    const failure = this.failures.find((entry) => matches(entry.match));
    if (failure) return failure.reply;
    const canned = this.responses.find((entry) => matches(entry.match));
    if (canned) return typeof canned.reply === 'function' ? canned.reply(command) : canned.reply;
    return this.defaultAnswer(command);
  }

  /** Replies shaped like FreeSWITCH 1.10's for the commands FusionPBX sends. */
  private defaultAnswer(command: string): string {
    if (command === 'switchname') return this.switchname;
    if (command === 'status') return `UP 0 years, 0 days, 0 hours, 1 minute\nFreeSWITCH (Version 1.10.12) is ready\n`;
    if (/^memcache delete \S+$/.test(command)) return '+OK\n';
    if (/^lua \S+/.test(command)) return '-ERR no reply\n';
    if (/^sofia profile \S+ rescan$/.test(command)) return '+OK scan complete\n';
    if (/^sofia profile \S+ killgw \S+$/.test(command)) return '+OK gateway marked for deletion.\n';
    if (/^sofia profile \S+ startgw \S+$/.test(command)) return '+OK\n';
    if (/^sofia profile \S+ flush_inbound_reg \S+( reboot)?$/.test(command)) return '+OK\n';
    if (/^sofia xmlstatus gateway \S+$/.test(command)) return 'Invalid Gateway!';
    if (command === 'reloadxml') return '+OK [Success]\n';
    // mod_commands reload_acl_function: "+OK acl reloaded" (or "-ERR Acl reload failed").
    if (command === 'reloadacl') return '+OK acl reloaded\n';
    return `-ERR ${command} Command not found!\n`;
  }
}

/** Starts a stand-in on a free loopback port. Call `stop()` in afterAll. */
export async function startEslStandin(options: EslStandinOptions = {}): Promise<EslStandin> {
  const standin = new EslStandin(options);
  await standin.start();
  return standin;
}
