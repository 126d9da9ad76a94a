// The pool of pre-initialised environments of one worker, per runtime. Its size follows demand: a cold start
// that finds no zygote (a miss) raises the runtime's target by one, up to `maxPerRuntime`; a zygote left unused
// for `idleMs` is reclaimed and lowers it, so an idle worker holds none. It only grows into memory the worker's
// budget has free, and gives its zygotes up first when environments need the room.
import type { Runtime } from '../model/index.js';
import type { EnvironmentDeps } from './environment.js';
import type { FunctionSpec } from './function-spec.js';
import { zygoteFits, zygoteMemoryMb } from './runtime-launch.js';
import { Zygote, type ZygoteState } from './zygote.js';

export interface ZygotePoolOptions {
  readonly deps: EnvironmentDeps;
  /** Most zygotes kept per runtime; 0 turns the pool off. */
  readonly maxPerRuntime: number;
  /** Ready zygotes unused this long are reclaimed. */
  readonly idleMs: number;
  /** Whether `memoryMb` more fits the worker's memory budget now. */
  readonly fits: (memoryMb: number) => boolean;
}

export interface ZygoteInfo {
  readonly id: string;
  readonly runtime: Runtime;
  readonly state: ZygoteState;
}

export class ZygotePool {
  private readonly zygotes = new Set<Zygote>();
  private readonly target = new Map<Runtime, number>();
  private closed = false;

  constructor(private readonly o: ZygotePoolOptions) {}

  /**
   * A ready zygote that can become `spec`'s environment, taken out of the pool; undefined when none fits (the
   * runtime's target grows, so the next cold start finds one).
   */
  take(spec: FunctionSpec): Zygote | undefined {
    if (this.closed || this.o.maxPerRuntime <= 0 || !this.o.deps.driver.lateCode || !zygoteFits(spec))
      return undefined;
    let found: Zygote | undefined;
    for (const z of this.zygotes) {
      if (z.runtime === spec.runtime && z.state === 'ready') {
        found = z;
        break;
      }
    }
    if (found === undefined) {
      this.target.set(spec.runtime, Math.min(this.o.maxPerRuntime, (this.target.get(spec.runtime) ?? 0) + 1));
      return undefined;
    }
    this.zygotes.delete(found);
    return found;
  }

  /** Starts zygotes (in the background) until every runtime has its target, as far as memory allows. */
  refill(): void {
    if (this.closed) return;
    for (const [runtime, target] of this.target) {
      let have = this.count(runtime);
      while (have < target && this.o.fits(this.memoryOf(1))) {
        const z = new Zygote(runtime, this.o.deps, (lost) => this.zygotes.delete(lost));
        this.zygotes.add(z);
        have++;
        void z.start();
      }
    }
  }

  /** Reclaims zygotes unused for idleMs, each lowering its runtime's target; returns how many. */
  async reap(now: number): Promise<number> {
    const stale = [...this.zygotes].filter((z) => z.state === 'ready' && now - z.since >= this.o.idleMs);
    for (const z of stale) this.lower(z.runtime);
    await Promise.all(stale.map((z) => z.stop()));
    return stale.length;
  }

  /** Memory the pool holds (starting and ready zygotes), in MB. */
  memoryMb(): number {
    return this.memoryOf(this.zygotes.size);
  }

  /** Stops one zygote to make room for an environment; false when there is none. */
  async evictOne(): Promise<boolean> {
    const victim = [...this.zygotes].find((z) => z.state === 'ready') ?? [...this.zygotes][0];
    if (victim === undefined) return false;
    this.zygotes.delete(victim);
    this.lower(victim.runtime);
    await victim.stopProcesses();
    return true;
  }

  list(): ZygoteInfo[] {
    return [...this.zygotes].map((z) => ({ id: z.id, runtime: z.runtime, state: z.state }));
  }

  /** Stops every zygote and starts no more (the worker drains). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.zygotes].map((z) => z.stop()));
  }

  private count(runtime: Runtime): number {
    let n = 0;
    for (const z of this.zygotes) if (z.runtime === runtime) n++;
    return n;
  }

  private memoryOf(n: number): number {
    return n * zygoteMemoryMb;
  }

  private lower(runtime: Runtime): void {
    this.target.set(runtime, Math.max(0, (this.target.get(runtime) ?? 0) - 1));
  }
}
