import { randomUUID } from 'node:crypto';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';

/**
 * A FreeSWITCH mod_event_socket stand-in (inbound mode) speaking the real framing over TCP:
 * `auth/request` greeting, `auth <pw>` → command/reply, `api` → api/response with Content-Length,
 * `bgapi` → command/reply + BACKGROUND_JOB event (after `event plain BACKGROUND_JOB`),
 * text/disconnect-notice and text/rude-rejection. Every command received is recorded. It holds a
 * table of calls in progress (FreeSWITCH's core `channels` table): `show channels as json` lists it,
 * `uuid_kill` and `hupall` end its channels, with mod_commands' replies.
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

/**
 * The hangup causes FreeSWITCH 1.10 knows by name (switch_channel.c CAUSE_CHART, v1.10.0 to v1.10.12):
 * `uuid_kill <uuid> <cause>` looks the name up case-insensitively (switch_channel_str2cause) and
 * falls back to NORMAL_CLEARING for anything else; `hupall` falls back to MANAGER_REQUEST.
 */
const HANGUP_CAUSES = new Set(
  (
    'UNALLOCATED_NUMBER NO_ROUTE_TRANSIT_NET NO_ROUTE_DESTINATION CHANNEL_UNACCEPTABLE CALL_AWARDED_DELIVERED NORMAL_CLEARING ' +
    'USER_BUSY NO_USER_RESPONSE NO_ANSWER SUBSCRIBER_ABSENT CALL_REJECTED NUMBER_CHANGED REDIRECTION_TO_NEW_DESTINATION ' +
    'EXCHANGE_ROUTING_ERROR DESTINATION_OUT_OF_ORDER INVALID_NUMBER_FORMAT FACILITY_REJECTED RESPONSE_TO_STATUS_ENQUIRY ' +
    'NORMAL_UNSPECIFIED NORMAL_CIRCUIT_CONGESTION NETWORK_OUT_OF_ORDER NORMAL_TEMPORARY_FAILURE SWITCH_CONGESTION ' +
    'ACCESS_INFO_DISCARDED REQUESTED_CHAN_UNAVAIL PRE_EMPTED FACILITY_NOT_SUBSCRIBED OUTGOING_CALL_BARRED INCOMING_CALL_BARRED ' +
    'BEARERCAPABILITY_NOTAUTH BEARERCAPABILITY_NOTAVAIL SERVICE_UNAVAILABLE BEARERCAPABILITY_NOTIMPL CHAN_NOT_IMPLEMENTED ' +
    'FACILITY_NOT_IMPLEMENTED SERVICE_NOT_IMPLEMENTED INVALID_CALL_REFERENCE INCOMPATIBLE_DESTINATION INVALID_MSG_UNSPECIFIED ' +
    'MANDATORY_IE_MISSING MESSAGE_TYPE_NONEXIST WRONG_MESSAGE IE_NONEXIST INVALID_IE_CONTENTS WRONG_CALL_STATE ' +
    'RECOVERY_ON_TIMER_EXPIRE MANDATORY_IE_LENGTH_ERROR PROTOCOL_ERROR INTERWORKING SUCCESS ORIGINATOR_CANCEL CRASH ' +
    'SYSTEM_SHUTDOWN LOSE_RACE MANAGER_REQUEST BLIND_TRANSFER ATTENDED_TRANSFER ALLOTTED_TIMEOUT USER_CHALLENGE MEDIA_TIMEOUT ' +
    'PICKED_OFF USER_NOT_REGISTERED PROGRESS_TIMEOUT INVALID_GATEWAY GATEWAY_DOWN INVALID_URL INVALID_PROFILE NO_PICKUP ' +
    'SRTP_READ_ERROR BOWOUT BUSY_EVERYWHERE DECLINE DOES_NOT_EXIST_ANYWHERE NOT_ACCEPTABLE UNWANTED'
  ).split(' '),
);

/**
 * The columns of FreeSWITCH 1.10's core `channels` table (switch_core_sqldb.c create_channels_sql),
 * in order: `show channels as json` gives each row as an object of these, every value a string.
 */
