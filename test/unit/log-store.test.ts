// logs.db and the Logs API over it, on a manual clock: size caps, retention, paging, bad input, accounts
// kept apart, and the migration of a logs.db from before accounts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { JsonServiceError } from '../../src/model/index.js';
import {
  LogReader,
  LogsApi,
  SqliteLogStore,
  eventSize,
  type LogEntry,
} from '../../src/observability/index.js';
import { ManualClock } from '../../src/shared/index.js';

const root = mkdtempSync(path.join(tmpdir(), 'kiln-logs-'));
after(() => rmSync(root, { recursive: true, force: true }));
let files = 0;

/** The account most tests read and write in. */
const A = '000000000000';
const B = '222222222222';
type Members = Parameters<LogsApi['describeLogGroups']>[0];

/** The API's operations as one account calls them. */
const as = (api: LogsApi, account: string) => ({
  describeLogGroups: (m: Members) => api.describeLogGroups(m, account),
  describeLogStreams: (m: Members) => api.describeLogStreams(m, account),
  getLogEvents: (m: Members) => api.getLogEvents(m, account),
  filterLogEvents: (m: Members) => api.filterLogEvents(m, account),
});

function open(
  limits: { retentionMs?: number; maxBytesPerGroup?: number } = {},
  clock = new ManualClock(1_000_000),
  file = path.join(root, `logs-${++files}.db`),
) {
  const store = new SqliteLogStore(
    file,
    { retentionMs: limits.retentionMs ?? 1e12, maxBytesPerGroup: limits.maxBytesPerGroup ?? 1e12 },
    clock,
    A,
  );
  const raw = new LogsApi({ reader: new LogReader(store.db), flush: () => undefined, region: 'us-east-1' });
  return { store, api: as(raw, A), raw, clock };
}

const entries = (
  group: string,
  stream: string,
  from: number,
  count: number,
  ts = (i: number) => i,
  account = A,
): LogEntry[] =>
  Array.from({ length: count }, (_, k) => ({
    account,
    group,
    stream,
    event: { timestamp: ts(from + k), message: `message ${from + k}` },
  }));

type Json = Record<string, unknown>;
const events = (answer: unknown): Json[] => (answer as { events: Json[] }).events;
const messages = (answer: unknown): string[] => events(answer).map((e) => String(e.message));
const storedBytes = (store: SqliteLogStore, group: string): number =>
  (store.db.prepare('SELECT stored_bytes AS b FROM log_groups WHERE name = ?').get(group) as { b: number }).b;
const actualBytes = (store: SqliteLogStore): number =>
  (store.db.prepare('SELECT coalesce(sum(size), 0) AS b FROM log_events').get() as { b: number }).b;
const code = (c: string) => (e: unknown) => e instanceof JsonServiceError && e.code === c;

describe('SqliteLogStore caps', () => {
  it('keeps each group under its byte cap, dropping its oldest events first', () => {
    const size = eventSize('message 100');
    const { store, api } = open({ maxBytesPerGroup: size * 10 });
    store.write(entries('/aws/lambda/a', 's1', 100, 25));
    store.write(entries('/aws/lambda/b', 's1', 100, 3));
    store.write(entries('/aws/lambda/a', 's2', 125, 5));
    const a = messages(api.filterLogEvents({ logGroupName: '/aws/lambda/a' }));
    assert.deepEqual(
      a,
      Array.from({ length: 10 }, (_, i) => `message ${120 + i}`),
    );
    // The other group is untouched by a's cap.
    assert.equal(messages(api.filterLogEvents({ logGroupName: '/aws/lambda/b' })).length, 3);
    assert.equal(storedBytes(store, '/aws/lambda/a'), size * 10);
    assert.equal(actualBytes(store), size * 13);
    store.close();
  });

  it('deletes events past the retention age on sweep, and streams left empty', () => {
    const { store, api, clock } = open({ retentionMs: 1000 });
    store.write(entries('/aws/lambda/a', 'old', 0, 5, () => clock.now()));
    clock.advance(600);
    store.write(entries('/aws/lambda/a', 'new', 5, 5, () => clock.now()));
    clock.advance(500);
    assert.equal(store.sweep(), 5);
    assert.deepEqual(messages(api.filterLogEvents({ logGroupName: '/aws/lambda/a' })), [
      'message 5',
      'message 6',
      'message 7',
      'message 8',
      'message 9',
    ]);
    const streams = (api.describeLogStreams({ logGroupName: '/aws/lambda/a' }) as { logStreams: Json[] })
      .logStreams;
    assert.deepEqual(
      streams.map((s) => s.logStreamName),
      ['new'],
    );
    assert.equal(storedBytes(store, '/aws/lambda/a'), actualBytes(store));
    clock.advance(1000);
    assert.equal(store.sweep(), 5);
    assert.equal(storedBytes(store, '/aws/lambda/a'), 0);
    // The group stays, as a Lambda function's group does.
    const groups = (api.describeLogGroups({}) as { logGroups: Json[] }).logGroups;
    assert.equal(groups.length, 1);
    assert.equal(groups[0]?.retentionInDays, undefined);
    store.close();
  });
});

