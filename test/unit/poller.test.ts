// Pollers against a real SQLite queue and a scripted function, on a manual clock: Lambda's retry
// schedule, throttling backoff, event age, destinations, dead letters and lease expiry, without sleeping.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ApiError } from '../../src/model/index.js';
import { PollerFleet, type AsyncPolicy, type AttemptResult } from '../../src/poller/index.js';
import type { EventQueue, LeasedEvent, Settlement } from '../../src/queue/index.js';
import { SqliteEventQueue } from '../../src/queue/sqlite/index.js';
import { ManualClock, silentLogger } from '../../src/shared/index.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

type Script = (e: LeasedEvent) => Promise<AttemptResult>;
const ok = (body: unknown): AttemptResult => ({
  functionError: false,
  executedVersion: '$LATEST',
  payload: Buffer.from(JSON.stringify(body)),
});
const boom: AttemptResult = {
  functionError: true,
  executedVersion: '$LATEST',
  payload: Buffer.from('{"errorType":"Error","errorMessage":"boom"}'),
};

/** The account most events are accepted in. */
const A = '000000000000';
const B = '222222222222';

/** A queue whose settlements can be awaited, and a fleet of pollers driving a scripted function. */
function harness(opts: {
  script: Script;
  policy?: Partial<AsyncPolicy>;
  pollers?: number;
  batch?: number;
  missing?: string[];
}) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-poller-'));
  dirs.push(dir);
  const clock = new ManualClock(1_000_000);
  const real = new SqliteEventQueue(join(dir, 'events.db'), A, {
    outcomeRetentionMs: 1e9,
    outcomeLimit: 1e6,
  });
  const settlements: Array<{ event: LeasedEvent; s: Settlement }> = [];
  const waiters: Array<() => void> = [];
  const queue: EventQueue = Object.assign(Object.create(real) as EventQueue, {
    settle: async (event: LeasedEvent, s: Settlement, now: number) => {
      const r = await real.settle(event, s, now);
      settlements.push({ event, s });
      waiters.splice(0).forEach((w) => w());
      return r;
    },
  });
  const attempts: Array<{ account: string; fn: string; id: string; at: number; payload: string }> = [];
  const fleet = new PollerFleet(
    {
      queue,
      clock,
      log: silentLogger(),
      invoke: (e) => {
        attempts.push({
          account: e.accountId,
          fn: e.functionName,
          id: e.id,
          at: clock.now(),
          payload: e.payload.toString(),
        });
        return opts.script(e);
      },
      policy: (_account, name) =>
        opts.missing?.includes(name)
          ? undefined
          : name === 'f'
            ? { maxRetries: 2, maxAgeMs: 21_600_000, ...opts.policy }
            : { maxRetries: 2, maxAgeMs: 21_600_000 },
      // As the platform's: only a function of the event's own account is a target.
      target: (account, arn) =>
        arn.split(':')[4] === account
          ? { functionName: arn.split(':')[6] ?? '', qualifier: undefined, leaseMs: 5000 }
          : undefined,
      functionArn: (account, n, q) => `arn:aws:lambda:us-east-1:${account}:function:${n}${q ? `:${q}` : ''}`,
      newId: (() => {
        let n = 0;
        return () => `gen-${++n}`;
      })(),
      batchSize: opts.batch ?? 4,
    },
    opts.pollers ?? 1,
  );
  fleet.start();
  /** Resolves once `n` settlements in total have happened. */
  const settled = async (n: number): Promise<void> => {
    while (settlements.length < n) await new Promise<void>((r) => waiters.push(r));
  };
  const advance = (ms: number): void => {
    clock.advance(ms);
    fleet.wake();
  };
  const enqueue = (id: string, payload = '{}', fn = 'f', accountId = A) =>
    real.enqueue([
      {
        id,
        accountId,
        functionName: fn,
        qualifier: undefined,
        payload: Buffer.from(payload),
        enqueuedAt: clock.now(),
        leaseMs: 5000,
      },
    ]);
  const stop = async () => {
    await fleet.stop();
    await real.close();
  };
  return { clock, real, settlements, attempts, settled, advance, enqueue, stop };
}

