// Environment lifecycle, observed from outside: freezing, idle reclamation and worker lease renewal.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateFunctionCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { nodeProbe, nodeZip } from '../support/functions.js';
import { role, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { until } from '../support/until.js';
import { kilnFetch } from '../support/credentials.js';

interface EnvInfo {
  Id: string;
  FunctionName: string;
  State: string;
  Frozen: boolean;
  WorkerId: string;
}

async function environments(kiln: KilnProcess): Promise<EnvInfo[]> {
  const res = await kilnFetch(`${kiln.endpoint}/_kiln/environments`);
  return ((await res.json()) as { Environments: EnvInfo[] }).Environments;
}

/** Polls until `check` holds; the platform's own timers drive the change, the test only watches (bounded). */
const untilTrue = (what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<boolean> =>
  until(what, check, (ok) => ok, timeoutMs);

describe('environment lifecycle', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  const invoke = async (): Promise<{ envId: string; log: string }> => {
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: 'probe', Payload: Buffer.from('{}'), LogType: 'Tail' }),
    );
    const body = JSON.parse(Buffer.from(out.Payload ?? []).toString()) as { envId: string };
    return { envId: body.envId, log: Buffer.from(out.LogResult ?? '', 'base64').toString() };
  };

  before(async () => {
    kiln = await startKiln({
      env: { KILN_KEEP_ALIVE_MS: '1500', KILN_FREEZE_AFTER_MS: '0', KILN_WORKER_LEASE_MS: '4000' },
    });
    lambda = sdk(kiln.endpoint);
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'probe',
        Runtime: 'nodejs20.x',
        Role: role,
        Handler: 'index.handler',
        Code: { ZipFile: await nodeZip(nodeProbe) },
      }),
    );
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('freezes an idle environment and thaws it for the next invocation', async () => {
    const first = await invoke();
    await untilTrue('the idle environment is frozen', async () =>
      (await environments(kiln)).some((e) => e.Frozen),
    );
    const second = await invoke();
    assert.equal(second.envId, first.envId, 'the same (thawed) environment served it');
    assert.doesNotMatch(second.log, /Init Duration/);
  });

  it('reclaims idle environments after the keep-alive, then cold-starts a new one', async () => {
    const before = await invoke();
    await untilTrue('the idle environment is reclaimed', async () => (await environments(kiln)).length === 0);
    const after = await invoke();
    assert.notEqual(after.envId, before.envId);
    assert.match(after.log, /Init Duration/);
  });

  it('renews the worker when its lease ends: new invocations go to a fresh worker, the old one drains', async () => {
    const first = await invoke();
    const [env] = await environments(kiln);
    assert.ok(env);
    const oldWorker = env.WorkerId;
    // The lease is 4 s; keep the environment warm until it ends, then one more invocation renews the worker.
    await untilTrue('the lease ends', async () => {
      const r = await invoke();
      const envs = await environments(kiln);
      return r.envId !== first.envId && envs.every((e) => e.WorkerId !== oldWorker);
    });
    const envs = await environments(kiln);
    assert.ok(envs.length >= 1);
    assert.ok(
      envs.every((e) => e.WorkerId !== oldWorker),
      'the old worker has shut its environments down',
    );
  });
});
