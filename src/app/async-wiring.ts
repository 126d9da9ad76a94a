// How the pollers see functions: their async settings, and where a destination ARN delivers.
import type { InvokeService } from '../invoke/index.js';
import { classifyQualifier, effectiveAsyncSettings, functionTarget, type Account } from '../model/index.js';
import type { AsyncPolicy, DeliveryTarget } from '../poller/index.js';
import type { MetadataStore } from '../store/index.js';

/**
 * The EventInvokeConfig of the qualifier as invoked (unqualified reads `$LATEST`'s) with Lambda's defaults,
 * and the DeadLetterConfig of the version that runs. Undefined when the function or qualifier is gone.
 */
export function asyncPolicy(
  metadata: MetadataStore,
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
 * A destination is a function ARN of this account (checked when it was configured); the function may have
 * been deleted since, and the delivery is then dropped as FunctionNotFound when its turn comes.
 */
export function deliveryTarget(
  arn: string,
  account: Account,
  invoke: InvokeService,
  leaseMarginMs: number,
): DeliveryTarget {
  const t = functionTarget(arn, account) ?? { functionName: arn.split(':')[6] ?? arn };
  const timeout = invoke.recordOf(t.functionName, t.qualifier)?.config.timeout ?? 900;
  return { functionName: t.functionName, qualifier: t.qualifier, leaseMs: timeout * 1000 + leaseMarginMs };
}
