// The function management API through the real AWS SDK v3, against a real `kiln up` process.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DeleteFunctionCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  paginateListFunctions,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { lambdaSha, nodeFunction, role, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { zipOf } from '../support/zips.js';
import { kilnFetch } from '../support/credentials.js';

const arn = (name: string): string => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

describe('function management API (SDK v3)', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  let zip: Buffer;

  before(async () => {
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    zip = await zipOf({ 'index.js': 'exports.handler = async () => "hi";\n' });
  });
  after(async () => {
    lambda.destroy();
    assert.equal(await kiln.stop(), 0, 'kiln exits 0 on SIGTERM');
    removeDir(kiln.dataDir);
  });

  const create = (name: string, extra: Record<string, unknown> = {}) =>
    lambda.send(nodeFunction(name, zip, extra));

  it('creates a function with Lambda-shaped configuration', async () => {
    const out = await create('hello', {
      Timeout: 5,
      MemorySize: 256,
      Environment: { Variables: { GREETING: 'hi' } },
    });
    assert.equal(out.$metadata.httpStatusCode, 201);
    assert.equal(out.FunctionName, 'hello');
    assert.equal(out.FunctionArn, arn('hello'));
    assert.equal(out.Runtime, 'nodejs20.x');
    assert.equal(out.Handler, 'index.handler');
    assert.equal(out.Role, role);
    assert.equal(out.CodeSha256, lambdaSha(zip));
    assert.equal(out.CodeSize, zip.length);
    assert.equal(out.Timeout, 5);
    assert.equal(out.MemorySize, 256);
    assert.equal(out.Version, '$LATEST');
    assert.equal(out.State, 'Active');
    assert.equal(out.LastUpdateStatus, 'Successful');
    assert.equal(out.PackageType, 'Zip');
    assert.deepEqual(out.Environment?.Variables, { GREETING: 'hi' });
    assert.deepEqual(out.EphemeralStorage, { Size: 512 });
    assert.deepEqual(out.Architectures, ['x86_64']);
    assert.match(out.LastModified ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    assert.match(out.RevisionId ?? '', /^[0-9a-f-]{36}$/);
  });

  it('applies Lambda defaults', async () => {
    const out = await create('defaults');
    assert.equal(out.Timeout, 3);
    assert.equal(out.MemorySize, 128);
    assert.equal(out.Description, '');
    assert.equal(out.Environment, undefined);
  });

  it('refuses a duplicate name with ResourceConflictException', async () => {
    await assert.rejects(create('hello'), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(e.name, 'ResourceConflictException');
      assert.equal(e.$metadata?.httpStatusCode, 409);
      assert.match(e.message, /already exist/);
      return true;
    });
  });

  it('finds a function by name, partial ARN, full ARN and $LATEST', async () => {
    for (const FunctionName of [
      'hello',
      '000000000000:function:hello',
      arn('hello'),
      'hello:$LATEST',
      `${arn('hello')}:$LATEST`,
    ]) {
      const out = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName }));
      assert.equal(out.FunctionArn, arn('hello'), FunctionName);
    }
    const q = await lambda.send(new GetFunctionCommand({ FunctionName: 'hello', Qualifier: '$LATEST' }));
    assert.equal(q.Configuration?.FunctionName, 'hello');
  });

  it('answers ResourceNotFoundException for missing functions and versions', async () => {
    for (const input of [{ FunctionName: 'missing' }, { FunctionName: 'hello', Qualifier: '7' }]) {
      await assert.rejects(
        lambda.send(new GetFunctionCommand(input)),
        (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(e.name, 'ResourceNotFoundException', JSON.stringify(input));
          assert.equal(e.$metadata?.httpStatusCode, 404);
          return true;
        },
      );
    }
  });

  it("answers AccessDeniedException for another account's ARN, whether or not it exists there", async () => {
    for (const name of ['hello', 'missing']) {
      await assert.rejects(
        lambda.send(
          new GetFunctionCommand({ FunctionName: `arn:aws:lambda:us-east-1:111111111111:function:${name}` }),
        ),
        (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(e.name, 'AccessDeniedException', name);
          assert.equal(e.$metadata?.httpStatusCode, 403);
          return true;
        },
      );
    }
  });

  it('serves the zip at Code.Location, and only with a valid signature', async () => {
    const out = await lambda.send(new GetFunctionCommand({ FunctionName: arn('hello') }));
    assert.equal(out.Code?.RepositoryType, 'S3');
    const location = out.Code?.Location ?? '';
    assert.ok(location.startsWith(kiln.endpoint), location);
    const res = await fetch(location);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), zip);
    const forged = location.replace(/Signature=[^&]+/, 'Signature=AAAA');
    assert.equal((await fetch(forged)).status, 403);
  });

  it('pages ListFunctions with MaxItems and Marker, with and without the trailing slash', async () => {
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5']) await create(n);
    const names: string[] = [];
    for await (const page of paginateListFunctions({ client: lambda, pageSize: 2 }, {})) {
      assert.ok((page.Functions?.length ?? 0) <= 2);
      names.push(...(page.Functions ?? []).map((f) => f.FunctionName ?? ''));
    }
    assert.deepEqual(names, [...names].sort());
    assert.equal(new Set(names).size, names.length, 'no function listed twice');
    for (const n of ['hello', 'defaults', 'p1', 'p5']) assert.ok(names.includes(n), n);
    const first = await lambda.send(new ListFunctionsCommand({ MaxItems: 1 }));
    assert.equal(first.Functions?.length, 1);
    assert.ok(first.NextMarker);
    // The AWS CLI asks with a trailing slash; the SDK without one.
    const slash = (await (await kilnFetch(`${kiln.endpoint}/2015-03-31/functions/?MaxItems=1`)).json()) as {
      Functions: unknown[];
      NextMarker: string;
    };
    assert.equal(slash.Functions.length, 1);
    assert.equal(slash.NextMarker, first.NextMarker);
    await assert.rejects(lambda.send(new ListFunctionsCommand({ Marker: 'garbage' })), {
      name: 'InvalidParameterValueException',
    });
  });

  it('updates code, changing CodeSha256 and RevisionId, with RevisionId preconditions', async () => {
    const before = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'hello' }));
    const zip2 = await zipOf({ 'index.js': 'exports.handler = async () => "v2";\n' });
    await assert.rejects(
      lambda.send(
        new UpdateFunctionCodeCommand({ FunctionName: 'hello', ZipFile: zip2, RevisionId: 'stale' }),
      ),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(e.name, 'PreconditionFailedException');
        assert.equal(e.$metadata?.httpStatusCode, 412);
        return true;
      },
    );
    const out = await lambda.send(
      new UpdateFunctionCodeCommand({ FunctionName: 'hello', ZipFile: zip2, RevisionId: before.RevisionId }),
    );
    assert.equal(out.CodeSha256, lambdaSha(zip2));
    assert.equal(out.CodeSize, zip2.length);
    assert.notEqual(out.RevisionId, before.RevisionId);
    assert.equal(out.Timeout, 5, 'configuration kept');
    const dl = await lambda.send(new GetFunctionCommand({ FunctionName: 'hello' }));
    assert.deepEqual(Buffer.from(await (await fetch(dl.Code?.Location ?? '')).arrayBuffer()), zip2);
    const dry = await lambda.send(
      new UpdateFunctionCodeCommand({ FunctionName: 'hello', ZipFile: zip, DryRun: true }),
    );
    assert.equal(dry.CodeSha256, lambdaSha(zip));
    const still = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'hello' }));
    assert.equal(still.CodeSha256, lambdaSha(zip2), 'DryRun changes nothing');
  });

  it('updates configuration fields, with RevisionId preconditions', async () => {
    const before = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'hello' }));
    const out = await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: arn('hello'),
        Handler: 'main.run',
        Runtime: 'python3.11',
        Timeout: 30,
        MemorySize: 1024,
        Description: 'updated',
        Environment: { Variables: { MODE: 'two' } },
        EphemeralStorage: { Size: 1024 },
        RevisionId: before.RevisionId,
      }),
    );
    assert.equal(out.Handler, 'main.run');
    assert.equal(out.Runtime, 'python3.11');
    assert.equal(out.Timeout, 30);
    assert.equal(out.MemorySize, 1024);
    assert.equal(out.Description, 'updated');
    assert.deepEqual(out.Environment?.Variables, { MODE: 'two' });
    assert.deepEqual(out.EphemeralStorage, { Size: 1024 });
    assert.equal(out.CodeSha256, before.CodeSha256, 'code kept');
    assert.notEqual(out.RevisionId, before.RevisionId);
    await assert.rejects(
      lambda.send(
        new UpdateFunctionConfigurationCommand({
          FunctionName: 'hello',
          Timeout: 4,
          RevisionId: before.RevisionId,
        }),
      ),
      { name: 'PreconditionFailedException' },
    );
    const cleared = await lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'hello', Environment: {} }),
    );
    assert.equal(cleared.Environment, undefined);
  });

  it('reports account settings with real usage', async () => {
    const out = await lambda.send(new GetAccountSettingsCommand({}));
    assert.equal(out.AccountLimit?.CodeSizeZipped, 52428800);
    assert.equal(out.AccountLimit?.CodeSizeUnzipped, 262144000);
    assert.equal(out.AccountLimit?.ConcurrentExecutions, 1000);
    assert.equal(out.AccountUsage?.FunctionCount, 7);
    assert.ok((out.AccountUsage?.TotalCodeSize ?? 0) > 0);
  });

  it('deletes a function (204), then answers 404 for it', async () => {
    const out = await lambda.send(new DeleteFunctionCommand({ FunctionName: arn('p5') }));
    assert.equal(out.$metadata.httpStatusCode, 204);
    await assert.rejects(lambda.send(new GetFunctionCommand({ FunctionName: 'p5' })), {
      name: 'ResourceNotFoundException',
    });
    await assert.rejects(lambda.send(new DeleteFunctionCommand({ FunctionName: 'p5' })), {
      name: 'ResourceNotFoundException',
    });
    await assert.rejects(
      lambda.send(new DeleteFunctionCommand({ FunctionName: 'p4', Qualifier: '$LATEST' })),
      {
        name: 'InvalidParameterValueException',
      },
    );
  });
});
