// How the pollers see functions: their async settings, and where a destination ARN delivers.
import type { InvokeService } from '../invoke/index.js';
import { classifyQualifier, effectiveAsyncSettings, functionTarget, type Account } from '../model/index.js';
import type { Metrics } from '../observability/index.js';
import type { AsyncPolicy, DeliveryTarget } from '../poller/index.js';
import type { EventQueue, FunctionQueueStats } from '../queue/index.js';
import type { Clock } from '../shared/index.js';
import type { AccountMetadata } from '../store/index.js';

/**
 * The EventInvokeConfig of the qualifier as invoked (unqualified reads `$LATEST`'s) with Lambda's defaults,
 * and the DeadLetterConfig of the version that runs. Undefined when the function or qualifier is gone.
 */
export function asyncPolicy(
  metadata: AccountMetadata,
  invoke: InvokeService,
  name: string,
  qualifier: string | undefined,
): AsyncPolicy | undefined {
  const record = invoke.recordOf(name, qualifier);
  if (!record) return undefined;
  const q = classifyQualifier(qualifier);
  const key = q.kind === 'latest' ? '$LATEST' : q.kind === 'version' ? q.version : q.name;
  const s = effectiveAsyncSettings(metadata.getEventInvokeConfig(name, key));
  const deadLetter = record.config.deadLetterTargetArn;
  return {
    maxRetries: s.maximumRetryAttempts,
    maxAgeMs: s.maximumEventAgeInSeconds * 1000,
    ...(s.onSuccess !== undefined ? { onSuccess: s.onSuccess } : {}),
    ...(s.onFailure !== undefined ? { onFailure: s.onFailure } : {}),
    ...(deadLetter !== undefined ? { deadLetter } : {}),
  };
}

/**
 * A destination is a function ARN of the configuring account (checked when it was configured); the
 * function may have been deleted since, and the delivery is then dropped as FunctionNotFound when its turn
 * comes. An ARN of any other account delivers nowhere.
 */
export function deliveryTarget(
  arn: string,
  account: Account,
  invoke: InvokeService,
  leaseMarginMs: number,
): DeliveryTarget | undefined {
  const t = functionTarget(arn, account);
  if (!t) return undefined;
  const timeout = invoke.recordOf(t.functionName, t.qualifier)?.config.timeout ?? 900;
  return { functionName: t.functionName, qualifier: t.qualifier, leaseMs: timeout * 1000 + leaseMarginMs };
}

/** The async queue in `/metrics`: depth, events in flight and oldest age per function, drops by reason. */
export function watchQueue(metrics: Metrics, queue: EventQueue, clock: Clock): void {
  const perFunction = (
    pick: (f: FunctionQueueStats) => number,
    combine: (a: number, b: number) => number,
  ) => {
    const values = new Map<string, { labels: { account: string; function: string }; value: number }>();
    for (const f of queue.stats(clock.now()).functions) {
      const labels = metrics.functionLabels(f.accountId, f.functionName);
      const key = `${labels.account}:${labels.function}`;
      const prev = values.get(key);
      values.set(key, { labels, value: prev === undefined ? pick(f) : combine(prev.value, pick(f)) });
    }
    return [...values.values()];
  };
  const sum = (a: number, b: number): number => a + b;
  metrics.gauge(
    'kiln_async_queue_depth',
    'Accepted Event invocations not finished yet (queued or running), per function.',
    () => perFunction((f) => f.depth, sum),
    ['account', 'function'],
  );
  metrics.gauge(
    'kiln_async_events_in_flight',
    'Async events leased by a poller and running now, per function.',
    () => perFunction((f) => f.inFlight, sum),
    ['account', 'function'],
  );
  metrics.gauge(
    'kiln_async_oldest_event_age_seconds',
    'Age of the oldest unfinished async event, per function.',
    () => perFunction((f) => f.oldestAgeMs / 1000, Math.max),
    ['account', 'function'],
  );
  metrics.counterFrom(
    'kiln_async_events_dropped_total',
    'Async events that finished without success, by condition (RetriesExhausted, EventAgeExceeded, FunctionNotFound).',
    () =>
      Object.entries(queue.stats(clock.now()).dropped).map(([condition, value]) => ({
        labels: { condition },
        value,
      })),
    ['condition'],
  );
}
