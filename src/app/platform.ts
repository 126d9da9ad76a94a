// The composition root: picks the concrete backends and wires every role into one process.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.js';
import {
  CodeCollector,
  CodeUrlSigner,
  registerConcurrency,
  registerControlPlane,
  registerEventInvokeConfig,
  registerProvisioned,
} from '../control-plane/index.js';
import { createHttpServer, registerJsonServices } from '../http/index.js';
import { registerInvoke } from '../invoke/index.js';
import { functionArn } from '../model/index.js';
import { PollerFleet } from '../poller/index.js';
import { SqliteEventQueue } from '../queue/sqlite/index.js';
import { Fleet, ScalingRateLimiter } from '../placement/index.js';
import { AdjustableClock, newId, systemClock, type Clock, type Logger } from '../shared/index.js';
import { FileCodeStore } from '../store/files/index.js';
import type { AccessKey } from '../store/index.js';
import { SqliteAccountStore, SqliteMetadataStore } from '../store/sqlite/index.js';
import { SandboxDriver } from '../worker/drivers/sandbox/index.js';
import { Worker, accountOf, type Driver, type FunctionSpec } from '../worker/index.js';
import { registerAccountRoutes } from './account-routes.js';
import { ensureAdminAccount } from './admin-account.js';
import { asyncPolicy, deliveryTarget, watchQueue } from './async-wiring.js';
import { authenticator } from './auth.js';
import { registerAsyncRoutes } from './async-routes.js';
import { registerIntrospection } from './introspection.js';
import { registerMetricsRoute, startObservability, watchFleet } from './observability.js';
import { Tenants } from './tenants.js';

export interface Platform {
  readonly http: FastifyInstance;
  /** The URL clients use, e.g. http://127.0.0.1:9000. */
  readonly endpoint: string;
  /** The admin account's key, when this start created it (a fresh data dir): shown once, never again. */
  readonly createdAdminKey?: AccessKey;
  close(): Promise<void>;
}

export interface PlatformOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly clock?: Clock;
}

/** Kiln's own runtime clients (plain JS and Python, no build step), mounted into sandboxes at /var/runtime. */
const runtimeDir = fileURLToPath(new URL('../../../src/runtimes', import.meta.url));

/** How long shutdown waits for in-flight invocations before stopping their environments. */
const shutdownGraceMs = 30_000;