describe('Logs API paging', () => {
  it('pages FilterLogEvents by position, so events dropped between pages shift nothing', () => {
    const size = eventSize('message 100');
    const { store, api } = open({ maxBytesPerGroup: size * 40 });
    store.write(entries('/aws/lambda/a', 's1', 100, 12, (i) => 1000 + i));
    store.write(entries('/aws/lambda/a', 's2', 112, 13, (i) => 1000 + i));
    const first = api.filterLogEvents({ logGroupName: '/aws/lambda/a', limit: 10 }) as { nextToken?: string };
    assert.equal(messages(first).length, 10);
    assert.ok(first.nextToken);
    // 20 more events push the 5 oldest out; the next page still starts right after the first.
    store.write(entries('/aws/lambda/a', 's1', 125, 20, (i) => 1000 + i));
    const second = api.filterLogEvents({
      logGroupName: '/aws/lambda/a',
      limit: 10,
      nextToken: first.nextToken,
    }) as { nextToken?: string };
    assert.deepEqual(messages(second)[0], 'message 110');
    const names = events(second).map((e) => e.logStreamName);
    assert.deepEqual(names.slice(0, 3), ['s1', 's1', 's2']);
    let token = second.nextToken;
    const rest: string[] = [];
    while (token) {
      const page = api.filterLogEvents({ logGroupName: '/aws/lambda/a', limit: 10, nextToken: token }) as {
        nextToken?: string;
      };
      rest.push(...messages(page));
      token = page.nextToken;
    }
    assert.equal(rest.at(-1), 'message 144');
    assert.equal(rest.length, 25);
    store.close();
  });

  it('filters by time range, stream names and pattern', () => {
    const { store, api } = open();
    store.write(entries('/aws/lambda/a', 's1', 0, 10, (i) => i * 10));
    store.write(entries('/aws/lambda/a', 's2', 10, 10, (i) => i * 10));
    const range = api.filterLogEvents({ logGroupName: '/aws/lambda/a', startTime: 30, endTime: 60 });
    assert.deepEqual(messages(range), ['message 3', 'message 4', 'message 5', 'message 6']);
    const s2 = api.filterLogEvents({ logGroupName: '/aws/lambda/a', logStreamNames: ['s2', 'missing'] });
    assert.equal(messages(s2).length, 10);
    const prefixed = api.filterLogEvents({ logGroupName: '/aws/lambda/a', logStreamNamePrefix: 's1' });
    assert.equal(messages(prefixed).length, 10);
    const pattern = api.filterLogEvents({
      logGroupName: '/aws/lambda/a',
      filterPattern: '?"message 1" -"message 1"',
    });
    assert.deepEqual(messages(pattern), []);
    const any = api.filterLogEvents({
      logGroupName: '/aws/lambda/a',
      filterPattern: '?"message 3" ?"message 17"',
    });
    assert.deepEqual(messages(any), ['message 3', 'message 17']);
    store.close();
  });

  it('pages GetLogEvents both ways, handing back the same token at either end', () => {
    const { store, api } = open();
    store.write(entries('/aws/lambda/a', 's', 0, 7));
    const q = { logGroupName: '/aws/lambda/a', logStreamName: 's', limit: 3 };
    type Page = { nextForwardToken: string; nextBackwardToken: string };
    const newest = api.getLogEvents(q) as Page;
    assert.deepEqual(messages(newest), ['message 4', 'message 5', 'message 6']);
    const end = api.getLogEvents({ ...q, nextToken: newest.nextForwardToken }) as Page;
    assert.deepEqual(messages(end), []);
    assert.equal(end.nextForwardToken, newest.nextForwardToken);
    const back = api.getLogEvents({ ...q, nextToken: newest.nextBackwardToken }) as Page;
    assert.deepEqual(messages(back), ['message 1', 'message 2', 'message 3']);
    const start = api.getLogEvents({ ...q, nextToken: back.nextBackwardToken }) as Page;
    assert.deepEqual(messages(start), ['message 0']);
    const before = api.getLogEvents({ ...q, nextToken: start.nextBackwardToken }) as Page;
    assert.deepEqual(messages(before), []);
    assert.equal(before.nextBackwardToken, start.nextBackwardToken);
    const head = api.getLogEvents({ ...q, startFromHead: true }) as Page;
    assert.deepEqual(messages(head), ['message 0', 'message 1', 'message 2']);
    store.close();
  });

  it('pages DescribeLogStreams by name and by last event time', () => {
    const { store, api } = open();
    for (let i = 0; i < 5; i++) store.write(entries('/aws/lambda/a', `s${i}`, i, 1, () => 100 - i));
    type Page = { logStreams: Json[]; nextToken?: string };
    const names: unknown[] = [];
    let token: string | undefined;
    do {
      const page = api.describeLogStreams({
        logGroupName: '/aws/lambda/a',
        limit: 2,
        nextToken: token,
      }) as Page;
      names.push(...page.logStreams.map((s) => s.logStreamName));
      token = page.nextToken;
    } while (token);
    assert.deepEqual(names, ['s0', 's1', 's2', 's3', 's4']);
    const byTime = api.describeLogStreams({
      logGroupName: '/aws/lambda/a',
      orderBy: 'LastEventTime',
      descending: false,
      limit: 3,
    }) as Page;
    assert.deepEqual(
      byTime.logStreams.map((s) => s.logStreamName),
      ['s4', 's3', 's2'],
    );
    const rest = api.describeLogStreams({
      logGroupName: '/aws/lambda/a',
      orderBy: 'LastEventTime',
      limit: 3,
      nextToken: byTime.nextToken,
    }) as Page;
    assert.deepEqual(
      rest.logStreams.map((s) => s.logStreamName),
      ['s1', 's0'],
    );
    assert.throws(
      () => api.describeLogStreams({ logGroupName: '/aws/lambda/a', nextToken: byTime.nextToken }),
      code('InvalidParameterException'),
    );
    store.close();
  });
});

