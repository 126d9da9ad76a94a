// A poller leases events from the queue, runs each through the same invoke path as synchronous calls
// (so concurrency limits apply), and settles it only after the outcome is known: retried, finished with
// destination and dead-letter deliveries enqueued in the same commit, or dropped with a reason.
import { ApiError } from '../model/index.js';
import type { EventQueue, LeasedEvent, NewEvent, Settlement } from '../queue/index.js';
import type { Clock, Logger } from '../shared/index.js';
import { invocationRecord } from './invocation-record.js';
import { functionErrorDelayMs, throttleDelayMs } from './retry-schedule.js';
import { Signal } from './signal.js';

/** A function's asynchronous invocation settings (EventInvokeConfig plus DeadLetterConfig). */
export interface AsyncPolicy {
  readonly maxRetries: number;
  readonly maxAgeMs: number;
  readonly onSuccess?: string;
  readonly onFailure?: string;
  readonly deadLetter?: string;
}

/** An attempt that reached the function. */
export interface AttemptResult {
  readonly functionError: boolean;
  readonly executedVersion: string;
  readonly payload: Buffer;
}

/** Where a destination ARN delivers: a Kiln function, possibly one that no longer exists. */
export interface DeliveryTarget {
  readonly functionName: string;
  readonly qualifier: string | undefined;
  readonly leaseMs: number;
}

export interface PollerDeps {
  readonly queue: EventQueue;
  readonly clock: Clock;
  readonly log: Logger;
  /** Runs one attempt; throws ApiError when it never reached the function (throttled, not found, …). */
  invoke(event: LeasedEvent): Promise<AttemptResult>;
  /** The settings for an account's function and qualifier; undefined when either no longer exists. */
  policy(accountId: string, functionName: string, qualifier: string | undefined): AsyncPolicy | undefined;
  /**
   * Where a destination of an account's function delivers: a function of that same account, or undefined
   * when the ARN names none (configuration refuses such ARNs; this keeps a delivery from ever leaving it).
   */
  target(accountId: string, destinationArn: string): DeliveryTarget | undefined;
  functionArn(accountId: string, functionName: string, qualifier: string | undefined): string;
  newId(): string;
  /** Events one poller runs at once. */
  readonly batchSize: number;
}

/** The longest a poller sleeps without a wake-up; a safety net, not the mechanism. */
const maxIdleMs = 30_000;
/** The excerpt of a response kept with an outcome. */
const detailBytes = 1024;

export class Poller {
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  /** While paused a poller leases nothing; what it already holds finishes. */
  paused = false;
  private loopDone: Promise<void> = Promise.resolve();
  readonly signal = new Signal();

  constructor(private readonly d: PollerDeps) {}

  start(): void {
    this.loopDone = this.loop();
  }

  /** Stops leasing; resolves when the events in flight are settled. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.signal.fire();
    await this.loopDone;
    await Promise.all(this.running);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const free = this.paused ? 0 : this.d.batchSize - this.running.size;
      let wait = maxIdleMs;
      if (free > 0) {
        const now = this.d.clock.now();
        const leased = this.d.queue.lease(free, now);
        for (const event of leased) this.track(this.process(event));
        if (leased.length === free) continue;
        const next = this.d.queue.nextVisibleAt();
        if (next !== undefined) wait = Math.min(maxIdleMs, Math.max(1, next - now));
      }
      await this.signal.wait(wait);
    }
  }

  private track(p: Promise<void>): void {
    const tracked = p
      .catch((e: unknown) => this.d.log.error({ err: e }, 'async event processing failed'))
      .finally(() => {
        this.running.delete(tracked);
        this.signal.fire();
      });
    this.running.add(tracked);
  }

  private async process(event: LeasedEvent): Promise<void> {
    const policy = this.d.policy(event.accountId, event.functionName, event.qualifier);
    if (!policy) {
      return this.settle(event, {
        kind: 'done',
        outcome: { condition: 'FunctionNotFound', attempts: event.attempts - 1, detail: notFound(event) },
        followUps: [],
      });
    }
    if (this.d.clock.now() - event.enqueuedAt > policy.maxAgeMs) {
      return this.fail(event, policy, 'EventAgeExceeded', event.attempts - 1, undefined);
    }
    let result: AttemptResult;
    try {
      result = await this.d.invoke(event);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'ResourceNotFoundException') {
        return this.settle(event, {
          kind: 'done',
          outcome: { condition: 'FunctionNotFound', attempts: event.attempts - 1, detail: e.message },
          followUps: [],
        });
      }
      // Throttled, or the platform could not place it: not an invocation; back off and keep the event.
      if (!(e instanceof ApiError && e.code === 'TooManyRequestsException')) {
        this.d.log.warn({ err: e, requestId: event.id }, 'async attempt failed before reaching the function');
      }
      return this.retry(event, policy, throttleDelayMs(event.throttles), true);
    }
    if (!result.functionError) {
      const followUps = policy.onSuccess
        ? this.record(policy.onSuccess, event, 'Success', event.attempts, result)
        : [];
      return this.settle(event, {
        kind: 'done',
        outcome: { condition: 'Success', attempts: event.attempts, detail: excerpt(result.payload) },
        followUps,
      });
    }
    if (event.attempts > policy.maxRetries) {
      return this.fail(event, policy, 'RetriesExhausted', event.attempts, result);
    }
    this.d.log.debug(
      { requestId: event.id, attempts: event.attempts, error: excerpt(result.payload) },
      'async attempt failed in the function: retrying',
    );
    return this.retry(event, policy, functionErrorDelayMs(event.attempts), false);
  }

  /** Schedules the next attempt, never later than the moment the event's age runs out. */
  private retry(event: LeasedEvent, policy: AsyncPolicy, delayMs: number, throttled: boolean): Promise<void> {
    const visibleAt = Math.min(this.d.clock.now() + delayMs, event.enqueuedAt + policy.maxAgeMs + 1);
    return this.settle(event, { kind: 'retry', visibleAt, throttled });
  }

