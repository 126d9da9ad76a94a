// Wires observability: durable logs (logs.db, a buffered sink for the request path, the CloudWatch Logs
// read API) and Prometheus metrics (GET /metrics, invocation metrics, fleet gauges).
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.js';
import {
  BufferedLogSink,
  InvocationMetrics,
  LogReader,
  LogsApi,
  Metrics,
  SqliteLogStore,
} from '../observability/index.js';
import type { Fleet } from '../placement/index.js';
import type { Clock, Logger } from '../shared/index.js';
import { accountOf } from '../worker/index.js';

export interface Observability {
  readonly sink: BufferedLogSink;
  readonly logsApi: LogsApi;
  /** Other parts register their gauges here: `metrics.gauge(name, help, collect)`. */
  readonly metrics: Metrics;
  readonly invocations: InvocationMetrics;
  /** Flushes buffered log events and closes logs.db; call after the environments have stopped. */
  close(): void;
}

/** How long log events may wait in memory before their batch is written. */
const flushDelayMs = 20;

export function startObservability(config: Config, log: Logger, clock: Clock): Observability {
  const store = new SqliteLogStore(
    join(config.dataDir, 'logs.db'),
    { retentionMs: config.logRetentionMs, maxBytesPerGroup: config.logMaxBytesPerFunction },
    clock,
    config.accountId,
  );
  const sweep = (): void => {
    try {
      const deleted = store.sweep();
      if (deleted > 0) log.info({ deleted }, 'deleted log events past their retention');
    } catch (err) {
      log.error({ err }, 'log retention sweep failed');
    }
  };
  sweep();
  const sweeper = setInterval(sweep, config.logSweepIntervalMs);
  sweeper.unref();
  const sink = new BufferedLogSink({
    writer: store,
    log,
    maxBufferBytes: config.logBufferBytes,
    flushDelayMs,
  });
  const metrics = new Metrics({ maxFunctionLabels: config.metricsMaxFunctions });
  metrics.counterFrom('kiln_log_events_written_total', 'Log events written to logs.db.', () => sink.written);
  metrics.counterFrom(
    'kiln_log_events_dropped_total',
    'Log events dropped because the write buffer was full or a write failed.',
    () => sink.dropped,
  );
  metrics.gauge(
    'kiln_log_buffer_bytes',
    'Memory held by log events waiting to be written.',
    () => sink.bufferedBytes,
  );
  return {
    sink,
    logsApi: new LogsApi({
      reader: new LogReader(store.db),
      flush: () => sink.flush(),
      region: config.region,
      retentionMs: config.logRetentionMs,
    }),
    metrics,
    invocations: new InvocationMetrics(metrics),
    close() {
      clearInterval(sweeper);
      sink.close();
      store.close();
    },
  };
}

/** Gauges read from the fleet at scrape time: environments by state, and concurrent executions. */
export function watchFleet(metrics: Metrics, fleet: Fleet): void {
  metrics.gauge(
    'kiln_environments',
    'Execution environments by lifecycle state.',
    () => {
      const counts = new Map<string, number>();
      for (const e of fleet.environments()) counts.set(e.state, (counts.get(e.state) ?? 0) + 1);
      return [...counts].map(([state, value]) => ({ labels: { state }, value }));
    },
    ['state'],
  );
  metrics.gauge(
    'kiln_concurrent_executions',
    'Environments running an invocation now, per function (Lambda ConcurrentExecutions).',
    () =>
      countByFunction(
        metrics,
        fleet.environments().filter((e) => e.state === 'busy'),
      ),
    ['account', 'function'],
  );
}

/** One sample per account and function label: how many of `items` are that function's. */
function countByFunction(
  metrics: Metrics,
  items: readonly { readonly functionArn: string; readonly functionName: string }[],
): { labels: { account: string; function: string }; value: number }[] {
  const counts = new Map<string, { labels: { account: string; function: string }; value: number }>();
  for (const e of items) {
    const labels = metrics.functionLabels(accountOf(e), e.functionName);
    const key = `${labels.account}:${labels.function}`;
    const c = counts.get(key) ?? { labels, value: 0 };
    c.value++;
    counts.set(key, c);
  }
  return [...counts.values()];
}

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', { config: { operation: 'Metrics', access: 'operator' } }, async (_req, reply) => {
    const { contentType, text } = await metrics.scrape();
    return reply.header('content-type', contentType).send(text);
  });
}