describe('Logs API bad input', () => {
  it('answers with CloudWatch Logs error classes', () => {
    const { store, api } = open();
    store.write(entries('/aws/lambda/a', 's', 0, 1));
    const g = { logGroupName: '/aws/lambda/a' };
    assert.throws(() => api.filterLogEvents({}), code('InvalidParameterException'));
    assert.throws(() => api.filterLogEvents({ logGroupName: 7 }), code('SerializationException'));
    assert.throws(() => api.filterLogEvents({ ...g, limit: 10_001 }), code('InvalidParameterException'));
    assert.throws(() => api.filterLogEvents({ ...g, limit: 1.5 }), code('SerializationException'));
    assert.throws(() => api.filterLogEvents({ ...g, logStreamNames: 's' }), code('SerializationException'));
    assert.throws(() => api.filterLogEvents({ ...g, logStreamNames: [] }), code('InvalidParameterException'));
    assert.throws(() => api.filterLogEvents({ ...g, logStreamNames: [1] }), code('SerializationException'));
    assert.throws(
      () => api.filterLogEvents({ ...g, logStreamNames: ['s'], logStreamNamePrefix: 's' }),
      code('InvalidParameterException'),
    );
    assert.throws(
      () => api.filterLogEvents({ ...g, startTime: 10, endTime: 5 }),
      code('InvalidParameterException'),
    );
    assert.throws(
      () => api.filterLogEvents({ logGroupName: 'bad name!' }),
      code('InvalidParameterException'),
    );
    assert.throws(
      () => api.filterLogEvents({ logGroupName: '/aws/lambda/x' }),
      code('ResourceNotFoundException'),
    );
    assert.throws(() => api.getLogEvents(g), code('InvalidParameterException'));
    assert.throws(() => api.getLogEvents({ ...g, logStreamName: 'x' }), code('ResourceNotFoundException'));
    assert.throws(
      () => api.getLogEvents({ ...g, logStreamName: 's', nextToken: 'x/abc' }),
      code('InvalidParameterException'),
    );
    assert.throws(() => api.describeLogGroups({ limit: 0 }), code('InvalidParameterException'));
    assert.throws(
      () => api.describeLogGroups({ logGroupNamePrefix: '/a', logGroupNamePattern: 'a' }),
      code('InvalidParameterException'),
    );
    assert.throws(
      () => api.describeLogStreams({ ...g, orderBy: 'LastEventTime', logStreamNamePrefix: 's' }),
      code('InvalidParameterException'),
    );
    assert.throws(() => api.describeLogStreams({ ...g, orderBy: 'Size' }), code('InvalidParameterException'));
    assert.throws(() => api.describeLogStreams({ ...g, descending: 'yes' }), code('SerializationException'));
    // A group named by ARN works; an ARN of another account is refused.
    const arn = 'arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/a';
    assert.equal(messages(api.filterLogEvents({ logGroupIdentifier: arn })).length, 1);
    assert.throws(
      () => api.filterLogEvents({ logGroupIdentifier: arn.replace('000000000000', '111111111111') }),
      code('AccessDeniedException'),
    );
    assert.throws(
      () => api.filterLogEvents({ ...g, logGroupIdentifier: arn }),
      code('InvalidParameterException'),
    );
    assert.equal(messages(api.filterLogEvents(g)).length, 1);
    store.close();
  });

  it("keeps accounts' groups apart: the same name is two groups, and each account sees its own", () => {
    const { store, raw } = open();
    const a = as(raw, A);
    const b = as(raw, B);
    store.write([
      ...entries('/aws/lambda/same', 's', 0, 2, undefined, A),
      ...entries('/aws/lambda/same', 's', 10, 3, undefined, B),
      ...entries('/aws/lambda/only-a', 's', 20, 1, undefined, A),
    ]);
    const names = (answer: unknown): string[] =>
      (answer as { logGroups: { logGroupName: string; logGroupArn: string }[] }).logGroups.map(
        (g) => `${g.logGroupName} ${g.logGroupArn}`,
      );
    assert.deepEqual(names(a.describeLogGroups({})), [
      `/aws/lambda/only-a arn:aws:logs:us-east-1:${A}:log-group:/aws/lambda/only-a`,
      `/aws/lambda/same arn:aws:logs:us-east-1:${A}:log-group:/aws/lambda/same`,
    ]);
    assert.deepEqual(names(b.describeLogGroups({ logGroupNamePrefix: '/aws/lambda/' })), [
      `/aws/lambda/same arn:aws:logs:us-east-1:${B}:log-group:/aws/lambda/same`,
    ]);
    assert.deepEqual(names(b.describeLogGroups({ logGroupNamePattern: 'only' })), []);
    const g = { logGroupName: '/aws/lambda/same' };
    assert.deepEqual(messages(a.filterLogEvents(g)), ['message 0', 'message 1']);
    assert.deepEqual(messages(b.filterLogEvents(g)), ['message 10', 'message 11', 'message 12']);
    assert.deepEqual(messages(b.getLogEvents({ ...g, logStreamName: 's', startFromHead: true })), [
      'message 10',
      'message 11',
      'message 12',
    ]);
    const streamArn = (answer: unknown): string =>
      (answer as { logStreams: { arn: string }[] }).logStreams.map((x) => x.arn).join();
    assert.equal(
      streamArn(b.describeLogStreams(g)),
      `arn:aws:logs:us-east-1:${B}:log-group:/aws/lambda/same:log-stream:s`,
    );
    // B cannot reach A's group by name or by ARN, and the refusal is the same whether it exists or not.
    assert.throws(
      () => b.filterLogEvents({ logGroupName: '/aws/lambda/only-a' }),
      code('ResourceNotFoundException'),
    );
    for (const group of ['/aws/lambda/only-a', '/aws/lambda/nothing']) {
      assert.throws(
        () => b.filterLogEvents({ logGroupIdentifier: `arn:aws:logs:us-east-1:${A}:log-group:${group}` }),
        code('AccessDeniedException'),
      );
    }
    store.close();
  });

  it('migrates a logs.db from before accounts: its groups, streams and events go to the default account', () => {
    const file = path.join(root, `logs-${++files}.db`);
    const first = open({}, new ManualClock(1_000_000), file);
    first.store.write(entries('/aws/lambda/old', 's', 0, 3));
    first.store.close();
    // Put the file back into schema 1 as the Kiln before accounts wrote it.
    const db = new Database(file);
    db.exec(`
      CREATE TABLE g1 (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL,
        stored_bytes INTEGER NOT NULL DEFAULT 0);
      INSERT INTO g1 SELECT id, name, created, stored_bytes FROM log_groups;
      DROP TABLE log_groups;
      ALTER TABLE g1 RENAME TO log_groups;
      PRAGMA user_version = 1;`);
    db.close();

    const { store, raw } = open({}, new ManualClock(1_000_000), file);
    const g = { logGroupName: '/aws/lambda/old' };
    assert.deepEqual(messages(as(raw, A).filterLogEvents(g)), ['message 0', 'message 1', 'message 2']);
    assert.equal(storedBytes(store, '/aws/lambda/old'), actualBytes(store), 'stored bytes kept');
    assert.throws(() => as(raw, B).filterLogEvents(g), code('ResourceNotFoundException'));
    // The same name in another account is a new group; the old one keeps taking its own events.
    store.write([
      ...entries('/aws/lambda/old', 's', 3, 1),
      ...entries('/aws/lambda/old', 's', 9, 1, undefined, B),
    ]);
    assert.equal(messages(as(raw, A).filterLogEvents(g)).length, 4);
    assert.deepEqual(messages(as(raw, B).filterLogEvents(g)), ['message 9']);
    assert.equal(store.db.pragma('user_version', { simple: true }), 2);
    assert.deepEqual(store.db.pragma('foreign_key_check'), []);
    store.close();
  });
});
