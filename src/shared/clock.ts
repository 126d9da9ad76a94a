// Time is injected so that retry, lease and keep-alive logic is testable without sleeping.
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * Wall-clock time that tests may move forward (`KILN_TEST_ASYNC_CLOCK`), so a running platform walks
 * through hours of retry and event-age schedule without waiting. Listeners hear each jump.
 */
export class AdjustableClock implements Clock {
  private offset = 0;
  private readonly listeners: Array<() => void> = [];
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
    for (const l of this.listeners) l();
  }
  onAdvance(listener: () => void): void {
    this.listeners.push(listener);
  }
}
