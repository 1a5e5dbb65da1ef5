import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

export interface ApiMetrics {
  registry: Registry;
  webhookReceived(action: string, kind: 'new' | 'repeat'): void;
  httpResponse(route: string, status: number): void;
}

export function createApiMetrics(): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ictvoip_api_' });
  const webhooks = new Counter({ name: 'ictvoip_webhooks_received_total', help: 'Signed, valid webhook events received, by action and first delivery or repeat', labelNames: ['action', 'kind'], registers: [registry] });
  const responses = new Counter({ name: 'ictvoip_http_responses_total', help: 'HTTP responses by route group and status', labelNames: ['route', 'status'], registers: [registry] });
  return {
    registry,
    webhookReceived: (action, kind) => webhooks.inc({ action, kind }),
    httpResponse: (route, status) => responses.inc({ route, status: String(status) }),
  };
}
