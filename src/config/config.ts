// The only reader of the process environment. Flags win over environment variables, which win over defaults.
import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly region: string;
  readonly accountId: string;
  readonly logLevel: string;
  /**
   * Named crash points (`KILN_FAILPOINTS=a,b`): the process SIGKILLs itself on reaching one.
   * Exists so crash-consistency tests can stop the process at an exact step.
   */
  readonly failpoints: ReadonlySet<string>;
  /** Idle execution environments are reclaimed after this long. */
  readonly keepAliveMs: number;
  /** A worker's lease (Lambda: 14 hours); then it drains and a fresh worker takes over. */
  readonly workerLeaseMs: number;
  /** Sum of MemorySize of the environments one worker may hold. */
  readonly workerMemoryMb: number;
  /** Idle environments are frozen this long after their last invocation. */
  readonly freezeAfterMs: number;
  /** INIT phase bound (Lambda: 10 s). */
  readonly initTimeoutMs: number;
  /**
   * The cgroup that holds this instance's sandboxes, and the host uids they run as. Two Kiln processes on one
   * host need different values: each kills leftovers under its own parent at startup.
   */
  readonly cgroupParent: string;
  readonly sandboxUidBase: number;
  readonly sandboxUidCount: number;
  /**
   * Turn on the cgroup `favordynmods` option host-wide at startup when no hierarchy has it (a remount of the
   * cgroup2 mount): joining a cgroup then costs no RCU grace period, ~15 ms of every cold start from nothing.
   */
  readonly cgroupFavorDynmods: boolean;
  /** The account's concurrent executions limit (Lambda's default quota: 1,000). */
  readonly accountConcurrency: number;
  /** New execution environments one function may start per 10 s (Lambda: 1,000). */
  readonly scalingRate: number;
  /** Pollers draining the async event queue, and the events each runs at once. */
  readonly asyncPollers: number;
  readonly asyncBatchSize: number;
  /** How long, and how many, finished async events stay queryable (`kiln async event`). */
  readonly asyncOutcomeRetentionMs: number;
  readonly asyncOutcomeLimit: number;
  /**
   * Tests only (`KILN_TEST_ASYNC_CLOCK=1`): `POST /_kiln/async/clock` moves the queue's clock forward, so
   * retries and event ages play out without waiting. Off by default.
   */
  readonly testAsyncClock: boolean;
  /** Function logs in data-dir/logs.db: kept this long, and at most this many bytes per function. */
  readonly logRetentionMs: number;
  readonly logMaxBytesPerFunction: number;
  /** Log events waiting to be written, in bytes of memory; past it new events are dropped and counted. */
  readonly logBufferBytes: number;
  /** How often events past the retention age are deleted. */
  readonly logSweepIntervalMs: number;
  /** Distinct function names used as metric labels; the rest are counted as `_other_`. */
  readonly metricsMaxFunctions: number;
  /**
   * Most pre-initialised environments (zygotes) a worker keeps per runtime for cold starts; 0 turns them off.
   * The pool grows with cold starts that find none, shrinks when they go unused for keepAliveMs.
   */
  readonly zygotesPerRuntime: number;
  /**
   * `sigv4` (the default): every API request must carry a valid AWS Signature V4 from an account's key.
   * `local`: signatures are not checked (unsigned or unknown-key requests act as the admin account); only
   * allowed on a loopback address.
   */
  readonly auth: 'sigv4' | 'local';
}

export interface Flags {
  readonly port?: string | undefined;
  readonly host?: string | undefined;
  readonly dataDir?: string | undefined;
}

const schema = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  dataDir: z.string().min(1),
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must look like us-east-1'),
  accountId: z.string().regex(/^\d{12}$/, 'must be 12 digits'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  keepAliveMs: z.coerce.number().int().min(0),
  workerLeaseMs: z.coerce.number().int().min(1000),
  workerMemoryMb: z.coerce.number().int().min(128),
  freezeAfterMs: z.coerce.number().int().min(0),
  initTimeoutMs: z.coerce.number().int().min(100),
  cgroupParent: z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'must be a plain directory name'),
  sandboxUidBase: z.coerce.number().int().min(1000).max(4_000_000_000),
  sandboxUidCount: z.coerce.number().int().min(1).max(1_000_000),
  cgroupFavorDynmods: z.enum(['0', '1']).transform((v) => v === '1'),
  accountConcurrency: z.coerce.number().int().min(1),
  scalingRate: z.coerce.number().int().min(1),
  asyncPollers: z.coerce.number().int().min(1).max(64),
  asyncBatchSize: z.coerce.number().int().min(1).max(1000),
  asyncOutcomeRetentionMs: z.coerce.number().int().min(0),
  asyncOutcomeLimit: z.coerce.number().int().min(0),
  testAsyncClock: z.enum(['0', '1']).transform((v) => v === '1'),
  logRetentionMs: z.coerce.number().int().min(1),
  logMaxBytesPerFunction: z.coerce.number().int().min(1024),
  logBufferBytes: z.coerce
    .number()
    .int()
    .min(64 * 1024),
  logSweepIntervalMs: z.coerce.number().int().min(1000),
  metricsMaxFunctions: z.coerce.number().int().min(1).max(100_000),
  zygotesPerRuntime: z.coerce.number().int().min(0).max(64),
  auth: z.enum(['sigv4', 'local']),
});

