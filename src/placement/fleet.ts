// Placement across workers. A worker holds a lease (Lambda: 14 hours); when it ends, a fresh worker takes
// new invocations and the old one drains: in-flight invocations finish, its environments shut down.
// Fleet remembers the provisioned concurrency configurations and hands them to each new worker.
import type { Clock, Logger } from '../shared/index.js';
import {
  isRetiredBy,
  type EnvironmentInfo,
  type FunctionSpec,
  type InvokeResult,
  type ProvisionedStatus,
  type ZygoteInfo,
} from '../worker/index.js';
import type { InvocationRequest } from '../runtime-api/index.js';

/** The part of a worker placement needs; in-process today, remote later. */
export interface WorkerHandle {
  readonly id: string;
  invoke(spec: FunctionSpec, req: InvocationRequest): Promise<InvokeResult>;
  /** See Worker.retire: all of a function (by unqualified ARN), or one version's except `keepRevision`. */
  retire(functionArn: string, version?: string, keepRevision?: string): Promise<void>;
  drain(): Promise<void>;
  kill(): Promise<void>;
  environments(): EnvironmentInfo[];
  /** Pre-initialised environments waiting for a function (see Worker.zygoteList). */
  zygoteList(): ZygoteInfo[];
  /** See Worker.setProvisioned. */
  setProvisioned(id: string, spec: FunctionSpec | undefined, count: number): void;
  provisionedStatus(id: string): ProvisionedStatus | undefined;
}

export interface FleetOptions {
  readonly clock: Clock;
  readonly log: Logger;
  readonly leaseMs: number;
  readonly newWorker: () => WorkerHandle;
}

export class Fleet {
  private active: WorkerHandle;
  private leaseEnds: number;
  private readonly draining = new Map<WorkerHandle, Promise<void>>();
  private readonly provisioned = new Map<string, { spec: FunctionSpec; count: number }>();

  constructor(private readonly o: FleetOptions) {
    this.active = o.newWorker();
    this.leaseEnds = o.clock.now() + o.leaseMs;
  }

  invoke(spec: FunctionSpec, req: InvocationRequest): Promise<InvokeResult> {
    this.renewIfExpired();
    return this.active.invoke(spec, req);
  }

  /** Keeps `count` environments of `spec` initialised for configuration `id` (no spec or 0: none). */
  setProvisioned(id: string, spec: FunctionSpec | undefined, count: number): void {
    if (spec && count > 0) this.provisioned.set(id, { spec, count });
    else this.provisioned.delete(id);
    this.active.setProvisioned(id, spec, count);
  }

  /** Progress of a configuration on the active worker (the one taking invocations). */
  provisionedStatus(id: string): ProvisionedStatus | undefined {
    return this.active.provisionedStatus(id);
  }

  async retire(functionArn: string, version?: string, keepRevision?: string): Promise<void> {
    for (const [id, p] of this.provisioned) {
      if (isRetiredBy(p.spec, functionArn, version, keepRevision)) this.provisioned.delete(id);
    }
    await Promise.all(
      [this.active, ...this.draining.keys()].map((w) => w.retire(functionArn, version, keepRevision)),
    );
  }

  environments(): EnvironmentInfo[] {
    return [this.active, ...this.draining.keys()].flatMap((w) => w.environments());
  }

  zygotes(): ZygoteInfo[] {
    return this.active.zygoteList();
  }

  /** Replaces the active worker once its lease has ended; returns whether it did. */
  renewIfExpired(): boolean {
    if (this.o.clock.now() < this.leaseEnds) return false;
    const old = this.active;
    this.active = this.o.newWorker();
    this.leaseEnds = this.o.clock.now() + this.o.leaseMs;
    for (const [id, p] of this.provisioned) this.active.setProvisioned(id, p.spec, p.count);
    this.o.log.info({ old: old.id, next: this.active.id }, 'worker lease ended: draining');
    const done = old.drain().finally(() => this.draining.delete(old));
    this.draining.set(old, done);
    return true;
  }

  /** Waits until every draining worker has finished. */
  async drained(): Promise<void> {
    await Promise.all(this.draining.values());
  }

  /** Drains every worker; past `graceMs`, stops whatever still runs. */
  async close(graceMs: number): Promise<void> {
    const all = [this.active, ...this.draining.keys()];
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((r) => (timer = setTimeout(() => r('expired'), graceMs)));
    const done = await Promise.race([Promise.all(all.map((w) => w.drain())), expired]);
    clearTimeout(timer);
    if (done === 'expired') await Promise.all(all.map((w) => w.kill()));
  }
}
