// Synchronous Invoke through the AWS SDK v3: real sandboxes, real runtime processes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  InvokeCommand,
  UpdateFunctionConfigurationCommand,
  type CreateFunctionCommandInput,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import {
  bashBootstrap,
  bootstrapZip,
  nodeEsmProbe,
  nodeExits,
  nodeMemoryHog,
  nodeProbe,
  nodeSleeps,
  nodeThrows,
  nodeZip,
  pythonProbe,
  pythonZip,
} from '../support/functions.js';
import { nodeFunction, payloadJson, sdk, tailLog } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';

type Json = Record<string, unknown>;
const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('utf8');

describe('synchronous Invoke', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;

  const create = async (
    name: string,
    zip: Buffer,
    extra: Partial<CreateFunctionCommandInput> = {},
  ): Promise<void> => {
    await lambda.send(nodeFunction(name, zip, extra));
  };
  const invoke = (name: string, payload: unknown = {}, extra: Record<string, unknown> = {}) =>
    lambda.send(
      new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)), ...extra }),
    );

  before(async () => {
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    await create('probe', await nodeZip(nodeProbe), {
      Environment: { Variables: { GREETING: 'hello' } },
      MemorySize: 256,
    });
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('runs a Node function and returns its result with Lambda headers, context and environment', async () => {
    const out = await invoke(
      'probe',
      { a: 1 },
      { LogType: 'Tail', ClientContext: Buffer.from('{"custom":{"k":"v"}}').toString('base64') },
    );
    assert.equal(out.StatusCode, 200);
    assert.equal(out.ExecutedVersion, '$LATEST');
    assert.equal(out.FunctionError, undefined);
    const r = payloadJson(out);
    assert.deepEqual(r.event, { a: 1 });
    const ctx = r.context as Json;
    assert.equal(ctx.functionName, 'probe');
    assert.equal(ctx.functionVersion, '$LATEST');
    assert.equal(ctx.memoryLimitInMB, '256');
    assert.equal(ctx.invokedFunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:probe');
    assert.equal(ctx.awsRequestId, out.$metadata.requestId);
    assert.equal(ctx.logGroupName, '/aws/lambda/probe');
    assert.match(String(ctx.logStreamName), /^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/);
    assert.deepEqual(ctx.clientContext, { custom: { k: 'v' } });
    assert.ok(Number(r.remaining) > 0 && Number(r.remaining) <= 3000);
    const env = r.env as Record<string, string>;
    assert.equal(env.GREETING, 'hello');
    assert.equal(env.AWS_LAMBDA_FUNCTION_NAME, 'probe');
    assert.equal(env._HANDLER, 'index.handler');
    assert.equal(env.AWS_LAMBDA_RUNTIME_API, '127.0.0.1:9001');
    assert.equal(env.LAMBDA_TASK_ROOT, '/var/task');
    assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '256');
    assert.equal(env.AWS_REGION, 'us-east-1');
    assert.equal(env.AWS_EXECUTION_ENV, 'AWS_Lambda_nodejs20.x');
    assert.equal(env.AWS_LAMBDA_LOG_STREAM_NAME, ctx.logStreamName);
    assert.equal(env.NODE_EXTRA_CA_CERTS, undefined, 'nothing leaks from the host environment');
    assert.equal(env.KILN_RUNTIME_API_SOCKET, undefined);
    assert.notEqual(r.uid, 0);
    const log = tailLog(out);
    assert.match(log, new RegExp(`^START RequestId: ${out.$metadata.requestId} Version: \\$LATEST`, 'm'));
    assert.match(log, new RegExp(`\\t${out.$metadata.requestId}\\tINFO\\tprobe invoked \\{"a":1\\}`));
    assert.match(log, new RegExp(`^END RequestId: ${out.$metadata.requestId}`, 'm'));
    assert.match(
      log,
      /^REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms/m,
    );
  });

  it('reuses a warm environment: module state and /tmp survive, no Init Duration', async () => {
    const first = payloadJson(await invoke('probe', { tmp: 'kept' }));
    const second = await invoke('probe', {}, { LogType: 'Tail' });
    const r = payloadJson(second);
    assert.equal(r.envId, first.envId);
    assert.equal(r.count, Number(first.count) + 1);
    assert.ok((r.tmpFiles as string[]).includes('kept'));
    assert.doesNotMatch(tailLog(second), /Init Duration/);
  });

  it('scales out to one environment per concurrent invocation', async () => {
    const outs = await Promise.all([1, 2, 3].map(() => invoke('probe', { sleepMs: 700 })));
    const ids = new Set(outs.map((o) => payloadJson(o).envId));
    assert.equal(ids.size, 3);
  });

  it('retires $LATEST environments when the configuration changes', async () => {
    const before = payloadJson(await invoke('probe'));
    await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'probe',
        Environment: { Variables: { GREETING: 'changed' } },
      }),
    );
    const afterUpdate = payloadJson(await invoke('probe'));
    assert.notEqual(afterUpdate.envId, before.envId);
    assert.equal((afterUpdate.env as Json).GREETING, 'changed');
  });

  it('answers function errors with X-Amz-Function-Error and the error body', async () => {
    await create('throws', await nodeZip(nodeThrows));
    const out = await invoke('throws');
    assert.equal(out.StatusCode, 200);
    assert.equal(out.FunctionError, 'Unhandled');
    const err = payloadJson(out);
    assert.equal(err.errorType, 'TypeError');
    assert.equal(err.errorMessage, 'kaboom from handler');
    assert.ok(Array.isArray(err.trace));
  });

  it('runs ESM handlers', async () => {
    await create('esm', await nodeZip(nodeEsmProbe, 'index.mjs'));
    assert.deepEqual(payloadJson(await invoke('esm', { x: 2 })), { esm: true, event: { x: 2 } });
  });

  it('reports init failures as Lambda does', async () => {
    await create('nomodule', await nodeZip(nodeProbe), { Handler: 'missing.handler' });
    const a = await invoke('nomodule');
    assert.equal(a.FunctionError, 'Unhandled');
    assert.equal(payloadJson(a).errorType, 'Runtime.ImportModuleError');
    await create('nohandler', await nodeZip(nodeProbe), { Handler: 'index.nope' });
    const b = await invoke('nohandler');
    assert.equal(payloadJson(b).errorType, 'Runtime.HandlerNotFound');
  });

  it('times out with Sandbox.Timedout and destroys the environment', async () => {
    await create('sleeper', await nodeZip(nodeSleeps), { Timeout: 1 });
    const out = await invoke('sleeper', { ms: 30000 }, { LogType: 'Tail' });
    assert.equal(out.FunctionError, 'Unhandled');
    const err = payloadJson(out);
    assert.equal(err.errorType, 'Sandbox.Timedout');
    assert.match(String(err.errorMessage), /Task timed out after 1\.00 seconds/);
    assert.match(tailLog(out), /Task timed out after 1\.00 seconds/);
    const quick = await invoke('sleeper', { ms: 1 }, { LogType: 'Tail' });
    assert.equal(text(quick.Payload), '"woke"');
    assert.match(tailLog(quick), /Init Duration/, 'a fresh environment after the timeout');
  });

  it('reports a runtime that exits or runs out of memory as Runtime.ExitError, and keeps serving others', async () => {
    await create('exits', await nodeZip(nodeExits));
    const out = await invoke('exits');
    assert.equal(payloadJson(out).errorType, 'Runtime.ExitError');
    assert.match(String(payloadJson(out).errorMessage), /exit status 3/);
    await create('hog', await nodeZip(nodeMemoryHog), { MemorySize: 128, Timeout: 60 });
    const oom = await invoke('hog');
    assert.equal(oom.FunctionError, 'Unhandled');
    assert.equal(payloadJson(oom).errorType, 'Runtime.ExitError');
    assert.equal(payloadJson(await invoke('probe')).event && 'ok', 'ok');
  });

  it('runs Python functions', async () => {
    await create('py', await pythonZip(pythonProbe), { Runtime: 'python3.11', Handler: 'app.handler' });
    const out = await invoke('py', { n: 1 });
    const r = payloadJson(out);
    assert.equal(r.functionName, 'py');
    assert.equal(r.memory, '128');
    assert.equal(r.requestId, out.$metadata.requestId);
    assert.equal(r.handlerEnv, 'app.handler');
    const again = payloadJson(await invoke('py', { n: 2 }));
    assert.equal(again.envId, r.envId);
    const fail = await invoke('py', { fail: true });
    assert.equal(fail.FunctionError, 'Unhandled');
    assert.equal(payloadJson(fail).errorType, 'ValueError');
  });

  it('runs a custom runtime from a bash bootstrap', async () => {
    await create('bash', bootstrapZip(bashBootstrap), { Runtime: 'provided.al2023', Handler: 'anything' });
    const out = await invoke('bash', { b: true }, { LogType: 'Tail' });
    assert.deepEqual(payloadJson(out), { echo: { b: true }, runtime: 'bash' });
    assert.match(tailLog(out), /handling /);
  });

  it('refuses oversized and malformed requests, and answers DryRun with 204', async () => {
    const big = Buffer.alloc(6_291_457, 0x20);
    big[0] = 0x22;
    await assert.rejects(
      lambda.send(new InvokeCommand({ FunctionName: 'probe', Payload: big })),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(e.name, 'RequestTooLargeException');
        assert.equal(e.$metadata?.httpStatusCode, 413);
        return true;
      },
    );
    await assert.rejects(
      lambda.send(new InvokeCommand({ FunctionName: 'probe', Payload: Buffer.from('{nope') })),
      {
        name: 'InvalidRequestContentException',
      },
    );
    await assert.rejects(invoke('missing'), { name: 'ResourceNotFoundException' });
    const dry = await lambda.send(new InvokeCommand({ FunctionName: 'probe', InvocationType: 'DryRun' }));
    assert.equal(dry.StatusCode, 204);
  });
});
