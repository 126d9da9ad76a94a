// The Invoke API: resolves `name[:qualifier]`, enforces Lambda's request rules, and runs the invocation
// on a worker chosen by placement.
import {
  ApiError,
  classifyQualifier,
  functionArn,
  pickAliasVersion,
  notFound,
  parseFunctionName,
  resolveQualifier,
  validationError,
  type Account,
  type FunctionRecord,
  type VersionRecord,
} from '../model/index.js';
import type { ConcurrencyLimiter, Fleet } from '../placement/index.js';
import type { EventQueue } from '../queue/index.js';
import { newId, randomHex, type Clock, type Logger } from '../shared/index.js';
import type { AccountMetadata } from '../store/index.js';
import type { FunctionSpec } from '../worker/index.js';

/** The invocations of one account: its functions, its concurrency, its events. */
export interface InvokeServiceDeps {
  readonly account: Account;
  /** The account's metadata: another account's functions are not reachable through it. */
  readonly metadata: AccountMetadata;
  readonly fleet: Fleet;
  readonly clock: Clock;
  readonly log: Logger;
  /** Uniform in [0, 1): picks an alias's version by weight. Tests may fix it. */
  readonly random?: () => number;
  /** This account's limit and reservations; a slot is held for the whole invocation. */
  readonly concurrency: ConcurrencyLimiter;
  /** Where `Event` invocations wait for a poller. */
  readonly queue: EventQueue;
  /** The queue's clock (tests may move it forward). */
  readonly queueClock: Clock;
  /** Added to a function's timeout to get its events' lease: room for INIT and for settling. */
  readonly leaseMarginMs: number;
  /** Told about every invocation that ran or was throttled (metrics). */
  readonly observer?: InvocationObserver;
}

/** What InvokeService reports about invocations; implemented by the composition root (metrics). */
export interface InvocationObserver {
  finished(r: {
    readonly accountId: string;
    readonly functionName: string;
    readonly durationMs: number;
    readonly initDurationMs?: number;
    readonly coldStart: boolean;
    readonly functionError: boolean;
  }): void;
  throttled(accountId: string, functionName: string): void;
}

/** One attempt of a queued event, as the poller asks for it. */
export interface QueuedAttempt {
  readonly id: string;
  /** The account the event was accepted in; it runs there. */
  readonly accountId: string;
  readonly functionName: string;
  readonly qualifier: string | undefined;
  readonly payload: Buffer;
}

/** What an attempt that reached the function answered. */
export interface AttemptOutcome {
  readonly functionError: boolean;
  readonly executedVersion: string;
  readonly payload: Buffer;
}

