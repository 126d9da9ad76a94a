// Function logs end to end: a real `kiln up`, real sandboxes, and the logs read back through the Debian
// AWS CLI (`aws logs …`, including `tail --follow`), @aws-sdk/client-cloudwatch-logs and `kiln logs`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  DescribeLogGroupsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  type CloudWatchLogsClient,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  DeleteFunctionCommand,
  InvokeCommand,
  PutFunctionConcurrencyCommand,
  type InvokeCommandOutput,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { nodeSleeps, nodeZip, pythonProbe, pythonZip } from '../support/functions.js';
import { awsCli, awsCliEnv, awsCliPath, nodeFunction, payloadJson, sdk, tailLog } from '../support/lambda.js';
import { follow, logsCall, logsSdk, metric } from '../support/logs.js';
import { cleanEnv, kilnBin, removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { keyEnv } from '../support/credentials.js';

/** Prints each of `event.lines` verbatim (no console prefix), so the stored messages are exactly known. */
const loggerSource = `
process.stdout.write('init: logger module loaded\\n');
exports.handler = async (event) => {
  for (const line of event.lines ?? []) process.stdout.write(line + '\\n');
  if (event.fail) throw new Error('logger failed on purpose');
  return { stream: process.env.AWS_LAMBDA_LOG_STREAM_NAME, group: process.env.AWS_LAMBDA_LOG_GROUP_NAME };
};
`;

/** Prints `event.n` numbered lines of 100 characters. */
const floodSource = `
exports.handler = async (event) => {
  for (let i = 0; i < event.n; i++) process.stdout.write(('line ' + i + ' ').padEnd(100, 'x') + '\\n');
  // A pipe the runtime cannot fill at once queues writes in the process; wait until they reach it.
  await new Promise((r) => process.stdout.write('', r));
  return event.n;
};
`;

/** The account every request of this suite is made in (Kiln's default). */
const account = '000000000000';
const group = '/aws/lambda/logger';
const streamPattern = /^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/;
const reportPattern = (rid: string, cold: boolean): RegExp =>
  new RegExp(
    `^REPORT RequestId: ${rid}\\tDuration: \\d+\\.\\d\\d ms\\tBilled Duration: \\d+ ms\\tMemory Size: 128 MB\\tMax Memory Used: \\d+ MB\\t${cold ? 'Init Duration: \\d+\\.\\d\\d ms\\t' : ''}$`,
  );

interface Event {
  readonly message?: string;
  readonly logStreamName?: string;
  readonly timestamp?: number;
  readonly eventId?: string;
}

describe('function logs', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  let logs: CloudWatchLogsClient;
  let stream = '';
  let coldRid = '';
  const awsLogs = (...args: string[]) => awsCli(kiln.endpoint, 'logs', args);
  const invoke = (name: string, payload: unknown, tail = false): Promise<InvokeCommandOutput> =>
    lambda.send(
      new InvokeCommand({
        FunctionName: name,
        Payload: Buffer.from(JSON.stringify(payload)),
        ...(tail ? { LogType: 'Tail' as const } : {}),
      }),
    );
  /** Every event of a group, through the SDK, following nextToken. */
  const allEvents = async (logGroupName: string, limit?: number): Promise<Event[]> => {
    const events: Event[] = [];
    let nextToken: string | undefined;
    do {
      const page = await logs.send(new FilterLogEventsCommand({ logGroupName, nextToken, limit }));
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    return events;
  };

  before(async () => {
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    logs = logsSdk(kiln.endpoint);
    await lambda.send(nodeFunction('logger', await nodeZip(loggerSource)));
  });
  after(async () => {
    lambda.destroy();
    logs.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it("stores a cold invocation's exact lines with INIT_START, START, END and REPORT in its stream", async () => {
    const lines = ['first exact line', 'second\twith a tab', 'ünïcödé line ✓'];
    const out = await invoke('logger', { lines }, true);
    coldRid = out.$metadata.requestId ?? '';
    stream = String(payloadJson(out).stream);
    assert.match(stream, streamPattern);
    assert.equal(payloadJson(out).group, group);

    const r = awsLogs('filter-log-events', '--log-group-name', group);
    assert.equal(r.status, 0, r.stderr);
    const events = r.json().events as Event[];
    const messages = events.map((e) => e.message);
    assert.deepEqual(messages.slice(0, -1), [
      'INIT_START Runtime Version: nodejs20.x',
      'init: logger module loaded',
      `START RequestId: ${coldRid} Version: $LATEST`,
      ...lines,
      `END RequestId: ${coldRid}`,
    ]);
    assert.match(messages.at(-1) ?? '', reportPattern(coldRid, true));
    assert.ok(events.every((e) => e.logStreamName === stream));
    const times = events.map((e) => e.timestamp ?? 0);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    // X-Amz-Log-Result still carries the invocation's own tail.
    assert.match(tailLog(out), new RegExp(`^START RequestId: ${coldRid}[^]*ünïcödé line ✓\\n[^]*REPORT`));
  });

  it('lists the stream and reads it back with describe-log-streams and get-log-events (AWS CLI)', () => {
    const streams = awsLogs('describe-log-streams', '--log-group-name', group);
    assert.equal(streams.status, 0, streams.stderr);
    const list = streams.json().logStreams as Record<string, unknown>[];
    assert.deepEqual(
      list.map((s) => s.logStreamName),
      [stream],
    );
    assert.ok(Number(list[0]?.firstEventTimestamp) <= Number(list[0]?.lastEventTimestamp));

    const got = awsLogs(
      'get-log-events',
      '--log-group-name',
      group,
      '--log-stream-name',
      stream,
      '--start-from-head',
    );
    assert.equal(got.status, 0, got.stderr);
    const messages = (got.json().events as Event[]).map((e) => e.message);
    assert.equal(messages[3], 'first exact line');
    assert.match(messages.at(-1) ?? '', reportPattern(coldRid, true));
    assert.equal(messages.length, 8);
  });

  it('pages GetLogEvents and FilterLogEvents with the SDK, and filters by pattern', async () => {
    const warm = await invoke('logger', { lines: ['warm exact line', 'another exact one'] });
    const warmRid = warm.$metadata.requestId ?? '';
    const everything = (await allEvents(group)).map((e) => e.message);
    assert.equal(everything.length, 13);
    assert.match(everything.at(-1) ?? '', reportPattern(warmRid, false));

    // Forward through the stream three events at a time, until the token comes back unchanged.
    const paged: string[] = [];
    let token: string | undefined;
    for (;;) {
      const page = await logs.send(
        new GetLogEventsCommand({
          logGroupName: group,
          logStreamName: stream,
          startFromHead: true,
          limit: 3,
          nextToken: token,
        }),
      );
      paged.push(...(page.events ?? []).map((e) => e.message ?? ''));
      if (page.nextForwardToken === token) break;
      token = page.nextForwardToken;
    }
    assert.deepEqual(paged, everything);

    const byTwo = await allEvents(group, 2);
    assert.deepEqual(
      byTwo.map((e) => e.message),
      everything,
    );
    assert.equal(new Set(byTwo.map((e) => e.eventId)).size, 13);

    const filter = async (filterPattern: string): Promise<string[]> =>
      (
        (await logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern }))).events ?? []
      ).map((e) => e.message ?? '');
    assert.deepEqual(await filter('exact'), ['first exact line', 'warm exact line', 'another exact one']);
    assert.deepEqual(await filter('"warm exact"'), ['warm exact line']);
    assert.equal((await filter('REPORT "Init Duration"')).length, 1);
    assert.equal((await filter('?END ?REPORT')).length, 4);
    assert.deepEqual(await filter('exact -warm -first'), ['another exact one']);

    const groups = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/lambda/' }));
    const mine = groups.logGroups?.find((g) => g.logGroupName === group);
    assert.ok(mine && (mine.storedBytes ?? 0) > 0, JSON.stringify(groups.logGroups));
    // KILN_LOG_RETENTION_MS defaults to 30 days.
    assert.equal(mine.retentionInDays, 30);
  });

  it("stores a Python function's print output in its own group", async () => {
    await lambda.send(
      nodeFunction('pylogger', await pythonZip(pythonProbe), {
        Runtime: 'python3.11',
        Handler: 'app.handler',
      }),
    );
    const out = await invoke('pylogger', { hello: 'py' });
    const rid = out.$metadata.requestId ?? '';
    const r = awsLogs(
      'filter-log-events',
      '--log-group-name',
      '/aws/lambda/pylogger',
      '--filter-pattern',
      '"python probe"',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      (r.json().events as Event[]).map((e) => e.message),
      ["python probe {'hello': 'py'}"],
    );
    const report = awsLogs(
      'filter-log-events',
      '--log-group-name',
      '/aws/lambda/pylogger',
      '--filter-pattern',
      'REPORT',
    );
    assert.match(String((report.json().events as Event[])[0]?.message), reportPattern(rid, true));
  });

  it('aws logs tail --follow prints a line logged after it started', async () => {
    const tail = follow(
      awsCliPath,
      ['logs', 'tail', group, '--follow', '--since', '1h', '--endpoint-url', kiln.endpoint],
      awsCliEnv(kiln.endpoint),
    );
    try {
      await tail.waitFor('warm exact line');
      const marker = `tail marker ${randomBytes(6).toString('hex')}`;
      await invoke('logger', { lines: [marker] });
      await tail.waitFor(marker);
      assert.ok(tail.output().includes(stream));
    } finally {
      await tail.stop();
    }
  });

  it('kiln logs prints the lines, and --follow prints new ones until interrupted', async () => {
    const once = follow(
      process.execPath,
      [kilnBin, '--endpoint', kiln.endpoint, 'logs', 'logger', '--since', '1h', '--filter', 'exact'],
      cleanEnv(keyEnv(kiln.endpoint)),
    );
    await new Promise((r) => once.child.once('exit', r));
    const printed = once.output().trimEnd().split('\n');
    assert.equal(printed.length, 3, once.output());
    assert.match(printed[0] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z first exact line$/);

    const missing = follow(
      process.execPath,
      [kilnBin, '--endpoint', kiln.endpoint, 'logs', 'never-ran'],
      cleanEnv(keyEnv(kiln.endpoint)),
    );
    const code = await new Promise((r) => missing.child.once('exit', r));
    assert.equal(code, 1);
    assert.equal(missing.output(), '');

    const live = follow(
      process.execPath,
      [kilnBin, '--endpoint', kiln.endpoint, 'logs', 'logger', '--follow', '--since', '1h'],
      cleanEnv(keyEnv(kiln.endpoint)),
    );
    try {
      await live.waitFor('another exact one');
      const marker = `kiln follow marker ${randomBytes(6).toString('hex')}`;
      await invoke('logger', { lines: [marker] });
      await live.waitFor(marker);
    } finally {
      await live.stop();
    }
    assert.equal(live.child.exitCode, 0, live.output());
  });

  it('counts invocations, errors, cold starts, throttles and durations in /metrics', async () => {
    const fn = { account, function: 'logger' };
    const before = {
      invocations: await metric(kiln.endpoint, 'kiln_invocations_total', fn),
      errors: await metric(kiln.endpoint, 'kiln_invocation_errors_total', fn),
      durations: await metric(kiln.endpoint, 'kiln_invocation_duration_seconds_count', fn),
    };
    assert.ok(before.invocations >= 4);
    assert.equal(await metric(kiln.endpoint, 'kiln_cold_starts_total', fn), 1);
    assert.equal(await metric(kiln.endpoint, 'kiln_init_duration_seconds_count', fn), 1);

    await invoke('logger', {});
    const failed = await invoke('logger', { fail: true });
    assert.equal(failed.FunctionError, 'Unhandled');
    assert.equal(await metric(kiln.endpoint, 'kiln_invocations_total', fn), before.invocations + 2);
    assert.equal(await metric(kiln.endpoint, 'kiln_invocation_errors_total', fn), before.errors + 1);
    assert.equal(
      await metric(kiln.endpoint, 'kiln_invocation_duration_seconds_count', fn),
      before.durations + 2,
    );
    assert.ok((await metric(kiln.endpoint, 'kiln_environments', { state: 'idle' })) >= 1);

    // An invocation that runs until its 3 s timeout is a concurrent execution while it runs.
    await lambda.send(nodeFunction('sleepy', await nodeZip(nodeSleeps), { Timeout: 3 }));
    const busy = { account, function: 'sleepy' };
    const running = invoke('sleepy', { ms: 60_000 });
    let settled = false;
    void running.finally(() => (settled = true));
    let seen = 0;
    while (!settled && seen === 0) seen = await metric(kiln.endpoint, 'kiln_concurrent_executions', busy);
    assert.equal(seen, 1, 'the running invocation never showed in kiln_concurrent_executions');
    assert.equal((await running).FunctionError, 'Unhandled');
    assert.equal(await metric(kiln.endpoint, 'kiln_concurrent_executions', busy), 0);
    assert.equal(await metric(kiln.endpoint, 'kiln_invocation_errors_total', busy), 1);

    await lambda.send(nodeFunction('throttled', await nodeZip(loggerSource)));
    await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'throttled', ReservedConcurrentExecutions: 0 }),
    );
    await assert.rejects(invoke('throttled', {}), { name: 'TooManyRequestsException' });
    assert.equal(await metric(kiln.endpoint, 'kiln_throttles_total', { account, function: 'throttled' }), 1);
    assert.equal(
      await metric(kiln.endpoint, 'kiln_invocations_total', { account, function: 'throttled' }),
      0,
    );

    const res = await fetch(`${kiln.endpoint}/metrics`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await res.text(), /# TYPE kiln_invocation_duration_seconds histogram/);
  });

  it('answers bad requests with CloudWatch Logs errors and stores nothing', async () => {
    const count = (await allEvents(group)).length;
    const expect = async (op: string, body: string, type: string, message?: RegExp): Promise<void> => {
      const r = await logsCall(kiln.endpoint, op, body);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.errorType, type);
      assert.equal(r.body.__type, type);
      if (message) assert.match(String(r.body.message), message);
    };
    await expect('FilterLogEvents', '{"logGroupName": ', 'SerializationException');
    await expect('FilterLogEvents', '[1, 2]', 'SerializationException');
    await expect('FilterLogEvents', '{"logGroupName": 5}', 'SerializationException', /logGroupName/);
    await expect('FilterLogEvents', `{"logGroupName":"${group}","limit":"ten"}`, 'SerializationException');
    await expect(
      'FilterLogEvents',
      `{"logGroupName":"${group}","limit":1000000000}`,
      'InvalidParameterException',
      /Value '1000000000' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000/,
    );
    await expect(
      'GetLogEvents',
      `{"logGroupName":"${group}","logStreamName":"${stream}","limit":0}`,
      'InvalidParameterException',
    );
    await expect('DescribeLogStreams', `{"logGroupName":"${group}","limit":51}`, 'InvalidParameterException');
    await expect(
      'FilterLogEvents',
      `{"logGroupName":"${group}","startTime":-1}`,
      'InvalidParameterException',
    );
    await expect(
      'FilterLogEvents',
      `{"logGroupName":"${group}","nextToken":"not-a-token"}`,
      'InvalidParameterException',
    );
    await expect(
      'FilterLogEvents',
      `{"logGroupName":"${group}","filterPattern":"{ $.level = 1 }"}`,
      'InvalidParameterException',
      /JSON patterns/,
    );
    await expect(
      'FilterLogEvents',
      '{"logGroupName":"/aws/lambda/never-logged"}',
      'ResourceNotFoundException',
    );
    await expect(
      'GetLogEvents',
      `{"logGroupName":"${group}","logStreamName":"2020/01/01/[$LATEST]nope"}`,
      'ResourceNotFoundException',
      /log stream/,
    );
    await expect('PutLogEvents', '{}', 'UnknownOperationException', /DescribeLogGroups/);
    const huge = await logsCall(
      kiln.endpoint,
      'FilterLogEvents',
      JSON.stringify({ logGroupName: group, filterPattern: 'x'.repeat(2 << 20) }),
    );
    assert.equal(huge.status, 413);
    assert.equal(huge.body.__type, 'SerializationException');
    await expect('NoSuchService_2020.Op', '{}', 'UnknownOperationException');

    const cli = awsLogs('filter-log-events', '--log-group-name', '/aws/lambda/never-logged');
    assert.equal(cli.status, 254);
    assert.match(cli.stderr, /ResourceNotFoundException.*The specified log group does not exist/);

    assert.equal((await allEvents(group)).length, count);
    const groups = await logs.send(new DescribeLogGroupsCommand({}));
    // Only functions that ran have groups: no group was made up by the bad requests (or for `throttled`).
    assert.deepEqual(
      groups.logGroups?.map((g) => g.logGroupName),
      [group, '/aws/lambda/pylogger', '/aws/lambda/sleepy'],
    );
  });

  it('keeps logs across a restart, including lines logged just before shutdown', async () => {
    const marker = `last words ${randomBytes(6).toString('hex')}`;
    await invoke('logger', { lines: [marker] });
    const before = (await allEvents(group)).map((e) => e.message);
    assert.equal(await kiln.stop(), 0);
    kiln = await startKiln({ dataDir: kiln.dataDir });
    logs.destroy();
    lambda.destroy();
    logs = logsSdk(kiln.endpoint);
    lambda = sdk(kiln.endpoint);
    const afterRestart = (await allEvents(group)).map((e) => e.message);
    assert.deepEqual(afterRestart, before);
    assert.ok(afterRestart.includes(marker));
  });

  it('keeps the logs of a deleted function, as Lambda does', async () => {
    const count = (await allEvents(group)).length;
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'logger' }));
    assert.equal((await allEvents(group)).length, count);
    const r = awsLogs('describe-log-groups', '--log-group-name-prefix', group);
    assert.equal((r.json().logGroups as unknown[]).length, 1);
  });
});

