export { WhitelistError, TrustProxyError, type WhitelistErrorCode, type WhitelistLineError } from './errors';
export { canonicalPeer, type CidrRange } from './address';
export { parseWhitelist, type ParseResult, type WhitelistEntry } from './parse';
export { Whitelist, compileWhitelist } from './whitelist';
export { WhitelistWatcher, loadWhitelist, type LoadWhitelistOptions, type ReloadOutcome, type WhitelistLogger, type WhitelistSnapshot } from './watcher';
export { parseTrustProxy, peerAddress, type PeerRequest, type TrustProxy } from './trust-proxy';