export interface InvokeInput {
  /**
   * The API request's id (Fastify's, in every platform log line of the request); it becomes the
   * invocation's request id, as Lambda's x-amzn-RequestId of Invoke is the function's awsRequestId.
   */
  readonly requestId?: string;
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
/** Lambda's payload limit for asynchronous invocations. */
export const maxEventPayload = 1_048_576;

export class InvokeService {
  private readonly random: () => number;
  constructor(private readonly d: InvokeServiceDeps) {
    this.random = d.random ?? Math.random;
  }

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
    const record = this.target(ref.name, ref.qualifier);
    const requestId = input.requestId ?? newId();
    // Checked for DryRun too: a dry run answers whether the real call would be accepted.
    const clientContext = type === 'Event' ? undefined : decodeClientContext(input.clientContext);
    if (type === 'DryRun') return { status: 204, requestId, headers: {}, body: Buffer.alloc(0) };
    const payload = input.payload.length === 0 ? Buffer.from('{}') : input.payload;
    if (type === 'Event' && payload.length > maxEventPayload) {
      throw new ApiError(
        'RequestTooLargeException',
        `${payload.length} byte payload is too large for the Event invocation type (limit ${maxEventPayload} bytes)`,
      );
    }
    checkJson(payload);
    if (type === 'Event') {
      await this.d.queue.enqueue([
        {
          id: requestId,
          accountId: this.d.account.accountId,
          functionName: ref.name,
          qualifier: ref.qualifier,
          payload,
          enqueuedAt: this.d.queueClock.now(),
          leaseMs: record.config.timeout * 1000 + this.d.leaseMarginMs,
        },
      ]);
      return { status: 202, requestId, headers: {}, body: Buffer.alloc(0) };
    }
    const spec = toSpec(record, this.d.account);
    const result = await this.run(spec, ref.qualifier, {
      requestId,
      payload,
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

  /**
   * One attempt of a queued event, through the same path as a synchronous call (qualifier resolution,
   * concurrency slot, worker). Throws ApiError when it cannot reach the function.
   */
  async attempt(event: QueuedAttempt): Promise<AttemptOutcome> {
    const spec = toSpec(this.target(event.functionName, event.qualifier), this.d.account);
    const result = await this.run(spec, event.qualifier, { requestId: event.id, payload: event.payload });
    return {
      functionError: result.outcome.kind === 'error',
      executedVersion: spec.version,
      payload: result.outcome.payload,
    };
  }

  /** The record an invocation of `name:qualifier` would run; undefined when either does not exist. */
  recordOf(name: string, qualifier: string | undefined): FunctionRecord | VersionRecord | undefined {
    try {
      return this.target(name, qualifier);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'ResourceNotFoundException') return undefined;
      throw e;
    }
  }

  private async run(
    spec: FunctionSpec,
    qualifier: string | undefined,
    req: { requestId: string; payload: Buffer; clientContext?: string },
  ) {
    const name = spec.functionName;
    let release: () => void;
    try {
      release = this.d.concurrency.acquire(name, this.d.metadata.getReservedConcurrency(name));
    } catch (err) {
      this.throttled(name, err);
      throw err;
    }
    const now = this.d.clock.now();
    let result;
    try {
      result = await this.d.fleet.invoke(spec, {
        ...req,
        deadlineMs: now + spec.timeout * 1000,
        invokedFunctionArn: functionArn(this.d.account, name, qualifier),
        traceId: traceId(now),
      });
    } catch (err) {
      this.throttled(name, err);
      throw err;
    } finally {
      release();
    }
    const functionError = result.outcome.kind === 'error';
    this.d.observer?.finished({
      accountId: this.d.account.accountId,
      functionName: name,
      durationMs: result.durationMs,
      ...(result.initDurationMs !== undefined ? { initDurationMs: result.initDurationMs } : {}),
      coldStart: result.coldStart,
      functionError,
    });
    this.d.log.debug(
      {
        reqId: req.requestId,
        account: this.d.account.accountId,
        function: name,
        version: spec.version,
        env: result.environmentId,
        coldStart: result.coldStart,
        durationMs: Math.round(result.durationMs * 100) / 100,
        functionError,
      },
      'invocation finished',
    );
    return result;
  }

  private throttled(functionName: string, err: unknown): void {
    if (err instanceof ApiError && err.code === 'TooManyRequestsException') {
      this.d.observer?.throttled(this.d.account.accountId, functionName);
    }
  }

  /** The snapshot an invocation runs: `$LATEST`, a version, or (by the alias's weights) one of its versions. */
  private target(name: string, qualifier: string | undefined): FunctionRecord | VersionRecord {
    const missing = (q?: string) => notFound(`Function not found: ${functionArn(this.d.account, name, q)}`);
    const latest = this.d.metadata.get(name);
    if (!latest) throw missing(qualifier);
    const q = classifyQualifier(qualifier);
    if (q.kind === 'latest') return latest;
    let version = q.kind === 'version' ? q.version : undefined;
    if (q.kind === 'alias') {
      const alias = this.d.metadata.getAlias(name, q.name);
      if (!alias) throw missing(qualifier);
      version = pickAliasVersion(alias, this.random());
      if (version === '$LATEST') return latest;
    }
    const record = version === undefined ? undefined : this.d.metadata.getVersion(name, version);
    if (!record) throw missing(qualifier);
    return record;
  }
}

export function toSpec(r: FunctionRecord | VersionRecord, account: Account): FunctionSpec {
  const version = 'version' in r ? r.version : '$LATEST';
  return {
    functionName: r.config.name,
    // Unqualified: environments, retirement and scaling are keyed by it, so two accounts' functions of
    // the same name never meet.
    functionArn: functionArn(account, r.config.name),
    version,
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
  return `Root=1-${epoch}-${randomHex(12)};Parent=${randomHex(8)};Sampled=0`;
}
