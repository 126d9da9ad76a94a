import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Fleet, type WorkerHandle } from '../../src/placement/index.js';
import { ManualClock, silentLogger } from '../../src/shared/index.js';
import type { FunctionSpec, InvokeResult } from '../../src/worker/index.js';

/** A hand-written worker whose drain waits for in-flight invocations, like the real one. */
class FakeWorker implements WorkerHandle {
  inFlight = 0;
  drained = false;
  draining = false;
  invoked = 0;
  private release?: () => void;
  constructor(readonly id: string) {}
  async invoke(): Promise<InvokeResult> {
    assert.ok(!this.draining, `${this.id} got an invocation while draining`);
    this.invoked++;
    this.inFlight++;
    await new Promise<void>((r) => (this.release = r));
    this.inFlight--;
    return {
      outcome: { kind: 'success', payload: Buffer.from(this.id) },
      logTail: '',
      fatal: false,
      durationMs: 0,
      environmentId: this.id,
      coldStart: false,
    };
  }
  finish(): void {
    this.release?.();
  }
  async retire(): Promise<void> {}
  async drain(): Promise<void> {
    this.draining = true;
    while (this.inFlight > 0) await new Promise((r) => setImmediate(r));
    this.drained = true;
  }
  async kill(): Promise<void> {}
  zygoteList() {
    return [];
  }
  environments() {
    return [];
  }
  readonly provisioned = new Map<string, number>();
  setProvisioned(id: string, s: FunctionSpec | undefined, count: number): void {
    if (s && count > 0) this.provisioned.set(id, count);
    else this.provisioned.delete(id);
  }
  provisionedStatus(id: string) {
    const n = this.provisioned.get(id);
    return n === undefined ? undefined : { allocated: n };
  }
}

const spec = {} as FunctionSpec;
const req = { requestId: 'r', payload: Buffer.alloc(0), deadlineMs: 0, invokedFunctionArn: '', traceId: '' };

describe('Fleet (worker leases)', () => {
  it('keeps one worker during its lease, then drains it and places new invocations on a fresh one', async () => {
    const clock = new ManualClock(0);
    const workers: FakeWorker[] = [];
    const fleet = new Fleet({
      clock,
      log: silentLogger(),
      leaseMs: 14 * 3600 * 1000,
      newWorker: () => {
        const w = new FakeWorker(`w${workers.length}`);
        workers.push(w);
        return w;
      },
    });
    const first = fleet.invoke(spec, req);
    clock.advance(14 * 3600 * 1000 - 1);
    assert.equal(fleet.renewIfExpired(), false);
    clock.advance(1);
    const second = fleet.invoke(spec, req);
    assert.equal(workers.length, 2);
    assert.equal(workers[0]?.draining, true);
    assert.equal(workers[0]?.drained, false, 'in-flight work keeps the old worker alive');
    workers[0]?.finish();
    assert.equal((await first).environmentId, 'w0');
    await fleet.drained();
    assert.equal(workers[0]?.drained, true);
    workers[1]?.finish();
    assert.equal((await second).environmentId, 'w1');
    assert.equal(workers[1]?.invoked, 1);
  });

  it('hands every provisioned concurrency configuration to the next worker, and forgets retired ones', () => {
    const clock = new ManualClock(0);
    const workers: FakeWorker[] = [];
    const fleet = new Fleet({
      clock,
      log: silentLogger(),
      leaseMs: 1000,
      newWorker: () => {
        const w = new FakeWorker(`w${workers.length}`);
        workers.push(w);
        return w;
      },
    });
    const arn = (account: string, name: string) => `arn:aws:lambda:us-east-1:${account}:function:${name}`;
    const spec = (account: string, name: string, revisionId: string) =>
      ({ functionName: name, functionArn: arn(account, name), version: '1', revisionId }) as FunctionSpec;
    const v1 = spec('000000000000', 'f', 'r1');
    const g1 = spec('000000000000', 'g', 'r2');
    // Another account's function of the same name: retiring the first account's `g` leaves it alone.
    const otherG = spec('222222222222', 'g', 'r3');
    fleet.setProvisioned('f:1', v1, 3);
    fleet.setProvisioned('g:live', g1, 2);
    fleet.setProvisioned('g:old', g1, 1);
    fleet.setProvisioned('g:old', undefined, 0);
    fleet.setProvisioned('other-g:live', otherG, 4);
    assert.deepEqual(fleet.provisionedStatus('f:1'), { allocated: 3 });
    void fleet.retire(arn('000000000000', 'g'));
    clock.advance(1000);
    assert.equal(fleet.renewIfExpired(), true);
    assert.deepEqual(
      [...(workers[1]?.provisioned ?? [])],
      [
        ['f:1', 3],
        ['other-g:live', 4],
      ],
    );
  });
});
