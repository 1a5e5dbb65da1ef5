export * from './signature';
export * from './event';
