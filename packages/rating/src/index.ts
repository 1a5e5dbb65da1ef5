export * from './errors';
export * from './money';
export * from './normalise';
export * from './rate-entry';
export * from './lpm/dated';
export { TriePrefixIndex } from './lpm/trie';
export { SortedPrefixIndex } from './lpm/sorted';
export { MapPrefixIndex } from './lpm/map';
