// Asynchronous invocation settings (Put/Update/Get/Delete/ListFunctionEventInvokeConfigs) through the AWS
// SDK, the AWS CLI and raw HTTP: qualifiers, destinations, Lambda's errors, removal with the version,
// alias or function they belong to, and a restart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateAliasCommand,
  DeleteAliasCommand,
  DeleteFunctionCommand,
  DeleteFunctionEventInvokeConfigCommand,
  GetFunctionEventInvokeConfigCommand,
  ListFunctionEventInvokeConfigsCommand,
  PublishVersionCommand,
  PutFunctionEventInvokeConfigCommand,
  UpdateFunctionConfigurationCommand,
  UpdateFunctionEventInvokeConfigCommand,
  type LambdaClient,
  type PutFunctionEventInvokeConfigCommandInput,
} from '@aws-sdk/client-lambda';
import { nodeZip } from '../support/functions.js';
import { awsLambda, nodeFunction, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { arn, isError } from '../support/versioned.js';
import { kilnFetch } from '../support/credentials.js';

const handler = 'exports.handler = async (event) => event;\n';

describe('event invoke configs', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  const put = (input: PutFunctionEventInvokeConfigCommandInput) =>
    lambda.send(new PutFunctionEventInvokeConfigCommand(input));
  const get = (FunctionName: string, Qualifier?: string) =>
    lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName, Qualifier }));
  const list = (FunctionName: string, MaxItems?: number, Marker?: string) =>
    lambda.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName, MaxItems, Marker }));
  const raw = (method: string, path: string, body?: string) =>
    kilnFetch(`${kiln.endpoint}${path}`, { method, body, headers: { 'content-type': 'application/json' } });
  const aws = (...args: string[]) => awsLambda(kiln.endpoint, args);

  before(async () => {
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    const zip = await nodeZip(handler);
    // f: $LATEST, versions 1 and 2, alias live → 1. sink and spare: destinations.
    await lambda.send(nodeFunction('f', zip, { Publish: true }));
    await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'f',
        Environment: { Variables: { V2: 'yes' } },
      }),
    );
    await lambda.send(new PublishVersionCommand({ FunctionName: 'f' }));
    await lambda.send(new CreateAliasCommand({ FunctionName: 'f', Name: 'live', FunctionVersion: '1' }));
    await lambda.send(nodeFunction('sink', zip, { Publish: true }));
    await lambda.send(new CreateAliasCommand({ FunctionName: 'sink', Name: 'prod', FunctionVersion: '1' }));
    await lambda.send(nodeFunction('spare', zip));
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('puts, gets, updates and deletes the configuration of $LATEST, unqualified or named', async () => {
    const before = Date.now();
    const out = await put({
      FunctionName: 'f',
      MaximumRetryAttempts: 1,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: arn('sink') } },
    });
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.equal(out.FunctionArn, arn('f', '$LATEST'), 'always qualified');
    assert.equal(out.MaximumRetryAttempts, 1);
    assert.equal(out.MaximumEventAgeInSeconds, 3600);
    assert.deepEqual(out.DestinationConfig, { OnSuccess: {}, OnFailure: { Destination: arn('sink') } });
    assert.ok(out.LastModified instanceof Date, 'LastModified parses as a timestamp');
    const when = out.LastModified.getTime();
    assert.ok(when >= before - 1000 && when <= Date.now() + 1000, 'epoch seconds, not milliseconds');

    // Unqualified, `$LATEST` by query, by name suffix, partial ARN and full ARN all name one configuration.
    for (const [name, qualifier] of [
      ['f', undefined],
      ['f', '$LATEST'],
      ['f:$LATEST', undefined],
      ['000000000000:function:f', '$LATEST'],
      [arn('f'), undefined],
    ] as const) {
      const g = await get(name, qualifier);
      assert.equal(g.FunctionArn, arn('f', '$LATEST'), `${name} ${qualifier}`);
      assert.equal(g.MaximumRetryAttempts, 1);
    }

    // Update changes only what it names.
    const upd = await lambda.send(
      new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'f', MaximumRetryAttempts: 0 }),
    );
    assert.equal(upd.MaximumRetryAttempts, 0);
    assert.equal(upd.MaximumEventAgeInSeconds, 3600, 'kept');
    assert.deepEqual(upd.DestinationConfig?.OnFailure, { Destination: arn('sink') }, 'kept');
    const upd2 = await lambda.send(
      new UpdateFunctionEventInvokeConfigCommand({
        FunctionName: 'f',
        DestinationConfig: { OnSuccess: { Destination: arn('spare') } },
      }),
    );
    assert.deepEqual(
      upd2.DestinationConfig,
      { OnSuccess: { Destination: arn('spare') }, OnFailure: { Destination: arn('sink') } },
      'a side the update leaves out keeps its destination',
    );
    const cleared = await lambda.send(
      new UpdateFunctionEventInvokeConfigCommand({
        FunctionName: 'f',
        DestinationConfig: { OnFailure: { Destination: '' } },
      }),
    );
    assert.deepEqual(cleared.DestinationConfig, { OnSuccess: { Destination: arn('spare') }, OnFailure: {} });

    // Put replaces everything: settings it leaves out are gone, not defaulted.
    const replaced = await put({ FunctionName: 'f', MaximumRetryAttempts: 2 });
    assert.equal(replaced.MaximumRetryAttempts, 2);
    assert.equal(replaced.MaximumEventAgeInSeconds, undefined);
    assert.deepEqual(replaced.DestinationConfig, { OnSuccess: {}, OnFailure: {} });
    const got = await get('f');
    assert.equal(got.MaximumEventAgeInSeconds, undefined);
    assert.deepEqual(got.DestinationConfig, { OnSuccess: {}, OnFailure: {} });

    const del = await lambda.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'f' }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    const missing = `The function ${arn('f', '$LATEST')} doesn't have an EventInvokeConfig`;
    await assert.rejects(
      get('f'),
      isError('ResourceNotFoundException', 404, new RegExp(`^${esc(missing)}$`)),
    );
    await assert.rejects(
      lambda.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'f' })),
      isError('ResourceNotFoundException', 404, new RegExp(`^${esc(missing)}$`)),
    );
    await assert.rejects(
      lambda.send(new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'f', MaximumRetryAttempts: 1 })),
      isError('ResourceNotFoundException', 404, new RegExp(`^${esc(missing)}$`)),
      'Update does not create',
    );
  });

  it('keeps a separate configuration per version and alias', async () => {
    await put({ FunctionName: 'f', MaximumRetryAttempts: 0 });
    const v1 = await put({ FunctionName: 'f', Qualifier: '1', MaximumRetryAttempts: 1 });
    assert.equal(v1.FunctionArn, arn('f', '1'));
    const viaName = await put({ FunctionName: 'f:2', MaximumEventAgeInSeconds: 60 });
    assert.equal(viaName.FunctionArn, arn('f', '2'));
    const alias = await put({
      FunctionName: arn('f', 'live'),
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnSuccess: { Destination: arn('sink', 'prod') } },
    });
    assert.equal(alias.FunctionArn, arn('f', 'live'));
    assert.deepEqual(alias.DestinationConfig?.OnSuccess, { Destination: arn('sink', 'prod') });

    assert.equal((await get('f')).MaximumRetryAttempts, 0);
    assert.equal((await get('f', '1')).MaximumRetryAttempts, 1);
    assert.equal((await get('f:1')).MaximumRetryAttempts, 1);
    assert.equal((await get('f', '2')).MaximumEventAgeInSeconds, 60);
    assert.equal((await get('f', 'live')).MaximumRetryAttempts, 2, 'the alias, not the version it points to');
    await assert.rejects(
      get('f', 'nope'),
      isError(
        'ResourceNotFoundException',
        404,
        /^The function .*:function:f:nope doesn't have an EventInvokeConfig$/,
      ),
    );
    await assert.rejects(
      get('f:1', '2'),
      isError(
        'InvalidParameterValueException',
        400,
        /derived qualifier from the function name does not match/,
      ),
    );

    const all = await list('f');
    assert.deepEqual(
      all.FunctionEventInvokeConfigs?.map((c) => [c.FunctionArn, c.MaximumRetryAttempts]),
      [
        [arn('f', '$LATEST'), 0],
        [arn('f', '1'), 1],
        [arn('f', '2'), undefined],
        [arn('f', 'live'), 2],
      ],
    );
    assert.equal(all.NextMarker, undefined);
  });

  it('pages ListFunctionEventInvokeConfigs with MaxItems and Marker', async () => {
    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await list('f', 1, marker);
      assert.equal(page.FunctionEventInvokeConfigs?.length, 1);
      seen.push(page.FunctionEventInvokeConfigs?.[0]?.FunctionArn ?? '');
      marker = page.NextMarker;
      pages++;
    } while (marker && pages < 10);
    assert.deepEqual(seen, [arn('f', '$LATEST'), arn('f', '1'), arn('f', '2'), arn('f', 'live')]);
    const two = await list('f', 3);
    assert.equal(two.FunctionEventInvokeConfigs?.length, 3);
    const rest = await list('f', 3, two.NextMarker);
    assert.deepEqual(
      rest.FunctionEventInvokeConfigs?.map((c) => c.FunctionArn),
      [arn('f', 'live')],
    );
    assert.equal(rest.NextMarker, undefined);
    assert.deepEqual((await list('spare')).FunctionEventInvokeConfigs, []);

    await assert.rejects(list('f', 0), isError('ValidationException', 400, /greater than or equal to 1/));
    await assert.rejects(list('f', 51), isError('ValidationException', 400, /less than or equal to 50/));
    await assert.rejects(list('f', 5, 'garbage'), isError('InvalidParameterValueException', 400, /Marker/));
    await assert.rejects(
      list('ghost'),
      isError('ResourceNotFoundException', 404, /^The function doesn't exist\./),
    );
    await assert.rejects(list('f:1'), isError('InvalidParameterValueException', 400, /whole function/));
  });

  it('refuses out-of-range values, empty requests and unknown targets with Lambda errors', async () => {
    await assert.rejects(
      put({ FunctionName: 'f', MaximumRetryAttempts: 3 }),
      isError(
        'ValidationException',
        400,
        /^1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2$/,
      ),
    );
    await assert.rejects(
      put({ FunctionName: 'f', MaximumRetryAttempts: -1, MaximumEventAgeInSeconds: 59 }),
      isError(
        'ValidationException',
        400,
        /^2 validation errors detected: .*'maximumRetryAttempts'.*'maximumEventAgeInSeconds'/,
      ),
    );
    await assert.rejects(
      lambda.send(
        new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'f', MaximumEventAgeInSeconds: 21601 }),
      ),
      isError('ValidationException', 400, /'maximumEventAgeInSeconds' .*less than or equal to 21600/),
    );
    for (const send of [
      () => put({ FunctionName: 'f' }),
      () => lambda.send(new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'f' })),
      // Checked before the function is looked up, as Lambda does.
      () => put({ FunctionName: 'ghost' }),
    ]) {
      await assert.rejects(
        send(),
        isError(
          'InvalidParameterValueException',
          400,
          /^You must specify at least one of error handling or destination setting\.$/,
        ),
      );
    }
    for (const [FunctionName, Qualifier] of [
      ['ghost', undefined],
      [arn('ghost'), undefined],
      ['f', '9'],
      ['f', 'nope'],
      ['f:nope', undefined],
    ] as const) {
      await assert.rejects(
        put({ FunctionName, Qualifier, MaximumRetryAttempts: 1 }),
        isError('ResourceNotFoundException', 404, /^The function doesn't exist\./),
        `${FunctionName} ${Qualifier}`,
      );
    }
    await assert.rejects(
      lambda.send(
        new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'ghost', MaximumRetryAttempts: 1 }),
      ),
      isError('ResourceNotFoundException', 404, /^The function doesn't exist\./),
    );
    await assert.rejects(
      get('ghost'),
      isError(
        'ResourceNotFoundException',
        404,
        /^The function .*:function:ghost:\$LATEST doesn't have an EventInvokeConfig$/,
      ),
    );
    await assert.rejects(
      put({ FunctionName: 'arn:aws:lambda:eu-west-1:000000000000:function:f', MaximumRetryAttempts: 1 }),
      { name: 'InvalidParameterValueException' },
    );
    await assert.rejects(put({ FunctionName: 'bad name', MaximumRetryAttempts: 1 }), {
      name: 'ValidationException',
    });
  });

  it('answers malformed JSON and wrong types with InvalidRequestContentException', async () => {
    const path = '/2019-09-25/functions/f/event-invoke-config';
    for (const [method, body] of [
      ['PUT', '{not json'],
      ['PUT', '[1]'],
      ['PUT', JSON.stringify({ MaximumRetryAttempts: 'two' })],
      ['PUT', JSON.stringify({ MaximumRetryAttempts: 1.5 })],
      ['POST', JSON.stringify({ DestinationConfig: { OnFailure: { Destination: 7 } } })],
      ['POST', JSON.stringify({ DestinationConfig: 'sqs' })],
    ] as const) {
      const res = await raw(method, path, body);
      assert.equal(res.status, 400, body);
      assert.equal(res.headers.get('x-amzn-errortype'), 'InvalidRequestContentException', body);
    }
    assert.equal((await get('f')).MaximumRetryAttempts, 0, 'nothing changed');
  });

  it('takes Lambda function destinations only, naming what Kiln does not host', async () => {
    const dest = (OnSuccess?: string, OnFailure?: string) =>
      put({
        FunctionName: 'spare',
        DestinationConfig: {
          ...(OnSuccess === undefined ? {} : { OnSuccess: { Destination: OnSuccess } }),
          ...(OnFailure === undefined ? {} : { OnFailure: { Destination: OnFailure } }),
        },
      });
    const ok = await dest(arn('sink', '1'), arn('f', 'live'));
    assert.deepEqual(ok.DestinationConfig, {
      OnSuccess: { Destination: arn('sink', '1') },
      OnFailure: { Destination: arn('f', 'live') },
    });
    // A destination object without an ARN is no destination.
    const none = await put({ FunctionName: 'spare', DestinationConfig: { OnSuccess: {}, OnFailure: {} } });
    assert.deepEqual(none.DestinationConfig, { OnSuccess: {}, OnFailure: {} });

    for (const [target, kind] of [
      ['arn:aws:sqs:us-east-1:000000000000:queue', 'SQS queues'],
      ['arn:aws:sns:us-east-1:000000000000:topic', 'SNS topics'],
      ['arn:aws:events:us-east-1:000000000000:event-bus/default', 'EventBridge event buses'],
      ['arn:aws:s3:::bucket', 'S3 buckets'],
    ] as const) {
      await assert.rejects(
        dest(undefined, target),
        isError(
          'InvalidParameterValueException',
          400,
          new RegExp(`Kiln does not host ${kind} yet; use a Lambda function ARN`),
        ),
        target,
      );
    }
    await assert.rejects(
      dest(arn('spare')),
      isError(
        'InvalidParameterValueException',
        400,
        /^You can't specify the function as a destination for itself\.$/,
      ),
    );
    await assert.rejects(
      dest(undefined, arn('nobody')),
      isError('InvalidParameterValueException', 400, /^The destination ARN .*:function:nobody is invalid/),
    );
    await assert.rejects(
      dest(undefined, arn('sink', 'nope')),
      isError('InvalidParameterValueException', 400, /is invalid/),
    );
    await assert.rejects(
      dest('arn:aws:lambda:eu-west-1:000000000000:function:sink'),
      isError('InvalidParameterValueException', 400, /Kiln delivers only to functions of region us-east-1/),
    );
    await assert.rejects(
      dest('arn:aws:iam:us-east-1:000000000000:function:sink'),
      isError(
        'InvalidParameterValueException',
        400,
        /^The provided destination config DestinationConfig\(onSuccess=OnSuccess\(destination=arn:aws:iam:/,
      ),
    );
    await assert.rejects(
      dest(undefined, 'arn:aws:_-/!lambda:us-east-1:000000000000:function:sink'),
      isError(
        'ValidationException',
        400,
        /^1 validation error detected: Value 'arn:aws:_-\/!lambda:.*' at 'destinationConfig\.onFailure\.destination' failed to satisfy constraint: Member must satisfy regular expression pattern: /,
      ),
    );
    await assert.rejects(
      dest('not an arn'),
      isError('ValidationException', 400, /'destinationConfig\.onSuccess\.destination'/),
    );
  });

  it('works through the AWS CLI', () => {
    const p = aws(
      'put-function-event-invoke-config',
      '--function-name',
      'spare',
      '--maximum-retry-attempts',
      '1',
      '--maximum-event-age-in-seconds',
      '120',
      '--destination-config',
      JSON.stringify({ OnFailure: { Destination: arn('sink') } }),
    );
    assert.equal(p.status, 0, p.stderr);
    assert.equal(p.json().FunctionArn, arn('spare', '$LATEST'));
    assert.equal(p.json().MaximumEventAgeInSeconds, 120);
    assert.ok(!Number.isNaN(Date.parse(String(p.json().LastModified))), 'the CLI read a timestamp');

    const u = aws(
      'update-function-event-invoke-config',
      '--function-name',
      'spare',
      '--maximum-retry-attempts',
      '0',
    );
    assert.equal(u.status, 0, u.stderr);
    assert.equal(u.json().MaximumRetryAttempts, 0);
    assert.equal(u.json().MaximumEventAgeInSeconds, 120);

    const g = aws(
      'get-function-event-invoke-config',
      '--function-name',
      arn('spare'),
      '--qualifier',
      '$LATEST',
    );
    assert.equal(g.status, 0, g.stderr);
    assert.deepEqual(g.json().DestinationConfig, { OnSuccess: {}, OnFailure: { Destination: arn('sink') } });

    // The CLI follows NextMarker itself; one item per page exercises the markers.
    const l = aws('list-function-event-invoke-configs', '--function-name', 'f', '--page-size', '1');
    assert.equal(l.status, 0, l.stderr);
    assert.deepEqual(
      (l.json().FunctionEventInvokeConfigs as { FunctionArn: string }[]).map((c) => c.FunctionArn),
      [arn('f', '$LATEST'), arn('f', '1'), arn('f', '2'), arn('f', 'live')],
    );

    const bad = aws(
      'put-function-event-invoke-config',
      '--function-name',
      'spare',
      '--maximum-retry-attempts',
      '3',
    );
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /ValidationException.*less than or equal to 2/);
    const sqs = aws(
      'update-function-event-invoke-config',
      '--function-name',
      'spare',
      '--destination-config',
      'OnSuccess={Destination=arn:aws:sqs:us-east-1:000000000000:q}',
    );
    assert.notEqual(sqs.status, 0);
    assert.match(sqs.stderr, /InvalidParameterValueException.*Kiln does not host SQS queues yet/);

    const d = aws('delete-function-event-invoke-config', '--function-name', 'spare');
    assert.equal(d.status, 0, d.stderr);
    const gone = aws('get-function-event-invoke-config', '--function-name', 'spare');
    assert.notEqual(gone.status, 0);
    assert.match(gone.stderr, /ResourceNotFoundException.*doesn't have an EventInvokeConfig/);
  });

  it('keeps configurations across a restart', async () => {
    await put({
      FunctionName: 'spare',
      Qualifier: '$LATEST',
      MaximumEventAgeInSeconds: 900,
      DestinationConfig: { OnSuccess: { Destination: arn('sink', 'prod') } },
    });
    const beforeRestart = await list('f');
    await kiln.stop();
    kiln = await startKiln({ dataDir: kiln.dataDir });
    lambda.destroy();
    lambda = sdk(kiln.endpoint);
    const spare = await get('spare');
    assert.equal(spare.MaximumEventAgeInSeconds, 900);
    assert.deepEqual(spare.DestinationConfig?.OnSuccess, { Destination: arn('sink', 'prod') });
    assert.deepEqual((await list('f')).FunctionEventInvokeConfigs, beforeRestart.FunctionEventInvokeConfigs);
  });

  it('removes a configuration with its alias, its version and its function', async () => {
    await lambda.send(new DeleteAliasCommand({ FunctionName: 'f', Name: 'live' }));
    await assert.rejects(get('f', 'live'), { name: 'ResourceNotFoundException' });
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'f', Qualifier: '2' }));
    await assert.rejects(get('f', '2'), { name: 'ResourceNotFoundException' });
    assert.deepEqual(
      (await list('f')).FunctionEventInvokeConfigs?.map((c) => c.FunctionArn),
      [arn('f', '$LATEST'), arn('f', '1')],
    );
    // A new alias of the same name starts without the old one's settings.
    await lambda.send(new CreateAliasCommand({ FunctionName: 'f', Name: 'live', FunctionVersion: '1' }));
    await assert.rejects(get('f', 'live'), { name: 'ResourceNotFoundException' });

    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'f' }));
    await lambda.send(nodeFunction('f', await nodeZip(handler), { Publish: true }));
    assert.deepEqual(
      (await list('f')).FunctionEventInvokeConfigs,
      [],
      'a new function of the same name starts bare',
    );
    await assert.rejects(get('f', '1'), { name: 'ResourceNotFoundException' });
  });
});

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
