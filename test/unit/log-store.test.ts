// logs.db and the Logs API over it, on a manual clock: size caps, retention, paging and bad input.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
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

function open(
  limits: { retentionMs?: number; maxBytesPerGroup?: number } = {},
  clock = new ManualClock(1_000_000),
) {
  const store = new SqliteLogStore(
    path.join(root, `logs-${++files}.db`),
    { retentionMs: limits.retentionMs ?? 1e12, maxBytesPerGroup: limits.maxBytesPerGroup ?? 1e12 },
    clock,
  );
  const api = new LogsApi({
    reader: new LogReader(store.db),
    flush: () => undefined,
    region: 'us-east-1',
    accountId: '000000000000',
  });
  return { store, api, clock };
}

const entries = (
  group: string,
  stream: string,
  from: number,
  count: number,
  ts = (i: number) => i,
): LogEntry[] =>
  Array.from({ length: count }, (_, k) => ({
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
    // A group named by ARN works; an ARN of another account is not found.
    const arn = 'arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/a';
    assert.equal(messages(api.filterLogEvents({ logGroupIdentifier: arn })).length, 1);
    assert.throws(
      () => api.filterLogEvents({ logGroupIdentifier: arn.replace('000000000000', '111111111111') }),
      code('ResourceNotFoundException'),
    );
    assert.throws(
      () => api.filterLogEvents({ ...g, logGroupIdentifier: arn }),
      code('InvalidParameterException'),
    );
    assert.equal(messages(api.filterLogEvents(g)).length, 1);
    store.close();
  });
});
