// Asynchronous invocation settings of a function, version or alias (Put/Update/Get/Delete/
// ListFunctionEventInvokeConfigs), with Lambda's limits, defaults and error wording.
import { arnService, functionTarget, notHostedYet, type FunctionTarget } from './destination-arn.js';
import { invalidParameter, notFound, type ApiError } from './errors.js';
import { functionArn, type Account } from './function-name.js';
import type { Violations } from './function-rules.js';

export interface EventInvokeConfigRecord {
  readonly functionName: string;
  /** '$LATEST' (also for an unqualified request), a version number, or an alias name. */
  readonly qualifier: string;
  readonly maximumRetryAttempts?: number; // 0..2; absent = Lambda's default 2
  readonly maximumEventAgeInSeconds?: number; // 60..21600; absent = default 21600
  readonly onSuccess?: string; // destination ARN
  readonly onFailure?: string; // destination ARN
  /** Epoch milliseconds of the last Put/Update. */
  readonly lastModified: number;
}

/** What Lambda does for a setting a configuration leaves out (or when there is no configuration). */
export const asyncInvokeDefaults = {
  maximumRetryAttempts: 2,
  maximumEventAgeInSeconds: 21_600,
} as const;

export const asyncInvokeLimits = {
  retryAttemptsMin: 0,
  retryAttemptsMax: 2,
  eventAgeMin: 60,
  eventAgeMax: 21_600,
  destinationMaxLength: 350,
  listMaxItems: 50,
} as const;

/** What an asynchronous invocation runs with: Lambda's defaults for every setting left out. */
export interface AsyncInvokeSettings {
  readonly maximumRetryAttempts: number;
  readonly maximumEventAgeInSeconds: number;
  readonly onSuccess?: string;
  readonly onFailure?: string;
}

/** The settings of a configuration (or of none) with Lambda's defaults filled in. */
export function effectiveAsyncSettings(rec: EventInvokeConfigRecord | undefined): AsyncInvokeSettings {
  return {
    maximumRetryAttempts: rec?.maximumRetryAttempts ?? asyncInvokeDefaults.maximumRetryAttempts,
    maximumEventAgeInSeconds: rec?.maximumEventAgeInSeconds ?? asyncInvokeDefaults.maximumEventAgeInSeconds,
    ...(rec?.onSuccess === undefined ? {} : { onSuccess: rec.onSuccess }),
    ...(rec?.onFailure === undefined ? {} : { onFailure: rec.onFailure }),
  };
}

/** The settings one Put or Update request carries; `undefined` is "not in the request". */
export interface EventInvokeSettings {
  readonly maximumRetryAttempts?: number | undefined;
  readonly maximumEventAgeInSeconds?: number | undefined;
  readonly onSuccess?: string | undefined;
  readonly onFailure?: string | undefined;
}

const destinationPattern =
  /^$|^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9-])+:([a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)$/;
// As Lambda prints it in its ValidationException.
const destinationPatternText =
  '^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)';

/** Value constraints (ValidationException), checked before anything is looked up, as Lambda does. */
export function checkEventInvokeFields(s: EventInvokeSettings, v: Violations): void {
  const l = asyncInvokeLimits;
  v.range('maximumRetryAttempts', s.maximumRetryAttempts, l.retryAttemptsMin, l.retryAttemptsMax);
  v.range('maximumEventAgeInSeconds', s.maximumEventAgeInSeconds, l.eventAgeMin, l.eventAgeMax);
  for (const [field, arn] of [
    ['destinationConfig.onSuccess.destination', s.onSuccess],
    ['destinationConfig.onFailure.destination', s.onFailure],
  ] as const) {
    v.maxLength(field, arn, l.destinationMaxLength);
    v.pattern(field, arn, destinationPattern, destinationPatternText);
  }
}

/** Lambda refuses a Put or Update that names no setting at all. */
export function requireSomeSetting(given: boolean): void {
  if (!given) {
    throw invalidParameter('You must specify at least one of error handling or destination setting.');
  }
}

/**
 * Semantic rules for the destinations of `functionName`'s configuration: a function of this region and
 * account other than itself, which exists (`exists`). Kinds Lambda takes but Kiln does not host are
 * refused here, naming the kind, so nothing is accepted that delivery could never honour.
 */
export function checkDestinations(
  s: Pick<EventInvokeSettings, 'onSuccess' | 'onFailure'>,
  account: Account,
  functionName: string,
  exists: (target: FunctionTarget) => boolean,
): void {
  for (const [side, arn] of [
    ['OnSuccess', s.onSuccess],
    ['OnFailure', s.onFailure],
  ] as const) {
    if (!arn) continue;
    const target = functionTarget(arn, account);
    if (target) {
      if (target.functionName === functionName) {
        throw invalidParameter("You can't specify the function as a destination for itself.");
      }
      if (!exists(target)) {
        throw invalidParameter(
          `The destination ARN ${arn} is invalid: no such function, version or alias; create it first.`,
        );
      }
      continue;
    }
    const service = arnService(arn);
    const hosted = notHostedYet(arn);
    // S3 is an on-failure destination only; on success Lambda refuses it like any other service.
    if (hosted && !(service === 's3' && side === 'OnSuccess')) {
      throw invalidParameter(`${side} destination ${arn}: ${hosted}.`);
    }
    if (service === 'lambda') {
      throw invalidParameter(
        `The destination ARN ${arn} is invalid: Kiln delivers only to functions of region ${account.region} and account ${account.accountId}.`,
      );
    }
    const shown = (name: string, value: string | undefined): string =>
      value ? `${name}(destination=${value})` : 'null';
    throw invalidParameter(
      `The provided destination config DestinationConfig(onSuccess=${shown('OnSuccess', s.onSuccess)}, onFailure=${shown('OnFailure', s.onFailure)}) is invalid. Use a Lambda function ARN.`,
    );
  }
}

/** Get, Update and Delete of a configuration that is not there. */
export function eventInvokeConfigNotFound(
  account: Account,
  functionName: string,
  qualifier: string,
): ApiError {
  return notFound(
    `The function ${functionArn(account, functionName, qualifier)} doesn't have an EventInvokeConfig`,
  );
}

/** Put, Update and List on a function, version or alias that does not exist: Lambda's words, then which. */
export function eventInvokeFunctionNotFound(
  account: Account,
  functionName: string,
  qualifier?: string,
): ApiError {
  return notFound(
    `The function doesn't exist. (${functionArn(account, functionName, qualifier)}: create or publish it first.)`,
  );
}

/** Orders qualifiers as listings show them: `$LATEST`, then versions by number, then aliases by name. */
export function compareQualifiers(a: string, b: string): number {
  const rank = (q: string): number => (q === '$LATEST' ? 0 : /^[0-9]+$/.test(q) ? 1 : 2);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 1) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}
