import { randomInt } from 'node:crypto';
import { FusionpbxValidationError } from './errors';
import { portalPasswordProblem } from '@ictvoip/whmcs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * FusionPBX generate_password() alphabets (resources/functions.php): strength 1 digits, 2 adds
 * lower-case without "l", 3 adds upper-case without "O", 4 adds "!^$%*?.". Unlike PHP we also
 * guarantee one character of every class, so the result always passes check_password_strength().
 */
const CLASSES = ['0123456789', 'abcdefghijkmnopqrstuvwxyz', 'ABCDEFGHIJKLMNPQRSTUVWXYZ', '!^$%*?.'];

export function generatePassword(length = 20, strength = 4): string {
  const classes = CLASSES.slice(0, Math.min(Math.max(strength, 1), 4));
  const alphabet = classes.join('');
  const chars = classes.map((set) => set[randomInt(set.length)]);
  while (chars.length < length) chars.push(alphabet[randomInt(alphabet.length)]);
  for (let index = chars.length - 1; index > 0; index -= 1) {
    const swap = randomInt(index + 1);
    [chars[index], chars[swap]] = [chars[swap], chars[index]];
  }
  return chars.slice(0, length).join('');
}

/** An extension's SIP password as extension_edit.php generates it (20 characters, strength 4). */
export function newSipPassword(): string {
  return generatePassword(20, 4);
}

/** Voicemail PIN: digits only, 8 long by default (voicemail/password_length). */
export function generateVoicemailPin(length = 8): string {
  return generatePassword(length, 1);
}

/**
 * PHP password_hash(PASSWORD_DEFAULT, cost 10) format: bcrypt with the $2y$ prefix. Computed in a
 * worker thread (bcrypt-pool.ts), so a hash never blocks the event loop of the API or the worker.
 */
export async function hashPortalPassword(password: string, cost = 10): Promise<string> {
  return (await bcryptHash(password, cost)).replace(/^\$2[ab]\$/, '$2y$');
}

/**
 * A create's portal password hash, started before the transaction: bcrypt's ~70 ms (in a worker
 * thread) then overlap the lock and the tenant's statements instead of adding to the create's time
 * and to how long it holds the service lock. A failed transaction may never ask for it: its
 * rejection is handled here so it is never an unhandled rejection.
 */
export function earlyPortalHash(password: string | null): Promise<string> | undefined {
  if (password === null) return undefined;
  const hash = hashPortalPassword(password);
  hash.catch(() => undefined);
  return hash;
}

export async function portalPasswordMatches(password: string, hash: string | null): Promise<boolean> {
  if (!hash || !hash.startsWith('$2')) return false;
  return bcryptCompare(password, hash.replace(/^\$2y\$/, '$2b$'));
}

/** bcrypt uses only the first 72 bytes; reject longer passwords instead of silently truncating. */
export function validatePortalPassword(value: unknown, field = 'secrets.servicePassword'): string {
  if (typeof value !== 'string') throw new FusionpbxValidationError(field, 'is required');
  // The rule ingest applies to secrets.servicePassword (whmcs event.ts), so a webhook it would refuse is a 400.
  const problem = portalPasswordProblem(value);
  if (problem) throw new FusionpbxValidationError(field, problem);
  return value;
}

/**
 * bcrypt off the event loop: a small pool of worker threads running bcryptjs synchronously. bcryptjs'
 * own async API only slices the work (about 100 ms per slice on the main thread), so a cost-10 hash
 * still stalls every other job of the worker for that long; here the main loop only posts a message.
 * Same library, same output format as before. Workers are unref'd while idle so they never keep a
 * process (or a test run) alive.
 */

type Job = { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };
interface Pending {
  job: Job;
  resolve: (value: string | boolean) => void;
  reject: (error: Error) => void;
}

// The worker's code is evaluated (no separate file), so it runs the same from src/ under jest/tsx and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptjs);
parentPort.on('message', ({ id, job }) => {
  try {
    const value = job.op === 'hash' ? bcrypt.hashSync(job.password, job.cost) : bcrypt.compareSync(job.password, job.hash);
    parentPort.postMessage({ id, value });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message ? error.message : error) });
  }
});
`;

class BcryptPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private size = 0;
  private nextId = 0;

  constructor(private readonly maxWorkers: number) {}

  run(job: Job): Promise<string | boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.pop();
      if (!worker && this.size < this.maxWorkers) worker = this.spawn();
      if (!worker) return;
      const task = this.queue.shift() as Pending;
      this.busy.set(worker, task);
      worker.ref();
      worker.postMessage({ id: (this.nextId += 1), job: task.job });
    }
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptjs: require.resolve('bcryptjs') } });
    this.size += 1;
    worker.on('message', (message: { value?: string | boolean; error?: string }) => {
      const task = this.busy.get(worker);
      this.busy.delete(worker);
      worker.unref();
      this.idle.push(worker);
      if (task) {
        if (message.error !== undefined) task.reject(new Error(message.error));
        else task.resolve(message.value as string | boolean);
      }
      this.dispatch();
    });
    const fail = (error: Error) => {
      const task = this.busy.get(worker);
      this.busy.delete(worker);
      const index = this.idle.indexOf(worker);
      if (index >= 0) this.idle.splice(index, 1);
      this.size -= 1;
      task?.reject(error);
      this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.busy.has(worker) || this.idle.includes(worker)) fail(new Error(`bcrypt worker exited with code ${code}`));
    });
    return worker;
  }
}

let pool: BcryptPool | null = null;

function sharedPool(): BcryptPool {
  // Leave a core to the event loop on small machines.
  pool ??= new BcryptPool(Math.max(1, Math.min(4, availableParallelism() - 1)));
  return pool;
}

/** bcryptjs hashSync in a worker thread ($2b$ prefix, as bcryptjs writes it). */
export async function bcryptHash(password: string, cost: number): Promise<string> {
  return (await sharedPool().run({ op: 'hash', password, cost })) as string;
}

/** bcryptjs compareSync in a worker thread. */
export async function bcryptCompare(password: string, hash: string): Promise<boolean> {
  return (await sharedPool().run({ op: 'compare', password, hash })) as boolean;
}
