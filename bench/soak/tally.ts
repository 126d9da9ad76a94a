// Every API call the soak makes, timed and classified: as expected, a platform error (a 5xx, or no
// answer at all), or an answer that is not what the call should have got (a wrong error, stale code).
import { performance } from 'node:perf_hooks';

const keep = 20;

export class Tally {
  readonly latencies = new Map<string, number[]>();
  readonly counts = new Map<string, number>();
  platformErrors = 0;
  unexpected = 0;
  readonly platformExamples: string[] = [];
  readonly unexpectedExamples: string[] = [];

  count(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Runs one call; on a thrown error classifies it and returns undefined. */
  async call<T>(op: string, what: string, fn: () => Promise<T>): Promise<T | undefined> {
    const started = performance.now();
    try {
      const out = await fn();
      const ms = performance.now() - started;
      const list = this.latencies.get(op);
      if (list) list.push(ms);
      else this.latencies.set(op, [ms]);
      return out;
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      const text = `${op} ${what}: ${status ?? 'no answer'} ${e.name}: ${e.message}`.slice(0, 400);
      if (status === undefined || status >= 500) this.platform(text);
      else this.wrong(text);
      return undefined;
    }
  }

  platform(text: string): void {
    this.platformErrors += 1;
    this.count('platform error');
    if (this.platformExamples.length < keep) this.platformExamples.push(text);
  }

  wrong(text: string): void {
    this.unexpected += 1;
    this.count('unexpected answer');
    if (this.unexpectedExamples.length < keep) this.unexpectedExamples.push(text);
  }
}