describe('log retention and size caps', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  let logs: CloudWatchLogsClient;
  const flood = '/aws/lambda/flood';
  const cap = 8192;

  before(async () => {
    kiln = await startKiln({ env: { KILN_LOG_MAX_BYTES_PER_FUNCTION: String(cap) } });
    lambda = sdk(kiln.endpoint);
    logs = logsSdk(kiln.endpoint);
    await lambda.send(nodeFunction('flood', await nodeZip(floodSource)));
  });
  after(async () => {
    lambda.destroy();
    logs.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it("drops a function's oldest events past its size cap and keeps the newest", async () => {
    await lambda.send(new InvokeCommand({ FunctionName: 'flood', Payload: Buffer.from('{"n":300}') }));
    const events = (await logs.send(new FilterLogEventsCommand({ logGroupName: flood }))).events ?? [];
    const bytes = events.reduce((sum, e) => sum + Buffer.byteLength(e.message ?? '') + 26, 0);
    assert.ok(bytes <= cap, `${bytes} bytes stored over a cap of ${cap}`);
    assert.ok(bytes > cap - 200, `${bytes} bytes: more dropped than the cap needs`);
    assert.match(events.at(-1)?.message ?? '', /^REPORT /);
    const numbers = events.flatMap((e) => /^line (\d+) /.exec(e.message ?? '')?.[1] ?? []).map(Number);
    assert.ok(numbers.length > 10);
    assert.equal(numbers.at(-1), 299);
    assert.deepEqual(
      numbers,
      numbers.map((_, i) => 300 - numbers.length + i),
    );
    const described = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: flood }));
    assert.equal(described.logGroups?.[0]?.storedBytes, bytes);
  });

  it('deletes events past the retention age (at startup and on the sweep timer)', async () => {
    assert.equal(await kiln.stop(), 0);
    // Every stored event is older than 1 ms by now, so the startup sweep must delete them all.
    kiln = await startKiln({
      dataDir: kiln.dataDir,
      env: { KILN_LOG_MAX_BYTES_PER_FUNCTION: String(cap), KILN_LOG_RETENTION_MS: '1' },
    });
    logs.destroy();
    logs = logsSdk(kiln.endpoint);
    const events = await logs.send(new FilterLogEventsCommand({ logGroupName: flood }));
    assert.deepEqual(events.events, []);
    const streams = awsCli(kiln.endpoint, 'logs', ['describe-log-streams', '--log-group-name', flood]);
    assert.deepEqual(streams.json().logStreams, []);
    const described = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: flood }));
    assert.equal(described.logGroups?.[0]?.storedBytes, 0);
  });
});
