// A wake-up a poller sleeps on: fired by new events, settled attempts, clock jumps or shutdown.
// A fire with nobody waiting is remembered, so a wake-up between two waits is never lost.
export class Signal {
  private waiters: Array<() => void> = [];
  private pending = false;

  /** Resolves on the next `fire()` (or at once if one came since the last wait), or after `ms`. */
  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      }, ms);
      this.waiters.push(done);
    });
  }

  fire(): void {
    if (this.waiters.length === 0) {
      this.pending = true;
      return;
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
