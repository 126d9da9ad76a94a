// The embedded event queue: SQLite in WAL mode. Accepting an event commits with synchronous=FULL, so it is
// on disk before its 202. Leases and settlements commit with NORMAL (safe against a process crash, not
// power loss): losing one only means an event runs again, never that it is lost, because a settlement and
// the deliveries it enqueues commit or vanish together. A lease is a row's visibility moved into the
// future plus a token; an unsettled lease simply expires.
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import type {
  Condition,
  EventQueue,
  EventStatus,
  LeasedEvent,
  NewEvent,
  QueueStats,
  Settlement,
} from '../ports.js';
import { GroupCommit } from './group-commit.js';
import { migrate } from './schema.js';

export interface SqliteEventQueueOptions {
  /** How long outcomes stay queryable (`kiln async event`). */
  readonly outcomeRetentionMs: number;
  /** At most this many outcomes are kept; the oldest go first. */
  readonly outcomeLimit: number;
}

interface EventRow {
  id: string;
  account: string;
  function_name: string;
  qualifier: string | null;
  payload: Buffer;
  enqueued_at: number;
  lease_ms: number;
  visible_at: number;
  attempts: number;
  throttles: number;
  lease_token: string | null;
}

interface OutcomeRow {
  id: string;
  account: string;
  function_name: string;
  qualifier: string | null;
  condition: Condition;
  attempts: number;
  enqueued_at: number;
  finished_at: number;
  detail: string;
}

/** Prune outcomes every this many settlements rather than on each one. */
const pruneEvery = 500;

export class SqliteEventQueue implements EventQueue {
  private readonly db: Database.Database;
  private readonly s;
  private readonly commits: GroupCommit;
  private readonly listeners: Array<() => void> = [];
  private settledSincePrune = 0;

