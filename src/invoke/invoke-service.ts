// The Invoke API: resolves `name[:qualifier]`, enforces Lambda's request rules, and runs the invocation
// on a worker chosen by placement.
import { randomBytes } from 'node:crypto';
import {
  ApiError,
  functionArn,
  notFound,
  parseFunctionName,
  resolveQualifier,
  validationError,
  type Account,
  type FunctionRecord,
} from '../model/index.js';
import type { Fleet } from '../placement/index.js';
import { newId, type Clock, type Logger } from '../shared/index.js';
import type { MetadataStore } from '../store/index.js';
import type { FunctionSpec } from '../worker/index.js';

export interface InvokeServiceDeps {
  readonly account: Account;
  readonly metadata: MetadataStore;
  readonly fleet: Fleet;
  readonly clock: Clock;
  readonly log: Logger;
}

export interface InvokeInput {
  readonly functionName: string;
  readonly qualifier: string | undefined;
  readonly invocationType: string | undefined;
  readonly logType: string | undefined;
  readonly clientContext: string | undefined;
  readonly payload: Buffer;
}

export interface InvokeOutput {
  readonly status: 200 | 202 | 204;
  readonly requestId: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** X-Amz-Client-Context is at most 3,583 bytes of base64, as Lambda documents. */
const maxClientContext = 3583;

export class InvokeService {
  constructor(private readonly d: InvokeServiceDeps) {}

  async invoke(input: InvokeInput): Promise<InvokeOutput> {
    const ref = resolveQualifier(parseFunctionName(input.functionName, this.d.account), input.qualifier);
    const type = input.invocationType ?? 'RequestResponse';
    if (type !== 'RequestResponse' && type !== 'Event' && type !== 'DryRun') {
      throw validationError(
        'invocationType',
        type,
        'Member must satisfy enum value set: [Event, RequestResponse, DryRun]',
      );
    }
    const logType = input.logType ?? 'None';
    if (logType !== 'None' && logType !== 'Tail') {
      throw validationError('logType', logType, 'Member must satisfy enum value set: [Tail, None]');
    }
    const record = this.d.metadata.get(ref.name);
    if (!record || (ref.qualifier !== undefined && ref.qualifier !== '$LATEST')) {
      throw notFound(`Function not found: ${functionArn(this.d.account, ref.name, ref.qualifier)}`);
    }
    const requestId = newId();
    if (type === 'DryRun') return { status: 204, requestId, headers: {}, body: Buffer.alloc(0) };
    if (type === 'Event') {
      throw new ApiError(
        'NotImplementedException',
        'Kiln does not accept Event (asynchronous) invocations yet; use RequestResponse.',
      );
    }
    const clientContext = decodeClientContext(input.clientContext);
    const payload = input.payload.length === 0 ? Buffer.from('{}') : input.payload;
    checkJson(payload);

    const spec = toSpec(record, this.d.account);
    const now = this.d.clock.now();
    const result = await this.d.fleet.invoke(spec, {
      requestId,
      payload,
      deadlineMs: now + spec.timeout * 1000,
      invokedFunctionArn: functionArn(this.d.account, ref.name, ref.qualifier),
      traceId: traceId(now),
      ...(clientContext !== undefined ? { clientContext } : {}),
    });
    const headers: Record<string, string> = {
      'X-Amz-Executed-Version': spec.version,
      'Content-Type': 'application/json',
    };
    if (result.outcome.kind === 'error') headers['X-Amz-Function-Error'] = 'Unhandled';
    if (logType === 'Tail') headers['X-Amz-Log-Result'] = result.logTail;
    return { status: 200, requestId, headers, body: result.outcome.payload };
  }
}

export function toSpec(r: FunctionRecord, account: Account): FunctionSpec {
  return {
    functionName: r.config.name,
    functionArn: functionArn(account, r.config.name),
    version: '$LATEST',
    revisionId: r.revisionId,
    runtime: r.config.runtime,
    handler: r.config.handler,
    memorySize: r.config.memorySize,
    timeout: r.config.timeout,
    ephemeralStorage: r.config.ephemeralStorage,
    environment: r.config.environment,
    codeSha256Hex: r.code.sha256Hex,
    region: account.region,
  };
}

function decodeClientContext(b64: string | undefined): string | undefined {
  if (b64 === undefined || b64 === '') return undefined;
  if (b64.length > maxClientContext) {
    throw new ApiError(
      'InvalidParameterValueException',
      `Client context must be at most ${maxClientContext} bytes of base64.`,
    );
  }
  const text = Buffer.from(b64, 'base64').toString('utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object') throw new Error('not an object');
  } catch {
    throw new ApiError(
      'InvalidRequestContentException',
      'Client context must be a valid Base64-encoded JSON object.',
    );
  }
  return text;
}

function checkJson(payload: Buffer): void {
  try {
    JSON.parse(payload.toString('utf8'));
  } catch (e) {
    throw new ApiError(
      'InvalidRequestContentException',
      `Could not parse request body into json: Could not parse payload into json: ${(e as Error).message}`,
    );
  }
}

/** An X-Ray style trace header, as Lambda passes in Lambda-Runtime-Trace-Id. */
function traceId(nowMs: number): string {
  const epoch = Math.floor(nowMs / 1000)
    .toString(16)
    .padStart(8, '0');
  return `Root=1-${epoch}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
}
