// A typed client of Kiln's management API, built on the AWS SDK so it exercises the same wire format
// as any Lambda caller; the CLI, the console and tests use it instead of the SDK directly.
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  LambdaClient,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  type FunctionConfiguration,
  type GetFunctionResponse,
  type Runtime,
} from '@aws-sdk/client-lambda';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { setTimeout as sleep } from 'node:timers/promises';
import { KilnLogs } from './logs-client.js';

export type { FunctionConfiguration, GetFunctionResponse } from '@aws-sdk/client-lambda';

export interface KilnClientOptions {
  /** Base URL of a Kiln server, e.g. `http://127.0.0.1:9000`. */
  readonly endpoint: string;
  readonly region?: string;
  /** Kiln accepts any key pair unless its auth is turned on; the SDK insists on having one. */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Milliseconds to wait for a TCP connection before giving up (an unreachable host would hang). */
  readonly connectTimeoutMs?: number;
}

/** Settings shared by create and update; each `undefined` field is left as the server has it. */
export interface FunctionSettings {
  readonly runtime?: string;
  readonly handler?: string;
  readonly role?: string;
  readonly description?: string;
  readonly timeout?: number;
  readonly memorySize?: number;
  readonly ephemeralStorage?: number;
  /** Replaces the whole environment, as Lambda's UpdateFunctionConfiguration does. */
  readonly environment?: Readonly<Record<string, string>>;
}

export interface CreateFunctionInput extends FunctionSettings {
  readonly name: string;
  readonly runtime: string;
  readonly handler: string;
  readonly role: string;
  readonly zip: Buffer;
}

export type FunctionPatch = FunctionSettings;

/** Kiln's public API as the tools need it. Methods throw the SDK's errors; see `errorCode`. */
export class KilnClient {
  readonly endpoint: string;
  /** The underlying SDK client, for operations this class does not wrap. */
  readonly lambda: LambdaClient;
  /** Function logs, through the CloudWatch Logs API on the same endpoint. */
  readonly logs: KilnLogs;

  constructor(opts: KilnClientOptions) {
    this.endpoint = opts.endpoint;
    const sdkConfig = {
      endpoint: opts.endpoint,
      region: opts.region ?? 'us-east-1',
      credentials: opts.credentials ?? { accessKeyId: 'kiln', secretAccessKey: 'kiln' },
      // A local server either answers or is down; retrying only delays the error the user needs.
      maxAttempts: 1,
      requestHandler: { connectionTimeout: opts.connectTimeoutMs ?? 5000 },
    };
    this.lambda = withoutSdkNodeVersionWarning(() => new LambdaClient(sdkConfig));
    this.logs = new KilnLogs(withoutSdkNodeVersionWarning(() => new CloudWatchLogsClient(sdkConfig)));
  }

  async createFunction(input: CreateFunctionInput): Promise<FunctionConfiguration> {
    const command = new CreateFunctionCommand({
      FunctionName: input.name,
      Code: { ZipFile: input.zip },
      PackageType: 'Zip',
      ...settingsToWire(input),
    });
    return withoutMetadata(await this.lambda.send(command));
  }

