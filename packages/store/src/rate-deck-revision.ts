/** The stored deck moved on (re-imported) while it was read, again and again: read it again later. */
export class RateDeckMovedError extends Error {
  readonly code = 'RATE_DECK_MOVED';
  constructor(deck: string) {
    super(`rate deck ${deck} was re-imported while it was read, again and again: read it again later`);
    this.name = 'RateDeckMovedError';
  }
}

const DECK_READS = 5;

/**
 * A deck and what is read of it (its rates), of one revision. The deck row (markup, numbering plan,
 * currency) and its rates are two reads: an import committing between them gives rates of a later
 * revision than the deck read first, and a view or a rating mixing the two. `readAt` answers
 * undefined when what it read is not of `deck.revision`; then the deck is read again, at most 5
 * times (RateDeckMovedError). Null when `readDeck` finds no deck.
 */
export async function readAtOneRevision<D extends { revision: number }, T>(
  label: string,
  readDeck: () => Promise<D | null>,
  readAt: (deck: D) => Promise<T | undefined>,
): Promise<{ deck: D; value: T } | null> {
  for (let read = 0; read < DECK_READS; read++) {
    const deck = await readDeck();
    if (!deck) return null;
    const value = await readAt(deck);
    if (value !== undefined) return { deck, value };
  }
  throw new RateDeckMovedError(label);
}
