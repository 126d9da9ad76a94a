// What the worker hands a Runtime API server, and what it gets back.

export interface InvocationRequest {
  readonly requestId: string;
  readonly payload: Buffer;
  /** Epoch milliseconds at which the invocation times out (Lambda-Runtime-Deadline-Ms). */
  readonly deadlineMs: number;
  readonly invokedFunctionArn: string;
  readonly traceId: string;
  /** Client context as JSON text (already base64-decoded from X-Amz-Client-Context). */
  readonly clientContext?: string;
  /** Cognito identity as JSON text. */
  readonly cognitoIdentity?: string;
}

/** Function errors carry the body the runtime posted, normalised to Lambda's error JSON. */
export type InvocationOutcome =
  | { readonly kind: 'success'; readonly payload: Buffer }
  | { readonly kind: 'error'; readonly errorType: string; readonly payload: Buffer };

export type InitOutcome =
  | { readonly kind: 'ready' }
  | { readonly kind: 'init-error'; readonly errorType: string; readonly payload: Buffer };
