// DeadLetterConfig on CreateFunction and UpdateFunctionConfiguration: Kiln takes a function of its own
// account as the target (its stand-in for an SQS queue or SNS topic), shows it as Lambda does, snapshots
// it into published versions, removes it on an empty TargetArn, and refuses what it cannot deliver to.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  ListFunctionsCommand,
  PublishVersionCommand,
  UpdateFunctionConfigurationCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { nodeZip } from '../support/functions.js';
import { awsLambda, nodeFunction, role, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { arn, isError } from '../support/versioned.js';
import { kilnFetch } from '../support/credentials.js';

describe('DeadLetterConfig', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  let zip: Buffer;
  let dir: string;
  const config = (FunctionName: string, Qualifier?: string) =>
    lambda.send(new GetFunctionConfigurationCommand({ FunctionName, Qualifier }));
  const setTarget = (FunctionName: string, TargetArn: string) =>
    lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName, DeadLetterConfig: { TargetArn } }));

  before(async () => {
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    zip = await nodeZip('exports.handler = async () => "ok";\n');
    dir = mkdtempSync(join(tmpdir(), 'kiln-dlq-'));
    await lambda.send(nodeFunction('dlq', zip, { Publish: true }));
    await lambda.send(nodeFunction('dlq2', zip));
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
    removeDir(dir);
  });

  it('leaves DeadLetterConfig out of a function that has none, as Lambda does', async () => {
    const c = await config('dlq');
    assert.equal(c.DeadLetterConfig, undefined);
    const raw = (await (
      await kilnFetch(`${kiln.endpoint}/2015-03-31/functions/dlq/configuration`)
    ).json()) as Record<string, unknown>;
    assert.ok(!('DeadLetterConfig' in raw));
  });

  it('takes a function ARN on CreateFunction and shows it in every view', async () => {
    const created = await lambda.send(
      nodeFunction('worker', zip, { DeadLetterConfig: { TargetArn: arn('dlq') } }),
    );
    assert.deepEqual(created.DeadLetterConfig, { TargetArn: arn('dlq') });
    assert.deepEqual((await config('worker')).DeadLetterConfig, { TargetArn: arn('dlq') });
    const fn = await lambda.send(new GetFunctionCommand({ FunctionName: 'worker' }));
    assert.deepEqual(fn.Configuration?.DeadLetterConfig, { TargetArn: arn('dlq') });
    const listed = await lambda.send(new ListFunctionsCommand({}));
    const entry = listed.Functions?.find((f) => f.FunctionName === 'worker');
    assert.deepEqual(entry?.DeadLetterConfig, { TargetArn: arn('dlq') });
    assert.equal(listed.Functions?.find((f) => f.FunctionName === 'dlq')?.DeadLetterConfig, undefined);
  });

  it('snapshots the target into published versions; updates change $LATEST only; empty removes', async () => {
    const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: 'worker' }));
    assert.equal(v1.Version, '1');
    assert.deepEqual(v1.DeadLetterConfig, { TargetArn: arn('dlq') });

    const moved = await setTarget('worker', arn('dlq', '1'));
    assert.deepEqual(moved.DeadLetterConfig, { TargetArn: arn('dlq', '1') });
    // A new target is a new configuration: publishing makes version 2.
    const v2 = await lambda.send(new PublishVersionCommand({ FunctionName: 'worker' }));
    assert.equal(v2.Version, '2');
    assert.deepEqual(v2.DeadLetterConfig, { TargetArn: arn('dlq', '1') });

    // Leaving DeadLetterConfig out of an update keeps the target.
    const kept = await lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'worker', Timeout: 9 }),
    );
    assert.deepEqual(kept.DeadLetterConfig, { TargetArn: arn('dlq', '1') });

    const removed = await setTarget('worker', '');
    assert.equal(removed.DeadLetterConfig, undefined);
    assert.equal((await config('worker')).DeadLetterConfig, undefined);
    assert.deepEqual((await config('worker', '1')).DeadLetterConfig, { TargetArn: arn('dlq') });
    assert.deepEqual((await config('worker', '2')).DeadLetterConfig, { TargetArn: arn('dlq', '1') });
  });

  it('publishes no new version when the target is removed and set again to the same ARN', async () => {
    await lambda.send(nodeFunction('repub', zip, { DeadLetterConfig: { TargetArn: arn('dlq') } }));
    const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: 'repub' }));
    await setTarget('repub', '');
    await setTarget('repub', arn('dlq'));
    const again = await lambda.send(new PublishVersionCommand({ FunctionName: 'repub' }));
    assert.equal(again.Version, v1.Version, 'the same configuration as version 1');
  });

  it('refuses SQS and SNS targets, naming the kind and the fix, and changes nothing', async () => {
    await setTarget('worker', arn('dlq2'));
    const before = await config('worker');
    for (const [target, kind] of [
      ['arn:aws:sqs:us-east-1:000000000000:dead-letters', 'SQS queues'],
      ['arn:aws:sns:us-east-1:000000000000:dead-letters', 'SNS topics'],
    ] as const) {
      const refused = isError(
        'InvalidParameterValueException',
        400,
        new RegExp(`Kiln does not host ${kind} yet; use a Lambda function ARN`),
      );
      await assert.rejects(setTarget('worker', target), refused, target);
      await assert.rejects(
        lambda.send(nodeFunction('never', zip, { DeadLetterConfig: { TargetArn: target } })),
        refused,
        target,
      );
    }
    await assert.rejects(config('never'), { name: 'ResourceNotFoundException' }, 'nothing was created');
    const after = await config('worker');
    assert.equal(after.RevisionId, before.RevisionId);
    assert.deepEqual(after.DeadLetterConfig, { TargetArn: arn('dlq2') });
  });

  it('refuses malformed ARNs, other services, other regions, missing targets and the function itself', async () => {
    await assert.rejects(
      setTarget('worker', 'not-an-arn'),
      isError(
        'ValidationException',
        400,
        /^1 validation error detected: Value 'not-an-arn' at 'deadLetterConfig\.targetArn' failed to satisfy constraint: Member must satisfy regular expression pattern: /,
      ),
    );
    await assert.rejects(
      setTarget('worker', 'arn:aws:iam::000000000000:role/r'),
      isError('InvalidParameterValueException', 400, /SQS queue or SNS topic ARN.*Lambda function ARN/),
    );
    await assert.rejects(
      setTarget('worker', 'arn:aws:lambda:eu-west-1:000000000000:function:dlq'),
      isError('InvalidParameterValueException', 400, /region us-east-1 and account 000000000000/),
    );
    await assert.rejects(
      setTarget('worker', arn('nobody')),
      isError('InvalidParameterValueException', 400, /no such function, version or alias; create it first/),
    );
    await assert.rejects(
      setTarget('worker', arn('dlq', '7')),
      isError('InvalidParameterValueException', 400, /no such function, version or alias/),
    );
    await assert.rejects(
      setTarget('worker', arn('worker')),
      isError('InvalidParameterValueException', 400, /is the function itself/),
    );
  });

  it('works through the AWS CLI', () => {
    const zipPath = join(dir, 'fn.zip');
    writeFileSync(zipPath, zip);
    const c = awsLambda(kiln.endpoint, [
      'create-function',
      '--function-name',
      'cli-worker',
      '--runtime',
      'nodejs20.x',
      '--role',
      role,
      '--handler',
      'index.handler',
      '--zip-file',
      `fileb://${zipPath}`,
      '--dead-letter-config',
      `TargetArn=${arn('dlq')}`,
    ]);
    assert.equal(c.status, 0, c.stderr);
    assert.deepEqual(c.json().DeadLetterConfig, { TargetArn: arn('dlq') });
    const sqs = awsLambda(kiln.endpoint, [
      'update-function-configuration',
      '--function-name',
      'cli-worker',
      '--dead-letter-config',
      'TargetArn=arn:aws:sqs:us-east-1:000000000000:q',
    ]);
    assert.notEqual(sqs.status, 0);
    assert.match(sqs.stderr, /InvalidParameterValueException.*Kiln does not host SQS queues yet/);
    const cleared = awsLambda(kiln.endpoint, [
      'update-function-configuration',
      '--function-name',
      'cli-worker',
      '--dead-letter-config',
      'TargetArn=',
    ]);
    assert.equal(cleared.status, 0, cleared.stderr);
    assert.equal(cleared.json().DeadLetterConfig, undefined);
  });
});
