// Tenant isolation through the real AWS SDKs, with two accounts' keys: account B can neither see, change,
// invoke, read the logs of, nor deliver to account A's functions, by name or by ARN, and is never told
// whether A has a function; the same name in both accounts is two functions, each running its own code;
// A's events and their deliveries stay in A.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DescribeLogGroupsCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateAliasCommand,
  DeleteFunctionCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  ListFunctionsCommand,
  ListVersionsByFunctionCommand,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { createAccount, type AccountKeys } from '../support/accounts.js';
import { nodeZip } from '../support/functions.js';
import { nodeFunction, payloadJson, sdk } from '../support/lambda.js';
import { logsSdk } from '../support/logs.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { until } from '../support/until.js';
import { isError } from '../support/versioned.js';

/** Answers which account's code ran, and logs a line that names it too. */
const whoAmI = (owner: string): string => `
exports.handler = async (event, context) => {
  console.log('ran in ${owner}: ' + JSON.stringify(event));
  return { owner: ${JSON.stringify(owner)}, arn: context.invokedFunctionArn };
};
`;

const functionArnOf = (account: string, name: string, qualifier?: string): string =>
  `arn:aws:lambda:us-east-1:${account}:function:${name}${qualifier === undefined ? '' : `:${qualifier}`}`;

