// PublishVersion, ListVersionsByFunction and qualifiers through the AWS SDK v3 and the AWS CLI, against a
// real `kiln up` running real functions.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateAliasCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  paginateListVersionsByFunction,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { awsLambda, lambdaSha, nodeFunction, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { arn, cliOutFile, isError, markerZip } from '../support/versioned.js';

type Json = Record<string, unknown>;

describe('function versions', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  let zipA: Buffer;
  let zipB: Buffer;

  const create = (name: string, zip: Buffer, extra: Json = {}) =>
    lambda.send(nodeFunction(name, zip, { Environment: { Variables: { GREETING: 'first' } }, ...extra }));
  const invoke = async (FunctionName: string, Qualifier?: string) => {
    const out = await lambda.send(new InvokeCommand({ FunctionName, ...(Qualifier ? { Qualifier } : {}) }));
    assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
    return {
      version: out.ExecutedVersion,
      body: JSON.parse(Buffer.from(out.Payload ?? []).toString()) as Json,
    };
  };

  before(async () => {
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    [zipA, zipB] = await Promise.all([markerZip('A'), markerZip('B')]);
  });
  after(async () => {
    lambda.destroy();
    assert.equal(await kiln.stop(), 0);
    removeDir(kiln.dataDir);
  });

  it('publishes $LATEST as version 1 with a qualified ARN and its own RevisionId', async () => {
    const created = await create('ver', zipA);
    const out = await lambda.send(
      new PublishVersionCommand({ FunctionName: 'ver', Description: 'first cut' }),
    );
    assert.equal(out.$metadata.httpStatusCode, 201);
    assert.equal(out.Version, '1');
    assert.equal(out.FunctionArn, arn('ver', '1'));
    assert.equal(out.Description, 'first cut');
    assert.equal(out.CodeSha256, lambdaSha(zipA));
    assert.equal(out.Environment?.Variables?.GREETING, 'first');
    assert.ok(out.RevisionId && out.RevisionId !== created.RevisionId);
    const latest = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'ver' }));
    assert.equal(latest.Version, '$LATEST');
    assert.equal(latest.FunctionArn, arn('ver'));
    assert.equal(latest.Description, '', 'publishing leaves $LATEST alone');
  });

  it('returns the newest version instead of publishing unchanged code and configuration again', async () => {
    const again = await lambda.send(new PublishVersionCommand({ FunctionName: 'ver' }));
    assert.equal(again.Version, '1');
    assert.equal(again.Description, 'first cut');
  });

  it('refuses a CodeSha256 other than $LATEST’s and a stale RevisionId', async () => {
    await assert.rejects(
      lambda.send(new PublishVersionCommand({ FunctionName: 'ver', CodeSha256: lambdaSha(zipB) })),
      isError(
        'InvalidParameterValueException',
        400,
        /CodeSHA256 .* is different from current CodeSHA256 in \$LATEST/,
      ),
    );
    await assert.rejects(
      lambda.send(new PublishVersionCommand({ FunctionName: 'ver', RevisionId: 'stale' })),
      isError('PreconditionFailedException', 412, /Revision Id/),
    );
    await assert.rejects(
      lambda.send(new PublishVersionCommand({ FunctionName: 'nope' })),
      isError('ResourceNotFoundException', 404),
    );
  });

  it('keeps running a version’s code and configuration after $LATEST changes', async () => {
    assert.deepEqual((await invoke('ver', '1')).body.marker, 'A');
    await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'ver', ZipFile: zipB }));
    await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'ver',
        Environment: { Variables: { GREETING: 'second' } },
      }),
    );
    const v1 = await invoke('ver', '1');
    assert.equal(v1.version, '1');
    assert.deepEqual([v1.body.marker, v1.body.version, v1.body.greeting], ['A', '1', 'first']);
    assert.equal(v1.body.invokedArn, arn('ver', '1'));
    const latest = await invoke('ver');
    assert.equal(latest.version, '$LATEST');
    assert.deepEqual([latest.body.marker, latest.body.greeting], ['B', 'second']);

    const v2 = await lambda.send(
      new PublishVersionCommand({
        FunctionName: 'ver',
        CodeSha256: lambdaSha(zipB),
        RevisionId: (await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'ver' })))
          .RevisionId,
      }),
    );
    assert.equal(v2.Version, '2');
    // Every way of naming a version: name:N, a partial ARN, the full ARN (percent-encoded in the path).
    for (const [name, qualifier] of [
      ['ver:2'],
      ['000000000000:function:ver:2'],
      [arn('ver', '2')],
      ['ver', '2'],
    ] as const) {
      const out = await invoke(name, qualifier);
      assert.equal(out.version, '2', name);
      assert.equal(out.body.marker, 'B', name);
    }
    assert.equal((await invoke(arn('ver', '1'))).body.marker, 'A');
  });

  it('reads a version through Qualifier, name:N and a qualified ARN', async () => {
    const byQualifier = await lambda.send(new GetFunctionCommand({ FunctionName: 'ver', Qualifier: '1' }));
    assert.equal(byQualifier.Configuration?.Version, '1');
    assert.equal(byQualifier.Configuration?.FunctionArn, arn('ver', '1'));
    assert.equal(byQualifier.Configuration?.CodeSha256, lambdaSha(zipA));
    assert.ok(byQualifier.Code?.Location);
    for (const FunctionName of ['ver:2', arn('ver', '2')]) {
      const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName }));
      assert.equal(c.Version, '2');
      assert.equal(c.FunctionArn, arn('ver', '2'));
      assert.equal(c.Environment?.Variables?.GREETING, 'second');
    }
    for (const input of [
      { FunctionName: 'ver', Qualifier: '9' },
      { FunctionName: 'ver:9' },
      { FunctionName: 'ver', Qualifier: 'nosuchalias' },
    ]) {
      await assert.rejects(
        lambda.send(new GetFunctionConfigurationCommand(input)),
        isError('ResourceNotFoundException', 404),
      );
    }
    await assert.rejects(
      lambda.send(new InvokeCommand({ FunctionName: 'ver', Qualifier: '9' })),
      isError('ResourceNotFoundException', 404, /function:ver:9/),
    );
    await assert.rejects(
      lambda.send(new GetFunctionCommand({ FunctionName: 'ver:1', Qualifier: '2' })),
      isError('InvalidParameterValueException', 400, /does not match/),
    );
  });

  it('lists $LATEST first, then versions, with paging', async () => {
    const all = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'ver' }));
    assert.deepEqual(
      all.Versions?.map((v) => v.Version),
      ['$LATEST', '1', '2'],
    );
    assert.deepEqual(
      all.Versions?.map((v) => v.FunctionArn),
      [arn('ver', '$LATEST'), arn('ver', '1'), arn('ver', '2')],
    );
    assert.equal(all.NextMarker, undefined);
    const first = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'ver', MaxItems: 1 }));
    assert.deepEqual(
      first.Versions?.map((v) => v.Version),
      ['$LATEST'],
    );
    assert.ok(first.NextMarker);
    const seen: string[] = [];
    for await (const page of paginateListVersionsByFunction(
      { client: lambda, pageSize: 1 },
      { FunctionName: 'ver' },
    )) {
      assert.ok((page.Versions?.length ?? 0) <= 1);
      seen.push(...(page.Versions ?? []).map((v) => v.Version ?? ''));
    }
    assert.deepEqual(seen, ['$LATEST', '1', '2']);
    await assert.rejects(
      lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'ver', Marker: 'garbage' })),
      isError('InvalidParameterValueException', 400, /Marker/),
    );
    await assert.rejects(
      lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'nope' })),
      isError('ResourceNotFoundException', 404),
    );
  });

  it('publishes on CreateFunction and UpdateFunctionCode with Publish: true', async () => {
    const created = await create('pub', zipA, { Publish: true });
    assert.equal(created.$metadata.httpStatusCode, 201);
    assert.equal(created.Version, '1');
    assert.equal(created.FunctionArn, arn('pub', '1'));
    const updated = await lambda.send(
      new UpdateFunctionCodeCommand({ FunctionName: 'pub', ZipFile: zipB, Publish: true }),
    );
    assert.equal(updated.Version, '2');
    assert.equal(updated.FunctionArn, arn('pub', '2'));
    assert.equal(updated.CodeSha256, lambdaSha(zipB));
    assert.equal((await invoke('pub', '1')).body.marker, 'A');
    assert.equal((await invoke('pub', '2')).body.marker, 'B');
  });

  it('deletes one version, never reuses its number, and refuses to delete $LATEST or an aliased version alone', async () => {
    await create('del', zipA, { Publish: true });
    await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'del', ZipFile: zipB, Publish: true }));
    await lambda.send(new CreateAliasCommand({ FunctionName: 'del', Name: 'live', FunctionVersion: '1' }));
    await assert.rejects(
      lambda.send(new DeleteFunctionCommand({ FunctionName: 'del', Qualifier: '1' })),
      isError(
        'ResourceConflictException',
        409,
        /^Unable to delete version because the following aliases reference it: \[live\]$/,
      ),
    );
    await assert.rejects(
      lambda.send(new DeleteFunctionCommand({ FunctionName: 'del', Qualifier: '$LATEST' })),
      isError('InvalidParameterValueException', 400, /\$LATEST version cannot be deleted/),
    );
    const deleted = await lambda.send(new DeleteFunctionCommand({ FunctionName: 'del:2' }));
    assert.equal(deleted.$metadata.httpStatusCode, 204);
    await assert.rejects(
      lambda.send(new GetFunctionCommand({ FunctionName: 'del', Qualifier: '2' })),
      isError('ResourceNotFoundException', 404),
    );
    await assert.rejects(
      lambda.send(new InvokeCommand({ FunctionName: 'del', Qualifier: '2' })),
      isError('ResourceNotFoundException', 404),
    );
    await assert.rejects(
      lambda.send(new DeleteFunctionCommand({ FunctionName: 'del', Qualifier: '2' })),
      isError('ResourceNotFoundException', 404),
    );
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'del', Timeout: 9 }));
    const next = await lambda.send(new PublishVersionCommand({ FunctionName: 'del' }));
    assert.equal(next.Version, '3', 'numbers are never reused');
    assert.equal((await invoke('del', '1')).body.marker, 'A', 'the aliased version still runs');

    // Deleting the function takes its versions and aliases along; a new function starts again at 1.
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'del' }));
    await create('del', zipB);
    const fresh = await lambda.send(new PublishVersionCommand({ FunctionName: 'del' }));
    assert.equal(fresh.Version, '1');
    const versions = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'del' }));
    assert.deepEqual(
      versions.Versions?.map((v) => v.Version),
      ['$LATEST', '1'],
    );
    assert.equal((await invoke('del', '1')).body.marker, 'B');
  });

  it('works through the AWS CLI: publish-version, list-versions-by-function, invoke --qualifier, delete-function --qualifier', async () => {
    await create('cli', zipA);
    const published = awsLambda(kiln.endpoint, [
      'publish-version',
      '--function-name',
      'cli',
      '--description',
      'v1',
    ]);
    assert.equal(published.status, 0, published.stderr);
    assert.equal(published.json().Version, '1');
    assert.equal(published.json().FunctionArn, arn('cli', '1'));
    await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'cli', ZipFile: zipB }));
    const mismatch = awsLambda(kiln.endpoint, [
      'publish-version',
      '--function-name',
      'cli',
      '--code-sha256',
      lambdaSha(zipA),
    ]);
    assert.equal(mismatch.status, 254);
    assert.match(mismatch.stderr, /InvalidParameterValueException/);
    const listed = awsLambda(kiln.endpoint, ['list-versions-by-function', '--function-name', 'cli']);
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(
      (listed.json().Versions as Json[]).map((v) => v.Version),
      ['$LATEST', '1'],
    );
    const out = cliOutFile();
    try {
      const inv = awsLambda(kiln.endpoint, [
        'invoke',
        '--function-name',
        'cli',
        '--qualifier',
        '1',
        out.path,
      ]);
      assert.equal(inv.status, 0, inv.stderr);
      assert.equal(inv.json().ExecutedVersion, '1');
      assert.equal((out.read() as Json).marker, 'A');
      const byArn = awsLambda(kiln.endpoint, ['invoke', '--function-name', arn('cli', '1'), out.path]);
      assert.equal(byArn.status, 0, byArn.stderr);
      assert.equal((out.read() as Json).marker, 'A');
    } finally {
      out.remove();
    }
    const del = awsLambda(kiln.endpoint, ['delete-function', '--function-name', 'cli', '--qualifier', '1']);
    assert.equal(del.status, 0, del.stderr);
    const missing = awsLambda(kiln.endpoint, ['get-function', '--function-name', 'cli', '--qualifier', '1']);
    assert.equal(missing.status, 254);
    assert.match(missing.stderr, /ResourceNotFoundException/);
  });
});
