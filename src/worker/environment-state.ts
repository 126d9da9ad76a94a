// The lifecycle of one execution environment. Illegal transitions throw: they are platform bugs.

export type EnvironmentState = 'starting' | 'initializing' | 'idle' | 'busy' | 'stopping' | 'stopped';

const allowed: Readonly<Record<EnvironmentState, readonly EnvironmentState[]>> = {
  starting: ['initializing', 'stopping'],
  initializing: ['idle', 'busy', 'stopping'],
  idle: ['busy', 'stopping'],
  busy: ['idle', 'stopping'],
  stopping: ['stopped'],
  stopped: [],
};

export class IllegalTransitionError extends Error {}

export class StateMachine {
  private current: EnvironmentState = 'starting';

  constructor(
    private readonly id: string,
    private readonly onChange?: (from: EnvironmentState, to: EnvironmentState) => void,
  ) {}

  get state(): EnvironmentState {
    return this.current;
  }

  to(next: EnvironmentState): void {
    if (!allowed[this.current].includes(next)) {
      throw new IllegalTransitionError(
        `environment ${this.id}: illegal transition ${this.current} → ${next}`,
      );
    }
    const from = this.current;
    this.current = next;
    this.onChange?.(from, next);
  }

  /** Moves to stopping unless already stopping or stopped; returns whether it moved. */
  stop(): boolean {
    if (this.current === 'stopping' || this.current === 'stopped') return false;
    this.to('stopping');
    return true;
  }
}
