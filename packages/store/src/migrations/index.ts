import type { Migration } from '../migrator';
import { migration001 } from './001-inbox-services-audit';
import { migration002 } from './002-api-keys';
import { migration003 } from './003-rating-billing';
import { migration004 } from './004-billing-verified';
import { migration005 } from './005-fusionpbx-servers';
import { migration006 } from './006-tenant-writes';
import { migration007 } from './007-registrations';
import { migration008 } from './008-gateway-monitoring';
import { migration009 } from './009-credit-control';
import { migration010 } from './010-service-billing-cycles';
import { migration011 } from './011-ictvoip-migration';
import { migration012 } from './012-monitoring-alerts-watch';
import { migration013 } from './013-tenant-write-destinations';
import { migration014 } from './014-credit-close-alerts';
import { migration015 } from './015-deck-inbound-rate';
import { migration016 } from './016-registration-servers';
import { migration019 } from './019-credit-restricted-dialers';
import { migration020 } from './020-cdr-charge-row';
import { migration021 } from './021-removable-servers';
import { migration022 } from './022-billing-refusals';
import { migration023 } from './023-deck-default-increments';
import { migration024 } from './024-services-domain-lower';
import { migration025 } from './025-close-listing-termination';
import { migration026 } from './026-server-cache-method';
import { migration027 } from './027-prepaid-release';
import { migration028 } from './028-global-freeswitch-applies';

/** Applied in this order; a released migration is never edited, only followed by a new one. */
export const MIGRATIONS: readonly Migration[] = [
  migration001,
  migration002,
  migration003,
  migration004,
  migration005,
  migration006,
  migration007,
  migration008,
  migration009,
  migration010,
  migration011,
  migration012,
  migration013,
  migration014,
  migration015,
  migration016,
  migration019,
  migration020,
  migration021,
  migration022,
  migration023,
  migration024,
  migration025,
  migration026,
  migration027,
  migration028,
];
