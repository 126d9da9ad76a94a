// SIGKILL in the middle of CreateFunction / UpdateFunctionCode leaves the old state or the new one,
// never a half function, a dangling code reference or an orphaned package.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  GetFunctionCommand,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { lambdaSha, nodeFunction, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { rawZip } from '../support/zips.js';

const packageOf = (seed: string, size = 64 * 1024): Buffer =>
  rawZip([
    { name: 'index.js', data: Buffer.concat([Buffer.from(`// ${seed}\n`), randomBytes(size)]), method: 0 },
  ]);

/** Every stored function has a readable package matching its CodeSha256, and the code dir holds nothing else. */
async function assertConsistent(kiln: KilnProcess, lambda: LambdaClient): Promise<Map<string, string>> {
  const shas = new Map<string, string>();
  const list = await lambda.send(new ListFunctionsCommand({}));
  for (const f of list.Functions ?? []) {
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: f.FunctionName }));
    const res = await fetch(got.Code?.Location ?? '');
    assert.equal(res.status, 200, `package of ${f.FunctionName} is readable`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(lambdaSha(body), f.CodeSha256, `package of ${f.FunctionName} matches its CodeSha256`);
    assert.equal(body.length, f.CodeSize);
    shas.set(f.FunctionName ?? '', f.CodeSha256 ?? '');
  }
  const hex = new Set([...shas.values()].map((b64) => Buffer.from(b64, 'base64').toString('hex')));
  const files = readdirSync(join(kiln.dataDir, 'code')).sort();
  assert.deepEqual(
    files,
    [...hex].map((h) => `${h}.zip`).sort(),
    'code dir holds exactly the referenced packages',
  );
  // Unpacked trees: only whole ones (under their sha, never `tmp-*`), of referenced packages.
  const unpacked = join(kiln.dataDir, 'unpacked');
  for (const name of existsSync(unpacked) ? readdirSync(unpacked) : []) {
    if (name === '.boot-id') continue;
    assert.ok(hex.has(name), `unpacked/${name} belongs to a referenced package`);
    assert.ok(existsSync(join(unpacked, name, 'index.js')), `unpacked/${name} is whole`);
  }
  return shas;
}

async function crashAt(failpoint: string, op: 'create' | 'update'): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kiln-crash-'));
  const oldZip = packageOf('old');
  const newZip = packageOf('new');
  let kiln = await startKiln({ dataDir });
  let lambda = sdk(kiln.endpoint);
  await lambda.send(nodeFunction('base', oldZip));
  await kiln.stop();
  lambda.destroy();

  kiln = await startKiln({ dataDir, env: { KILN_FAILPOINTS: failpoint } });
  lambda = sdk(kiln.endpoint);
  const request =
    op === 'create'
      ? lambda.send(nodeFunction('fresh', newZip))
      : lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'base', ZipFile: newZip }));
  await assert.rejects(request, 'the request dies with the process');
  await kiln.stop();
  assert.equal(kiln.child.signalCode, 'SIGKILL', `the failpoint ${failpoint} was reached`);
  lambda.destroy();

  kiln = await startKiln({ dataDir });
  lambda = sdk(kiln.endpoint);
  try {
    const shas = await assertConsistent(kiln, lambda);
    const committed = failpoint === 'after-commit';
    if (op === 'create') {
      assert.equal(shas.has('fresh'), committed);
      if (committed) assert.equal(shas.get('fresh'), lambdaSha(newZip));
      assert.equal(shas.get('base'), lambdaSha(oldZip));
    } else {
      assert.equal(shas.get('base'), lambdaSha(committed ? newZip : oldZip));
    }
  } finally {
    lambda.destroy();
    await kiln.stop();
    removeDir(dataDir);
  }
}

describe('crash consistency (SIGKILL)', () => {
  for (const op of ['create', 'update'] as const) {
    for (const failpoint of ['code-written', 'before-commit', 'after-commit']) {
      it(`${op}: killed at ${failpoint}`, () => crashAt(failpoint, op));
    }
  }

  it('a burst of creates and updates killed at random moments stays consistent', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kiln-crash-'));
    const sent = new Map<string, Set<string>>();
    try {
      for (let round = 0; round < 3; round++) {
        const kiln = await startKiln({ dataDir });
        const lambda = sdk(kiln.endpoint);
        const shas = await assertConsistent(kiln, lambda);
        for (const [name, sha] of shas)
          assert.ok(sent.get(name)?.has(sha), `${name} holds a package that was sent for it`);
        const work: Promise<unknown>[] = [];
        for (let i = 0; i < 12; i++) {
          const name = `f${i % 6}`;
          const zip = packageOf(`${round}-${i}`, 256 * 1024);
          const set = sent.get(name) ?? new Set<string>();
          set.add(lambdaSha(zip));
          sent.set(name, set);
          const op = shas.has(name)
            ? lambda.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zip }))
            : lambda.send(nodeFunction(name, zip));
          work.push(op.catch(() => undefined));
        }
        // Kill somewhere inside the burst: after the first response, while the rest are in flight.
        await Promise.race(work);
        await kiln.kill();
        await Promise.all(work);
        lambda.destroy();
      }
      const kiln = await startKiln({ dataDir });
      const lambda = sdk(kiln.endpoint);
      await assertConsistent(kiln, lambda);
      lambda.destroy();
      await kiln.stop();
    } finally {
      removeDir(dataDir);
    }
  });
});