  /** `defaultAccount` receives the events of an events.db made before accounts existed. */
  constructor(
    file: string,
    defaultAccount: string,
    private readonly o: SqliteEventQueueOptions,
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db, defaultAccount);
    const db = this.db;
    this.s = {
      insert: db.prepare(
        `INSERT INTO events (id, account, function_name, qualifier, payload, enqueued_at, lease_ms, visible_at)
         VALUES (@id, @accountId, @functionName, @qualifier, @payload, @enqueuedAt, @leaseMs, @enqueuedAt)`,
      ),
      lease: db.prepare<{ token: string; now: number; max: number }, EventRow>(
        `UPDATE events SET lease_token = @token, visible_at = @now + lease_ms, attempts = attempts + 1
         WHERE seq IN (SELECT seq FROM events WHERE visible_at <= @now ORDER BY visible_at, seq LIMIT @max)
         RETURNING *`,
      ),
      remove: db.prepare<[string, string]>('DELETE FROM events WHERE id = ? AND lease_token = ?'),
      retry: db.prepare<{ id: string; token: string; visibleAt: number; throttled: number }>(
        `UPDATE events SET lease_token = NULL, visible_at = @visibleAt,
           attempts = attempts - @throttled, throttles = throttles + @throttled
         WHERE id = @id AND lease_token = @token`,
      ),
      recordOutcome: db.prepare(
        `INSERT OR REPLACE INTO outcomes (id, account, function_name, qualifier, condition, attempts, enqueued_at, finished_at, detail)
         VALUES (@id, @accountId, @functionName, @qualifier, @condition, @attempts, @enqueuedAt, @finishedAt, @detail)`,
      ),
      countDrop: db.prepare<[string]>(
        'INSERT INTO dropped (condition, count) VALUES (?, 1) ON CONFLICT(condition) DO UPDATE SET count = count + 1',
      ),
      nextVisible: db.prepare<[], { t: number | null }>('SELECT MIN(visible_at) AS t FROM events'),
      release: db.prepare<[number]>(
        'UPDATE events SET lease_token = NULL, visible_at = ? WHERE lease_token IS NOT NULL',
      ),
      perFunction: db.prepare<
        [number],
        { account: string; function_name: string; depth: number; in_flight: number; oldest: number }
      >(
        `SELECT account, function_name, COUNT(*) AS depth,
           SUM(CASE WHEN lease_token IS NOT NULL AND visible_at > ? THEN 1 ELSE 0 END) AS in_flight,
           MIN(enqueued_at) AS oldest
         FROM events GROUP BY account, function_name ORDER BY account, function_name`,
      ),
      dropped: db.prepare<[], { condition: string; count: number }>('SELECT condition, count FROM dropped'),
      eventById: db.prepare<[string], EventRow>('SELECT * FROM events WHERE id = ?'),
      outcomeById: db.prepare<[string], OutcomeRow>('SELECT * FROM outcomes WHERE id = ?'),
      recent: db.prepare<[string, string, number], OutcomeRow>(
        'SELECT * FROM outcomes WHERE account = ? AND function_name = ? ORDER BY finished_at DESC, rowid DESC LIMIT ?',
      ),
      pruneOld: db.prepare<[number]>('DELETE FROM outcomes WHERE finished_at < ?'),
      pruneExcess: db.prepare<[number]>(
        `DELETE FROM outcomes WHERE id IN
           (SELECT id FROM outcomes ORDER BY finished_at DESC LIMIT -1 OFFSET ?)`,
      ),
    };
    this.commits = new GroupCommit(
      (fn, durable) => this.inTransaction(fn, durable),
      () => this.notify(),
    );
  }

  enqueue(events: readonly NewEvent[]): Promise<void> {
    return this.commits.run(() => {
      for (const e of events) this.s.insert.run({ ...e, qualifier: e.qualifier ?? null });
    }, true);
  }

  lease(max: number, now: number): LeasedEvent[] {
    if (max <= 0) return [];
    const token = randomBytes(12).toString('hex');
    let rows: EventRow[] = [];
    this.inTransaction(() => (rows = this.s.lease.all({ token, now, max })), false);
    return rows.map((r) => ({
      id: r.id,
      accountId: r.account,
      functionName: r.function_name,
      qualifier: r.qualifier ?? undefined,
      payload: r.payload,
      enqueuedAt: r.enqueued_at,
      leaseMs: r.lease_ms,
      attempts: r.attempts,
      throttles: r.throttles,
      leaseToken: token,
    }));
  }

  settle(event: LeasedEvent, settlement: Settlement, now: number): Promise<boolean> {
    let owned = false;
    return this.commits
      .run(() => {
        if (settlement.kind === 'retry') {
          owned =
            this.s.retry.run({
              id: event.id,
              token: event.leaseToken,
              visibleAt: settlement.visibleAt,
              throttled: settlement.throttled ? 1 : 0,
            }).changes === 1;
          return;
        }
        owned = this.s.remove.run(event.id, event.leaseToken).changes === 1;
        if (!owned) return;
        const { condition, detail, attempts } = settlement.outcome;
        this.s.recordOutcome.run({
          id: event.id,
          accountId: event.accountId,
          functionName: event.functionName,
          qualifier: event.qualifier ?? null,
          condition,
          attempts,
          enqueuedAt: event.enqueuedAt,
          finishedAt: now,
          detail,
        });
        if (condition !== 'Success') this.s.countDrop.run(condition);
        for (const f of settlement.followUps) this.s.insert.run({ ...f, qualifier: f.qualifier ?? null });
        if (++this.settledSincePrune >= pruneEvery) {
          this.settledSincePrune = 0;
          this.s.pruneOld.run(now - this.o.outcomeRetentionMs);
          this.s.pruneExcess.run(this.o.outcomeLimit);
        }
      }, false)
      .then(() => owned);
  }

  nextVisibleAt(): number | undefined {
    return this.s.nextVisible.get()?.t ?? undefined;
  }

  releaseLeases(now: number): number {
    const n = this.s.release.run(now).changes;
    if (n > 0) this.notify();
    return n;
  }

  stats(now: number): QueueStats {
    const functions = this.s.perFunction.all(now).map((r) => ({
      accountId: r.account,
      functionName: r.function_name,
      depth: r.depth,
      inFlight: r.in_flight,
      oldestAgeMs: Math.max(0, now - r.oldest),
    }));
    const dropped: Record<string, number> = {};
    for (const d of this.s.dropped.all()) dropped[d.condition] = d.count;
    return {
      depth: functions.reduce((n, f) => n + f.depth, 0),
      inFlight: functions.reduce((n, f) => n + f.inFlight, 0),
      oldestAgeMs: functions.reduce((n, f) => Math.max(n, f.oldestAgeMs), 0),
      functions,
      dropped,
    };
  }

  status(id: string): EventStatus | undefined {
    const e = this.s.eventById.get(id);
    if (e) {
      return {
        id,
        accountId: e.account,
        functionName: e.function_name,
        qualifier: e.qualifier ?? undefined,
        state: e.lease_token !== null ? 'in-flight' : 'queued',
        attempts: e.attempts,
        enqueuedAt: e.enqueued_at,
      };
    }
    const o = this.s.outcomeById.get(id);
    return o && outcomeStatus(o);
  }

  recent(accountId: string, functionName: string, limit: number): EventStatus[] {
    return this.s.recent.all(accountId, functionName, limit).map(outcomeStatus);
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    await this.commits.drained();
    this.db.close();
  }

  private inTransaction(fn: () => void, durable: boolean): void {
    // Per transaction: FULL fsyncs the WAL at commit (and with it every frame before).
    this.db.pragma(durable ? 'synchronous = FULL' : 'synchronous = NORMAL');
    this.db.transaction(fn)();
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }
}

function outcomeStatus(o: OutcomeRow): EventStatus {
  return {
    id: o.id,
    accountId: o.account,
    functionName: o.function_name,
    qualifier: o.qualifier ?? undefined,
    state: 'done',
    attempts: o.attempts,
    enqueuedAt: o.enqueued_at,
    condition: o.condition,
    detail: o.detail,
    finishedAt: o.finished_at,
  };
}
