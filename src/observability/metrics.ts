// Prometheus metrics (text format at GET /metrics) on a registry of Kiln's own, plus a small API other
// parts use to add gauges read at scrape time (e.g. the async queue's depth) without knowing prom-client.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Labels = Readonly<Record<string, string>>;

/** What a gauge's collect function returns: one value, or one per label set. */
export type GaugeValue = number | readonly { readonly labels: Labels; readonly value: number }[];

/** The name every function past the label cap is counted under. */
export const otherFunctions = '_other_';

export interface MetricsOptions {
  /** Distinct functions (account and name) labelled; later functions are folded into `_other_`. */
  readonly maxFunctionLabels: number;
  /** Node.js process metrics (heap, event loop lag, CPU), prefixed `kiln_`. */
  readonly processMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly labelled = new Set<string>();

  constructor(private readonly o: MetricsOptions) {
    if (o.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'kiln_' });
  }

  /**
   * Registers a gauge whose value is read from `collect` at every scrape. Names are Prometheus metric
   * names (`kiln_async_queue_depth`); `labelNames` lists the labels the samples carry.
   */
  gauge(name: string, help: string, collect: () => GaugeValue, labelNames: readonly string[] = []): void {
    new Gauge({
      name,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
      collect() {
        this.reset();
        apply(collect(), (labels, v) => this.set(labels, v));
      },
    });
  }

  /** A counter kept elsewhere (numbers that only grow, one or one per label set), read at every scrape. */
  counterFrom(
    name: string,
    help: string,
    collect: () => GaugeValue,
    labelNames: readonly string[] = [],
  ): void {
    new Counter({
      name,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
      collect() {
        this.reset();
        apply(collect(), (labels, v) => this.inc(labels, v));
      },
    });
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter<string> {
    return new Counter({ name, help, labelNames: [...labelNames], registers: [this.registry] });
  }

  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[] = [],
  ): Histogram<string> {
    return new Histogram({
      name,
      help,
      buckets: [...buckets],
      labelNames: [...labelNames],
      registers: [this.registry],
    });
  }

  /**
   * The `account` and `function` labels of an account's function: its own name for the first
   * `maxFunctionLabels` functions seen, `_other_` after that, so a platform with many functions cannot
   * blow up the series count. Two accounts' functions of the same name are two series.
   */
  functionLabels(accountId: string, name: string): { account: string; function: string } {
    const key = `${accountId}:${name}`;
    if (this.labelled.has(key)) return { account: accountId, function: name };
    if (this.labelled.size >= this.o.maxFunctionLabels) {
      return { account: accountId, function: otherFunctions };
    }
    this.labelled.add(key);
    return { account: accountId, function: name };
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/** Feeds a collected value (one number, or one per label set) to a metric's setter. */
function apply(value: GaugeValue, put: (labels: Record<string, string>, v: number) => void): void {
  if (typeof value === 'number') put({}, value);
  else for (const s of value) put({ ...s.labels }, s.value);
}