const arnOf = (n: string, account = A) => `arn:aws:lambda:us-east-1:${account}:function:${n}`;

describe('pollers', () => {
  it('runs an event once and sends a Success record to the on-success destination', async () => {
    const h = harness({
      script: async (e) =>
        e.functionName === 'f' ? ok({ echo: JSON.parse(e.payload.toString()) }) : ok('recorded'),
      policy: { onSuccess: arnOf('dest') },
    });
    await h.enqueue('r1', '{"n":1}');
    await h.settled(2);
    const record = JSON.parse(h.attempts.find((a) => a.fn === 'dest')?.payload ?? '{}');
    assert.deepEqual(record, {
      version: '1.0',
      timestamp: new Date(1_000_000).toISOString(),
      requestContext: {
        requestId: 'r1',
        functionArn: `${arnOf('f')}:$LATEST`,
        condition: 'Success',
        approximateInvokeCount: 1,
      },
      requestPayload: { n: 1 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST' },
      responsePayload: { echo: { n: 1 } },
    });
    assert.equal(h.real.status('r1')?.condition, 'Success');
    await h.stop();
  });

  it('retries a function error after 1 and 2 minutes, then reports RetriesExhausted and dead-letters', async () => {
    const h = harness({
      script: async (e) => (e.functionName === 'f' ? boom : ok('noted')),
      policy: { onFailure: arnOf('failures'), deadLetter: arnOf('dlq') },
    });
    await h.enqueue('r1', '{"order":7}');
    await h.settled(1);
    assert.equal(h.attempts.length, 1);
    h.advance(59_999);
    assert.equal(h.real.lease(1, h.clock.now()).length, 0, 'not before a minute has passed');
    h.advance(1);
    await h.settled(2);
    assert.deepEqual(
      h.attempts.map((a) => a.at - 1_000_000),
      [0, 60_000],
    );
    h.advance(119_999);
    assert.equal(h.real.lease(1, h.clock.now()).length, 0, 'not before two more minutes');
    h.advance(1);
    await h.settled(5); // third attempt, then the record and the dead letter
    const f = h.attempts.filter((a) => a.fn === 'f');
    assert.deepEqual(
      f.map((a) => a.at - 1_000_000),
      [0, 60_000, 180_000],
    );
    const record = JSON.parse(h.attempts.find((a) => a.fn === 'failures')?.payload ?? '{}');
    assert.equal(record.requestContext.condition, 'RetriesExhausted');
    assert.equal(record.requestContext.approximateInvokeCount, 3);
    assert.deepEqual(record.responseContext, {
      statusCode: 200,
      executedVersion: '$LATEST',
      functionError: 'Unhandled',
    });
    assert.deepEqual(record.responsePayload, { errorType: 'Error', errorMessage: 'boom' });
    assert.equal(
      h.attempts.find((a) => a.fn === 'dlq')?.payload,
      '{"order":7}',
      'the DLQ gets the event itself',
    );
    assert.deepEqual(h.real.stats(h.clock.now()).dropped, { RetriesExhausted: 1 });
    await h.stop();
  });

  it('honours MaximumRetryAttempts 0', async () => {
    const h = harness({ script: async () => boom, policy: { maxRetries: 0 } });
    await h.enqueue('r1');
    await h.settled(1);
    assert.equal(h.real.status('r1')?.condition, 'RetriesExhausted');
    assert.equal(h.attempts.length, 1);
    await h.stop();
  });

  it('backs off a throttled event 1 s, 2 s, 4 s … and drops it with EventAgeExceeded', async () => {
    const h = harness({
      script: async (e) => {
        if (e.functionName === 'f') throw new ApiError('TooManyRequestsException', 'Rate Exceeded.');
        return ok('noted');
      },
      policy: { maxAgeMs: 60_000, onFailure: arnOf('failures') },
    });
    await h.enqueue('r1', '{"x":1}');
    let settledCount = 1;
    await h.settled(settledCount);
    const delays: number[] = [];
    while (h.real.status('r1')?.state !== 'done') {
      const next = h.real.nextVisibleAt() ?? 0;
      delays.push(next - h.clock.now());
      h.advance(next - h.clock.now());
      await h.settled(++settledCount);
    }
    // 1+2+4+8+16 = 31 s; the next 32 s would pass the 60 s age, so the last wait ends just after it.
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 60_001 - 31_000]);
    assert.equal(h.real.status('r1')?.condition, 'EventAgeExceeded');
    assert.equal(h.real.status('r1')?.attempts, 0, 'no attempt reached the function');
    await h.settled(settledCount + 1);
    const record = JSON.parse(h.attempts.find((a) => a.fn === 'failures')?.payload ?? '{}');
    assert.equal(record.requestContext.condition, 'EventAgeExceeded');
    assert.equal(record.requestContext.approximateInvokeCount, 0);
    assert.equal(record.responseContext, undefined, 'nothing answered');
    await h.stop();
  });

  it('drops an event whose function is gone, with the reason', async () => {
    const h = harness({ script: async () => ok(1), missing: ['f'] });
    await h.enqueue('r1');
    await h.settled(1);
    assert.equal(h.attempts.length, 0);
    assert.equal(h.real.status('r1')?.condition, 'FunctionNotFound');
    assert.deepEqual(h.real.stats(h.clock.now()).dropped, { FunctionNotFound: 1 });
    await h.stop();
  });

  it('hands an event out again when its lease expires, and counts the attempt', async () => {
    let calls = 0;
    let hang: (() => void) | undefined;
    const h = harness({
      script: async () => {
        if (++calls === 1) await new Promise<void>((r) => (hang = r));
        return ok(calls);
      },
    });
    await h.enqueue('r1');
    while (calls < 1) await new Promise((r) => setImmediate(r));
    h.advance(5000);
    await h.settled(1);
    assert.equal(h.real.status('r1')?.attempts, 2);
    hang?.();
    await h.settled(2);
    assert.equal(calls, 2);
    assert.deepEqual([h.real.status('r1')?.state, h.real.status('r1')?.attempts], ['done', 2]);
    await h.stop();
  });

  it('drains a burst with several pollers, each event once', async () => {
    const h = harness({ script: async () => ok('x'), pollers: 3, batch: 5 });
    const n = 300;
    await Promise.all(Array.from({ length: n }, (_, i) => h.enqueue(`e${i}`)));
    await h.settled(n);
    assert.equal(h.attempts.length, n);
    assert.equal(new Set(h.attempts.map((a) => a.id)).size, n);
    assert.equal(h.real.stats(h.clock.now()).depth, 0);
    await h.stop();
  });

  it("runs an event in its own account, delivers within it, and never to another account's ARN", async () => {
    const h = harness({
      script: async (e) => (e.functionName === 'f' ? boom : ok('noted')),
      policy: { maxRetries: 0, onFailure: arnOf('failures', B), deadLetter: arnOf('dlq', A) },
    });
    await h.enqueue('r1', '{"n":1}', 'f', B);
    await h.settled(2);
    assert.deepEqual(
      h.attempts.map((a) => `${a.account} ${a.fn}`),
      [`${B} f`, `${B} failures`],
      "B's event ran in B, its record went to B's function, and A's dead-letter ARN got nothing",
    );
    const record = JSON.parse(h.attempts[1]?.payload ?? '{}');
    assert.equal(record.requestContext.functionArn, `${arnOf('f', B)}:$LATEST`);
    assert.equal(h.real.status('r1')?.accountId, B);
    assert.deepEqual(
      h.real.recent(B, 'f', 10).map((o) => o.id),
      ['r1'],
    );
    assert.deepEqual(h.real.recent(A, 'f', 10), [], "A's function of the same name has no such event");
    await h.stop();
  });
});
