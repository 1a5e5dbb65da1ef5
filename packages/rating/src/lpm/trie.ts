import { effectiveAt, groupByPrefix, type DatedRates, type PrefixIndex } from './dated';
import type { DatedPrefix } from '../rate-entry';

interface TrieNode<T extends DatedPrefix> {
  readonly children: Array<TrieNode<T> | undefined>;
  rates: DatedRates<T> | undefined;
}

function newNode<T extends DatedPrefix>(): TrieNode<T> {
  return { children: new Array<TrieNode<T> | undefined>(10), rates: undefined };
}

/** Digit trie: one walk down the number, remembering the deepest node with a rate in force. */
export class TriePrefixIndex<T extends DatedPrefix> implements PrefixIndex<T> {
  private readonly root: TrieNode<T> = newNode();
  readonly size: number;

  constructor(entries: readonly T[]) {
    const groups = groupByPrefix(entries);
    for (const [prefix, rates] of groups) this.insert(prefix, rates);
    this.size = groups.size;
  }

  private insert(prefix: string, rates: DatedRates<T>): void {
    let node = this.root;
    for (let i = 0; i < prefix.length; i++) {
      const digit = prefix.charCodeAt(i) - 48;
      node = node.children[digit] ??= newNode();
    }
    node.rates = rates;
  }

  lookup(digits: string, at: Date): T | undefined {
    const atMs = at.getTime();
    let node: TrieNode<T> | undefined = this.root;
    let best: T | undefined;
    for (let i = 0; i < digits.length && node; i++) {
      node = node.children[digits.charCodeAt(i) - 48];
      if (node?.rates) best = effectiveAt(node.rates, atMs) ?? best;
    }
    return best;
  }
}
