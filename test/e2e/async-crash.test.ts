// Crash safety of the async queue: SIGKILL Kiln while thousands of accepted events are queued or in
// flight, restart it, and count. Every event that got a 202 must have run (the function's own answer,
// naming the event, is kept with its outcome); duplicates are allowed (at-least-once) and reported.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { untilQueue, asyncEvent } from '../support/async.js';
import { nodeZip } from '../support/functions.js';
import { nodeFunction, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { kilnFetch } from '../support/credentials.js';

const sink = `exports.handler = async (event, context) => ({ n: event.n, requestId: context.awsRequestId });`;
const total = 3000;
const killAfter = 1500;
const parallel = 32;

describe('async crash safety', () => {
  let kiln: KilnProcess | undefined;
  after(async () => {
    await kiln?.stop();
    if (kiln) removeDir(kiln.dataDir);
  });

  it('loses no accepted event across a SIGKILL', async (t) => {
    kiln = await startKiln();
    // Room for a wave of concurrent cold starts on a small shared host: an attempt that timed out would be
    // retried a minute later and only slow the test down.
    await sdk(kiln.endpoint).send(
      nodeFunction('sink', await nodeZip(sink), { MemorySize: 1769, Timeout: 60 }),
    );
    const url = `${kiln.endpoint}/2015-03-31/functions/sink/invocations`;
    const accepted = new Map<string, number>();
    let next = 0;
    let killed: Promise<void> | undefined;
    const k = kiln;
    const sender = async (): Promise<void> => {
      while (next < total) {
        const n = next++;
        try {
          const r = await kilnFetch(url, {
            method: 'POST',
            headers: { 'X-Amz-Invocation-Type': 'Event' },
            body: JSON.stringify({ n }),
          });
          if (r.status === 202) accepted.set(r.headers.get('x-amzn-requestid') ?? '', n);
          await r.arrayBuffer();
        } catch {
          // Refused or reset by the kill: never acknowledged, so not counted.
        }
        if (accepted.size >= killAfter && !killed) killed = k.kill();
      }
    };
    await Promise.all(Array.from({ length: parallel }, sender));
    await killed;
    assert.ok(accepted.size >= killAfter, `only ${accepted.size} accepted before the kill`);

    kiln = await startKiln({ dataDir: kiln.dataDir });
    const afterRestart = await untilQueue(kiln.endpoint, () => true);
    await untilQueue(kiln.endpoint, (q) => q.Depth === 0, 180_000);

    let lost = 0;
    let duplicates = 0;
    for (const [id, n] of accepted) {
      const e = await asyncEvent(kiln.endpoint, id);
      const answer =
        e?.Condition === 'Success'
          ? (JSON.parse(e.Detail ?? '{}') as { n?: number; requestId?: string })
          : {};
      if (answer.n !== n || answer.requestId !== id) lost++;
      else duplicates += (e?.Attempts ?? 1) - 1;
    }
    t.diagnostic(
      `accepted ${accepted.size} of ${total} before SIGKILL; ${afterRestart.Depth} still queued at restart; lost ${lost}; duplicate attempts ${duplicates}`,
    );
    assert.equal(lost, 0, 'every event that got a 202 ran');
  });
});
