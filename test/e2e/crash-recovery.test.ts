// Crash recovery: SIGKILL Kiln while environments run and sit warm, restart it on the same data dir, and
// find nothing of the old run left (sandbox processes, cgroups, environment directories, event leases)
// and the platform serving again.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { queueView, untilQueue } from '../support/async.js';
import { nodeZip } from '../support/functions.js';
import { nodeFunction, payloadJson, sdk } from '../support/lambda.js';
import { sandboxCgroups, sandboxPids } from '../support/sandboxes.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';

const sleeper = `exports.handler = async (e) => { await new Promise((r) => setTimeout(r, e.ms ?? 0)); return { pid: process.pid }; };`;

function procLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').trim();
  } catch {
    return 'gone';
  }
}

/** Running or sleeping; a zombie (state Z) waits for whoever inherited it to reap it and runs nothing. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('crash recovery', () => {
  let kiln: KilnProcess | undefined;
  after(async () => {
    await kiln?.stop();
    if (kiln) removeDir(kiln.dataDir);
  });

  it('cleans up what a SIGKILLed run left and serves again', async () => {
    kiln = await startKiln();
    let lambda = sdk(kiln.endpoint);
    await lambda.send(nodeFunction('sleepy', await nodeZip(sleeper), { Timeout: 60 }));
    // Three environments: one busy in a long invocation, one running an async event, one warm and idle.
    const busy = lambda
      .send(new InvokeCommand({ FunctionName: 'sleepy', Payload: Buffer.from('{"ms":50000}') }))
      .catch(() => 'cut off');
    await lambda.send(
      new InvokeCommand({
        FunctionName: 'sleepy',
        InvocationType: 'Event',
        Payload: Buffer.from('{"ms":4000}'),
      }),
    );
    await untilQueue(kiln.endpoint, (q) => q.InFlight === 1);
    await lambda.send(new InvokeCommand({ FunctionName: 'sleepy', Payload: Buffer.from('{}') }));
    const envDir = join(kiln.dataDir, 'environments');
    const before = sandboxPids(kiln.cgroupParent);
    const oldCgroups = sandboxCgroups(kiln.cgroupParent).names;
    assert.ok(oldCgroups.length >= 3, `three sandboxes (and maybe zygotes), saw ${oldCgroups.length}`);
    assert.ok(before.length >= 3, `three environments' processes, saw ${before.length}`);
    const oldDirs = readdirSync(envDir);
    assert.ok(oldDirs.length >= 3, `three environments, saw ${oldDirs.length}`);

    await kiln.kill();
    assert.equal(await busy, 'cut off');

    kiln = await startKiln({ dataDir: kiln.dataDir });
    lambda = sdk(kiln.endpoint);
    // Startup kills them before it serves; on a loaded host the last may take a moment to exit.
    const deadline = Date.now() + 10_000;
    while (before.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      before.filter(alive).map((pid) => `${pid}: ${procLine(pid)}`),
      [],
      'no process of the old sandboxes survives the restart',
    );
    assert.deepEqual(
      sandboxCgroups(kiln.cgroupParent).names.filter((n) => oldCgroups.includes(n)),
      [],
      "the old sandboxes' cgroups are removed",
    );
    const leftover = (existsSync(envDir) ? readdirSync(envDir) : []).filter((d) => oldDirs.includes(d));
    assert.deepEqual(leftover, [], 'environment directories of the old run are gone');
    // The event in flight was released and runs again (at least once).
    assert.equal((await queueView(kiln.endpoint)).Depth, 1);
    await untilQueue(kiln.endpoint, (q) => q.Depth === 0, 90_000);
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'sleepy', Payload: Buffer.from('{}') }));
    assert.equal(out.FunctionError, undefined);
    assert.equal(typeof payloadJson(out).pid, 'number');
  });
});
