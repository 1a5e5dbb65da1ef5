export * from './signed-body';
export * from './event';
export * from './api-errors';
export * from './api-form';
export * from './api-types';
export * from './api-client';
