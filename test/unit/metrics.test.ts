// The metrics registry: gauges other parts register, and the cap on function labels.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvocationMetrics, Metrics, otherFunctions } from '../../src/observability/index.js';
import { sampleOf } from '../support/logs.js';

const A = '000000000000';
const B = '222222222222';

describe('Metrics', () => {
  it('reads registered gauges at every scrape', async () => {
    const metrics = new Metrics({ maxFunctionLabels: 10, processMetrics: false });
    let depth = 3;
    metrics.gauge('kiln_async_queue_depth', 'Events waiting.', () => depth);
    metrics.gauge(
      'kiln_things',
      'Things by kind.',
      () => [
        { labels: { kind: 'a' }, value: depth * 2 },
        { labels: { kind: 'b' }, value: 1 },
      ],
      ['kind'],
    );
    let text = (await metrics.scrape()).text;
    assert.equal(sampleOf(text, 'kiln_async_queue_depth'), 3);
    assert.equal(sampleOf(text, 'kiln_things', { kind: 'a' }), 6);
    depth = 5;
    text = (await metrics.scrape()).text;
    assert.equal(sampleOf(text, 'kiln_async_queue_depth'), 5);
    assert.equal(sampleOf(text, 'kiln_things', { kind: 'a' }), 10);
    assert.match(text, /# TYPE kiln_async_queue_depth gauge/);
  });

  it('folds functions past the label cap into _other_', async () => {
    const metrics = new Metrics({ maxFunctionLabels: 2, processMetrics: false });
    const invocations = new InvocationMetrics(metrics);
    for (const name of ['a', 'b', 'c', 'd', 'a', 'c']) {
      invocations.finished({
        accountId: A,
        functionName: name,
        durationMs: 5,
        coldStart: name === 'a',
        functionError: false,
      });
    }
    invocations.throttled(A, 'e');
    const text = (await metrics.scrape()).text;
    const of = (fn: string) => ({ account: A, function: fn });
    assert.equal(sampleOf(text, 'kiln_invocations_total', of('a')), 2);
    assert.equal(sampleOf(text, 'kiln_invocations_total', of('b')), 1);
    assert.equal(sampleOf(text, 'kiln_invocations_total', of(otherFunctions)), 3);
    assert.equal(sampleOf(text, 'kiln_throttles_total', of(otherFunctions)), 1);
    assert.equal(sampleOf(text, 'kiln_cold_starts_total', of('a')), 2);
    assert.ok(!text.includes('function="c"'));
  });

  it("labels each account's functions apart: the same name in two accounts is two series", async () => {
    const metrics = new Metrics({ maxFunctionLabels: 10, processMetrics: false });
    const invocations = new InvocationMetrics(metrics);
    const run = { durationMs: 5, coldStart: false, functionError: false };
    invocations.finished({ accountId: A, functionName: 'same', ...run });
    invocations.finished({ accountId: B, functionName: 'same', ...run });
    invocations.finished({ accountId: B, functionName: 'same', ...run, functionError: true });
    const text = (await metrics.scrape()).text;
    assert.equal(sampleOf(text, 'kiln_invocations_total', { account: A, function: 'same' }), 1);
    assert.equal(sampleOf(text, 'kiln_invocations_total', { account: B, function: 'same' }), 2);
    assert.equal(sampleOf(text, 'kiln_invocation_errors_total', { account: B, function: 'same' }), 1);
    assert.equal(sampleOf(text, 'kiln_invocation_errors_total', { account: A, function: 'same' }), 0);
  });
});
