// A worker hosts execution environments on one machine: it reuses warm ones, starts new ones up to its
// memory budget, reclaims idle ones, retires stale ones, and drains when its lease ends.
import { ApiError } from '../model/index.js';
import type { InvocationRequest } from '../runtime-api/index.js';
import type { Clock, Logger } from '../shared/index.js';
import type { CodeStore } from '../store/index.js';
import { Environment, type EnvironmentDeps, type EnvironmentResult } from './environment.js';
import type { EnvironmentState } from './environment-state.js';
import { isRetiredBy, specKey, type FunctionSpec } from './function-spec.js';
import type { Zygote } from './zygote.js';
import { ZygotePool, type ZygoteInfo } from './zygote-pool.js';

export interface WorkerOptions extends Omit<EnvironmentDeps, 'log' | 'clock'> {
  readonly id: string;
  readonly log: Logger;
  readonly clock: Clock;
  readonly code: CodeStore;
  /** Idle environments older than this are reclaimed. */
  readonly keepAliveMs: number;
  /** Sum of MemorySize of the environments this worker may hold at once. */
  readonly memoryBudgetMb: number;
  /** How often idle environments are checked for reclamation. */
  readonly reapIntervalMs: number;
  /** Called before a new environment starts; throws (e.g. a 429) to refuse it. */
  readonly admitNewEnvironment?: (spec: FunctionSpec) => void;
  /** Most pre-initialised environments (zygotes) kept per runtime; 0 or absent: none. */
  readonly zygotesPerRuntime?: number;
}

export interface InvokeResult extends EnvironmentResult {
  readonly environmentId: string;
  readonly coldStart: boolean;
}

/** How far one provisioned concurrency configuration got on this worker. */
export interface ProvisionedStatus {
  /** Environments initialised and kept for the configuration. */
  readonly allocated: number;
  /** Why initialising stopped (the configuration is FAILED); absent while it is fine. */
  readonly failure?: string;
}

interface ProvisionedTarget {
  readonly spec: FunctionSpec;
  count: number;
  starting: number;
  failure?: string;
}

export interface EnvironmentInfo {
  readonly id: string;
  readonly functionName: string;
  /** Unqualified; names the function's account. */
  readonly functionArn: string;
  readonly version: string;
  readonly state: EnvironmentState;
  readonly frozen: boolean;
  readonly workerId: string;
  /** Its cold start took a pre-initialised sandbox (a zygote) instead of starting one. */
  readonly prewarmed: boolean;
}

export class Worker {
  private readonly envs = new Map<string, Environment>();
  private readonly codeReleases = new Map<string, () => void>();
  private draining = false;
  private readonly reaper: NodeJS.Timeout;
  private readonly listeners = new Set<(env: EnvironmentInfo) => void>();
  private readonly provisioned = new Map<string, ProvisionedTarget>();
  private readonly zygotes: ZygotePool;

  constructor(private readonly o: WorkerOptions) {
    this.zygotes = new ZygotePool({
      deps: o,
      maxPerRuntime: o.zygotesPerRuntime ?? 0,
      idleMs: o.keepAliveMs,
      fits: (mb) => this.memoryUsedMb() + mb <= o.memoryBudgetMb,
    });
    this.reaper = setInterval(() => void this.reap(), o.reapIntervalMs);
    this.reaper.unref();
  }

