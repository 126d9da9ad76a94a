// The soak's time series: every few seconds under load, and at quiet points, where the load and the
// pollers are paused until every environment and pre-initialised sandbox has been reclaimed, so that one
// quiet reading compares with another (what runs under load depends on the moment).
import type { KilnApi as AsyncApi } from '../../src/client/index.js';
import { sampleOf } from '../../test/support/logs.js';
import type { KilnProcess } from '../../test/support/server.js';
import { sleep } from '../lib/budget.js';
import type { KilnApi } from '../lib/kiln.js';
import { footprint, type Footprint } from './resources.js';
import type { Tally } from './tally.js';

export interface Sample extends Footprint {
  /** Seconds since the soak began. */
  readonly t: number;
  readonly phase: 'load' | 'quiet';
  /** At a quiet point: whether everything was reclaimed before the reading (else it timed out). */
  readonly settled?: boolean;
  readonly environments: number;
  readonly zygotes: number;
  readonly queueDepth: number;
  readonly inFlight: number;
  readonly heapUsedMb: number;
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

  async take(phase: Sample['phase'], settled?: boolean): Promise<Sample | undefined> {
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
    let settled = false;
    while (!settled && Date.now() < deadline) {
      const [listing, queue] = await Promise.all([this.api.listing(), this.asyncApi.asyncQueue()]);
      settled =
        listing.Environments.length === 0 &&
        listing.Zygotes.length === 0 &&
        queue.InFlight === 0 &&
        footprint(this.pid(), this.kiln.cgroupParent).sandboxCgroups === 0;
      if (!settled) await sleep(250);
    }
    const sample = await this.take('quiet', settled);
    await this.asyncApi.setPollersPaused(false);
    return sample;
  }
}
