// The embedded event queue: durability across reopen, leases and their expiry, settlement by token,
// group commit, statistics and outcome retention, accounts, and the migration of a queue from before them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { NewEvent } from '../../src/queue/index.js';
import { SqliteEventQueue } from '../../src/queue/sqlite/index.js';

/** The account events are accepted in unless a test says otherwise. */
const A = '000000000000';
const B = '222222222222';
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function open(file?: string, outcomeLimit = 100_000): { q: SqliteEventQueue; file: string } {
  let f = file;
  if (!f) {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-queue-'));
    dirs.push(dir);
    f = join(dir, 'events.db');
  }
  return { q: new SqliteEventQueue(f, A, { outcomeRetentionMs: 60_000, outcomeLimit }), file: f };
}

const ev = (id: string, at = 0, fn = 'f', accountId = A): NewEvent => ({
  id,
  accountId,
  functionName: fn,
  qualifier: undefined,
  payload: Buffer.from(`{"id":"${id}"}`),
  enqueuedAt: at,
  leaseMs: 1000,
});

describe('SqliteEventQueue', () => {
  it('keeps accepted events across a reopen', async () => {
    const { q, file } = open();
    await q.enqueue([ev('a'), ev('b')]);
    await q.close();
    const { q: again } = open(file);
    const leased = again.lease(10, 0);
    assert.deepEqual(
      leased.map((e) => [e.id, e.attempts, e.payload.toString()]),
      [
        ['a', 1, '{"id":"a"}'],
        ['b', 1, '{"id":"b"}'],
      ],
    );
    await again.close();
  });

  it('hides a leased event until its lease expires, then hands it out again', async () => {
    const { q } = open();
    await q.enqueue([ev('a', 100)]);
    assert.equal(q.lease(10, 99).length, 0, 'not visible before it was enqueued');
    const [first] = q.lease(10, 100);
    assert.ok(first);
    assert.equal(q.lease(10, 1099).length, 0, 'leased');
    assert.equal(q.nextVisibleAt(), 1100);
    const [second] = q.lease(10, 1100);
    assert.equal(second?.attempts, 2, 'an expired lease counts as an attempt');
    assert.equal(await q.settle(first, done(), 1200), false, 'the first lease is no longer the owner');
    assert.ok(second);
    assert.equal(await q.settle(second, done(), 1200), true);
    assert.equal(q.status('a')?.state, 'done');
    await q.close();
  });

  it('reschedules: a throttled attempt does not count as an invocation', async () => {
    const { q } = open();
    await q.enqueue([ev('a')]);
    const [l1] = q.lease(1, 0);
    assert.ok(l1);
    assert.ok(await q.settle(l1, { kind: 'retry', visibleAt: 500, throttled: true }, 0));
    assert.equal(q.lease(1, 499).length, 0);
    const [l2] = q.lease(1, 500);
    assert.deepEqual([l2?.attempts, l2?.throttles], [1, 1]);
    assert.ok(l2);
    assert.ok(await q.settle(l2, { kind: 'retry', visibleAt: 600, throttled: false }, 500));
    const [l3] = q.lease(1, 600);
    assert.deepEqual([l3?.attempts, l3?.throttles], [2, 1]);
    await q.close();
  });

  it('enqueues follow-ups in the same commit that finishes an event, and counts drops', async () => {
    const { q } = open();
    await q.enqueue([ev('a')]);
    const [l] = q.lease(1, 0);
    assert.ok(l);
    const ok = await q.settle(
      l,
      {
        kind: 'done',
        outcome: { condition: 'RetriesExhausted', attempts: 3, detail: 'boom' },
        followUps: [ev('record', 5, 'dest')],
      },
      5,
    );
    assert.ok(ok);
    assert.deepEqual(q.status('a'), {
      id: 'a',
      accountId: A,
      functionName: 'f',
      qualifier: undefined,
      state: 'done',
      attempts: 3,
      enqueuedAt: 0,
      condition: 'RetriesExhausted',
      detail: 'boom',
      finishedAt: 5,
    });
    const s = q.stats(10);
    assert.deepEqual(s.dropped, { RetriesExhausted: 1 });
    assert.deepEqual(s.functions, [
      { accountId: A, functionName: 'dest', depth: 1, inFlight: 0, oldestAgeMs: 5 },
    ]);
    await q.close();
  });

  it('releases the leases of a previous process', async () => {
    const { q } = open();
    await q.enqueue([ev('a'), ev('b')]);
    q.lease(10, 0);
    assert.equal(q.stats(1).inFlight, 2);
    assert.equal(q.releaseLeases(1), 2);
    assert.equal(q.lease(10, 1).length, 2);
    await q.close();
  });

  it('commits concurrent enqueues together, and one bad write fails alone', async () => {
    const { q } = open();
    let changes = 0;
    q.onChange(() => changes++);
    const results = await Promise.allSettled([
      ...Array.from({ length: 200 }, (_, i) => q.enqueue([ev(`e${i}`)])),
      q.enqueue([ev('e7')]),
    ]);
    assert.equal(results.filter((r) => r.status === 'rejected').length, 1, 'the duplicate id');
    assert.equal(q.stats(0).depth, 200);
    assert.ok(changes <= 2, `one commit for the batch (and its retry), saw ${changes}`);
    await q.close();
  });

  it("keeps each event's account: leases, statistics and recent outcomes tell two accounts' functions apart", async () => {
    const { q } = open();
    await q.enqueue([ev('a1', 0, 'same', A), ev('b1', 0, 'same', B), ev('b2', 0, 'same', B)]);
    assert.deepEqual(
      q.stats(1).functions.map((f) => `${f.accountId} ${f.functionName} ${f.depth}`),
      [`${A} same 1`, `${B} same 2`],
    );
    const leased = q.lease(3, 0);
    assert.deepEqual(
      leased.map((l) => `${l.id} ${l.accountId}`),
      [`a1 ${A}`, `b1 ${B}`, `b2 ${B}`],
    );
    await Promise.all(leased.map((l, i) => q.settle(l, done(), i)));
    assert.deepEqual(
      q.recent(B, 'same', 10).map((o) => `${o.id} ${o.accountId}`),
      [`b2 ${B}`, `b1 ${B}`],
    );
    assert.deepEqual(
      q.recent(A, 'same', 10).map((o) => o.id),
      ['a1'],
    );
    await q.close();
  });

  it('migrates a queue from before accounts: its events and outcomes go to the default account', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-queue-'));
    dirs.push(dir);
    const file = join(dir, 'events.db');
    // Schema 1 as the Kiln before accounts made it (queue/sqlite/schema.ts v1).
    const old = new Database(file);
    old.exec(`
      CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
        function_name TEXT NOT NULL, qualifier TEXT, payload BLOB NOT NULL, enqueued_at INTEGER NOT NULL,
        lease_ms INTEGER NOT NULL, visible_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        throttles INTEGER NOT NULL DEFAULT 0, lease_token TEXT) STRICT;
      CREATE INDEX events_visible ON events(visible_at, seq);
      CREATE INDEX events_function ON events(function_name);
      CREATE TABLE outcomes (id TEXT PRIMARY KEY, function_name TEXT NOT NULL, qualifier TEXT,
        condition TEXT NOT NULL, attempts INTEGER NOT NULL, enqueued_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL, detail TEXT NOT NULL) STRICT;
      CREATE INDEX outcomes_finished ON outcomes(finished_at);
      CREATE TABLE dropped (condition TEXT PRIMARY KEY, count INTEGER NOT NULL) STRICT;
      INSERT INTO events (id, function_name, qualifier, payload, enqueued_at, lease_ms, visible_at)
        VALUES ('queued', 'f', 'live', X'7B7D', 3, 1000, 3);
      INSERT INTO outcomes VALUES ('finished', 'f', NULL, 'Success', 1, 1, 2, 'ok');
      INSERT INTO dropped VALUES ('EventAgeExceeded', 4);
      PRAGMA user_version = 1;`);
    old.close();

    const { q } = open(file);
    const [l] = q.lease(1, 10);
    assert.deepEqual(
      [l?.id, l?.accountId, l?.functionName, l?.qualifier, l?.payload.toString()],
      ['queued', A, 'f', 'live', '{}'],
    );
    assert.equal(q.status('finished')?.accountId, A);
    assert.deepEqual(
      q.recent(A, 'f', 10).map((o) => o.id),
      ['finished'],
    );
    assert.deepEqual(q.stats(10).dropped, { EventAgeExceeded: 4 });
    await q.close();
  });

  it('keeps at most outcomeLimit outcomes', async () => {
    const { q } = open(undefined, 10);
    const n = 500;
    await q.enqueue(Array.from({ length: n }, (_, i) => ev(`e${i}`)));
    const leased = q.lease(n, 0);
    await Promise.all(leased.map((l, i) => q.settle(l, done(), i)));
    assert.equal(q.status('e0'), undefined, 'oldest outcome pruned');
    assert.equal(q.status(`e${n - 1}`)?.state, 'done');
    await q.close();
  });
});

function done() {
  return {
    kind: 'done' as const,
    outcome: { condition: 'Success' as const, attempts: 1, detail: '' },
    followUps: [],
  };
}
