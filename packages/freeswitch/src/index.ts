export * from './errors';
export * from './esl/errors';
export {
  EslClient,
  EslFrameParser,
  isErrReply,
  parseEventPlain,
  parseHeaderBlock,
  type ApiBytesOptions,
  type ApiOptions,
  type EslClientOptions,
  type EslFrame,
} from './esl/client';
export {
  describeBadCharacters,
  validateDomainName,
  validateExtension,
  validateUuid,
  validateProfile,
  validateCacheKey,
  validateSwitchname,
  validateUserAtDomain,
  validateHangupCause,
  type FreeswitchStep,
  validateStep,
  uniqueSteps,
  directoryKey,
  dialplanKey,
  coalesceSteps,
  ACL_CACHE_KEY,
  type CacheOptions,
  DEFAULT_CACHE_LOCATION,
  cacheDeleteCommand,
  cacheFileName,
  deleteCacheKey,
  applyFreeswitchSide,
  describeFreeswitchSide,
  hangupCallsDescription,
  SWITCHNAME_PLACEHOLDER,
  type ApplyOptions,
  type ApplyResult,
} from './apply';
export * from './status/registrations';
export { RegistrationsReplyCache } from './status/registrations-cache';
export { sameButVolatile, steadyReplyOf, type IndexedReply, type SteadyReply } from './status/registrations-steady';
export { diffReply, type ChangedBlock, type ReplyDiff } from './status/registrations-diff';
export * from './status/gateway-status';
export {
  ChannelListError,
  decideChannels,
  domainOfChannel,
  hangUpDomainCalls,
  LIST_CHANNELS_COMMAND,
  numbersOfDialString,
  parseChannelList,
  type ChannelDecision,
  type ChannelRow,
  type DomainHangup,
} from './calls';