describe('tenant isolation', () => {
  let kiln: KilnProcess;
  let a: AccountKeys;
  let b: AccountKeys;
  let lambdaA: LambdaClient;
  let lambdaB: LambdaClient;
  let logsA: CloudWatchLogsClient;
  let logsB: CloudWatchLogsClient;

  before(async () => {
    kiln = await startKiln();
    a = await createAccount(kiln, 'tenant-a');
    b = await createAccount(kiln, 'tenant-b');
    lambdaA = sdk(kiln.endpoint, a);
    lambdaB = sdk(kiln.endpoint, b);
    logsA = logsSdk(kiln.endpoint, a);
    logsB = logsSdk(kiln.endpoint, b);
    // A: private (only A has it), same-name (both have it, different code), sink (both have it).
    await lambdaA.send(nodeFunction('private', await nodeZip(whoAmI('A')), { Publish: true }));
    await lambdaA.send(
      new CreateAliasCommand({ FunctionName: 'private', Name: 'live', FunctionVersion: '1' }),
    );
    await lambdaA.send(nodeFunction('same-name', await nodeZip(whoAmI('A'))));
    await lambdaB.send(nodeFunction('same-name', await nodeZip(whoAmI('B'))));
    await lambdaA.send(nodeFunction('sink', await nodeZip(whoAmI('A'))));
    await lambdaB.send(nodeFunction('sink', await nodeZip(whoAmI('B'))));
  });
  after(async () => {
    for (const c of [lambdaA, lambdaB, logsA, logsB]) c.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it("gives each account its own ARNs, and lists only the caller's functions", async () => {
    const mine = await lambdaA.send(new GetFunctionConfigurationCommand({ FunctionName: 'same-name' }));
    assert.equal(mine.FunctionArn, functionArnOf(a.accountId, 'same-name'));
    const theirs = await lambdaB.send(new GetFunctionConfigurationCommand({ FunctionName: 'same-name' }));
    assert.equal(theirs.FunctionArn, functionArnOf(b.accountId, 'same-name'));
    assert.notEqual(mine.CodeSha256, theirs.CodeSha256);
    const names = async (c: LambdaClient) =>
      ((await c.send(new ListFunctionsCommand({}))).Functions ?? []).map((f) => f.FunctionArn).sort();
    assert.deepEqual(await names(lambdaB), [
      functionArnOf(b.accountId, 'same-name'),
      functionArnOf(b.accountId, 'sink'),
    ]);
    assert.equal((await names(lambdaA)).length, 3);
    const usage = await lambdaB.send(new GetAccountSettingsCommand({}));
    assert.equal(usage.AccountUsage?.FunctionCount, 2);
  });

  it("invokes each account's own same-name function", async () => {
    const ranA = payloadJson(
      await lambdaA.send(new InvokeCommand({ FunctionName: 'same-name', Payload: Buffer.from('{}') })),
    );
    const ranB = payloadJson(
      await lambdaB.send(new InvokeCommand({ FunctionName: 'same-name', Payload: Buffer.from('{}') })),
    );
    assert.deepEqual(ranA, { owner: 'A', arn: functionArnOf(a.accountId, 'same-name') });
    assert.deepEqual(ranB, { owner: 'B', arn: functionArnOf(b.accountId, 'same-name') });
  });

  it("answers B about A's function by name exactly as about a function that does not exist", async () => {
    const notFound = isError('ResourceNotFoundException', 404);
    for (const name of ['private', 'never-existed']) {
      await assert.rejects(lambdaB.send(new GetFunctionCommand({ FunctionName: name })), notFound);
      await assert.rejects(lambdaB.send(new ListVersionsByFunctionCommand({ FunctionName: name })), notFound);
      await assert.rejects(
        lambdaB.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Timeout: 9 })),
        notFound,
      );
      await assert.rejects(
        lambdaB.send(
          new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: await nodeZip(whoAmI('B')) }),
        ),
        notFound,
      );
      await assert.rejects(
        lambdaB.send(
          new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: 1 }),
        ),
        notFound,
      );
      await assert.rejects(lambdaB.send(new DeleteFunctionCommand({ FunctionName: name })), notFound);
      await assert.rejects(lambdaB.send(new InvokeCommand({ FunctionName: name })), notFound);
      await assert.rejects(
        lambdaB.send(
          new InvokeCommand({ FunctionName: name, InvocationType: 'Event', Payload: Buffer.from('{}') }),
        ),
        notFound,
      );
    }
    // A's function is untouched by all of that.
    const still = await lambdaA.send(new GetFunctionConfigurationCommand({ FunctionName: 'private' }));
    assert.equal(still.Timeout, 3);
  });

  it("refuses B every operation on A's ARNs, full or partial, whether or not the function exists", async () => {
    const denied = isError('AccessDeniedException', 403);
    for (const name of [
      functionArnOf(a.accountId, 'private'),
      functionArnOf(a.accountId, 'private', 'live'),
      `${a.accountId}:function:private`,
      functionArnOf(a.accountId, 'never-existed'),
    ]) {
      await assert.rejects(lambdaB.send(new GetFunctionCommand({ FunctionName: name })), denied, name);
      await assert.rejects(
        lambdaB.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Timeout: 9 })),
        denied,
      );
      await assert.rejects(lambdaB.send(new DeleteFunctionCommand({ FunctionName: name })), denied);
      await assert.rejects(
        lambdaB.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from('{}') })),
        denied,
      );
      await assert.rejects(
        lambdaB.send(
          new InvokeCommand({ FunctionName: name, InvocationType: 'Event', Payload: Buffer.from('{}') }),
        ),
        denied,
      );
      await assert.rejects(
        lambdaB.send(
          new PutFunctionEventInvokeConfigCommand({ FunctionName: name, MaximumRetryAttempts: 0 }),
        ),
        denied,
      );
    }
    const ran = payloadJson(
      await lambdaA.send(new InvokeCommand({ FunctionName: functionArnOf(a.accountId, 'private', 'live') })),
    );
    assert.equal(ran.owner, 'A', 'A still reaches its own function by ARN');
  });

  it("refuses B destinations and dead-letter targets in A, even to A's existing functions", async () => {
    for (const target of [functionArnOf(a.accountId, 'sink'), functionArnOf(a.accountId, 'never-existed')]) {
      await assert.rejects(
        lambdaB.send(
          new PutFunctionEventInvokeConfigCommand({
            FunctionName: 'same-name',
            DestinationConfig: { OnSuccess: { Destination: target } },
          }),
        ),
        isError('InvalidParameterValueException', 400),
      );
      await assert.rejects(
        lambdaB.send(
          new UpdateFunctionConfigurationCommand({
            FunctionName: 'same-name',
            DeadLetterConfig: { TargetArn: target },
          }),
        ),
        isError('InvalidParameterValueException', 400),
      );
    }
  });

  it("reads only the caller's log groups, by name or by ARN", async () => {
    await lambdaA.send(new InvokeCommand({ FunctionName: 'private', Payload: Buffer.from('{"secret":1}') }));
    const groups = async (c: CloudWatchLogsClient) =>
      ((await c.send(new DescribeLogGroupsCommand({}))).logGroups ?? []).map((g) => g.arn ?? '');
    const seenByB = await groups(logsB);
    assert.ok(seenByB.length > 0, 'B ran same-name, so it has that group');
    for (const arn of seenByB) assert.ok(arn.includes(`:${b.accountId}:log-group:`), arn);
    assert.ok(!seenByB.some((arn) => arn.includes('/aws/lambda/private')));
    assert.ok((await groups(logsA)).some((arn) => arn.includes('/aws/lambda/private')));
    await assert.rejects(logsB.send(new FilterLogEventsCommand({ logGroupName: '/aws/lambda/private' })), {
      name: 'ResourceNotFoundException',
    });
    for (const name of ['/aws/lambda/private', '/aws/lambda/never-existed']) {
      await assert.rejects(
        logsB.send(
          new FilterLogEventsCommand({
            logGroupIdentifier: `arn:aws:logs:us-east-1:${a.accountId}:log-group:${name}`,
          }),
        ),
        { name: 'AccessDeniedException' },
      );
    }
    // The same group name is two groups: B's same-name log shows only B's runs.
    const messages = async (c: CloudWatchLogsClient) =>
      (
        (await c.send(new FilterLogEventsCommand({ logGroupName: '/aws/lambda/same-name' }))).events ?? []
      ).map((e) => e.message ?? '');
    const bLines = (await messages(logsB)).filter((m) => m.includes('ran in'));
    assert.ok(bLines.length > 0 && bLines.every((m) => m.includes('ran in B')), bLines.join('\n'));
    const aLines = (await messages(logsA)).filter((m) => m.includes('ran in'));
    assert.ok(aLines.length > 0 && aLines.every((m) => m.includes('ran in A')), aLines.join('\n'));
  });

  it("runs A's events in A and delivers their records to A's destination, never to B's same-name one", async () => {
    await lambdaA.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: 'same-name',
        DestinationConfig: { OnSuccess: { Destination: functionArnOf(a.accountId, 'sink') } },
      }),
    );
    const marker = randomBytes(8).toString('hex');
    const accepted = await lambdaA.send(
      new InvokeCommand({
        FunctionName: 'same-name',
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify({ marker })),
      }),
    );
    assert.equal(accepted.StatusCode, 202);
    const lines = (c: CloudWatchLogsClient, group: string) => async () => {
      try {
        const out = await c.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: marker }));
        return (out.events ?? []).map((e) => e.message ?? '');
      } catch (e) {
        if ((e as Error).name === 'ResourceNotFoundException') return [];
        throw e;
      }
    };
    // A's sink got the Success record (whose requestPayload carries the marker).
    const delivered = await until("A's sink logs the record", lines(logsA, '/aws/lambda/sink'), (l) =>
      l.some((m) => m.includes('ran in A') && m.includes('"condition":"Success"')),
    );
    assert.ok(
      delivered.some((m) => m.includes(functionArnOf(a.accountId, 'same-name'))),
      delivered.join('\n'),
    );
    assert.ok((await lines(logsA, '/aws/lambda/same-name')()).some((m) => m.includes('ran in A')));
    // Neither B's same-name nor B's sink ever saw it.
    assert.deepEqual(await lines(logsB, '/aws/lambda/same-name')(), []);
    assert.deepEqual(await lines(logsB, '/aws/lambda/sink')(), []);
  });

  it("throttles each account on its own reservations: B's reservations never shrink A's pool", async () => {
    await lambdaB.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'sink', ReservedConcurrentExecutions: 0 }),
    );
    await lambdaB.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'same-name', ReservedConcurrentExecutions: 500 }),
    );
    await assert.rejects(
      lambdaB.send(new InvokeCommand({ FunctionName: 'sink', Payload: Buffer.from('{}') })),
      { name: 'TooManyRequestsException' },
    );
    const ran = payloadJson(
      await lambdaA.send(new InvokeCommand({ FunctionName: 'sink', Payload: Buffer.from('{}') })),
    );
    assert.equal(ran.owner, 'A');
    const settingsA = await lambdaA.send(new GetAccountSettingsCommand({}));
    const settingsB = await lambdaB.send(new GetAccountSettingsCommand({}));
    assert.equal(
      settingsA.AccountLimit?.UnreservedConcurrentExecutions,
      settingsA.AccountLimit?.ConcurrentExecutions,
    );
    assert.equal(
      settingsB.AccountLimit?.UnreservedConcurrentExecutions,
      (settingsB.AccountLimit?.ConcurrentExecutions ?? 0) - 500,
    );
  });
});
