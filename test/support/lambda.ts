// Clients pointed at a test server: the real AWS SDK v3 and the Debian AWS CLI.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  CreateFunctionCommand,
  LambdaClient,
  type CreateFunctionCommandInput,
  type InvokeCommandOutput,
} from '@aws-sdk/client-lambda';
import { keysFor, type Credentials } from './credentials.js';
import { cleanEnv } from './server.js';

/** The Lambda SDK client, signing with `keys` or else the instance's admin key. */
export function sdk(endpoint: string, keys: Credentials = keysFor(endpoint)): LambdaClient {
  return new LambdaClient({
    endpoint,
    region: 'us-east-1',
    credentials: { ...keys },
    maxAttempts: 1,
  });
}

export const role = 'arn:aws:iam::000000000000:role/kiln-test';

/** CreateFunction of a Node function with the usual handler; any field can be overridden. */
export const nodeFunction = (
  name: string,
  zip: Buffer,
  extra: Partial<CreateFunctionCommandInput> = {},
): CreateFunctionCommand =>
  new CreateFunctionCommand({
    FunctionName: name,
    Runtime: 'nodejs20.x',
    Role: role,
    Handler: 'index.handler',
    Code: { ZipFile: zip },
    ...extra,
  });

/** An Invoke answer's payload, parsed as JSON. */
export const payloadJson = (out: InvokeCommandOutput): Record<string, unknown> =>
  JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8')) as Record<string, unknown>;

/** The decoded X-Amz-Log-Result of an Invoke with LogType Tail. */
export const tailLog = (out: InvokeCommandOutput): string =>
  Buffer.from(out.LogResult ?? '', 'base64').toString('utf8');

/** Lambda's CodeSha256: base64 of the zip's sha256. */
export const lambdaSha = (zip: Buffer): string => createHash('sha256').update(zip).digest('base64');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

export const awsCliPath = '/usr/bin/aws';

/** The environment the AWS CLI runs with in tests: the instance's key, no pager, no retries. */
export const awsCliEnv = (endpoint: string, keys: Credentials = keysFor(endpoint)): NodeJS.ProcessEnv =>
  cleanEnv({
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    // The CLI is Python: without this, its output through a pipe waits in a buffer, and a follower
    // (`aws logs tail --follow`) would print nothing until it exits.
    PYTHONUNBUFFERED: '1',
    AWS_MAX_ATTEMPTS: '1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  });

/** Runs `/usr/bin/aws <service> …` against the endpoint. */
export function awsCli(
  endpoint: string,
  service: string,
  args: string[],
  keys: Credentials = keysFor(endpoint),
): CliResult {
  const r = spawnSync(awsCliPath, [service, ...args, '--endpoint-url', endpoint, '--output', 'json'], {
    encoding: 'utf8',
    env: awsCliEnv(endpoint, keys),
    timeout: 60_000,
  });
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    json: () => JSON.parse(r.stdout) as Record<string, unknown>,
  };
}

/** Runs `/usr/bin/aws lambda …` against the endpoint. */
export const awsLambda = (endpoint: string, args: string[], keys?: Credentials): CliResult =>
  awsCli(endpoint, 'lambda', args, keys);