  get id(): string {
    return this.o.id;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Runs one invocation in a warm environment of the same snapshot, or a new one. */
  async invoke(spec: FunctionSpec, req: InvocationRequest): Promise<InvokeResult> {
    if (this.draining) throw new ApiError('ServiceException', 'The worker is draining; retry the request.');
    const key = specKey(spec);
    let env = this.findIdle(key);
    let coldStart = false;
    if (env) {
      env.acquire();
    } else {
      coldStart = true;
      this.o.admitNewEnvironment?.(spec);
      const zygote = this.zygotes.take(spec);
      try {
        env = await this.startEnvironment(spec, zygote);
      } catch (err) {
        await zygote?.stop();
        throw err;
      }
      let init = await env.start('on-demand', zygote);
      if (!init.ok && init.launchFailed === true && zygote !== undefined) {
        // The zygote could not be specialised (it died, a mount failed): start from nothing instead.
        env = await this.startEnvironment(spec);
        init = await env.start();
      }
      if (!init.ok) {
        this.refillSoon();
        return {
          outcome: init.outcome,
          logTail: env.logs.tailBase64(),
          fatal: true,
          durationMs: 0,
          environmentId: env.id,
          coldStart,
        };
      }
    }
    let result: EnvironmentResult;
    try {
      result = await env.invoke(req);
    } catch (err) {
      await env.stop();
      throw err;
    } finally {
      if (coldStart) this.refillSoon();
    }
    if (result.fatal || env.retired || this.draining) await env.stop();
    else env.release();
    return { ...result, environmentId: env.id, coldStart };
  }

  /**
   * Retires a function's environments: every one (`version` undefined: the function was deleted), or
   * those of one version except revision `keepRevision` (`$LATEST` changed, or a version was deleted).
   * Idle environments go now, busy ones after their invocation.
   */
  async retire(functionArn: string, version?: string, keepRevision?: string): Promise<void> {
    for (const [id, t] of this.provisioned) {
      if (isRetiredBy(t.spec, functionArn, version, keepRevision)) this.provisioned.delete(id);
    }
    const stops: Promise<void>[] = [];
    for (const env of this.envs.values()) {
      const { spec } = env;
      if (!isRetiredBy(spec, functionArn, version, keepRevision)) continue;
      env.retired = true;
      env.provisionedFor = undefined;
      if (env.state === 'idle') stops.push(env.stop());
    }
    await Promise.all(stops);
  }

  /**
   * Keeps `count` environments of `spec` initialised ahead of traffic (`AWS_LAMBDA_INITIALIZATION_TYPE`
   * provisioned-concurrency) for the configuration `id`, replacing any that stop; no spec or 0 releases
   * them. Starting happens in the background: `provisionedStatus` reports progress.
   */
  setProvisioned(id: string, spec: FunctionSpec | undefined, count: number): void {
    const current = this.provisioned.get(id);
    if (
      spec &&
      count > 0 &&
      current &&
      current.failure === undefined &&
      specKey(current.spec) === specKey(spec)
    ) {
      current.count = count;
    } else {
      this.provisioned.delete(id);
      for (const env of this.provisionedEnvs(id)) this.unprovision(env);
      if (!spec || count <= 0) return;
      this.provisioned.set(id, { spec, count, starting: 0 });
    }
    this.reconcile(id);
  }

  provisionedStatus(id: string): ProvisionedStatus | undefined {
    const t = this.provisioned.get(id);
    if (!t) return undefined;
    const allocated = this.provisionedEnvs(id).length;
    return t.failure === undefined ? { allocated } : { allocated, failure: t.failure };
  }

  private provisionedEnvs(id: string): Environment[] {
    return [...this.envs.values()].filter(
      (e) => e.provisionedFor === id && (e.state === 'idle' || e.state === 'busy'),
    );
  }

  /** Hands an environment back to on-demand use: an idle one stops now, a busy one after its invocation. */
  private unprovision(env: Environment): void {
    env.provisionedFor = undefined;
    env.retired = true;
    if (env.state === 'idle') void env.stop();
  }

  /** Starts or releases environments until the configuration has exactly its count. */
  private reconcile(id: string): void {
    const t = this.provisioned.get(id);
    if (!t || this.draining || t.failure !== undefined) return;
    const envs = this.provisionedEnvs(id);
    for (const env of envs.slice(Math.max(0, t.count - t.starting))) this.unprovision(env);
    for (let n = envs.length + t.starting; n < t.count; n++) void this.startProvisioned(id, t);
  }

  private async startProvisioned(id: string, t: ProvisionedTarget): Promise<void> {
    t.starting++;
    let env: Environment | undefined;
    try {
      env = await this.startEnvironment(t.spec);
      const init = await env.start('provisioned-concurrency');
      if (!init.ok) {
        t.failure = 'FUNCTION_ERROR_INIT_FAILURE';
        this.o.log.warn({ config: id, env: env.id }, 'provisioned environment failed to initialise');
        return;
      }
      env.release();
      if (this.provisioned.get(id) === t && !this.draining) env.provisionedFor = id;
      else void env.stop();
    } catch (err) {
      t.failure = err instanceof ApiError ? err.message : 'Kiln could not start an execution environment.';
      this.o.log.warn({ err, config: id }, 'provisioned environment could not start');
      if (env) await env.stop();
    } finally {
      t.starting--;
    }
  }

  /** Stops taking invocations; in-flight ones finish, then every environment shuts down. */
  async drain(): Promise<void> {
    this.draining = true;
    clearInterval(this.reaper);
    await this.zygotes.close();
    await Promise.all([...this.envs.values()].filter((e) => e.state === 'idle').map((e) => e.stop()));
    await this.waitUntilEmpty();
  }

  /** Stops every environment now, busy or not (shutdown past its grace period). */
  async kill(): Promise<void> {
    this.draining = true;
    clearInterval(this.reaper);
    await this.zygotes.close();
    await Promise.all([...this.envs.values()].map((e) => e.stop()));
  }

  environments(): EnvironmentInfo[] {
    return [...this.envs.values()].map((e) => this.info(e));
  }

  /** Pre-initialised environments waiting for a function. */
  zygoteList(): ZygoteInfo[] {
    return this.zygotes.list();
  }

  /** Called on every environment state change (metrics, tests observing lifecycle). */
  onEnvironment(listener: (env: EnvironmentInfo) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reclaims idle environments past their keep-alive; returns how many. */
  async reap(): Promise<number> {
    const now = this.o.clock.now();
    const stale = [...this.envs.values()].filter(
      (e) => e.state === 'idle' && e.provisionedFor === undefined && now - e.lastUsed >= this.o.keepAliveMs,
    );
    await Promise.all(stale.map((e) => e.stop()));
    await this.zygotes.reap(now);
    return stale.length;
  }

  private findIdle(key: string): Environment | undefined {
    let best: Environment | undefined;
    for (const env of this.envs.values()) {
      if (env.key !== key || env.state !== 'idle' || env.retired) continue;
      // Provisioned environments first (they are paid for); then the most recently used, the most
      // likely to be warm in every cache.
      if (!best || rank(env) > rank(best)) best = env;
    }
    return best;
  }

  private async startEnvironment(spec: FunctionSpec, zygote?: Zygote): Promise<Environment> {
    await this.makeRoom(spec.memorySize);
    const code = await this.o.code.unpacked(spec.codeSha256Hex);
    const env = new Environment(
      spec,
      code.dir,
      this.o,
      (e, _from, to) => {
        if (to === 'stopped') {
          this.envs.delete(e.id);
          this.codeReleases.get(e.id)?.();
          this.codeReleases.delete(e.id);
          // A provisioned environment that died (crash, timeout) is replaced.
          const config = e.provisionedFor;
          if (config !== undefined) queueMicrotask(() => this.reconcile(config));
        }
        const info = this.info(e);
        for (const l of this.listeners) l(info);
      },
      zygote?.id,
    );
    this.codeReleases.set(env.id, code.release);
    this.envs.set(env.id, env);
    return env;
  }

  /**
   * Starts replacement zygotes once this cold start has answered: launching a sandbox spawns processes and
   * takes CPU that the cold start's INIT and first invocation would otherwise wait for (a turn of the event
   * loop lets the reply be written first).
   */
  private refillSoon(): void {
    setImmediate(() => this.zygotes.refill());
  }

  /** Environments' MemorySize plus what the zygote pool holds. */
  private memoryUsedMb(): number {
    let sum = this.zygotes.memoryMb();
    for (const e of this.envs.values()) if (e.holdsMemory) sum += e.spec.memorySize;
    return sum;
  }

  /** Evicts zygotes, then least recently used idle environments, until `memoryMb` fits the budget. */
  private async makeRoom(memoryMb: number): Promise<void> {
    const used = (): number => this.memoryUsedMb();
    if (used() + memoryMb <= this.o.memoryBudgetMb) return;
    while (used() + memoryMb > this.o.memoryBudgetMb && (await this.zygotes.evictOne()));
    const idle = [...this.envs.values()]
      .filter((e) => e.state === 'idle' && e.provisionedFor === undefined)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    while (used() + memoryMb > this.o.memoryBudgetMb) {
      const victim = idle.shift();
      if (!victim) {
        throw new ApiError(
          'TooManyRequestsException',
          `Rate Exceeded. The worker's memory budget (${this.o.memoryBudgetMb} MB) is fully used by running environments.`,
          { Reason: 'ConcurrentInvocationLimitExceeded' },
        );
      }
      await victim.stopProcesses();
    }
  }

  private waitUntilEmpty(): Promise<void> {
    if (this.envs.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.onEnvironment(() => {
        for (const e of this.envs.values()) if (e.state === 'idle') void e.stop();
        if (this.envs.size === 0) {
          off();
          resolve();
        }
      });
    });
  }

  private info(e: Environment): EnvironmentInfo {
    return {
      id: e.id,
      functionName: e.spec.functionName,
      functionArn: e.spec.functionArn,
      version: e.spec.version,
      state: e.state,
      frozen: e.isFrozen,
      workerId: this.o.id,
      prewarmed: e.prewarmed,
    };
  }
}

const rank = (e: Environment): number =>
  e.provisionedFor !== undefined ? Number.MAX_SAFE_INTEGER : e.lastUsed;
