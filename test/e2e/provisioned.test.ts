// Provisioned concurrency: configurations on versions and aliases, environments initialised ahead of
// traffic, used first by invocations, failing visibly, and brought back after a restart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateAliasCommand,
  DeleteFunctionConcurrencyCommand,
  DeleteProvisionedConcurrencyConfigCommand,
  GetProvisionedConcurrencyConfigCommand,
  InvokeCommand,
  ListProvisionedConcurrencyConfigsCommand,
  PutFunctionConcurrencyCommand,
  PublishVersionCommand,
  PutProvisionedConcurrencyConfigCommand,
  UpdateAliasCommand,
  UpdateFunctionConfigurationCommand,
  type GetProvisionedConcurrencyConfigCommandOutput,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { nodeZip } from '../support/functions.js';
import { awsLambda, nodeFunction, payloadJson, sdk, tailLog } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { arn, isError } from '../support/versioned.js';
import { until } from '../support/until.js';

/** Answers which environment ran (an id made at INIT) and how that environment was initialised. */
const initProbe = `
const id = require('node:crypto').randomUUID();
exports.handler = async (event) => {
  if (event.ms) await new Promise((r) => setTimeout(r, event.ms));
  return { id, initType: process.env.AWS_LAMBDA_INITIALIZATION_TYPE };
};
`;
const initThrows = `throw new Error('no database at init');\nexports.handler = async () => 'never';\n`;

const get = (lambda: LambdaClient, name: string, qualifier: string) =>
  lambda.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: name, Qualifier: qualifier }));

/** Polls GetProvisionedConcurrencyConfig (bounded) until the platform reports `status`. */
async function untilStatus(
  lambda: LambdaClient,
  name: string,
  qualifier: string,
  status: string,
): Promise<GetProvisionedConcurrencyConfigCommandOutput> {
  return until(
    `${name}:${qualifier} is ${status}`,
    () => get(lambda, name, qualifier),
    (out) => out.Status === status,
    30_000,
    50,
  );
}

const invoke = (lambda: LambdaClient, qualifier: string, ms = 0) =>
  lambda.send(
    new InvokeCommand({
      FunctionName: 'warm',
      Qualifier: qualifier,
      LogType: 'Tail',
      Payload: Buffer.from(JSON.stringify({ ms })),
    }),
  );

