// Invoke with InvocationType Event, end to end: a durable 202, the function run by a poller with the
// request id the caller got, Lambda's payload rules, the retry schedule and event age on a movable
// queue clock, throttling through the same concurrency limits as synchronous calls, and restarts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DeleteFunctionConcurrencyCommand,
  CreateAliasCommand,
  InvokeAsyncCommand,
  PublishVersionCommand,
  InvokeCommand,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
  UpdateFunctionConfigurationCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { advanceAsyncClock, asyncEvent, queueView, untilEvent, untilQueue } from '../support/async.js';
import { nodeZip } from '../support/functions.js';
import { awsLambda, nodeFunction, sdk } from '../support/lambda.js';
import { until } from '../support/until.js';
import { cleanEnv, kilnBin, removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { execFileSync } from 'node:child_process';
import { keyEnv, kilnFetch } from '../support/credentials.js';

/** Answers with the request id it saw; fails when asked to. */
const recorder = `
exports.handler = async (event, context) => {
  console.log('event', JSON.stringify(event));
  if (event.fail) throw new Error('asked to fail');
  return { requestId: context.awsRequestId, event, arn: context.invokedFunctionArn };
};
`;

/** A destination: keeps the parts of the invocation record it got (outcomes keep 1 KB of an answer). */
const collector = `
exports.handler = async (r) => ({
  version: r.version,
  requestContext: r.requestContext,
  requestPayload: r.requestPayload,
  responseContext: r.responseContext,
  error: r.responsePayload && r.responsePayload.errorMessage,
  answer: r.responsePayload && r.responsePayload.event,
  raw: r.requestContext ? undefined : r,
});
`;

const env = { KILN_TEST_ASYNC_CLOCK: '1' };
const fnArn = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

/** The function's finished events, newest first, from Kiln's visibility API. */
async function finished(
  endpoint: string,
  name: string,
): Promise<Array<{ Condition: string; Detail: string }>> {
  const r = await kilnFetch(`${endpoint}/_kiln/async/events?FunctionName=${name}`);
  return ((await r.json()) as { Events: Array<{ Condition: string; Detail: string }> }).Events;
}

const untilFinished = (endpoint: string, name: string, n: number) =>
  until(
    `${name} finished ${n} events`,
    () => finished(endpoint, name),
    (events) => events.length >= n,
  );

describe('async invocation (Event)', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  const event = async (payload: unknown, name = 'rec', qualifier?: string) => {
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: name,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(payload)),
        ...(qualifier ? { Qualifier: qualifier } : {}),
      }),
    );
    assert.equal(out.StatusCode, 202);
    assert.equal(Buffer.from(out.Payload ?? []).length, 0, 'a 202 has no body');
    const id = out.$metadata.requestId;
    assert.ok(id);
    return id;
  };

  before(async () => {
    kiln = await startKiln({ env });
    lambda = sdk(kiln.endpoint);
    await lambda.send(nodeFunction('rec', await nodeZip(recorder)));
  });
  after(async () => {
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('answers 202 and runs the function with the same request id', async () => {
    const id = await event({ hello: 'world' });
    const done = await untilEvent(kiln.endpoint, id, (e) => e.State === 'done');
    assert.equal(done.Condition, 'Success');
    assert.equal(done.Attempts, 1);
    const answer = JSON.parse(done.Detail ?? '{}');
    assert.equal(answer.requestId, id, 'the function saw the request id the caller got');
    assert.deepEqual(answer.event, { hello: 'world' });
    assert.equal(answer.arn, 'arn:aws:lambda:us-east-1:000000000000:function:rec');
  });

  it('works from the AWS CLI', async () => {
    const dir = kiln.dataDir;
    const outFile = join(dir, 'cli-out.json');
    const r = awsLambda(kiln.endpoint, [
      'invoke',
      '--function-name',
      'rec',
      '--invocation-type',
      'Event',
      '--cli-binary-format',
      'raw-in-base64-out',
      '--payload',
      '{"from":"cli"}',
      outFile,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.json().StatusCode, 202);
    await untilQueue(kiln.endpoint, (q) => q.Depth === 0);
  });

  it('serves the deprecated InvokeAsync operation, with its 256 KB limit', async () => {
    const out = await lambda.send(
      new InvokeAsyncCommand({ FunctionName: 'rec', InvokeArgs: Buffer.from('{"legacy":true}') }),
    );
    assert.equal(out.Status, 202);
    const id = out.$metadata.requestId ?? '';
    const done = await untilEvent(kiln.endpoint, id, (e) => e.State === 'done');
    assert.deepEqual(JSON.parse(done.Detail ?? '{}').event, { legacy: true });
    await assert.rejects(
      lambda.send(
        new InvokeAsyncCommand({ FunctionName: 'rec', InvokeArgs: Buffer.from(`"${'z'.repeat(262_144)}"`) }),
      ),
      { name: 'RequestTooLargeException' },
    );
  });

  it('is visible with `kiln async status` and `kiln async event`', async () => {
    const id = await event({ via: 'cli' });
    await untilEvent(kiln.endpoint, id, (e) => e.State === 'done');
    const kilnCli = (...args: string[]) =>
      execFileSync(process.execPath, [kilnBin, '--endpoint', kiln.endpoint, ...args], {
        env: cleanEnv(keyEnv(kiln.endpoint)),
        encoding: 'utf8',
      });
    const shown = JSON.parse(kilnCli('async', 'event', id));
    assert.equal(shown.RequestId, id);
    assert.equal(shown.Condition, 'Success');
    assert.equal(shown.AccountId, '000000000000');
    // A function's recent events are its account's: the caller's by default, or the one named.
    const recent = (...args: string[]) =>
      (
        JSON.parse(kilnCli('async', 'events', 'rec', ...args)) as { Events: { RequestId: string }[] }
      ).Events.map((e) => e.RequestId);
    assert.ok(recent().includes(id));
    assert.ok(recent('--account', '000000000000').includes(id));
    assert.deepEqual(recent('--account', '222222222222'), []);
    assert.match(kilnCli('async', 'status'), /^queued \d+ \(in flight \d+\), oldest \d+ s\ndropped: /);
    assert.equal(kilnCli('async', 'pause'), 'pollers paused\n');
    const held = await event({ held: true });
    assert.equal((await asyncEvent(kiln.endpoint, held))?.State, 'queued');
    assert.match(kilnCli('async', 'status'), /pollers PAUSED[\s\S]*rec +1 /);
    const metrics = await (await fetch(`${kiln.endpoint}/metrics`)).text();
    assert.match(metrics, /^kiln_async_queue_depth\{account="000000000000",function="rec"\} 1$/m);
    assert.match(
      metrics,
      /^kiln_async_oldest_event_age_seconds\{account="000000000000",function="rec"\} [\d.]+$/m,
    );
    assert.equal(kilnCli('async', 'resume'), 'pollers resumed\n');
    await untilEvent(kiln.endpoint, held, (e) => e.State === 'done');
  });

  it('refuses a payload over 1 MB with RequestTooLargeException, and malformed JSON, storing nothing', async () => {
    const before = await queueView(kiln.endpoint);
    const big = Buffer.from(JSON.stringify({ pad: 'x'.repeat(1_048_576) }));
    await assert.rejects(
      lambda.send(new InvokeCommand({ FunctionName: 'rec', InvocationType: 'Event', Payload: big })),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(e.name, 'RequestTooLargeException');
        assert.equal(e.$metadata?.httpStatusCode, 413);
        assert.match(
          e.message,
          /byte payload is too large for the Event invocation type \(limit 1048576 bytes\)/,
        );
        return true;
      },
    );
    const r = await kilnFetch(`${kiln.endpoint}/2015-03-31/functions/rec/invocations`, {
      method: 'POST',
      headers: { 'X-Amz-Invocation-Type': 'Event' },
      body: '{"broken":',
    });
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('x-amzn-errortype'), 'InvalidRequestContentException');
    await assert.rejects(
      lambda.send(
        new InvokeCommand({ FunctionName: 'nope', InvocationType: 'Event', Payload: Buffer.from('{}') }),
      ),
      { name: 'ResourceNotFoundException' },
    );
    const after = await queueView(kiln.endpoint);
    assert.equal(after.Depth, before.Depth);
    // Exactly 1 MB is accepted.
    const exact = Buffer.from(`"${'y'.repeat(1_048_576 - 2)}"`);
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: 'rec', InvocationType: 'Event', Payload: exact }),
    );
    assert.equal(out.StatusCode, 202);
    await untilQueue(kiln.endpoint, (q) => q.Depth === 0);
  });

  it('retries a failing event after about 1 and 2 minutes, then drops it as RetriesExhausted', async () => {
    const id = await event({ fail: true });
    await untilEvent(kiln.endpoint, id, (e) => e.State === 'queued' && e.Attempts === 1);
    // Just short of a minute nothing happens …
    await advanceAsyncClock(kiln.endpoint, 59_000);
    const early = await asyncEvent(kiln.endpoint, id);
    assert.equal(early?.Attempts, 1);
    // … then the first retry.
    await advanceAsyncClock(kiln.endpoint, 1_000);
    await untilEvent(kiln.endpoint, id, (e) => e.State === 'queued' && e.Attempts === 2);
    await advanceAsyncClock(kiln.endpoint, 120_000);
    const done = await untilEvent(kiln.endpoint, id, (e) => e.State === 'done');
    assert.equal(done.Condition, 'RetriesExhausted');
    assert.equal(done.Attempts, 3);
    assert.match(done.Detail ?? '', /asked to fail/);
    assert.ok(((await queueView(kiln.endpoint)).Dropped.RetriesExhausted ?? 0) >= 1);
    const metrics = await (await fetch(`${kiln.endpoint}/metrics`)).text();
    assert.match(metrics, /^kiln_async_events_dropped_total\{condition="RetriesExhausted"\} [1-9]\d*$/m);
  });

  it('throttles through reserved concurrency, backs off, and ages the event out after 6 hours', async () => {
    await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'rec', ReservedConcurrentExecutions: 0 }),
    );
    const id = await event({ n: 'throttled' });
    await untilEvent(kiln.endpoint, id, (e) => e.State === 'queued');
    const q = await queueView(kiln.endpoint);
    assert.equal(q.Functions.find((f) => f.FunctionName === 'rec')?.Depth, 1);
    // Throttled attempts do not count as invocations.
    await advanceAsyncClock(kiln.endpoint, 3_600_000);
    await untilEvent(kiln.endpoint, id, (e) => e.State === 'queued');
    assert.equal((await asyncEvent(kiln.endpoint, id))?.Attempts, 0);
    assert.ok((await queueView(kiln.endpoint)).OldestEventAgeSeconds >= 3600);
    await advanceAsyncClock(kiln.endpoint, 6 * 3_600_000);
    const done = await untilEvent(kiln.endpoint, id, (e) => e.State === 'done');
    assert.equal(done.Condition, 'EventAgeExceeded');
    assert.equal(done.Attempts, 0);
    await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'rec' }));
  });

  it('keeps queued events across a restart and runs them afterwards', async () => {
    // Its own instance: the queue clock starts afresh with each process, and the tests above moved it.
    let k = await startKiln({ env });
    try {
      let l = sdk(k.endpoint);
      await l.send(nodeFunction('rec', await nodeZip(recorder)));
      await l.send(
        new PutFunctionConcurrencyCommand({ FunctionName: 'rec', ReservedConcurrentExecutions: 0 }),
      );
      const ids = await Promise.all(
        [1, 2, 3].map(async (n) => {
          const out = await l.send(
            new InvokeCommand({
              FunctionName: 'rec',
              InvocationType: 'Event',
              Payload: Buffer.from(`{"n":${n}}`),
            }),
          );
          return out.$metadata.requestId ?? '';
        }),
      );
      await untilQueue(k.endpoint, (q) => q.Depth === 3);
      assert.equal(await k.stop(), 0);
      k = await startKiln({ dataDir: k.dataDir, env });
      l = sdk(k.endpoint);
      assert.equal((await queueView(k.endpoint)).Depth, 3);
      await l.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'rec' }));
      // Past whatever backoff the throttled attempts reached.
      await advanceAsyncClock(k.endpoint, 300_000);
      for (const id of ids) {
        const done = await untilEvent(k.endpoint, id, (e) => e.State === 'done');
        assert.equal(done.Condition, 'Success');
      }
    } finally {
      await k.stop();
      removeDir(k.dataDir);
    }
  });

  it('delivers Lambda invocation records to on-success and on-failure destinations, and the event to the DLQ', async () => {
    for (const name of ['ok-dest', 'fail-dest', 'dlq']) {
      await lambda.send(nodeFunction(name, await nodeZip(collector)));
    }
    await lambda.send(nodeFunction('routed', await nodeZip(recorder)));
    await lambda.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: 'routed',
        MaximumRetryAttempts: 1,
        DestinationConfig: {
          OnSuccess: { Destination: fnArn('ok-dest') },
          OnFailure: { Destination: fnArn('fail-dest') },
        },
      }),
    );
    await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'routed',
        DeadLetterConfig: { TargetArn: fnArn('dlq') },
      }),
    );

    const good = await event({ good: 1 }, 'routed');
    const [success] = await untilFinished(kiln.endpoint, 'ok-dest', 1);
    assert.equal(success?.Condition, 'Success');
    const okRecord = JSON.parse(success?.Detail ?? '{}');
    assert.deepEqual(okRecord, {
      version: '1.0',
      requestContext: {
        requestId: good,
        functionArn: `${fnArn('routed')}:$LATEST`,
        condition: 'Success',
        approximateInvokeCount: 1,
      },
      requestPayload: { good: 1 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST' },
      answer: { good: 1 },
    });

    const bad = await event({ fail: true, bad: 2 }, 'routed');
    await untilEvent(kiln.endpoint, bad, (e) => e.Attempts === 1 && e.State === 'queued');
    await advanceAsyncClock(kiln.endpoint, 60_000);
    const done = await untilEvent(kiln.endpoint, bad, (e) => e.State === 'done');
    assert.equal(done.Condition, 'RetriesExhausted');
    assert.equal(done.Attempts, 2, 'MaximumRetryAttempts 1: one retry');
    const [failure] = await untilFinished(kiln.endpoint, 'fail-dest', 1);
    const failRecord = JSON.parse(failure?.Detail ?? '{}');
    assert.deepEqual(failRecord.requestContext, {
      requestId: bad,
      functionArn: `${fnArn('routed')}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: 2,
    });
    assert.deepEqual(failRecord.requestPayload, { fail: true, bad: 2 });
    assert.deepEqual(failRecord.responseContext, {
      statusCode: 200,
      executedVersion: '$LATEST',
      functionError: 'Unhandled',
    });
    assert.equal(failRecord.error, 'asked to fail');
    const [dead] = await untilFinished(kiln.endpoint, 'dlq', 1);
    assert.deepEqual(
      JSON.parse(dead?.Detail ?? '{}').raw,
      { fail: true, bad: 2 },
      'the DLQ gets the event itself',
    );
    assert.equal((await finished(kiln.endpoint, 'ok-dest')).length, 1, 'no success record for a failure');
  });

  it("applies the invoked alias's own settings and names the alias in the record", async () => {
    await lambda.send(nodeFunction('aliased', await nodeZip(recorder)));
    const v = await lambda.send(new PublishVersionCommand({ FunctionName: 'aliased' }));
    await lambda.send(
      new CreateAliasCommand({ FunctionName: 'aliased', Name: 'live', FunctionVersion: v.Version ?? '1' }),
    );
    await lambda.send(nodeFunction('alias-dest', await nodeZip(collector)));
    await lambda.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: 'aliased',
        Qualifier: 'live',
        MaximumRetryAttempts: 0,
        DestinationConfig: { OnFailure: { Destination: fnArn('alias-dest') } },
      }),
    );
    // Through the alias: no retry, straight to the alias's destination.
    const viaAlias = await event({ fail: true }, 'aliased', 'live');
    const done = await untilEvent(kiln.endpoint, viaAlias, (e) => e.State === 'done');
    assert.deepEqual([done.Condition, done.Attempts], ['RetriesExhausted', 1]);
    const [record] = await untilFinished(kiln.endpoint, 'alias-dest', 1);
    const r = JSON.parse(record?.Detail ?? '{}');
    assert.equal(r.requestContext.functionArn, `${fnArn('aliased')}:live`);
    assert.equal(r.responseContext.executedVersion, v.Version);
    // Unqualified: $LATEST has no configuration, so Lambda's default of two retries applies.
    const unqualified = await event({ fail: true }, 'aliased');
    await untilEvent(kiln.endpoint, unqualified, (e) => e.State === 'queued' && e.Attempts === 1);
  });

  it('drops events of a deleted function with the reason', async () => {
    await lambda.send(nodeFunction('doomed', await nodeZip(recorder)));
    await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'doomed', ReservedConcurrentExecutions: 0 }),
    );
    const id = await event({}, 'doomed');
    await untilEvent(kiln.endpoint, id, (e) => e.State === 'queued');
    const r = awsLambda(kiln.endpoint, ['delete-function', '--function-name', 'doomed']);
    assert.equal(r.status, 0, r.stderr);
    await advanceAsyncClock(kiln.endpoint, 300_000);
    const done = await untilEvent(kiln.endpoint, id, (e) => e.State === 'done');
    assert.equal(done.Condition, 'FunctionNotFound');
  });
});
