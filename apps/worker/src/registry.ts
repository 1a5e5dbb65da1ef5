import { HandlerRegistryError } from './errors';

/**
 * Maps job names to handlers; checked at start-up so a job name without a handler, or with two,
 * stops the worker before it takes any job.
 */
export class HandlerRegistry<Handler> {
  private readonly handlers = new Map<string, Handler>();
  private readonly duplicates: string[] = [];

  register(jobName: string, handler: Handler): this {
    if (this.handlers.has(jobName)) this.duplicates.push(jobName);
    this.handlers.set(jobName, handler);
    return this;
  }

  /** Throws unless every expected name has exactly one handler and no handler is unexpected. */
  assertComplete(expected: readonly string[]): void {
    const missing = expected.filter((name) => !this.handlers.has(name));
    const unexpected = [...this.handlers.keys()].filter((name) => !expected.includes(name));
    const problems = [
      ...missing.map((name) => `no handler for job "${name}"`),
      ...this.duplicates.map((name) => `two handlers for job "${name}"`),
      ...unexpected.map((name) => `handler for unknown job "${name}"`),
    ];
    if (problems.length > 0) throw new HandlerRegistryError(problems.join('; '));
  }

  get(jobName: string): Handler {
    const handler = this.handlers.get(jobName);
    if (!handler) throw new HandlerRegistryError(`no handler for job "${jobName}"`);
    return handler;
  }

  names(): string[] {
    return [...this.handlers.keys()];
  }
}