export class ConfigError extends Error {}

export function loadConfig(flags: Flags = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const raw = {
    host: flags.host ?? env.KILN_HOST ?? '127.0.0.1',
    port: flags.port ?? env.KILN_PORT ?? '9000',
    dataDir: flags.dataDir ?? env.KILN_DATA_DIR ?? '.kiln',
    region: env.KILN_REGION ?? 'us-east-1',
    accountId: env.KILN_ACCOUNT_ID ?? '000000000000',
    logLevel: env.KILN_LOG_LEVEL ?? 'info',
    keepAliveMs: env.KILN_KEEP_ALIVE_MS ?? String(5 * 60 * 1000),
    workerLeaseMs: env.KILN_WORKER_LEASE_MS ?? String(14 * 60 * 60 * 1000),
    workerMemoryMb: env.KILN_WORKER_MEMORY_MB ?? String(Math.floor((totalmem() / (1024 * 1024)) * 0.75)),
    freezeAfterMs: env.KILN_FREEZE_AFTER_MS ?? '100',
    initTimeoutMs: env.KILN_INIT_TIMEOUT_MS ?? '10000',
    cgroupParent: env.KILN_CGROUP_PARENT ?? 'kiln',
    sandboxUidBase: env.KILN_SANDBOX_UID_BASE ?? '200000',
    sandboxUidCount: env.KILN_SANDBOX_UID_COUNT ?? '1000',
    cgroupFavorDynmods: env.KILN_CGROUP_FAVOR_DYNMODS ?? '1',
    accountConcurrency: env.KILN_ACCOUNT_CONCURRENCY ?? '1000',
    scalingRate: env.KILN_SCALING_RATE ?? '1000',
    asyncPollers: env.KILN_ASYNC_POLLERS ?? '2',
    asyncBatchSize: env.KILN_ASYNC_BATCH_SIZE ?? '10',
    asyncOutcomeRetentionMs: env.KILN_ASYNC_OUTCOME_RETENTION_MS ?? String(24 * 60 * 60 * 1000),
    asyncOutcomeLimit: env.KILN_ASYNC_OUTCOME_LIMIT ?? '100000',
    testAsyncClock: env.KILN_TEST_ASYNC_CLOCK ?? '0',
    logRetentionMs: env.KILN_LOG_RETENTION_MS ?? String(30 * 24 * 60 * 60 * 1000),
    logMaxBytesPerFunction: env.KILN_LOG_MAX_BYTES_PER_FUNCTION ?? String(1024 * 1024 * 1024),
    logBufferBytes: env.KILN_LOG_BUFFER_BYTES ?? String(16 * 1024 * 1024),
    logSweepIntervalMs: env.KILN_LOG_SWEEP_INTERVAL_MS ?? String(60 * 1000),
    metricsMaxFunctions: env.KILN_METRICS_MAX_FUNCTIONS ?? '200',
    zygotesPerRuntime: env.KILN_ZYGOTES_PER_RUNTIME ?? '2',
    auth: env.KILN_AUTH ?? 'sigv4',
  };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(
      `invalid configuration (${issues}); fix the flag or the KILN_* environment variable`,
    );
  }
  if (parsed.data.auth === 'local' && !isLoopback(parsed.data.host)) {
    throw new ConfigError(
      `KILN_AUTH=local accepts unsigned requests, so it only listens on a loopback address, not ${parsed.data.host}; use --host 127.0.0.1 or leave KILN_AUTH unset`,
    );
  }
  const failpoints = new Set(
    (env.KILN_FAILPOINTS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  return { ...parsed.data, dataDir: resolve(parsed.data.dataDir), failpoints };
}

/** A loopback address or name: a listening host, or a peer's address (IPv4-mapped too, as Node reports it). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Where the CLI finds its access key: the standard AWS variables, else a shared-credentials file. */
export type CliCredentialSource =
  { readonly accessKeyId: string; readonly secretAccessKey: string } | { readonly file: string };

export function cliCredentialSource(env: NodeJS.ProcessEnv = process.env): CliCredentialSource {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (accessKeyId && secretAccessKey) return { accessKeyId, secretAccessKey };
  return {
    file: resolve(env.KILN_CREDENTIALS_FILE ?? `${env.KILN_DATA_DIR ?? '.kiln'}/admin-credentials`),
  };
}

/** Where the CLI sends its requests unless told otherwise. */
export function defaultEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env.KILN_ENDPOINT ?? 'http://127.0.0.1:9000';
}
