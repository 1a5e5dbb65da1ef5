export * from './database';
export * from './redis';
export * from './whmcs-standin';
