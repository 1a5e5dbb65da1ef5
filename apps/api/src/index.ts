export { createApp } from './app';
export { startApi, type RunningApi, type StartApiOptions } from './server';
export type { ApiDeps } from './deps';
