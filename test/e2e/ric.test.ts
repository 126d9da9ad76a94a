// The official AWS Lambda runtime interface client (aws-lambda-ric), unchanged, as a provided.al2023 function.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { role, sdk } from '../support/lambda.js';
import { ricFixtureZip } from '../support/ric-fixture.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';

describe('aws-lambda-ric on Kiln', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;

  before(async () => {
    const zip = await ricFixtureZip();
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'ric',
        Runtime: 'provided.al2023',
        Role: role,
        Handler: 'index.handler',
        MemorySize: 512,
        Timeout: 30,
        Code: { ZipFile: zip },
      }),
    );
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('serves invocations through the TCP relay, warm after the first', async () => {
    const first = await lambda.send(
      new InvokeCommand({ FunctionName: 'ric', Payload: Buffer.from('{"n":1}'), LogType: 'Tail' }),
    );
    assert.equal(first.FunctionError, undefined, Buffer.from(first.Payload ?? []).toString());
    const body = JSON.parse(Buffer.from(first.Payload ?? []).toString()) as {
      echo: unknown;
      requestId: string;
    };
    assert.deepEqual(body.echo, { n: 1 });
    assert.equal(body.requestId, first.$metadata.requestId);
    const log = Buffer.from(first.LogResult ?? '', 'base64').toString();
    assert.match(log, /Init Duration/);
    const second = await lambda.send(
      new InvokeCommand({ FunctionName: 'ric', Payload: Buffer.from('{"n":2}'), LogType: 'Tail' }),
    );
    assert.deepEqual((JSON.parse(Buffer.from(second.Payload ?? []).toString()) as { echo: unknown }).echo, {
      n: 2,
    });
    assert.doesNotMatch(Buffer.from(second.LogResult ?? '', 'base64').toString(), /Init Duration/);
  });
});
