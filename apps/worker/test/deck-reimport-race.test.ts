import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Pool } from 'pg';
import { type BridgeConfig, loadConfig } from '@ictvoip/config';
import { loadServiceRating, toCharge } from '@ictvoip/operations';
import { formatMoney, rateCdr, type RatingCdr } from '@ictvoip/rating';
import { importRateDeck, migrateBridgeDatabase, type RateDeckStoreOptions, type ServiceRecord } from '@ictvoip/store';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';

// A deck re-imported while a CDR sync loads it: the sync reads the deck (revision N), then its rates;
// an import committing in between makes the rates revision N+1. The sync must rate with one whole
// revision, never with no rates at all (every call of the page stored unrated, left off the invoice
// until someone re-rates the period by hand).

const OPTIONS: RateDeckStoreOptions = { currency: 'USD', numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] } };
const CSV = (rate: string) => `Description,Prefix,RateValue,Increment\nUnited Kingdom,44,${rate},60\n`;
const CONFIG = { billing: { ...loadConfig({}).billing, excludes: '', billedDirections: ['outbound'], periods: 'calendar' } } as unknown as BridgeConfig;
const service = { serviceId: 5151, plan: { rateDeck: 'uk_race' } } as unknown as ServiceRecord;
const call: RatingCdr = {
  xmlCdrUuid: '00000000-0000-4000-8000-00000000a001',
  direction: 'outbound',
  leg: 'a',
  destinationNumber: '011442079460000',
  startStamp: new Date('2026-11-10T10:00:00Z'),
  billsec: 60,
  hangupCause: 'NORMAL_CLEARING',
  domainName: 't1.example',
};

/**
 * A loopback TCP relay to PostgreSQL that holds the first client message containing `marker` (and
 * what follows it) until `release()`: the query is sent, but only after the test has acted.
 */
class HoldingRelay {
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

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('deck_reimport_race');
  pool = new Pool({ connectionString: db.url, max: 2 });
  await migrateBridgeDatabase(pool);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

test('a re-import committed between reading the deck and its rates: the calls are rated with one whole revision, not left unrated', async () => {
  expect((await importRateDeck(pool, 'uk_race', CSV('0.0200'), OPTIONS)).revision).toBe(1);

  const url = new URL(db.url);
  const relay = new HoldingRelay({ host: url.hostname, port: Number(url.port || 5432) }, 'LEFT JOIN rate_entries');
  url.host = `127.0.0.1:${await relay.start()}`;
  const relayed = new Pool({ connectionString: url.toString(), max: 1 });
  try {
    const loading = loadServiceRating(relayed, service, CONFIG, () => '2026-11');
    // The sync has read the deck (revision 1) and asked for its rates: the operator's import lands now.
    await relay.heldOnce;
    expect((await importRateDeck(pool, 'uk_race', CSV('0.0300'), OPTIONS)).revision).toBe(2);
    relay.release();
    const rating = await loading;

    const outcome = rateCdr(call, rating.context, 0);
    expect(outcome).toMatchObject({ status: 'rated', prefix: '44' });
    const charge = toCharge(rating, { cdr: call, startStampText: call.startStamp.toISOString() } as Parameters<typeof toCharge>[1], outcome);
    // The price and the revision the charge names are the same import's.
    expect({ amount: charge.amount, revision: charge.deckRevision }).toEqual({ amount: '0.030000', revision: 2 });
    expect(formatMoney(outcome.status === 'rated' ? outcome.ratePerMinute : 0n)).toBe('0.030000');
  } finally {
    await relayed.end();
    await relay.close();
  }
});
