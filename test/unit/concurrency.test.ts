import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConcurrencyLimiter, ScalingRateLimiter } from '../../src/placement/index.js';
import { ManualClock } from '../../src/shared/index.js';

const reasonOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { extra?: { Reason?: string } }).extra?.Reason;
  }
  return undefined;
};

describe('ConcurrencyLimiter', () => {
  it('shares what the account limit leaves unreserved among unreserved functions', () => {
    let reserved = 0;
    const l = new ConcurrencyLimiter({ accountLimit: 5, totalReserved: () => reserved });
    const releases = [1, 2, 3, 4, 5].map((i) => l.acquire(`f${i % 2}`, undefined));
    assert.equal(
      reasonOf(() => l.acquire('f9', undefined)),
      'ConcurrentInvocationLimitExceeded',
    );
    releases[0]?.();
    releases[0]?.(); // releasing twice frees one slot only
    const again = l.acquire('f9', undefined);
    assert.equal(
      reasonOf(() => l.acquire('f9', undefined)),
      'ConcurrentInvocationLimitExceeded',
    );
    again();
    reserved = 2; // a reservation elsewhere shrinks the shared pool
    assert.equal(l.unreservedLimit(), 3);
    assert.equal(
      reasonOf(() => l.acquire('f9', undefined)),
      'ConcurrentInvocationLimitExceeded',
    );
  });

  it('limits a function with reserved concurrency to its reservation, independently of the pool', () => {
    const l = new ConcurrencyLimiter({ accountLimit: 10, totalReserved: () => 2 });
    const a = l.acquire('r', 2);
    l.acquire('r', 2);
    assert.equal(
      reasonOf(() => l.acquire('r', 2)),
      'ReservedFunctionConcurrentInvocationLimitExceeded',
    );
    assert.equal(
      reasonOf(() => l.acquire('zero', 0)),
      'ReservedFunctionConcurrentInvocationLimitExceeded',
    );
    for (let i = 0; i < 8; i++) l.acquire(`u${i}`, undefined);
    assert.equal(l.inFlight(), 10);
    a();
    l.acquire('r', 2);
  });
});

describe('ScalingRateLimiter', () => {
  it('admits perWindow new environments per function per window, refilling over time', () => {
    const clock = new ManualClock(0);
    const s = new ScalingRateLimiter({ clock, perWindow: 3, windowMs: 10_000 });
    for (let i = 0; i < 3; i++) s.admit('f', false);
    assert.equal(
      reasonOf(() => s.admit('f', false)),
      'FunctionInvocationRateLimitExceeded',
    );
    assert.equal(
      reasonOf(() => s.admit('f', true)),
      'ReservedFunctionInvocationRateLimitExceeded',
    );
    s.admit('other', false);
    clock.advance(3333);
    assert.equal(
      reasonOf(() => s.admit('f', false)),
      'FunctionInvocationRateLimitExceeded',
    );
    clock.advance(1);
    s.admit('f', false);
    clock.advance(60_000);
    for (let i = 0; i < 3; i++) s.admit('f', false);
    assert.equal(
      reasonOf(() => s.admit('f', false)),
      'FunctionInvocationRateLimitExceeded',
    );
  });
});
