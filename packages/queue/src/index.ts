export * from './names';
export * from './job-ids';
export * from './payloads';
export * from './connection';
export * from './queues';
export * from './billing-payloads';
export * from './freeswitch-payloads';
