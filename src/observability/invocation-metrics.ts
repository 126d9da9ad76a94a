// Lambda's per-function invocation metrics (Invocations, Errors, Throttles, Duration, Init Duration,
// ConcurrentExecutions) as Prometheus series labelled by account and function.
import type { Metrics } from './metrics.js';

export interface InvocationRecord {
  readonly accountId: string;
  readonly functionName: string;
  /** Time the function ran for this invocation (Lambda's Duration), ms. */
  readonly durationMs: number;
  /** Present when this invocation paid for a cold start. */
  readonly initDurationMs?: number;
  readonly coldStart: boolean;
  /** The function failed (X-Amz-Function-Error): Lambda's Errors metric. */
  readonly functionError: boolean;
}

/** Seconds, from a millisecond up to Lambda's 15-minute timeout. */
const durationBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** INIT is bounded by 10 s. */
const initBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class InvocationMetrics {
  private readonly invocations;
  private readonly errors;
  private readonly throttles;
  private readonly coldStarts;
  private readonly duration;
  private readonly initDuration;

  constructor(private readonly metrics: Metrics) {
    const fn = ['account', 'function'];
    this.invocations = metrics.counter(
      'kiln_invocations_total',
      'Invocations that ran (sync and async).',
      fn,
    );
    this.errors = metrics.counter(
      'kiln_invocation_errors_total',
      'Invocations that ended in a function error.',
      fn,
    );
    this.throttles = metrics.counter(
      'kiln_throttles_total',
      'Invocations refused with TooManyRequestsException.',
      fn,
    );
    this.coldStarts = metrics.counter(
      'kiln_cold_starts_total',
      'Invocations that started a new environment.',
      fn,
    );
    this.duration = metrics.histogram(
      'kiln_invocation_duration_seconds',
      'Time functions ran per invocation (Lambda Duration).',
      durationBuckets,
      fn,
    );
    this.initDuration = metrics.histogram(
      'kiln_init_duration_seconds',
      'INIT phase duration of cold starts (Lambda Init Duration).',
      initBuckets,
      fn,
    );
  }

  finished(r: InvocationRecord): void {
    const labels = this.metrics.functionLabels(r.accountId, r.functionName);
    this.invocations.inc(labels);
    if (r.functionError) this.errors.inc(labels);
    if (r.coldStart) this.coldStarts.inc(labels);
    this.duration.observe(labels, r.durationMs / 1000);
    if (r.initDurationMs !== undefined) this.initDuration.observe(labels, r.initDurationMs / 1000);
  }

  throttled(accountId: string, functionName: string): void {
    this.throttles.inc(this.metrics.functionLabels(accountId, functionName));
  }
}
