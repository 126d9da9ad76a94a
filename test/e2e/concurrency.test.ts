// Reserved and account concurrency, and the per-function scaling rate, provoked with real concurrent
// invocations of slow functions (clients set to one attempt: they retry 429s by default).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteFunctionConcurrencyCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConcurrencyCommand,
  InvokeCommand,
  PutFunctionConcurrencyCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { nodeSleeps, nodeZip } from '../support/functions.js';
import { awsLambda, role, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { until } from '../support/until.js';
import { kilnFetch } from '../support/credentials.js';

type Throttle = Error & { Reason?: string; $metadata?: { httpStatusCode?: number } };
const throttledWith = (reason: string) => (e: Throttle) => {
  assert.equal(e.name, 'TooManyRequestsException');
  assert.equal(e.$metadata?.httpStatusCode, 429);
  assert.equal(e.Reason, reason);
  return true;
};

async function setup(env: Record<string, string> = {}): Promise<{ kiln: KilnProcess; lambda: LambdaClient }> {
  const kiln = await startKiln({ env });
  const lambda = sdk(kiln.endpoint);
  for (const name of ['slow', 'other']) {
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'nodejs20.x',
        Role: role,
        Handler: 'index.handler',
        Timeout: 30,
        Code: { ZipFile: await nodeZip(nodeSleeps) },
      }),
    );
  }
  return { kiln, lambda };
}

/** Waits (bounded) until `count` environments of the function are busy: the invocations hold their slots. */
async function untilBusy(kiln: KilnProcess, name: string, count = 1): Promise<void> {
  await until(
    `${name} has ${count} busy environment(s)`,
    async () =>
      (await (await kilnFetch(`${kiln.endpoint}/_kiln/environments`)).json()) as {
        Environments: { FunctionName: string; State: string }[];
      },
    (res) => res.Environments.filter((e) => e.FunctionName === name && e.State === 'busy').length >= count,
    15_000,
    20,
  );
}

const sleepFor = (lambda: LambdaClient, name: string, ms: number) =>
  lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify({ ms })) }));

describe('reserved concurrency', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  before(async () => ({ kiln, lambda } = await setup()));
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('puts, gets and deletes reserved concurrency, reflected in GetFunction and GetAccountSettings', async () => {
    const put = await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'slow', ReservedConcurrentExecutions: 5 }),
    );
    assert.equal(put.ReservedConcurrentExecutions, 5);
    assert.equal(
      (await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: 'slow' })))
        .ReservedConcurrentExecutions,
      5,
    );
    assert.equal(
      (await lambda.send(new GetFunctionCommand({ FunctionName: 'slow' }))).Concurrency
        ?.ReservedConcurrentExecutions,
      5,
    );
    const settings = await lambda.send(new GetAccountSettingsCommand({}));
    assert.equal(settings.AccountLimit?.ConcurrentExecutions, 1000);
    assert.equal(settings.AccountLimit?.UnreservedConcurrentExecutions, 995);
    const del = await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'slow' }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    assert.equal(
      (await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: 'slow' })))
        .ReservedConcurrentExecutions,
      undefined,
    );
  });

  it('refuses reservations that would leave fewer than 100 unreserved, negative values and missing functions', async () => {
    await assert.rejects(
      lambda.send(
        new PutFunctionConcurrencyCommand({ FunctionName: 'slow', ReservedConcurrentExecutions: 901 }),
      ),
      {
        name: 'InvalidParameterValueException',
      },
    );
    await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'slow', ReservedConcurrentExecutions: 900 }),
    );
    await assert.rejects(
      lambda.send(
        new PutFunctionConcurrencyCommand({ FunctionName: 'other', ReservedConcurrentExecutions: 1 }),
      ),
      {
        name: 'InvalidParameterValueException',
      },
    );
    await assert.rejects(
      lambda.send(
        new PutFunctionConcurrencyCommand({ FunctionName: 'slow', ReservedConcurrentExecutions: -1 }),
      ),
      {
        name: 'ValidationException',
      },
    );
    await assert.rejects(
      lambda.send(
        new PutFunctionConcurrencyCommand({ FunctionName: 'missing', ReservedConcurrentExecutions: 1 }),
      ),
      {
        name: 'ResourceNotFoundException',
      },
    );
    await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'slow' }));
  });

  it('reserved 0 throttles every invocation (SDK and AWS CLI)', async () => {
    await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'slow', ReservedConcurrentExecutions: 0 }),
    );
    await assert.rejects(
      sleepFor(lambda, 'slow', 1),
      throttledWith('ReservedFunctionConcurrentInvocationLimitExceeded'),
    );
    const cli = awsLambda(kiln.endpoint, ['invoke', '--function-name', 'slow', '/dev/null']);
    assert.equal(cli.status, 254);
    assert.match(cli.stderr, /TooManyRequestsException/);
    await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'slow' }));
  });

  it('reserved 1 admits one invocation at a time', async () => {
    await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'slow', ReservedConcurrentExecutions: 1 }),
    );
    const running = sleepFor(lambda, 'slow', 1500);
    await untilBusy(kiln, 'slow');
    await assert.rejects(
      sleepFor(lambda, 'slow', 1),
      throttledWith('ReservedFunctionConcurrentInvocationLimitExceeded'),
    );
    const other = await sleepFor(lambda, 'other', 1);
    assert.equal(other.StatusCode, 200, 'other functions are unaffected');
    assert.equal(Buffer.from((await running).Payload ?? []).toString(), '"woke"');
    assert.equal((await sleepFor(lambda, 'slow', 1)).StatusCode, 200, 'the slot is free again');
  });
});

describe('account concurrency and scaling rate', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  before(
    async () => ({ kiln, lambda } = await setup({ KILN_ACCOUNT_CONCURRENCY: '2', KILN_SCALING_RATE: '1' })),
  );
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('throttles past the account limit with ConcurrentInvocationLimitExceeded', async () => {
    const running = [sleepFor(lambda, 'slow', 1500), sleepFor(lambda, 'other', 1500)];
    await untilBusy(kiln, 'slow');
    await untilBusy(kiln, 'other');
    await assert.rejects(sleepFor(lambda, 'slow', 1), throttledWith('ConcurrentInvocationLimitExceeded'));
    await Promise.all(running);
    const settings = await lambda.send(new GetAccountSettingsCommand({}));
    assert.equal(settings.AccountLimit?.ConcurrentExecutions, 2);
  });

  it('limits how fast a function adds environments (FunctionInvocationRateLimitExceeded)', async () => {
    // One new environment per 10 s: 'slow' spent its token above and keeps one warm environment, so of two
    // concurrent invocations one reuses it and the other, needing a new environment, is refused.
    const outcomes = await Promise.allSettled([sleepFor(lambda, 'slow', 800), sleepFor(lambda, 'slow', 800)]);
    const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    assert.equal(rejected.length, 1);
    throttledWith('FunctionInvocationRateLimitExceeded')(rejected[0]?.reason as Throttle);
  });
});
