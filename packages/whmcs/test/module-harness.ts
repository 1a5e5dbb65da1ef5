/**
 * Test helpers for the PHP server module: run one module function with php-cli through
 * php/module-harness.php, and a loopback HTTP "bridge" that verifies each delivery with the real
 * verifySignature before answering as the test asks.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { verifySignature, SignatureError } from '@ictvoip/whmcs';

export const MODULE_DIR = path.resolve(__dirname, '../../../apps/whmcs-module/modules/servers/ictvoip');
export const MODULE_FILE = path.join(MODULE_DIR, 'ictvoip.php');
const HARNESS = path.join(__dirname, 'php', 'module-harness.php');

/** Fails loudly (never skips) when php-cli or one of the extensions the module needs is missing. */
export function assertPhpAvailable(): void {
  const probe = spawnSync('php', ['-r', 'foreach (["curl","json","hash"] as $e) { if (!extension_loaded($e)) { echo $e; exit(3); } } echo PHP_VERSION;'], {
    encoding: 'utf8',
  });
  if (probe.error) {
    throw new Error('php-cli is required for the WHMCS module tests and was not found on PATH (Debian: apt-get install php-cli php-curl)');
  }
  if (probe.status !== 0) {
    throw new Error(`php is missing the "${probe.stdout.trim()}" extension the WHMCS module needs (Debian: apt-get install php-curl)`);
  }
  const [major, minor] = probe.stdout
    .trim()
    .split('.')
    .map((part) => Number.parseInt(part, 10));
  if (major < 8 || (major === 8 && minor < 1)) throw new Error(`the WHMCS module needs PHP 8.1+, found ${probe.stdout.trim()}`);
}

export interface LogEntry {
  module: string;
  action: string;
  request: unknown;
  response: unknown;
  processed: unknown;
  replaceVars: string[];
}

export interface HarnessOutput<R> {
  result: R;
  logs: LogEntry[];
  savedProperties: Record<string, string>[];
}

export interface HarnessInput {
  function: string;
  params?: Record<string, unknown>;
  constants?: Record<string, string | number>;
  withModel?: boolean;
  /** Columns of the service model that differ from the harness's (`{ dateTime }`: a date object, as a date cast gives). */
  modelColumns?: Record<string, string | { dateTime: string }>;
  /** WHMCS's `$_SESSION` (an admin's press sets `adminid`). */
  session?: Record<string, unknown>;
  /** The name WHMCS's admin model gives the logged-in admin. */
  adminUsername?: string;
}

/** Runs the module asynchronously, so the in-process bridge can answer while PHP waits. */
export async function runModule<R = unknown>(input: HarnessInput): Promise<HarnessOutput<R>> {
  const child = spawn('php', [HARNESS], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(JSON.stringify({ module: MODULE_FILE, ...input }));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`php harness exited with ${code}: ${stderr}${stdout}`);
  try {
    return JSON.parse(stdout) as HarnessOutput<R>;
  } catch {
    throw new Error(`php harness printed something that is not JSON: ${stdout}${stderr}`);
  }
}

export interface Delivery {
  url: string;
  headers: IncomingMessage['headers'];
  rawBody: Buffer;
  body: Record<string, unknown>;
  signatureError?: SignatureError;
}

export type Reply = { status: number; json?: unknown; text?: string } | 'hang';
export type Responder = (delivery: Delivery) => Reply;

export interface FakeBridge {
  port: number;
  deliveries: Delivery[];
  respond: Responder;
  close(): Promise<void>;
}

/** Answers 401 itself when the signature does not verify, like the real bridge; otherwise asks `respond`. */
export async function startBridge(secret: string): Promise<FakeBridge> {
  const sockets = new Set<Socket>();
  const bridge: FakeBridge = {
    port: 0,
    deliveries: [],
    respond: () => ({ status: 200, json: { result: 'success', message: 'ok' } }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks);
      const delivery: Delivery = { url: request.url ?? '', headers: request.headers, rawBody, body: JSON.parse(rawBody.toString('utf8')) };
      try {
        verifySignature({
          secrets: [secret],
          timestampHeader: header(request, 'x-ictvoip-timestamp'),
          signatureHeader: header(request, 'x-ictvoip-signature'),
          rawBody,
        });
      } catch (error) {
        if (!(error instanceof SignatureError)) throw error;
        delivery.signatureError = error;
      }
      bridge.deliveries.push(delivery);
      const reply: Reply = delivery.signatureError
        ? { status: 401, json: { error: { code: 'SIGNATURE_INVALID', message: delivery.signatureError.message } } }
        : bridge.respond(delivery);
      if (reply === 'hang') return;
      if (reply.json !== undefined) {
        response.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.json));
        return;
      }
      response.writeHead(reply.status, { 'content-type': 'text/plain' }).end(reply.text ?? '');
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  bridge.port = (server.address() as AddressInfo).port;
  return bridge;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
