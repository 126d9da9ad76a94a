// The worker's memory budget: a cold start that does not fit evicts the least recently used idle environments
// (never busy ones), and is throttled when only busy environments hold the memory.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { nodeSleeps, nodeZip } from '../support/functions.js';
import { nodeFunction, payloadJson, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { until } from '../support/until.js';
import { kilnFetch } from '../support/credentials.js';

interface Listing {
  Environments: { FunctionName: string; State: string }[];
}

describe('worker memory budget', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  const listing = async (): Promise<Listing> =>
    (await (await kilnFetch(`${kiln.endpoint}/_kiln/environments`)).json()) as Listing;
  const names = async (): Promise<string[]> =>
    (await listing()).Environments.map((e) => e.FunctionName).sort();
  const invoke = (name: string, payload: Record<string, unknown> = {}) =>
    lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }));

  before(async () => {
    // Room for two 128 MB environments, not three; no pre-initialised environments to account for.
    kiln = await startKiln({
      env: { KILN_WORKER_MEMORY_MB: '300', KILN_ZYGOTES_PER_RUNTIME: '0', KILN_FREEZE_AFTER_MS: '60000' },
    });
    lambda = sdk(kiln.endpoint);
    const noop = await nodeZip('exports.handler = async () => "ok";\n');
    for (const name of ['a', 'b', 'c']) await lambda.send(nodeFunction(name, noop, { MemorySize: 128 }));
    const sleeps = await nodeZip(nodeSleeps);
    for (const name of ['slow1', 'slow2', 'slow3']) {
      await lambda.send(nodeFunction(name, sleeps, { MemorySize: 128, Timeout: 30 }));
    }
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('evicts the least recently used idle environment to fit a cold start', async () => {
    for (const name of ['a', 'b']) assert.equal(payloadJson(await invoke(name)) as unknown, 'ok');
    assert.deepEqual(await names(), ['a', 'b']);
    // c does not fit beside a and b: a, used longest ago, makes room.
    assert.equal(payloadJson(await invoke('c')) as unknown, 'ok');
    // The evicted environment may still be finishing its cleanup; it is gone once that is done.
    await until('a is evicted', names, (n) => n.join() === 'b,c', 10_000);
    // b, still warm, answers from its environment.
    assert.equal(payloadJson(await invoke('b')) as unknown, 'ok');
    assert.deepEqual(await names(), ['b', 'c']);
  });

  it('throttles a cold start when busy environments hold the whole budget, and never evicts them', async () => {
    const held = [invoke('slow1', { ms: 8000 }), invoke('slow2', { ms: 8000 })];
    await until(
      'slow1 and slow2 are busy',
      listing,
      (l) => l.Environments.filter((e) => e.State === 'busy').length === 2,
      15_000,
    );
    await assert.rejects(invoke('slow3', { ms: 1 }), (e: Error & { Reason?: string }) => {
      assert.equal(e.name, 'TooManyRequestsException');
      assert.equal(e.Reason, 'ConcurrentInvocationLimitExceeded');
      return true;
    });
    const busy = (await listing()).Environments.filter((e) => e.State === 'busy').map((e) => e.FunctionName);
    assert.deepEqual(busy.sort(), ['slow1', 'slow2']);
    for (const out of await Promise.all(held)) assert.equal(payloadJson(out) as unknown, 'woke');
  });
});
