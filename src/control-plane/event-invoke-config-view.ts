// Renders a stored configuration as Lambda's FunctionEventInvokeConfig JSON.
import { functionArn, type Account, type EventInvokeConfigRecord } from '../model/index.js';

export interface EventInvokeConfigView {
  /** Epoch seconds with a fraction: the JSON protocol's timestamp, which the SDKs parse as a Date. */
  readonly LastModified: number;
  /** Always qualified, `…:function:f:$LATEST` for an unqualified configuration. */
  readonly FunctionArn: string;
  readonly MaximumRetryAttempts?: number;
  readonly MaximumEventAgeInSeconds?: number;
  /** Both sides always present, empty when unset, as Lambda answers. */
  readonly DestinationConfig: {
    readonly OnSuccess: { readonly Destination?: string };
    readonly OnFailure: { readonly Destination?: string };
  };
}

export function eventInvokeConfigView(account: Account, r: EventInvokeConfigRecord): EventInvokeConfigView {
  const side = (arn: string | undefined) => (arn === undefined ? {} : { Destination: arn });
  return {
    LastModified: r.lastModified / 1000,
    FunctionArn: functionArn(account, r.functionName, r.qualifier),
    // Settings left out stay out: Lambda does not fill in its defaults.
    ...(r.maximumRetryAttempts === undefined ? {} : { MaximumRetryAttempts: r.maximumRetryAttempts }),
    ...(r.maximumEventAgeInSeconds === undefined
      ? {}
      : { MaximumEventAgeInSeconds: r.maximumEventAgeInSeconds }),
    DestinationConfig: { OnSuccess: side(r.onSuccess), OnFailure: side(r.onFailure) },
  };
}
