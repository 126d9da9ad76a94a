// Hostile and broken functions are contained to their own environment, with a clear error to the caller,
// while other functions keep being served.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvokeCommand, type CreateFunctionCommandInput, type LambdaClient } from '@aws-sdk/client-lambda';
import { bootstrapZip, nodeProbe, nodeZip } from '../support/functions.js';
import {
  garbageResponder,
  neverReady,
  nodeEscapeArtist,
  nodeForkBomb,
  nodeLogFlood,
  nodeRuntimeAbuser,
  nodeSpinner,
  nodeTmpFiller,
} from '../support/hostile-functions.js';
import { nodeFunction, payloadJson, sdk, tailLog } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';

type Json = Record<string, unknown>;

describe('hostile functions', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  const create = async (
    name: string,
    zip: Buffer,
    extra: Partial<CreateFunctionCommandInput> = {},
  ): Promise<void> => {
    await lambda.send(nodeFunction(name, zip, extra));
  };
  const invoke = (name: string, payload: unknown = {}) =>
    lambda.send(
      new InvokeCommand({
        FunctionName: name,
        Payload: Buffer.from(JSON.stringify(payload)),
        LogType: 'Tail',
      }),
    );
  /** The benign function answers while `attack` runs. */
  const stillServed = async (attack: Promise<unknown>): Promise<void> => {
    const r = payloadJson(await invoke('benign', { during: 'attack' }));
    assert.deepEqual(r.event, { during: 'attack' });
    await attack;
  };

  before(async () => {
    kiln = await startKiln({ env: { KILN_INIT_TIMEOUT_MS: '3000' } });
    lambda = sdk(kiln.endpoint);
    await create('benign', await nodeZip(nodeProbe));
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('cannot write its code, read host files, or reach Kiln over the network', async () => {
    await create('escape', await nodeZip(nodeEscapeArtist), { Timeout: 10 });
    const r = payloadJson(await invoke('escape', { dataDir: kiln.dataDir, kilnPort: kiln.port }));
    assert.deepEqual(r.writeTask, { ok: false, code: 'EROFS' });
    assert.equal((r.readShadow as Json).ok, false);
    assert.equal((r.readDataDir as Json).ok, false);
    assert.deepEqual(
      ((r.listRoot as Json).value as string[]).filter((d) =>
        ['root', 'home', 'work', 'srv', 'boot'].includes(d),
      ),
      [],
    );
    assert.ok(Number((r.readHostProc as Json).value) < 10, 'only its own processes are visible');
    assert.notEqual(r.kilnEndpoint, 'connected', 'Kiln is unreachable from a function');
    assert.equal(r.runtimeRelay, 'connected', 'its own Runtime API is reachable');
  });

  it('a function spinning forever times out while others are served', async () => {
    await create('spin', await nodeZip(nodeSpinner), { Timeout: 2 });
    const attack = invoke('spin');
    await stillServed(attack);
    assert.equal(payloadJson(await attack).errorType, 'Sandbox.Timedout');
  });

  it('a fork bomb is stopped by the pids limit', async () => {
    await create('forks', await nodeZip(nodeForkBomb), { Timeout: 60, MemorySize: 1769 });
    const attack = invoke('forks');
    await stillServed(attack);
    const r = payloadJson(await attack);
    // The bomb ran into the limit (1,024 tasks, threads included), not past it.
    assert.ok(Number(r.processes) > 900 && Number(r.processes) <= 1024, `processes: ${String(r.processes)}`);
  });

  it('filling /tmp ends with ENOSPC at the EphemeralStorage size', async () => {
    await create('filler', await nodeZip(nodeTmpFiller), {
      Timeout: 30,
      MemorySize: 1024,
      EphemeralStorage: { Size: 512 },
    });
    const r = payloadJson(await invoke('filler'));
    assert.equal(r.code, 'ENOSPC');
    assert.ok(Number(r.writtenMb) <= 512, `wrote ${String(r.writtenMb)} MB`);
  });

  it('a log flood is bounded: the caller gets a 4 KB tail', async () => {
    await create('flood', await nodeZip(nodeLogFlood), { Timeout: 60 });
    const out = await invoke('flood', { mb: 32 });
    assert.equal(Buffer.from(out.Payload ?? []).toString(), '"flooded"');
    assert.ok((out.LogResult ?? '').length <= Math.ceil(4096 / 3) * 4);
    assert.match(tailLog(out), /flood done/);
  });

  it('a runtime that never asks for work fails INIT with a clear error', async () => {
    await create('lazy', bootstrapZip(neverReady), { Runtime: 'provided.al2023', Handler: 'x' });
    const out = await invoke('lazy');
    assert.equal(out.FunctionError, 'Unhandled');
    assert.equal(payloadJson(out).errorType, 'Sandbox.Timedout');
    assert.match(String(payloadJson(out).errorMessage), /INIT/);
  });

  it('a runtime abusing the Runtime API gets Lambda’s answers and cannot answer twice', async () => {
    await create('abuser', bootstrapZip(nodeRuntimeAbuser), { Runtime: 'provided.al2023', Handler: 'x' });
    assert.deepEqual(payloadJson(await invoke('abuser')), { seen: null });
    const second = payloadJson(await invoke('abuser'));
    assert.deepEqual(second.seen, { wrongId: 400, garbagePath: 404, first: 202, second: 403 });
  });

  it('garbage posted as an error still reaches the caller as a function error', async () => {
    await create('garbage', bootstrapZip(garbageResponder), { Runtime: 'provided.al2023', Handler: 'x' });
    const out = await invoke('garbage');
    assert.equal(out.FunctionError, 'Unhandled');
    assert.equal(typeof payloadJson(out).errorMessage, 'string');
  });
});
