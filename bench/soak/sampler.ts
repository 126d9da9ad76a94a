// The soak's time series: every few seconds under load, and at quiet points, where the load and the
// pollers are paused until every environment and pre-initialised sandbox has been reclaimed, so that one
// quiet reading compares with another (what runs under load depends on the moment).
import type { KilnApi as AsyncApi } from '../../src/client/index.js';
import { sampleOf } from '../../test/support/logs.js';
import type { KilnProcess } from '../../test/support/server.js';
import { sleep } from '../lib/budget.js';
import type { KilnApi } from '../lib/kiln.js';
import { footprint, freezerState, sandboxCgroupNames, type Footprint } from './resources.js';
import type { Tally } from './tally.js';

export interface Sample extends Footprint {
  /** Seconds since the soak began. */
  readonly t: number;
  readonly phase: 'load' | 'quiet';
  /** At a quiet point: whether everything was reclaimed before the reading (else it timed out). */
  readonly settled?: boolean;
  /** At a quiet point that did not settle: what was still there. */
  readonly remaining?: Remaining;
  readonly environments: number;
  readonly zygotes: number;
  readonly queueDepth: number;
  readonly inFlight: number;
  readonly heapUsedMb: number;
}

export interface Remaining {
  readonly environments: string[];
  readonly zygotes: string[];
  readonly inFlight: number;
  /** Sandbox cgroups with their freezer state (`FROZEN` for a sandbox left frozen). */
  readonly cgroups: string[];
}

export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly kiln: KilnProcess,
    private readonly api: KilnApi,
    private readonly asyncApi: AsyncApi,
    private readonly tally: Tally,
    private readonly began: number,
  ) {}

  private pid(): number {
    const pid = this.kiln.child.pid;
    if (pid === undefined) throw new Error('Kiln has no pid: it did not start');
    return pid;
  }

  async take(phase: Sample['phase'], settled?: boolean, remaining?: Remaining): Promise<Sample | undefined> {
    try {
      const [listing, queue, metrics] = await Promise.all([
        this.api.listing(),
        this.asyncApi.asyncQueue(),
        this.api.metrics(),
      ]);
      const sample: Sample = {
        t: (Date.now() - this.began) / 1000,
        phase,
        ...(settled === undefined ? {} : { settled }),
        ...(remaining === undefined ? {} : { remaining }),
        ...footprint(this.pid(), this.kiln.cgroupParent),
        environments: listing.Environments.length,
        zygotes: listing.Zygotes.length,
        queueDepth: queue.Depth,
        inFlight: queue.InFlight,
        heapUsedMb: sampleOf(metrics, 'kiln_nodejs_heap_size_used_bytes') / (1024 * 1024),
      };
      this.samples.push(sample);
      return sample;
    } catch (err) {
      this.tally.platform(`reading the platform's state: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Readings every `everyMs` until stop(). */
  start(everyMs: number): void {
    this.timer = setInterval(() => {
      this.reading = this.take('load');
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.reading;
  }

  /**
   * Pauses the pollers, waits (at most `maxMs`) until no environment, pre-initialised sandbox, sandbox
   * cgroup or in-flight event is left, takes a reading and resumes the pollers.
   */
  async quiet(maxMs: number): Promise<Sample | undefined> {
    await this.asyncApi.setPollersPaused(true);
    const deadline = Date.now() + maxMs;
    let remaining: Remaining | undefined;
    for (;;) {
      const [listing, queue] = await Promise.all([this.api.listing(), this.asyncApi.asyncQueue()]);
      const cgroups = sandboxCgroupNames(this.kiln.cgroupParent);
      remaining = {
        environments: listing.Environments.map((e) => `${e.Id} ${e.FunctionName} ${e.State}`),
        zygotes: listing.Zygotes.map((z) => `${z.Id} ${z.Runtime} ${z.State}`),
        inFlight: queue.InFlight,
        cgroups: cgroups.map((id) => `${id} ${freezerState(this.kiln.cgroupParent, id)}`),
      };
      const settled =
        remaining.environments.length + remaining.zygotes.length + remaining.inFlight + cgroups.length === 0;
      if (settled) remaining = undefined;
      if (settled || Date.now() >= deadline) break;
      await sleep(250);
    }
    const sample = await this.take('quiet', remaining === undefined, remaining);
    await this.asyncApi.setPollersPaused(false);
    return sample;
  }
}
