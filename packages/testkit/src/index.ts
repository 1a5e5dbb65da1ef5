export * from './database';
export * from './redis';
export * from './webhook';
export * from './esl-standin';
export * from './fusionpbx-schema';
export * from './whmcs-standin';
export * from './random';
export * from './ports';
