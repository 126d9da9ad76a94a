// Bad input gets Lambda's error types and nothing stored changes; checked through the SDK and raw HTTP.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateFunctionCommand,
  GetPolicyCommand,
  GetFunctionConfigurationCommand,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  type CreateFunctionCommandInput,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { lambdaSha, role, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { rawZip, zipBomb, zipOf } from '../support/zips.js';
import { kilnFetch } from '../support/credentials.js';

type AwsError = Error & { $metadata?: { httpStatusCode?: number } };

function expectError(name: string, status: number, message?: RegExp) {
  return (e: AwsError): boolean => {
    assert.equal(e.name, name, e.message);
    assert.equal(e.$metadata?.httpStatusCode, status);
    if (message) assert.match(e.message, message);
    return true;
  };
}

describe('validation and error shapes', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  let zip: Buffer;
  const base = (): CreateFunctionCommandInput => ({
    FunctionName: 'ok',
    Runtime: 'nodejs20.x',
    Role: role,
    Handler: 'index.handler',
    Code: { ZipFile: zip },
  });
  const create = (patch: Partial<CreateFunctionCommandInput>) =>
    lambda.send(new CreateFunctionCommand({ ...base(), ...patch }));
  const raw = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) =>
    kilnFetch(`${kiln.endpoint}${path}`, { method, body, headers });

  before(async () => {
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    zip = await zipOf({ 'index.js': 'exports.handler = async () => 1;\n' });
    await create({ FunctionName: 'keep' });
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  const cases: Array<[string, Partial<CreateFunctionCommandInput>, string, number, RegExp]> = [
    [
      'bad name characters',
      { FunctionName: 'bad name!' },
      'ValidationException',
      400,
      /functionName.*regular expression/,
    ],
    [
      'name of 65 characters',
      { FunctionName: 'a'.repeat(65) },
      'ValidationException',
      400,
      /length less than or equal to 64/,
    ],
    ['name with a qualifier', { FunctionName: 'x:1' }, 'InvalidParameterValueException', 400, /qualifier/],
    [
      'ARN of another region',
      { FunctionName: 'arn:aws:lambda:eu-west-1:000000000000:function:x' },
      'InvalidParameterValueException',
      400,
      /eu-west-1/,
    ],
    [
      'unsupported runtime',
      { Runtime: 'nodejs12.x' },
      'InvalidParameterValueException',
      400,
      /nodejs20\.x, python3\.11, provided\.al2023, provided\.al2/,
    ],
    [
      'missing runtime',
      { Runtime: undefined },
      'InvalidParameterValueException',
      400,
      /Runtime and Handler are mandatory/,
    ],
    [
      'handler without a function',
      { Handler: 'index' },
      'InvalidParameterValueException',
      400,
      /<file>\.<function>/,
    ],
    ['handler with spaces', { Handler: 'index. handler' }, 'ValidationException', 400, /handler/],
    ['timeout 0', { Timeout: 0 }, 'ValidationException', 400, /greater than or equal to 1/],
    ['timeout 901', { Timeout: 901 }, 'ValidationException', 400, /less than or equal to 900/],
    ['memory 127', { MemorySize: 127 }, 'ValidationException', 400, /greater than or equal to 128/],
    ['memory 10241', { MemorySize: 10241 }, 'ValidationException', 400, /less than or equal to 10240/],
    [
      'ephemeral storage 511',
      { EphemeralStorage: { Size: 511 } },
      'ValidationException',
      400,
      /ephemeralStorage/,
    ],
    ['bad role', { Role: 'admin' }, 'ValidationException', 400, /role/],
    [
      'bad env key',
      { Environment: { Variables: { '1BAD': 'x' } } },
      'ValidationException',
      400,
      /environment\.variables/,
    ],
    [
      'reserved env key',
      { Environment: { Variables: { AWS_REGION: 'x' } } },
      'InvalidParameterValueException',
      400,
      /reserved keys.*AWS_REGION/,
    ],
    [
      'env over 4 KB',
      { Environment: { Variables: { BIG: 'x'.repeat(4100) } } },
      'InvalidParameterValueException',
      400,
      /4KB/,
    ],
    ['S3 code', { Code: { S3Bucket: 'b', S3Key: 'k' } }, 'InvalidParameterValueException', 400, /ZipFile/],
    ['arm64', { Architectures: ['arm64'] }, 'InvalidParameterValueException', 400, /x86_64/],
    [
      'layers',
      { Layers: ['arn:aws:lambda:us-east-1:000000000000:layer:l:1'] },
      'InvalidParameterValueException',
      400,
      /Layers/,
    ],
    [
      'multiple violations',
      { Timeout: 0, MemorySize: 1 },
      'ValidationException',
      400,
      /^2 validation errors detected/,
    ],
  ];
  for (const [what, patch, name, status, message] of cases) {
    it(`refuses ${what}`, async () => {
      await assert.rejects(create({ FunctionName: 'fresh', ...patch }), expectError(name, status, message));
    });
  }

  it('refuses packages that are not zips or are hostile, storing nothing', async () => {
    const codeDir = join(kiln.dataDir, 'code');
    const filesBefore = readdirSync(codeDir).sort();
    const good = await zipOf({ 'a.js': 'x' });
    const hostile: Array<[string, Buffer]> = [
      ['not a zip', Buffer.from('definitely not a zip file')],
      ['truncated', good.subarray(0, good.length - 10)],
      ['dot-dot entry', rawZip([{ name: '../evil.js', data: Buffer.from('x') }])],
      ['absolute entry', rawZip([{ name: '/etc/evil', data: Buffer.from('x') }])],
      ['symlink outside', rawZip([{ name: 'link', data: Buffer.from('../../etc/passwd'), mode: 0o120777 }])],
      ['zip bomb', zipBomb(300 * 1024 * 1024)],
      [
        'a file where a directory must go',
        rawZip([
          { name: 'a', data: Buffer.from('x') },
          { name: 'a/b.js', data: Buffer.from('y') },
        ]),
      ],
    ];
    for (const [what, bad] of hostile) {
      await assert.rejects(
        create({ FunctionName: 'hostile', Code: { ZipFile: bad } }),
        expectError('InvalidParameterValueException', 400),
        what,
      );
      await assert.rejects(
        lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'keep', ZipFile: bad })),
        expectError('InvalidParameterValueException', 400),
        what,
      );
    }
    await assert.rejects(lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'hostile' })), {
      name: 'ResourceNotFoundException',
    });
    const kept = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'keep' }));
    assert.equal(kept.CodeSha256, lambdaSha(zip), 'the stored code is untouched');
    assert.deepEqual(readdirSync(codeDir).sort(), filesBefore, 'no file written for a refused package');
  });

  it('refuses a zip over 50 MB and a request over the body cap with RequestEntityTooLargeException', async () => {
    const big = rawZip([{ name: 'blob', data: randomBytes(51 * 1024 * 1024), method: 0 }]);
    await assert.rejects(
      create({ FunctionName: 'big', Code: { ZipFile: big } }),
      expectError('RequestEntityTooLargeException', 413),
    );
    const huge = Buffer.alloc(70_000_000, 0x61);
    const res = await raw('POST', '/2015-03-31/functions', huge, { 'content-type': 'application/json' });
    assert.equal(res.status, 413);
    assert.equal(res.headers.get('x-amzn-errortype'), 'RequestEntityTooLargeException');
    assert.match(((await res.json()) as { Message: string }).Message, /CreateFunction/);
  });

  it('answers malformed JSON and wrong types with InvalidRequestContentException', async () => {
    for (const body of [
      '{not json',
      '[1,2]',
      '"text"',
      JSON.stringify({ FunctionName: 'x', Timeout: 'ten' }),
    ]) {
      const res = await raw('POST', '/2015-03-31/functions', body, { 'content-type': 'application/json' });
      assert.equal(res.status, 400, body);
      assert.equal(res.headers.get('x-amzn-errortype'), 'InvalidRequestContentException', body);
      const json = (await res.json()) as { Type: string; Message: string };
      assert.equal(json.Type, 'User');
      assert.ok(json.Message.length > 0);
    }
    const upd = await raw('PUT', '/2015-03-31/functions/keep/configuration', '{"MemorySize": []}');
    assert.equal(upd.headers.get('x-amzn-errortype'), 'InvalidRequestContentException');
    const kept = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'keep' }));
    assert.equal(kept.MemorySize, 128);
  });

  it('keeps a function intact when an update is refused', async () => {
    const before = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'keep' }));
    await assert.rejects(
      lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'keep', Runtime: 'java21' })),
      { name: 'InvalidParameterValueException' },
    );
    await assert.rejects(
      lambda.send(
        new UpdateFunctionConfigurationCommand({
          FunctionName: 'keep',
          Environment: { Variables: { LAMBDA_TASK_ROOT: '/' } },
        }),
      ),
      { name: 'InvalidParameterValueException' },
    );
    const afterUpdate = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'keep' }));
    assert.equal(afterUpdate.RevisionId, before.RevisionId);
  });

  it('names an operation Kiln does not implement, and never answers HTML', async () => {
    await assert.rejects(lambda.send(new GetPolicyCommand({ FunctionName: 'keep' })), (e: AwsError) => {
      assert.equal(e.name, 'NotImplementedException');
      assert.match(e.message, /GetPolicy/);
      return true;
    });
    const res = await raw('GET', '/nope/at/all');
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('x-amzn-errortype'), 'UnknownOperationException');
    assert.match(res.headers.get('content-type') ?? '', /json/);
    assert.ok(res.headers.get('x-amzn-requestid'));
  });

  it('refuses bad list parameters', async () => {
    await assert.rejects(lambda.send(new ListFunctionsCommand({ MaxItems: 0 })), {
      name: 'ValidationException',
    });
    const res = await raw('GET', '/2015-03-31/functions?MaxItems=abc');
    assert.equal(res.status, 400);
  });
});
