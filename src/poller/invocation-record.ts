// The invocation record Lambda sends to a destination, in its exact shape (version 1.0).
import type { Condition } from '../queue/index.js';

export interface RecordInput {
  readonly requestId: string;
  /** The function ARN as invoked, with its qualifier (`:$LATEST` when unqualified). */
  readonly functionArn: string;
  readonly condition: Extract<Condition, 'Success' | 'RetriesExhausted' | 'EventAgeExceeded'>;
  readonly approximateInvokeCount: number;
  readonly requestPayload: Buffer;
  /** The last attempt's answer; absent when no attempt reached the function. */
  readonly response?: {
    readonly executedVersion: string;
    readonly functionError: boolean;
    readonly payload: Buffer;
  };
  readonly timestamp: number;
}

export function invocationRecord(r: RecordInput): Buffer {
  const record: Record<string, unknown> = {
    version: '1.0',
    timestamp: new Date(r.timestamp).toISOString(),
    requestContext: {
      requestId: r.requestId,
      functionArn: r.functionArn,
      condition: r.condition,
      approximateInvokeCount: r.approximateInvokeCount,
    },
    requestPayload: parsed(r.requestPayload),
  };
  if (r.response) {
    record.responseContext = {
      statusCode: 200,
      executedVersion: r.response.executedVersion,
      ...(r.response.functionError ? { functionError: 'Unhandled' } : {}),
    };
    record.responsePayload = parsed(r.response.payload);
  }
  return Buffer.from(JSON.stringify(record));
}

/** The payload as JSON when it is JSON (it always is for requests), else as a string. */
function parsed(payload: Buffer): unknown {
  const text = payload.toString('utf8');
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
