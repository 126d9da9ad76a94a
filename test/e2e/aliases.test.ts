// Aliases through the AWS SDK v3 and the AWS CLI: CRUD, Lambda's rules, invoking through an alias, and
// weighted routing measured over real invocations.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  DeleteAliasCommand,
  DeleteFunctionCommand,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  ListAliasesCommand,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
  paginateListAliases,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { awsLambda, role, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { arn, cliOutFile, isError, markerZip } from '../support/versioned.js';

type Json = Record<string, unknown>;

describe('function aliases', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;

  const invoke = async (FunctionName: string, Qualifier?: string) => {
    const out = await lambda.send(new InvokeCommand({ FunctionName, ...(Qualifier ? { Qualifier } : {}) }));
    assert.equal(out.FunctionError, undefined);
    return {
      version: out.ExecutedVersion,
      body: JSON.parse(Buffer.from(out.Payload ?? []).toString()) as Json,
    };
  };
  const alias = (input: {
    Name: string;
    FunctionVersion: string;
    FunctionName?: string;
    [k: string]: unknown;
  }) => lambda.send(new CreateAliasCommand({ FunctionName: 'fn', ...input }));

  before(async () => {
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    // fn: version 1 runs marker A, version 2 marker B, $LATEST marker C.
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'fn',
        Runtime: 'nodejs20.x',
        Role: role,
        Handler: 'index.handler',
        Code: { ZipFile: await markerZip('A') },
        Publish: true,
      }),
    );
    await lambda.send(
      new UpdateFunctionCodeCommand({ FunctionName: 'fn', ZipFile: await markerZip('B'), Publish: true }),
    );
    await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'fn', ZipFile: await markerZip('C') }));
  });
  after(async () => {
    lambda.destroy();
    assert.equal(await kiln.stop(), 0);
    removeDir(kiln.dataDir);
  });

  it('creates and reads an alias with Lambda’s shape', async () => {
    const created = await alias({ Name: 'live', FunctionVersion: '1', Description: 'production' });
    assert.equal(created.$metadata.httpStatusCode, 201);
    assert.equal(created.AliasArn, arn('fn', 'live'));
    assert.equal(created.Name, 'live');
    assert.equal(created.FunctionVersion, '1');
    assert.equal(created.Description, 'production');
    assert.equal(created.RoutingConfig, undefined);
    assert.ok(created.RevisionId);
    const got = await lambda.send(new GetAliasCommand({ FunctionName: arn('fn'), Name: 'live' }));
    assert.deepEqual(
      [got.AliasArn, got.FunctionVersion, got.Description, got.RevisionId],
      [created.AliasArn, '1', 'production', created.RevisionId],
    );
  });

  it('invokes through an alias and reports the version that ran', async () => {
    for (const [name, qualifier] of [['fn', 'live'], ['fn:live'], [arn('fn', 'live')]] as const) {
      const out = await invoke(name, qualifier);
      assert.equal(out.version, '1', name);
      assert.equal(out.body.marker, 'A', name);
      assert.equal(out.body.invokedArn, arn('fn', 'live'));
    }
    const conf = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: 'fn', Qualifier: 'live' }),
    );
    assert.equal(conf.Version, '1');
    assert.equal(conf.FunctionArn, arn('fn', 'live'));
    await alias({ Name: 'edge', FunctionVersion: '$LATEST' });
    const edge = await invoke('fn', 'edge');
    assert.deepEqual([edge.version, edge.body.marker], ['$LATEST', 'C']);
  });

  it('refuses bad names, duplicates and missing versions as Lambda does', async () => {
    await assert.rejects(
      alias({ Name: 'live', FunctionVersion: '2' }),
      isError('ResourceConflictException', 409, /Alias already exists: .*function:fn:live/),
    );
    for (const Name of ['123', 'has space', 'x'.repeat(129)]) {
      await assert.rejects(
        alias({ Name, FunctionVersion: '1' }),
        isError('ValidationException', 400, /name/),
        Name,
      );
    }
    await assert.rejects(
      alias({ Name: 'bad', FunctionVersion: 'live' }),
      isError('ValidationException', 400, /functionVersion/),
    );
    await assert.rejects(
      alias({ Name: 'later', FunctionVersion: '7' }),
      isError('ResourceNotFoundException', 404, /function:fn:7/),
    );
    await assert.rejects(
      alias({ FunctionName: 'nope', Name: 'x', FunctionVersion: '1' }),
      isError('ResourceNotFoundException', 404),
    );
    await assert.rejects(
      lambda.send(new GetAliasCommand({ FunctionName: 'fn', Name: 'ghost' })),
      isError('ResourceNotFoundException', 404, /Alias not found: .*function:fn:ghost/),
    );
    await assert.rejects(
      lambda.send(new InvokeCommand({ FunctionName: 'fn', Qualifier: 'ghost' })),
      isError('ResourceNotFoundException', 404),
    );
  });

  it('enforces the routing rules', async () => {
    const weighted = (FunctionVersion: string, weights: Record<string, number>, Name = 'w') =>
      alias({ Name, FunctionVersion, RoutingConfig: { AdditionalVersionWeights: weights } });
    await assert.rejects(
      weighted('$LATEST', { '1': 0.5 }),
      isError(
        'InvalidParameterValueException',
        400,
        /\$LATEST is not supported for an alias pointing to more than 1 version/,
      ),
    );
    await assert.rejects(
      weighted('1', { '1': 0.5 }),
      isError('InvalidParameterValueException', 400, /already included in routing configuration/),
    );
    await assert.rejects(
      weighted('1', { '2': 1.5 }),
      isError('ValidationException', 400, /additionalVersionWeights/),
    );
    await assert.rejects(
      weighted('1', { '2': -0.1 }),
      isError('ValidationException', 400, /additionalVersionWeights/),
    );
    await assert.rejects(
      weighted('1', { '9': 0.5 }),
      isError('ResourceNotFoundException', 404, /function:fn:9/),
    );
    await assert.rejects(
      weighted('1', { '2': 0.1, '3': 0.1 }),
      isError('InvalidParameterValueException', 400, /AdditionalVersionWeights/),
    );
    const ok = await weighted('1', { '2': 0.25 });
    assert.deepEqual(ok.RoutingConfig, { AdditionalVersionWeights: { '2': 0.25 } });
    await assert.rejects(
      lambda.send(new DeleteFunctionCommand({ FunctionName: 'fn', Qualifier: '2' })),
      isError('ResourceConflictException', 409, /following aliases reference it: \[w\]/),
    );
    await lambda.send(new DeleteAliasCommand({ FunctionName: 'fn', Name: 'w' }));
  });

  it('updates with a RevisionId precondition, keeping what is not given', async () => {
    const before = await lambda.send(new GetAliasCommand({ FunctionName: 'fn', Name: 'live' }));
    await assert.rejects(
      lambda.send(
        new UpdateAliasCommand({
          FunctionName: 'fn',
          Name: 'live',
          FunctionVersion: '2',
          RevisionId: 'stale',
        }),
      ),
      isError('PreconditionFailedException', 412),
    );
    const updated = await lambda.send(
      new UpdateAliasCommand({
        FunctionName: 'fn',
        Name: 'live',
        FunctionVersion: '2',
        RevisionId: before.RevisionId,
      }),
    );
    assert.equal(updated.FunctionVersion, '2');
    assert.equal(updated.Description, 'production');
    assert.notEqual(updated.RevisionId, before.RevisionId);
    assert.equal((await invoke('fn', 'live')).body.marker, 'B');
    await assert.rejects(
      lambda.send(
        new UpdateAliasCommand({
          FunctionName: 'fn',
          Name: 'live',
          RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } },
        }),
      ),
      isError('InvalidParameterValueException', 400, /already included/),
    );
    await assert.rejects(
      lambda.send(new UpdateAliasCommand({ FunctionName: 'fn', Name: 'ghost', FunctionVersion: '1' })),
      isError('ResourceNotFoundException', 404),
    );
    await lambda.send(new UpdateAliasCommand({ FunctionName: 'fn', Name: 'live', FunctionVersion: '1' }));
  });

  it('lists aliases with paging and a FunctionVersion filter', async () => {
    for (const Name of ['a1', 'a2', 'a3']) await alias({ Name, FunctionVersion: '2' });
    const all = await lambda.send(new ListAliasesCommand({ FunctionName: 'fn' }));
    assert.deepEqual(
      all.Aliases?.map((a) => a.Name),
      ['a1', 'a2', 'a3', 'edge', 'live'],
    );
    const onTwo = await lambda.send(new ListAliasesCommand({ FunctionName: 'fn', FunctionVersion: '2' }));
    assert.deepEqual(
      onTwo.Aliases?.map((a) => a.Name),
      ['a1', 'a2', 'a3'],
    );
    const names: string[] = [];
    let pages = 0;
    for await (const page of paginateListAliases({ client: lambda, pageSize: 2 }, { FunctionName: 'fn' })) {
      pages += 1;
      names.push(...(page.Aliases ?? []).map((a) => a.Name ?? ''));
    }
    assert.equal(pages, 3);
    assert.deepEqual(names, ['a1', 'a2', 'a3', 'edge', 'live']);
    for (const Name of ['a1', 'a2', 'a3']) {
      const out = await lambda.send(new DeleteAliasCommand({ FunctionName: 'fn', Name }));
      assert.equal(out.$metadata.httpStatusCode, 204);
    }
    await assert.rejects(
      lambda.send(new GetAliasCommand({ FunctionName: 'fn', Name: 'a1' })),
      isError('ResourceNotFoundException', 404),
    );
  });

  it('splits invocations between two versions by weight', async () => {
    const p = 0.3;
    const n = 400;
    await alias({
      Name: 'canary',
      FunctionVersion: '1',
      RoutingConfig: { AdditionalVersionWeights: { '2': p } },
    });
    let onTwo = 0;
    for (let i = 0; i < n; i++) {
      const out = await invoke('fn', 'canary');
      assert.equal(
        out.body.marker,
        out.version === '2' ? 'B' : 'A',
        'the reported version is the one that ran',
      );
      if (out.version === '2') onTwo += 1;
      else assert.equal(out.version, '1');
    }
    // Binomial: mean np, sd sqrt(np(1-p)); ±4.5 sd fails by chance about once in 150,000 runs, while a
    // broken split (0, 0.5, 0.7 or 1) lands far outside: [79, 161] for n = 400.
    const sd = Math.sqrt(n * p * (1 - p));
    const lo = Math.ceil(n * p - 4.5 * sd);
    const hi = Math.floor(n * p + 4.5 * sd);
    assert.ok(onTwo >= lo && onTwo <= hi, `${onTwo} of ${n} on version 2, expected ${lo}..${hi}`);
  });

  it('works through the AWS CLI: create-alias, invoke --qualifier, list-aliases, delete-alias', async () => {
    const created = awsLambda(kiln.endpoint, [
      'create-alias',
      '--function-name',
      'fn',
      '--name',
      'cli',
      '--function-version',
      '2',
      '--routing-config',
      'AdditionalVersionWeights={1=0.0}',
    ]);
    assert.equal(created.status, 0, created.stderr);
    assert.equal(created.json().AliasArn, arn('fn', 'cli'));
    assert.deepEqual(created.json().RoutingConfig, { AdditionalVersionWeights: { '1': 0 } });
    const dup = awsLambda(kiln.endpoint, [
      'create-alias',
      '--function-name',
      'fn',
      '--name',
      'cli',
      '--function-version',
      '2',
    ]);
    assert.equal(dup.status, 254);
    assert.match(dup.stderr, /ResourceConflictException/);
    const out = cliOutFile();
    try {
      const inv = awsLambda(kiln.endpoint, [
        'invoke',
        '--function-name',
        'fn',
        '--qualifier',
        'cli',
        out.path,
      ]);
      assert.equal(inv.status, 0, inv.stderr);
      assert.equal(inv.json().ExecutedVersion, '2');
      assert.equal((out.read() as Json).marker, 'B');
    } finally {
      out.remove();
    }
    const listed = awsLambda(kiln.endpoint, [
      'list-aliases',
      '--function-name',
      'fn',
      '--function-version',
      '2',
    ]);
    assert.equal(listed.status, 0, listed.stderr);
    // Both aliases invoke version 2: cli as its target, canary by weight.
    assert.deepEqual(
      (listed.json().Aliases as Json[]).map((a) => a.Name),
      ['canary', 'cli'],
    );
    const del = awsLambda(kiln.endpoint, ['delete-alias', '--function-name', 'fn', '--name', 'cli']);
    assert.equal(del.status, 0, del.stderr);
  });

  it('goes away with its function', async () => {
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'fn' }));
    await assert.rejects(
      lambda.send(new GetAliasCommand({ FunctionName: 'fn', Name: 'live' })),
      isError('ResourceNotFoundException', 404),
    );
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'fn',
        Runtime: 'nodejs20.x',
        Role: role,
        Handler: 'index.handler',
        Code: { ZipFile: await markerZip('D') },
      }),
    );
    const aliases = await lambda.send(new ListAliasesCommand({ FunctionName: 'fn' }));
    assert.deepEqual(aliases.Aliases, []);
    await lambda.send(new PublishVersionCommand({ FunctionName: 'fn' }));
  });
});
