export { fanOutCreditChecks, handleCreditCheckAll } from './check-all';
export { handleCreditCheck, queueCreditCheckAfterSync, runCreditCheck } from './check-client';
