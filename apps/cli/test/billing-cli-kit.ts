import { useBillingKit, type BillingKit, type UseBillingKitOptions } from '../../worker/test/cdr-billing-kit';
import { runCli, type CliRun } from './run-cli';

/** A CLI test file's billing kit and the real `ictvoip` bin run against it. */
export interface BillingCli {
  /** Stands for the kit once its beforeAll started it (see useBillingKit). */
  readonly kit: BillingKit;
  /** `ictvoip args…` as a separate process with the kit's bridge environment. */
  readonly cli: (...args: string[]) => Promise<CliRun>;
}

/**
 * The set-up each CLI billing test file used to repeat: one billing kit for the file (started in a
 * beforeAll, closed in an afterAll: useBillingKit) and `cli` against its bridge.
 */
export function useBillingCli(env: Record<string, string>, options: UseBillingKitOptions = {}): BillingCli {
  const kit = useBillingKit(env, options);
  return { kit, cli: (...args) => runCli(kit.bridge.env, args) };
}