describe('provisioned concurrency', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  before(async () => {
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    await lambda.send(nodeFunction('warm', await nodeZip(initProbe), { Publish: true, Timeout: 30 }));
    await lambda.send(new CreateAliasCommand({ FunctionName: 'warm', Name: 'live', FunctionVersion: '1' }));
    await lambda.send(nodeFunction('broken', await nodeZip(initThrows), { Publish: true }));
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('refuses $LATEST, missing versions, values below 1 and more than the unreserved pool allows', async () => {
    const put = (Qualifier: string, ProvisionedConcurrentExecutions: number) =>
      lambda.send(
        new PutProvisionedConcurrencyConfigCommand({
          FunctionName: 'warm',
          Qualifier,
          ProvisionedConcurrentExecutions,
        }),
      );
    await assert.rejects(
      put('$LATEST', 1),
      isError('InvalidParameterValueException', 400, /cannot be applied to unpublished function versions/),
    );
    await assert.rejects(put('9', 1), isError('ResourceNotFoundException', 404, /warm:9/));
    await assert.rejects(put('nope', 1), isError('ResourceNotFoundException', 404, /Alias not found/));
    await assert.rejects(put('1', 0), isError('ValidationException', 400, /greater than or equal to 1/));
    await assert.rejects(
      put('1', 901),
      isError('InvalidParameterValueException', 400, /UnreservedConcurrentExecution below its minimum/),
    );
    await assert.rejects(
      get(lambda, 'warm', '1'),
      isError('ProvisionedConcurrencyConfigNotFoundException', 404),
    );
    // An alias that splits traffic by weight cannot hold provisioned concurrency.
    await lambda.send(nodeFunction('split', await nodeZip(initProbe), { Publish: true }));
    await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'split',
        Environment: { Variables: { V2: 'yes' } },
      }),
    );
    await lambda.send(new PublishVersionCommand({ FunctionName: 'split' }));
    await lambda.send(
      new CreateAliasCommand({
        FunctionName: 'split',
        Name: 'canary',
        FunctionVersion: '1',
        RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } },
      }),
    );
    await assert.rejects(
      lambda.send(
        new PutProvisionedConcurrencyConfigCommand({
          FunctionName: 'split',
          Qualifier: 'canary',
          ProvisionedConcurrentExecutions: 1,
        }),
      ),
      isError('InvalidParameterValueException', 400, /weights/),
    );
  });

  it('initialises environments ahead of traffic, goes READY, and serves invocations from them first', async () => {
    const put = await lambda.send(
      new PutProvisionedConcurrencyConfigCommand({
        FunctionName: 'warm',
        Qualifier: '1',
        ProvisionedConcurrentExecutions: 2,
      }),
    );
    assert.equal(put.$metadata.httpStatusCode, 202);
    assert.equal(put.RequestedProvisionedConcurrentExecutions, 2);
    assert.equal(put.Status, 'IN_PROGRESS');
    const ready = await untilStatus(lambda, 'warm', '1', 'READY');
    assert.equal(ready.AvailableProvisionedConcurrentExecutions, 2);
    assert.equal(ready.AllocatedProvisionedConcurrentExecutions, 2);
    assert.ok(ready.LastModified);

    const first = await invoke(lambda, '1');
    assert.equal(payloadJson(first).initType, 'provisioned-concurrency');
    assert.match(tailLog(first), /REPORT RequestId/);
    assert.doesNotMatch(tailLog(first), /Init Duration/, 'INIT happened ahead of time');

    // Two at once: two distinct pre-initialised environments. A third spills over to on-demand.
    const both = await Promise.all([invoke(lambda, '1', 800), invoke(lambda, '1', 800)]);
    const answers = both.map(payloadJson);
    assert.deepEqual(
      answers.map((a) => a.initType),
      ['provisioned-concurrency', 'provisioned-concurrency'],
    );
    assert.notEqual(answers[0]?.id, answers[1]?.id);
    for (const out of both) assert.doesNotMatch(tailLog(out), /Init Duration/);

    const three = await Promise.all([1, 2, 3].map(() => invoke(lambda, '1', 1000)));
    const types = three.map((o) => String(payloadJson(o).initType)).sort();
    assert.deepEqual(types, ['on-demand', 'provisioned-concurrency', 'provisioned-concurrency']);
    const spilled = three.find((o) => payloadJson(o).initType === 'on-demand');
    assert.ok(spilled);
    assert.match(tailLog(spilled), /Init Duration/, 'the spill-over was a cold start');
  });

  it('keeps reserved concurrency at or above the provisioned total', async () => {
    await assert.rejects(
      lambda.send(
        new PutFunctionConcurrencyCommand({ FunctionName: 'warm', ReservedConcurrentExecutions: 1 }),
      ),
      { name: 'InvalidParameterValueException' },
    );
    await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'warm', ReservedConcurrentExecutions: 2 }),
    );
    await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'warm' }));
  });

  it('configures an alias through the AWS CLI and lists both configurations', async () => {
    const put = awsLambda(kiln.endpoint, [
      'put-provisioned-concurrency-config',
      '--function-name',
      'warm',
      '--qualifier',
      'live',
      '--provisioned-concurrent-executions',
      '1',
    ]);
    assert.equal(put.status, 0, put.stderr);
    assert.equal(put.json().RequestedProvisionedConcurrentExecutions, 1);
    await untilStatus(lambda, 'warm', 'live', 'READY');
    const cli = awsLambda(kiln.endpoint, [
      'get-provisioned-concurrency-config',
      '--function-name',
      'warm',
      '--qualifier',
      'live',
    ]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(cli.json().Status, 'READY');
    assert.equal(cli.json().AvailableProvisionedConcurrentExecutions, 1);

    const viaAlias = await invoke(lambda, 'live');
    assert.equal(payloadJson(viaAlias).initType, 'provisioned-concurrency');
    assert.doesNotMatch(tailLog(viaAlias), /Init Duration/);

    const list = await lambda.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: 'warm' }));
    assert.deepEqual(
      list.ProvisionedConcurrencyConfigs?.map((c) => [
        c.FunctionArn,
        c.RequestedProvisionedConcurrentExecutions,
      ]),
      [
        [arn('warm', '1'), 2],
        [arn('warm', 'live'), 1],
      ],
    );

    // Moving the alias moves its provisioned environments to the new version.
    await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'warm',
        Environment: { Variables: { V2: 'yes' } },
      }),
    );
    const v2 = await lambda.send(new PublishVersionCommand({ FunctionName: 'warm' }));
    assert.equal(v2.Version, '2');
    await lambda.send(new UpdateAliasCommand({ FunctionName: 'warm', Name: 'live', FunctionVersion: '2' }));
    await untilStatus(lambda, 'warm', 'live', 'READY');
    const moved = await invoke(lambda, 'live');
    assert.equal(moved.ExecutedVersion, '2');
    assert.equal(payloadJson(moved).initType, 'provisioned-concurrency');
    assert.doesNotMatch(tailLog(moved), /Init Duration/);
  });

  it('reports FAILED with a reason when the function throws at init', async () => {
    await lambda.send(
      new PutProvisionedConcurrencyConfigCommand({
        FunctionName: 'broken',
        Qualifier: '1',
        ProvisionedConcurrentExecutions: 1,
      }),
    );
    const failed = await untilStatus(lambda, 'broken', '1', 'FAILED');
    assert.match(failed.StatusReason ?? '', /FUNCTION_ERROR_INIT_FAILURE/);
    assert.equal(failed.AvailableProvisionedConcurrentExecutions, 0);
  });

  it('deletes a configuration and stops its environments', async () => {
    const del = await lambda.send(
      new DeleteProvisionedConcurrencyConfigCommand({ FunctionName: 'warm', Qualifier: 'live' }),
    );
    assert.equal(del.$metadata.httpStatusCode, 204);
    await assert.rejects(
      get(lambda, 'warm', 'live'),
      isError('ProvisionedConcurrencyConfigNotFoundException', 404),
    );
    const list = await lambda.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: 'warm' }));
    assert.deepEqual(
      list.ProvisionedConcurrencyConfigs?.map((c) => c.FunctionArn),
      [arn('warm', '1')],
    );
  });

  it('brings configurations back to READY after a restart', async () => {
    await kiln.stop();
    kiln = await startKiln({ dataDir: kiln.dataDir });
    lambda.destroy();
    lambda = sdk(kiln.endpoint);
    const ready = await untilStatus(lambda, 'warm', '1', 'READY');
    assert.equal(ready.AllocatedProvisionedConcurrentExecutions, 2);
    const out = await invoke(lambda, '1');
    assert.equal(payloadJson(out).initType, 'provisioned-concurrency');
    assert.doesNotMatch(tailLog(out), /Init Duration/);
  });
});