export async function startPlatform({
  config,
  log,
  clock = systemClock,
}: PlatformOptions): Promise<Platform> {
  // Traversable but not listable: sandboxes run as unprivileged uids and bubblewrap must reach their
  // code and sockets below this directory, while nothing in it can be enumerated.
  mkdirSync(config.dataDir, { recursive: true });
  chmodSync(config.dataDir, 0o711);
  const failpoint = (name: string): void => {
    if (config.failpoints.has(name)) {
      log.warn({ failpoint: name }, 'failpoint reached: killing the process');
      process.kill(process.pid, 'SIGKILL');
    }
  };

  const driver: Driver = new SandboxDriver({
    log,
    stateDir: join(config.dataDir, 'sandboxes'),
    cgroupParent: config.cgroupParent,
    uidBase: config.sandboxUidBase,
    uidCount: config.sandboxUidCount,
    favorDynmods: config.cgroupFavorDynmods,
  });
  await driver.check();
  await driver.cleanupOrphans();
  // Runtime API sockets of environments a killed run left behind; every environment makes its own anew.
  rmSync(join(config.dataDir, 'environments'), { recursive: true, force: true });

  const metadata = new SqliteMetadataStore(join(config.dataDir, 'metadata.db'), config.accountId, (a, n, q) =>
    functionArn({ region: config.region, accountId: a }, n, q),
  );
  const code = new FileCodeStore(join(config.dataDir, 'code'), { failpoint, log });
  const garbage = new CodeCollector(code, () => metadata.referencedCode());
  // Observability: logs.db, the buffered log sink, metrics (see observability.ts).
  const obs = startObservability(config, log, clock);
  const sink = obs.sink;
  const scaling = new ScalingRateLimiter({ clock, perWindow: config.scalingRate, windowMs: 10_000 });
  // Scaling is per function, and functions are keyed by their ARN (which names the account).
  const admitNewEnvironment = (spec: FunctionSpec): void =>
    scaling.admit(
      spec.functionArn,
      metadata.account(accountOf(spec)).getReservedConcurrency(spec.functionName) !== undefined,
    );
  let workers = 0;
  const fleet = new Fleet({
    clock,
    log,
    leaseMs: config.workerLeaseMs,
    newWorker: () =>
      new Worker({
        id: `worker-${++workers}`,
        driver,
        log,
        clock,
        sink,
        code,
        stateDir: join(config.dataDir, 'environments'),
        runtimeDir,
        initTimeoutMs: config.initTimeoutMs,
        freezeAfterMs: config.freezeAfterMs,
        keepAliveMs: config.keepAliveMs,
        memoryBudgetMb: config.workerMemoryMb,
        reapIntervalMs: Math.max(50, Math.min(10_000, Math.floor(config.keepAliveMs / 4))),
        admitNewEnvironment,
        zygotesPerRuntime: config.zygotesPerRuntime,
      }),
  });
  // A crash can leave a package written but never committed: sweep before serving.
  const swept = await garbage.collect();
  if (swept > 0) log.info({ swept }, 'removed unreferenced code packages');

  // The async queue keeps its own clock, so tests can move retry schedules forward without touching
  // invocation deadlines.
  const adjustable = config.testAsyncClock ? new AdjustableClock() : undefined;
  const queueClock: Clock = adjustable ?? clock;
  const queue = new SqliteEventQueue(join(config.dataDir, 'events.db'), config.accountId, {
    outcomeRetentionMs: config.asyncOutcomeRetentionMs,
    outcomeLimit: config.asyncOutcomeLimit,
  });
  // The embedded queue serves this process alone: leases still held belong to a process that died.
  const released = queue.releaseLeases(queueClock.now());
  if (released > 0) log.info({ released }, 'released async event leases of a previous run');
  const leaseMarginMs = config.initTimeoutMs + 60_000;
  const tenants = new Tenants({
    region: config.region,
    metadata,
    code,
    garbage,
    fleet,
    clock,
    log,
    failpoint,
    accountConcurrency: config.accountConcurrency,
    queue,
    queueClock,
    leaseMarginMs,
    observer: obs.invocations,
  });
  const servicesOf = (accountId: string) => tenants.of(accountId);

  const accounts = new SqliteAccountStore(join(config.dataDir, 'accounts.db'), () => clock.now());
  const createdAdminKey = ensureAdminAccount(accounts, config.accountId, config.dataDir);
  const http = createHttpServer({
    log,
    bodyLimit: 6 * 1024 * 1024 + 1024,
    authenticate: authenticator({
      mode: config.auth,
      region: config.region,
      accounts,
      adminAccountId: config.accountId,
      clock,
    }),
  });
  registerAccountRoutes(http, accounts, (id) => metadata.account(id).list(1).items.length > 0);
  registerControlPlane(http, {
    servicesOf,
    code,
    codeUrls: new CodeUrlSigner(secretKey(config.dataDir), () => clock.now()),
    concurrencyLimit: config.accountConcurrency,
  });
  registerConcurrency(http, { servicesOf, accountLimit: config.accountConcurrency });
  registerProvisioned(http, servicesOf);
  registerEventInvokeConfig(http, servicesOf);
  registerInvoke(http, (accountId) => tenants.of(accountId).invoke);
  // Pollers run each event in the account that accepted it; its deliveries stay in that account.
  const pollers = new PollerFleet(
    {
      queue,
      clock: queueClock,
      log,
      invoke: (event) => tenants.of(event.accountId).invoke.attempt(event),
      policy: (accountId, name, qualifier) => {
        const t = tenants.of(accountId);
        return asyncPolicy(t.metadata, t.invoke, name, qualifier);
      },
      target: (accountId, arn) => {
        const t = tenants.of(accountId);
        return deliveryTarget(arn, t.account, t.invoke, leaseMarginMs);
      },
      functionArn: (accountId, name, qualifier) =>
        functionArn({ region: config.region, accountId }, name, qualifier),
      newId,
      batchSize: config.asyncBatchSize,
    },
    config.asyncPollers,
  );
  adjustable?.onAdvance(() => pollers.wake());
  ownerOnly(config.dataDir, ['metadata.db', 'events.db', 'logs.db']);
  registerAsyncRoutes(http, { queue, pollers, clock: queueClock, ...(adjustable ? { adjustable } : {}) });
  registerIntrospection(http, fleet);
  // POST / with X-Amz-Target: the AWS JSON protocol services (CloudWatch Logs; SQS joins this list).
  registerJsonServices(http, [obs.logsApi]);
  registerMetricsRoute(http, obs.metrics);
  watchFleet(obs.metrics, fleet);
  watchQueue(obs.metrics, queue, queueClock);
  // Provisioned concurrency survives restarts: initialise every account's environments again, ahead of
  // traffic.
  for (const p of metadata.allProvisioned()) {
    tenants.of(p.accountId).provisioned.reapply(p.functionName, p.qualifier);
  }
  pollers.start();
  await http.listen({ host: config.host, port: config.port });
  const addr = http.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const shownHost = config.host.includes(':') ? `[${config.host}]` : config.host;
  if (config.auth === 'local') {
    log.warn('KILN_AUTH=local: request signatures are not checked; every unsigned request acts as admin');
  }
  return {
    http,
    endpoint: `http://${shownHost}:${port}`,
    ...(createdAdminKey ? { createdAdminKey } : {}),
    async close() {
      // Pollers stop leasing first; their events in flight settle while the fleet drains.
      await Promise.all([http.close(), pollers.stop(), fleet.close(shutdownGraceMs)]);
      await queue.close();
      // After the environments stopped: their last lines are in the buffer.
      obs.close();
      metadata.close();
      accounts.close();
    },
  };
}

/**
 * Function configuration (environment variables), payloads and logs are for root alone; SQLite gives a
 * database's -wal and -shm files the database's own mode when it makes them.
 */
function ownerOnly(dataDir: string, databases: readonly string[]): void {
  for (const db of databases) {
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        chmodSync(join(dataDir, db + suffix), 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }
}

/** The key that signs code download URLs: made once per data dir, readable by its owner only. */
function secretKey(dataDir: string): Buffer {
  const file = join(dataDir, 'code-url.key');
  try {
    return readFileSync(file);
  } catch {
    const key = randomBytes(32);
    writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
    return key;
  }
}
