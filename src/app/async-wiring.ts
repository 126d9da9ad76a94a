// How the pollers see functions: their async settings, and where a destination ARN delivers.
import type { InvokeService } from '../invoke/index.js';
import type { Account } from '../model/index.js';
import { parseFunctionName } from '../model/index.js';
import type { AsyncPolicy, DeliveryTarget } from '../poller/index.js';
import type { MetadataStore } from '../store/index.js';

/** Lambda's defaults: two retries, events kept up to six hours. */
const defaultRetries = 2;
const defaultMaxAgeSeconds = 21_600;

export function asyncPolicy(
  metadata: MetadataStore,
  invoke: InvokeService,
  name: string,
  qualifier: string | undefined,
): AsyncPolicy | undefined {
  if (invoke.timeoutOf(name, qualifier) === undefined) return undefined;
  void metadata;
  return { maxRetries: defaultRetries, maxAgeMs: defaultMaxAgeSeconds * 1000 };
}

/** A destination is a function ARN (checked when it was configured); it may have been deleted since. */
export function deliveryTarget(
  arn: string,
  account: Account,
  invoke: InvokeService,
  leaseMarginMs: number,
): DeliveryTarget {
  const ref = parseFunctionName(arn, account);
  const timeout = invoke.timeoutOf(ref.name, ref.qualifier) ?? 900;
  return { functionName: ref.name, qualifier: ref.qualifier, leaseMs: timeout * 1000 + leaseMarginMs };
}