  private fail(
    event: LeasedEvent,
    policy: AsyncPolicy,
    condition: 'RetriesExhausted' | 'EventAgeExceeded',
    attempts: number,
    last: AttemptResult | undefined,
  ): Promise<void> {
    const followUps: NewEvent[] = [];
    if (policy.onFailure) followUps.push(...this.record(policy.onFailure, event, condition, attempts, last));
    if (policy.deadLetter) followUps.push(...this.delivery(policy.deadLetter, event, event.payload));
    const detail =
      condition === 'EventAgeExceeded'
        ? `Event older than MaximumEventAgeInSeconds (${policy.maxAgeMs / 1000}) after ${attempts} attempts.`
        : excerpt(last?.payload ?? Buffer.alloc(0));
    return this.settle(event, { kind: 'done', outcome: { condition, attempts, detail }, followUps });
  }

  private record(
    destination: string,
    event: LeasedEvent,
    condition: 'Success' | 'RetriesExhausted' | 'EventAgeExceeded',
    attempts: number,
    last: AttemptResult | undefined,
  ): NewEvent[] {
    const payload = invocationRecord({
      requestId: event.id,
      functionArn: this.d.functionArn(event.accountId, event.functionName, event.qualifier ?? '$LATEST'),
      condition,
      approximateInvokeCount: attempts,
      requestPayload: event.payload,
      ...(last ? { response: last } : {}),
      timestamp: this.d.clock.now(),
    });
    return this.delivery(destination, event, payload);
  }

  /** The delivery to `destination`, an event of the same account as `from`; none for a foreign ARN. */
  private delivery(destination: string, from: LeasedEvent, payload: Buffer): NewEvent[] {
    const t = this.d.target(from.accountId, destination);
    if (!t) {
      this.d.log.warn(
        { requestId: from.id, account: from.accountId, destination },
        "async delivery skipped: the destination is not a function of the event's account",
      );
      return [];
    }
    return [
      {
        id: this.d.newId(),
        accountId: from.accountId,
        functionName: t.functionName,
        qualifier: t.qualifier,
        payload,
        enqueuedAt: this.d.clock.now(),
        leaseMs: t.leaseMs,
      },
    ];
  }

  private async settle(event: LeasedEvent, settlement: Settlement): Promise<void> {
    const owned = await this.d.queue.settle(event, settlement, this.d.clock.now());
    if (!owned) {
      this.d.log.warn({ requestId: event.id }, 'async event lease expired before it was settled');
    }
  }
}

function notFound(event: LeasedEvent): string {
  const q = event.qualifier === undefined ? '' : `:${event.qualifier}`;
  return `Function not found: ${event.functionName}${q}`;
}

function excerpt(payload: Buffer): string {
  return payload.subarray(0, detailBytes).toString('utf8');
}