  async updateFunctionCode(name: string, zip: Buffer): Promise<FunctionConfiguration> {
    const command = new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zip });
    return withoutMetadata(await this.lambda.send(command));
  }

  async updateFunctionConfiguration(name: string, patch: FunctionPatch): Promise<FunctionConfiguration> {
    const command = new UpdateFunctionConfigurationCommand({ FunctionName: name, ...settingsToWire(patch) });
    return withoutMetadata(await this.lambda.send(command));
  }

  async getFunction(name: string): Promise<GetFunctionResponse> {
    return withoutMetadata(await this.lambda.send(new GetFunctionCommand({ FunctionName: name })));
  }

  async listAllFunctions(): Promise<FunctionConfiguration[]> {
    const all: FunctionConfiguration[] = [];
    let marker: string | undefined;
    do {
      const page = await this.lambda.send(new ListFunctionsCommand({ Marker: marker }));
      all.push(...(page.Functions ?? []));
      // A server echoing the same marker would otherwise loop forever.
      if (page.NextMarker !== undefined && page.NextMarker === marker) {
        throw new Error(`ListFunctions returned the same NextMarker twice (${marker})`);
      }
      marker = page.NextMarker || undefined;
    } while (marker !== undefined);
    return all;
  }

  async deleteFunction(name: string): Promise<void> {
    await this.lambda.send(new DeleteFunctionCommand({ FunctionName: name }));
  }

  async functionExists(name: string): Promise<boolean> {
    try {
      await this.lambda.send(new GetFunctionCommand({ FunctionName: name }));
      return true;
    } catch (err) {
      if (errorCode(err) === 'ResourceNotFoundException') return false;
      throw err;
    }
  }

  /**
   * Polls until the function's last update has finished. Lambda applies updates asynchronously and
   * rejects a second update with ResourceConflictException while one is in progress.
   */
  async waitForUpdate(
    name: string,
    opts: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {},
  ): Promise<FunctionConfiguration> {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    for (;;) {
      const config = (await this.getFunction(name)).Configuration ?? {};
      if (config.LastUpdateStatus !== 'InProgress' && config.State !== 'Pending') return config;
      if (Date.now() >= deadline) throw new Error(`timed out waiting for the update of ${name} to finish`);
      await sleep(opts.intervalMs ?? 250, undefined, { signal: opts.signal });
    }
  }

  destroy(): void {
    this.lambda.destroy();
    this.logs.cwl.destroy();
  }
}

/**
 * The SDK warns on every Node 20 process that its future releases will need Node 22. Kiln supports
 * Node 20 and pins the SDK, so on a CLI's stderr that notice is noise the user can do nothing about.
 */
function withoutSdkNodeVersionWarning<T>(construct: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (text.startsWith('NodeVersionSupportWarning')) return;
    (emitWarning as (w: string | Error, ...r: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return construct();
  } finally {
    process.emitWarning = emitWarning;
  }
}

/** Drops the SDK's transport details, so what callers print is what the API returned. */
function withoutMetadata<T extends { $metadata: unknown }>(res: T): Omit<T, '$metadata'> {
  const { $metadata, ...rest } = res;
  void $metadata;
  return rest;
}

function settingsToWire(s: FunctionSettings) {
  return {
    // The server decides which runtimes exist; the SDK's enum only lists AWS's.
    Runtime: s.runtime as Runtime | undefined,
    Handler: s.handler,
    Role: s.role,
    Description: s.description,
    Timeout: s.timeout,
    MemorySize: s.memorySize,
    EphemeralStorage: s.ephemeralStorage === undefined ? undefined : { Size: s.ephemeralStorage },
    Environment: s.environment === undefined ? undefined : { Variables: { ...s.environment } },
  };
}

/** The API error code (`ResourceNotFoundException`, …) of an error the server sent, else undefined. */
export function errorCode(err: unknown): string | undefined {
  // Network failures carry `$metadata` too; only errors built from a response carry `$fault`.
  if (typeof err !== 'object' || err === null || !('$fault' in err)) return undefined;
  const name = (err as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

const connectionCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);

/** True when the request never got an HTTP answer: nothing listening, unknown host, connect timeout. */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || '$fault' in err) return false;
  const e = err as { code?: unknown; name?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && connectionCodes.has(e.code)) return true;
  // The SDK's connect timeout; Node's happy-eyeballs AggregateError (for names like `localhost`).
  if (e.name === 'TimeoutError') return true;
  if (Array.isArray(e.errors) && e.errors.some(isConnectionError)) return true;
  return e.cause !== undefined && e.cause !== err && isConnectionError(e.cause);
}

export type ErrorInfo =
  | { readonly kind: 'unreachable' }
  | { readonly kind: 'api'; readonly code: string; readonly message: string; readonly status?: number }
  | { readonly kind: 'other'; readonly message: string };

/** Sorts an error thrown by a KilnClient method into what a user-facing tool reports differently. */
export function describeError(err: unknown): ErrorInfo {
  if (isConnectionError(err)) return { kind: 'unreachable' };
  const status = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  // The SDK names a response without x-amzn-ErrorType "Unknown"; the status says more than that.
  if (code !== undefined && code !== 'Unknown') return { kind: 'api', code, message, status };
  if (status !== undefined) {
    return { kind: 'other', message: `unexpected HTTP ${status} response (is this a Kiln endpoint?)` };
  }
  return { kind: 'other', message };
}
