// The access keys tests sign with, found by endpoint: startKiln registers each instance's admin key, so
// `sdk(kiln.endpoint)`, `awsLambda(kiln.endpoint, …)` and `kilnFetch(url)` sign without being told how.
import { signedFetch, type Credentials } from '../../src/client/index.js';

export type { Credentials } from '../../src/client/index.js';

const byOrigin = new Map<string, Credentials>();

export function registerKeys(endpoint: string, keys: Credentials): void {
  byOrigin.set(new URL(endpoint).origin, keys);
}

/** The admin key of the instance at `endpoint`, if one was registered. */
export function knownKeys(endpoint: string): Credentials | undefined {
  return byOrigin.get(new URL(endpoint).origin);
}

/** The admin key of the instance at `endpoint`. */
export function keysFor(endpoint: string): Credentials {
  const keys = knownKeys(endpoint);
  if (keys === undefined) {
    throw new Error(`no access key known for ${endpoint}: start the instance with startKiln, or pass keys`);
  }
  return keys;
}

/** The environment variables the kiln CLI and AWS tools read a key from. */
export function keyEnv(endpoint: string, keys: Credentials = keysFor(endpoint)): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey };
}

export interface KilnFetchInit {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Sign with this key instead of the instance's admin key; `false` sends the request unsigned. */
  readonly keys?: Credentials | false;
  /** The SigV4 service name: `lambda` unless told (CloudWatch Logs is `logs`). */
  readonly service?: string;
  /** Sign as if at this time (now unless told). */
  readonly signingDate?: Date;
}

/** fetch(), signed with AWS Signature V4 as an SDK would sign it. */
export function kilnFetch(url: string, init: KilnFetchInit = {}): Promise<Response> {
  const keys = init.keys ?? keysFor(url);
  return signedFetch(new URL(url), {
    ...(init.method !== undefined ? { method: init.method } : {}),
    ...(init.headers !== undefined ? { headers: init.headers } : {}),
    ...(init.body !== undefined ? { body: init.body } : {}),
    credentials: keys === false ? undefined : keys,
    signing: {
      ...(init.service !== undefined ? { service: init.service } : {}),
      ...(init.signingDate !== undefined ? { signingDate: init.signingDate } : {}),
    },
  });
}
