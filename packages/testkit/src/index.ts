export * from './database';
export * from './redis';
export * from './whmcs-standin';
export * from './esl-standin';
export * from './fusionpbx-schema';
