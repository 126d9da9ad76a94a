// The event queue port: accepted `Event` invocations, held durably until a poller settles them.
// Backends live beside this file (sqlite/); only src/app/ picks one.

/** An event as accepted: an Invoke with InvocationType Event, or a destination / dead-letter delivery. */
export interface NewEvent {
  /** The request id answered with the 202; the function sees it as its request id on every attempt. */
  readonly id: string;
  /** The account that invoked: the event runs there, and its deliveries go to functions of that account. */
  readonly accountId: string;
  readonly functionName: string;
  /** The qualifier as invoked (a version or an alias); undefined for an unqualified invoke. */
  readonly qualifier: string | undefined;
  readonly payload: Buffer;
  /** Epoch milliseconds on the queue's clock. */
  readonly enqueuedAt: number;
  /** How long one lease lasts: longer than the function's timeout, so a live attempt keeps its lease. */
  readonly leaseMs: number;
}

/** An event handed to one poller until it settles it or the lease runs out. */
export interface LeasedEvent extends NewEvent {
  /** Invocation attempts started, this one included (Lambda's approximateInvokeCount). */
  readonly attempts: number;
  /** Throttled or failed-to-place attempts so far: the exponent of the backoff. */
  readonly throttles: number;
  /** Proves the lease is still this poller's when it settles. */
  readonly leaseToken: string;
}

/** How an event left the queue, as `kiln async` and the visibility API report it. */
export type Condition =
  'Success' | 'RetriesExhausted' | 'EventAgeExceeded' | 'FunctionNotFound' | 'PayloadRejected';

export interface Outcome {
  readonly condition: Condition;
  /** Invocations that reached the function (an event dropped before its attempt ran has one fewer). */
  readonly attempts: number;
  /** The function's response (truncated) or why the event was dropped. */
  readonly detail: string;
}

export type Settlement =
  /** The event is finished; `followUps` (destination and dead-letter deliveries) are enqueued atomically. */
  | { readonly kind: 'done'; readonly outcome: Outcome; readonly followUps: readonly NewEvent[] }
  /**
   * Try again at `visibleAt`. `throttled`: the attempt never reached the function, so it does not count as
   * an invocation and raises the backoff exponent instead.
   */
  | { readonly kind: 'retry'; readonly visibleAt: number; readonly throttled: boolean };

/** What happened to one event, while queued or after. */
export interface EventStatus {
  readonly id: string;
  readonly accountId: string;
  readonly functionName: string;
  readonly qualifier: string | undefined;
  readonly state: 'queued' | 'in-flight' | 'done';
  readonly attempts: number;
  readonly enqueuedAt: number;
  readonly condition?: Condition;
  readonly detail?: string;
  readonly finishedAt?: number;
}

export interface FunctionQueueStats {
  readonly accountId: string;
  readonly functionName: string;
  readonly depth: number;
  readonly inFlight: number;
  /** Age of the oldest event still queued, in ms on the queue's clock. */
  readonly oldestAgeMs: number;
}

export interface QueueStats {
  readonly depth: number;
  readonly inFlight: number;
  readonly oldestAgeMs: number;
  readonly functions: readonly FunctionQueueStats[];
  /** Events that left without success, by condition, since the queue was created. */
  readonly dropped: Readonly<Record<string, number>>;
}

export interface EventQueue {
  /** Resolves once every event is durable (the caller may answer 202); concurrent calls share a commit. */
  enqueue(events: readonly NewEvent[]): Promise<void>;
  /**
   * Leases up to `max` events visible at `now`, oldest first: each becomes invisible for its `leaseMs` and
   * its attempt count goes up by one.
   */
  lease(max: number, now: number): LeasedEvent[];
  /** Records how a leased event ended; false when its lease had expired and another poller owns it. */
  settle(event: LeasedEvent, settlement: Settlement, now: number): Promise<boolean>;
  /** When the next event becomes visible (leases included); undefined when the queue is empty. */
  nextVisibleAt(): number | undefined;
  /** Makes every leased event visible at `now`: the leases of a process that is gone. Returns how many. */
  releaseLeases(now: number): number;
  stats(now: number): QueueStats;
  status(id: string): EventStatus | undefined;
  /** An account's function's most recently finished events, newest first (as long as outcomes are kept). */
  recent(accountId: string, functionName: string, limit: number): EventStatus[];
  /** Called after every commit that may have made an event visible. */
  onChange(listener: () => void): void;
  /** Waits for pending commits, then closes. */
  close(): Promise<void>;
}
