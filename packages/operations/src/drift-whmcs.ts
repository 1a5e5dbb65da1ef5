import type { ServiceRecord } from '@ictvoip/store';
import { STORED_PACKAGE_KEY, type WhmcsApiClient, type WhmcsClientProduct } from '@ictvoip/whmcs';

/** What WHMCS answered for one service: its product row, `null` when WHMCS has no such service, or why it could not be asked. */
export type WhmcsView = WhmcsClientProduct | null | { unreachable: string };

/** Services per GetClientsProducts page (WHMCS's own default is 25). */
export const WHMCS_PAGE_SIZE = 100;

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : 'failed');

/** The package (WHMCS pid) a service's plan was stored with, null before packages were recorded. */
export function storedPackage(service: ServiceRecord): number | null {
  const value = service.plan[STORED_PACKAGE_KEY];
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : null;
}

/**
 * Services of `group` from one paged `GetClientsProducts` listing (by package, or of all WHMCS), into
 * `views`. Stops paging when the listing would take more calls than asking for each service still
 * missing (a package or a WHMCS most of whose services are not this bridge's). When the listing is of
 * all WHMCS (`complete`) and was read to its end, a service it did not hold is not in WHMCS. A failed
 * page makes the rest of the group unreachable: asking each of a WHMCS that just failed would only
 * fail again, N times slower.
 */
async function listInto(whmcs: WhmcsApiClient, pid: number | undefined, group: readonly ServiceRecord[], views: Map<number, WhmcsView>): Promise<void> {
  const wanted = new Set(group.map((service) => service.serviceId));
  for (let start = 0; ; start += WHMCS_PAGE_SIZE) {
    let page;
    try {
      page = await whmcs.getClientsProducts({ pid, limitStart: start, limitNum: WHMCS_PAGE_SIZE });
    } catch (error) {
      for (const serviceId of wanted) views.set(serviceId, { unreachable: reasonOf(error) });
      return;
    }
    for (const product of page.items) if (wanted.delete(product.id)) views.set(product.id, product);
    const next = start + WHMCS_PAGE_SIZE;
    const read = page.items.length === 0 || next >= page.totalResults;
    if (read && pid === undefined) for (const serviceId of wanted) views.set(serviceId, null);
    if (read || wanted.size === 0 || Math.ceil((page.totalResults - next) / WHMCS_PAGE_SIZE) > wanted.size) return;
  }
}

/**
 * WHMCS's view of every compared service in few calls: a paged listing per package the services
 * were stored with, then one of all WHMCS for those the package listings lacked (moved to another
 * package, gone from WHMCS, stored before packages were recorded), and `GetClientsProducts` by
 * service id only where a listing would cost more calls than that. Asking per service made every
 * drift check cost one WHMCS call per tenant (in the 30-minute soak, 3,992 of 4,018 calls).
 */
export async function whmcsViewsOf(whmcs: WhmcsApiClient, services: readonly ServiceRecord[]): Promise<Map<number, WhmcsView>> {
  const views = new Map<number, WhmcsView>();
  const byPackage = new Map<number, ServiceRecord[]>();
  for (const service of services) {
    const pid = storedPackage(service);
    if (pid === null) continue;
    const group = byPackage.get(pid);
    if (group) group.push(service);
    else byPackage.set(pid, [service]);
  }
  for (const [pid, group] of byPackage) if (group.length > 1) await listInto(whmcs, pid, group, views);
  const rest = services.filter((service) => !views.has(service.serviceId));
  if (rest.length > 1) await listInto(whmcs, undefined, rest, views);
  for (const service of services) {
    if (views.has(service.serviceId)) continue;
    try {
      views.set(service.serviceId, await whmcs.getService(service.serviceId));
    } catch (error) {
      views.set(service.serviceId, { unreachable: reasonOf(error) });
    }
  }
  return views;
}