export const CHANNEL_COLUMNS = [
  'uuid',
  'direction',
  'created',
  'created_epoch',
  'name',
  'state',
  'cid_name',
  'cid_num',
  'ip_addr',
  'dest',
  'application',
  'application_data',
  'dialplan',
  'context',
  'read_codec',
  'read_rate',
  'read_bit_rate',
  'write_codec',
  'write_rate',
  'write_bit_rate',
  'secure',
  'hostname',
  'presence_id',
  'presence_data',
  'accountcode',
  'callstate',
  'callee_name',
  'callee_num',
  'callee_direction',
  'call_uuid',
  'sent_callee_name',
  'sent_callee_num',
  'initial_cid_name',
  'initial_cid_num',
  'initial_ip_addr',
  'initial_dest',
  'initial_dialplan',
  'initial_context',
] as const;

export type ChannelColumn = (typeof CHANNEL_COLUMNS)[number];

/**
 * A call leg up on the stand-in: its row of the `channels` table, its channel variables (what
 * `hupall <cause> <var> <value>` matches), and the cause it was hung up with (null while up).
 */
export interface StandinChannel {
  uuid: string;
  row: Record<ChannelColumn, string>;
  variables: Record<string, string>;
  hangupCause: string | null;
}

/** One leg of a call to put up: the columns a test cares about (the rest as FreeSWITCH fills them for a SIP leg). */
export type ChannelFields = Partial<Record<ChannelColumn, string>>;

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
  /** Calls in progress (and ended ones, with their cause), by uuid: what `show channels` lists and `uuid_kill` ends. */
  readonly channels = new Map<string, StandinChannel>();
  private channelClock = 0;

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

  /** Client connections open now (a client that closed its socket is gone from it). */
  get openConnections(): number {
    return this.sockets.size;
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

  /**
   * A call leg comes up (a row of FreeSWITCH's `channels` table): `context` is the domain FusionPBX
   * routes it in, `dest` the number it dials. Unset columns are "" as FreeSWITCH shows a NULL, except
   * those every leg has (uuid, direction, created, name, state, hostname, …). Its variables default
   * to `domain_name` = its context, as FusionPBX sets it on a domain's legs. Returns its uuid.
   */
  addChannel(fields: ChannelFields = {}, variables?: Record<string, string>): string {
    const uuid = fields.uuid ?? randomUUID();
    this.channelClock += 1;
    const row = Object.fromEntries(CHANNEL_COLUMNS.map((column) => [column, ''])) as Record<ChannelColumn, string>;
    Object.assign(row, {
      uuid,
      direction: 'inbound',
      created: '2026-12-06 10:00:00',
      created_epoch: String(1796464800 + this.channelClock),
      name: `sofia/internal/${fields.cid_num ?? '100'}@${fields.context ?? 'pbx.example.net'}`,
      state: 'CS_EXECUTE',
      dialplan: 'XML',
      hostname: this.switchname,
      callstate: 'ACTIVE',
      initial_dest: fields.dest ?? '',
      initial_context: fields.context ?? '',
      initial_dialplan: 'XML',
      ...fields,
    });
    const domainName: Record<string, string> = row.context !== '' && row.context !== 'public' && row.context !== 'default' ? { domain_name: row.context } : {};
    this.channels.set(uuid, { uuid, row, variables: { ...(variables ?? domainName) }, hangupCause: null });
    return uuid;
  }

  /**
   * Two legs bridged into one call (FreeSWITCH sets the a-leg's uuid as `call_uuid` on both legs at
   * the bridge): `a` the caller's leg, `b` the leg it dialled (direction outbound). Returns [a, b].
   */
  addBridgedCall(a: ChannelFields, b: ChannelFields): [string, string] {
    const aUuid = this.addChannel({ ...a, uuid: a.uuid ?? randomUUID() });
    this.channels.get(aUuid)!.row.call_uuid = aUuid;
    const bUuid = this.addChannel({ direction: 'outbound', ...b, call_uuid: aUuid });
    return [aUuid, bUuid];
  }

  /** The cause a channel was hung up with, or null while it is up. */
  hangupCauseOf(uuid: string): string | null {
    return this.channels.get(uuid)?.hangupCause ?? null;
  }

  /** A channel ends on its own (the caller hung up): it leaves the channel list. */
  endChannel(uuid: string, cause = 'NORMAL_CLEARING'): void {
    const channel = this.channels.get(uuid);
    if (channel && channel.hangupCause === null) channel.hangupCause = cause;
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
    if (/^hupall( |$)/.test(command)) return this.hupall(command.slice('hupall'.length).trim());
    if (command === 'show channels as json') return this.showChannelsAsJson();
    if (/^uuid_kill( |$)/.test(command)) return this.uuidKill(command.slice('uuid_kill'.length).trim());
    return `-ERR ${command} Command not found!\n`;
  }

  /**
   * mod_commands hupall_api_function: `hupall [<cause> [<var> <value>]...]` hangs up every channel
   * up whose variables equal every pair given (strcmp), or every channel without pairs; an unknown
   * cause is MANAGER_REQUEST. It always answers +OK, whether any channel matched or not.
   */
  private hupall(args: string): string {
    const argv = args === '' ? [] : args.split(' ').slice(0, 11);
    const cause = argv[0] && HANGUP_CAUSES.has(argv[0].toUpperCase()) ? argv[0].toUpperCase() : 'MANAGER_REQUEST';
    const pairs: [string, string][] = [];
    for (let i = 1; i < argv.length - 1; i += 2) if (argv[i] && argv[i + 1]) pairs.push([argv[i]!, argv[i + 1]!]);
    for (const channel of this.channels.values()) {
      if (channel.hangupCause !== null) continue;
      if (pairs.every(([name, value]) => channel.variables[name] === value)) channel.hangupCause = cause;
    }
    if (pairs.length === 0) return `+OK hangup all channels with cause ${cause}\n`;
    const [[name, value]] = pairs as [[string, string]];
    return `+OK hangup all channels matching [${name}]=[${value}]${pairs.length > 1 ? '...' : ''} with cause: ${cause}\n`;
  }

  /**
   * mod_commands show_function, `as json`: the rows of `select * from channels … order by
   * created_epoch` as cJSON_PrintUnformatted prints them (no line break), or `{"row_count": 0}` and a
   * line break when there is none.
   */
  private showChannelsAsJson(): string {
    const rows = [...this.channels.values()].filter((channel) => channel.hangupCause === null).map((channel) => channel.row);
    if (rows.length === 0) return '{"row_count": 0}\n';
    rows.sort((a, b) => Number(a.created_epoch) - Number(b.created_epoch));
    return JSON.stringify({ row_count: rows.length, rows });
  }

  /**
   * mod_commands kill_function: `uuid_kill <uuid> [cause]` hangs the channel up (cause by name,
   * case-insensitive, else NORMAL_CLEARING) and answers `+OK`, or `-ERR No such channel!` when no
   * channel has that uuid (any more). The call's other legs end too, with the same cause
   * (switch_ivr_bridge: a bridged leg is hung up with its peer's cause).
   */
  private uuidKill(args: string): string {
    if (args === '') return '-USAGE: <uuid> [cause]\n';
    const space = args.indexOf(' ');
    const uuid = space === -1 ? args : args.slice(0, space);
    const named = space === -1 ? '' : args.slice(space + 1).toUpperCase();
    const channel = this.channels.get(uuid);
    if (!channel || channel.hangupCause !== null) return '-ERR No such channel!\n';
    const cause = HANGUP_CAUSES.has(named) ? named : 'NORMAL_CLEARING';
    const call = channel.row.call_uuid;
    for (const other of this.channels.values()) {
      if (other.hangupCause !== null) continue;
      if (other === channel || (call !== '' && (other.row.call_uuid === call || other.uuid === call))) other.hangupCause = cause;
    }
    return '+OK\n';
  }
}

/** Starts a stand-in on a free loopback port. Call `stop()` in afterAll. */
export async function startEslStandin(options: EslStandinOptions = {}): Promise<EslStandin> {
  const standin = new EslStandin(options);
  await standin.start();
  return standin;
}
