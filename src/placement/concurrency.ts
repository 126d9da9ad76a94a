// Lambda's concurrency model for one account: functions with reserved concurrency draw only on their
// reservation; all others share what the account limit leaves unreserved. New execution environments are
// also rate-limited per function (Lambda: 1,000 every 10 s).
import { ApiError } from '../model/index.js';
import type { Clock } from '../shared/index.js';

export type ThrottleReason =
  | 'ConcurrentInvocationLimitExceeded'
  | 'ReservedFunctionConcurrentInvocationLimitExceeded'
  | 'FunctionInvocationRateLimitExceeded'
  | 'ReservedFunctionInvocationRateLimitExceeded';

export const throttled = (reason: ThrottleReason): ApiError =>
  new ApiError('TooManyRequestsException', 'Rate Exceeded.', { Reason: reason });

export interface ConcurrencyOptions {
  readonly accountLimit: number;
  /** Reserved concurrency of every function that has one, summed (kept current by the caller). */
  readonly totalReserved: () => number;
}

/** Counts in-flight invocations; `acquire` throws TooManyRequestsException (429) past a limit. */
export class ConcurrencyLimiter {
  private unreservedInFlight = 0;
  private readonly reservedInFlight = new Map<string, number>();

  constructor(private readonly o: ConcurrencyOptions) {}

  /** Takes a slot for one invocation of `functionName`; call the returned function exactly once when it ends. */
  acquire(functionName: string, reserved: number | undefined): () => void {
    if (reserved !== undefined) {
      const n = this.reservedInFlight.get(functionName) ?? 0;
      if (n >= reserved) throw throttled('ReservedFunctionConcurrentInvocationLimitExceeded');
      this.reservedInFlight.set(functionName, n + 1);
      return once(() => {
        const left = (this.reservedInFlight.get(functionName) ?? 1) - 1;
        if (left <= 0) this.reservedInFlight.delete(functionName);
        else this.reservedInFlight.set(functionName, left);
      });
    }
    if (this.unreservedInFlight >= this.unreservedLimit())
      throw throttled('ConcurrentInvocationLimitExceeded');
    this.unreservedInFlight++;
    return once(() => this.unreservedInFlight--);
  }

  unreservedLimit(): number {
    return Math.max(0, this.o.accountLimit - this.o.totalReserved());
  }

  inFlight(): number {
    let n = this.unreservedInFlight;
    for (const v of this.reservedInFlight.values()) n += v;
    return n;
  }
}

export interface ScalingRateOptions {
  readonly clock: Clock;
  /** New environments one function may start per window (Lambda: 1,000). */
  readonly perWindow: number;
  /** Lambda: 10 s. */
  readonly windowMs: number;
}

/** A token bucket per function: `perWindow` tokens, refilled continuously over `windowMs`. */
export class ScalingRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly o: ScalingRateOptions) {}

  /** Admits one new environment for the function, or throws a 429 with Lambda's rate-limit reason. */
  admit(functionName: string, reserved: boolean): void {
    const now = this.o.clock.now();
    const b = this.buckets.get(functionName) ?? { tokens: this.o.perWindow, at: now };
    b.tokens = Math.min(this.o.perWindow, b.tokens + ((now - b.at) * this.o.perWindow) / this.o.windowMs);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(functionName, b);
      throw throttled(
        reserved ? 'ReservedFunctionInvocationRateLimitExceeded' : 'FunctionInvocationRateLimitExceeded',
      );
    }
    b.tokens -= 1;
    // A full bucket carries no information: forget it, so idle functions cost nothing.
    if (b.tokens >= this.o.perWindow) this.buckets.delete(functionName);
    else this.buckets.set(functionName, b);
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}
