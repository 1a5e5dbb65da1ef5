import type { Migration } from '../migrator';
import { migration001 } from './001-inbox-services-audit';

/** Applied in this order; a released migration is never edited, only followed by a new one. */
export const MIGRATIONS: readonly Migration[] = [migration001];
