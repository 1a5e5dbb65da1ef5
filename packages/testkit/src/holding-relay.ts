import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP relay to PostgreSQL (or Redis) that holds the first client message containing `marker`
 * (and what follows it) until `release()`: the query is sent, but only after the test has acted. Never
 * released, it is a connection that stalls while its client still sees it up.
 */
export class HoldingRelay {
  private server!: Server;
  private held: { upstream: Socket; chunks: Buffer[] } | null = null;
  private armed = true;
  private onHeld: (() => void) | null = null;
  readonly heldOnce = new Promise<void>((resolve) => (this.onHeld = resolve));

  constructor(
    private readonly target: { host: string; port: number },
    private readonly marker: string,
  ) {}

  async start(): Promise<number> {
    this.server = createServer((client) => this.relay(client));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  private relay(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    upstream.on('data', (chunk) => client.write(chunk));
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('data', (chunk: Buffer) => {
      if (this.held?.upstream === upstream) {
        this.held.chunks.push(chunk);
        return;
      }
      if (this.armed && chunk.includes(this.marker)) {
        this.armed = false;
        this.held = { upstream, chunks: [chunk] };
        this.onHeld?.();
        return;
      }
      upstream.write(chunk);
    });
  }

  /** Holds the next message containing `marker` too; resolves when it is held. Arm it before `release()` to catch a retry. */
  holdNext(): Promise<void> {
    this.armed = true;
    return new Promise<void>((resolve) => (this.onHeld = resolve));
  }

  /** Holds nothing more (an armed hold that never came). */
  disarm(): void {
    this.armed = false;
  }

  release(): void {
    const held = this.held;
    this.held = null;
    for (const chunk of held?.chunks ?? []) held?.upstream.write(chunk);
  }

  async close(): Promise<void> {
    this.release();
    this.server.close();
    await once(this.server, 'close');
  }
}
