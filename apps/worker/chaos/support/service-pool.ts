import { eventBody, type ChaosAction, type PlannedEvent, type ServicePlan } from './workload';

type SlotState = 'new' | 'active' | 'suspended';

interface Slot {
  plan: ServicePlan;
  state: SlotState;
}

/** What an active or suspended tenant gets next, by weight (terminations come at their own fixed pace). */
const NEXT: Record<'active' | 'suspended', [Exclude<ChaosAction, 'create' | 'terminate'>, number][]> = {
  active: [
    ['change_package', 3],
    ['change_password', 2],
    ['suspend', 2],
  ],
  suspended: [['unsuspend', 1]],
};

/**
 * A bounded pool of services cycling through WHMCS's lifecycle, for a steady load: `size` slots, each
 * one service at a time. A slot's first event creates its service; then package changes, password
 * changes, suspends and unsuspends; every `terminateEvery`-th event to a live service terminates a live service and its
 * slot takes a fresh service id, created by the slot's next event. The live services stay at `size`,
 * so the per-service background work (CDR-sync fan-out, drift, credit checks) does not grow with the
 * run; only the terminated services add up, one per `terminateEvery` events (the fan-out keeps them
 * for their late CDRs, hourly once their final bill is due, until they are purged TERMINATE_RETENTION_DAYS later).
 */
export class ServicePool {
  private readonly all: ServicePlan[] = [];
  private readonly slots: Slot[] = [];
  private nextServiceId: number;
  /** Events to live services since the last termination. */
  private sinceTermination = 0;
  terminated = 0;

  constructor(
    private readonly random: () => number,
    size: number,
    firstServiceId: number,
    private readonly terminateEvery: number,
  ) {
    this.nextServiceId = firstServiceId;
    for (let i = 0; i < size; i += 1) this.slots.push({ plan: this.freshPlan(), state: 'new' });
  }

  /** Every service the pool sent an event for, each with all its events in order (what the end-state check reads). */
  get plans(): ServicePlan[] {
    return this.all.filter((plan) => plan.events.length > 0);
  }

  /** Live (created, not terminated) services now. */
  get live(): number {
    return this.slots.filter((slot) => slot.state !== 'new').length;
  }

  /**
   * The next `count` events, each for a different slot (a batch's events are delivered in parallel;
   * one service's events go one batch after another, so in order). Slots waiting for their create go
   * first, so the pool fills at the start and a terminated service is replaced at once.
   */
  next(count: number): ServicePlan[] {
    const waiting = this.slots.filter((slot) => slot.state === 'new');
    const others = this.slots.filter((slot) => slot.state !== 'new');
    const chosen: Slot[] = [];
    while (chosen.length < count && (waiting.length > 0 || others.length > 0)) {
      const from = waiting.length > 0 ? waiting : others;
      chosen.push(from.splice(Math.floor(this.random() * from.length), 1)[0]!);
    }
    return chosen.map((slot) => ({ serviceId: slot.plan.serviceId, events: [this.advance(slot)] }));
  }

  private advance(slot: Slot): PlannedEvent {
    const action = this.actionFor(slot);
    const event: PlannedEvent = { serviceId: slot.plan.serviceId, action, ...eventBody(this.random, slot.plan.serviceId, action) };
    slot.plan.events.push(event);
    if (action === 'terminate') {
      this.terminated += 1;
      slot.plan = this.freshPlan();
      slot.state = 'new';
    } else slot.state = action === 'suspend' ? 'suspended' : 'active';
    return event;
  }

  private actionFor(slot: Slot): ChaosAction {
    if (slot.state === 'new') return 'create';
    this.sinceTermination += 1;
    if (this.sinceTermination >= this.terminateEvery) {
      this.sinceTermination = 0;
      return 'terminate';
    }
    const choices = NEXT[slot.state];
    let roll = this.random() * choices.reduce((sum, [, weight]) => sum + weight, 0);
    for (const [action, weight] of choices) {
      roll -= weight;
      if (roll < 0) return action;
    }
    return choices[0]![0];
  }

  private freshPlan(): ServicePlan {
    const plan: ServicePlan = { serviceId: this.nextServiceId, events: [] };
    this.nextServiceId += 1;
    this.all.push(plan);
    return plan;
  }
}
