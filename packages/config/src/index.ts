export * from './config';
export { DEVELOPMENT_SECRETS, environmentSchema } from './schema';
export * from './logger';
export * from './service-process';
export * from './deadline';
export * from './dotenv';
