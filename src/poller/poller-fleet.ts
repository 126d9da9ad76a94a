// Several pollers draining one queue, each with its own batch of events in flight.
import { Poller, type PollerDeps } from './poller.js';

export class PollerFleet {
  private readonly pollers: Poller[];

  constructor(deps: PollerDeps, count: number) {
    this.pollers = Array.from({ length: count }, () => new Poller(deps));
    deps.queue.onChange(() => this.wake());
  }

  start(): void {
    for (const p of this.pollers) p.start();
  }

  /** Wakes every poller to look at the queue again (new events, or the clock jumped). */
  wake(): void {
    for (const p of this.pollers) p.signal.fire();
  }

  /** Stops or restarts leasing (operators draining a node, benchmarks separating accept from drain). */
  setPaused(paused: boolean): void {
    for (const p of this.pollers) p.paused = paused;
    this.wake();
  }

  get paused(): boolean {
    return this.pollers[0]?.paused ?? false;
  }

  /** Stops leasing and waits for the events in flight to settle. */
  async stop(): Promise<void> {
    await Promise.all(this.pollers.map((p) => p.stop()));
  }
}
