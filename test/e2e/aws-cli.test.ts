// The same API through the Debian AWS CLI (/usr/bin/aws), exactly as a user would type it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nodeProbe, nodeThrows, nodeZip } from '../support/functions.js';
import { awsLambda, lambdaSha, role } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { rawZip, zipOf } from '../support/zips.js';

describe('AWS CLI (/usr/bin/aws)', () => {
  let kiln: KilnProcess;
  let dir: string;
  let zipPath: string;
  let zip: Buffer;
  const aws = (...args: string[]) => awsLambda(kiln.endpoint, args);
  /** `aws lambda create-function` with the usual role and, unless told otherwise, a Node handler. */
  const createWithCli = (
    name: string,
    zipFile: string,
    o: { runtime?: string; handler?: string } = {},
    ...more: string[]
  ) =>
    aws(
      'create-function',
      '--function-name',
      name,
      '--runtime',
      o.runtime ?? 'nodejs20.x',
      '--role',
      role,
      '--handler',
      o.handler ?? 'index.handler',
      '--zip-file',
      `fileb://${zipFile}`,
      ...more,
    );

  before(async () => {
    kiln = await startKiln();
    dir = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
    zip = await zipOf({ 'index.js': 'exports.handler = async () => "hi";\n' });
    zipPath = join(dir, 'fn.zip');
    writeFileSync(zipPath, zip);
  });
  after(async () => {
    await kiln.stop();
    removeDir(kiln.dataDir);
    removeDir(dir);
  });

  it('create-function, get-function, get-function-configuration', () => {
    const c = createWithCli(
      'hello',
      zipPath,
      {},
      '--timeout',
      '5',
      '--memory-size',
      '256',
      '--environment',
      'Variables={GREETING=hi}',
    );
    assert.equal(c.status, 0, c.stderr);
    assert.equal(c.json().CodeSha256, lambdaSha(zip));
    assert.equal(c.json().FunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:hello');
    const g = aws('get-function', '--function-name', 'arn:aws:lambda:us-east-1:000000000000:function:hello');
    assert.equal(g.status, 0, g.stderr);
    assert.equal((g.json().Configuration as { MemorySize: number }).MemorySize, 256);
    assert.match(
      (g.json().Code as { Location: string }).Location,
      /^http:\/\/127\.0\.0\.1:\d+\/_kiln\/code\//,
    );
    const gc = aws('get-function-configuration', '--function-name', '000000000000:function:hello');
    assert.equal(gc.status, 0, gc.stderr);
    assert.equal(gc.json().Timeout, 5);
  });

  it('list-functions pages with --max-items and --starting-token', () => {
    for (const n of ['b1', 'b2', 'b3']) {
      const r = createWithCli(n, zipPath, { runtime: 'python3.11', handler: 'app.handler' });
      assert.equal(r.status, 0, r.stderr);
    }
    const all = aws('list-functions');
    assert.equal(all.status, 0, all.stderr);
    assert.deepEqual(
      (all.json().Functions as { FunctionName: string }[]).map((f) => f.FunctionName),
      ['b1', 'b2', 'b3', 'hello'],
    );
    const p1 = aws('list-functions', '--max-items', '2');
    const names1 = (p1.json().Functions as { FunctionName: string }[]).map((f) => f.FunctionName);
    assert.deepEqual(names1, ['b1', 'b2']);
    const token = p1.json().NextToken as string;
    assert.ok(token);
    const p2 = aws('list-functions', '--max-items', '2', '--starting-token', token);
    assert.deepEqual(
      (p2.json().Functions as { FunctionName: string }[]).map((f) => f.FunctionName),
      ['b3', 'hello'],
    );
  });

  it('update-function-code and update-function-configuration', async () => {
    const zip2 = await zipOf({ 'index.js': 'exports.handler = async () => "v2";\n' });
    const p2 = join(dir, 'fn2.zip');
    writeFileSync(p2, zip2);
    const u = aws('update-function-code', '--function-name', 'hello', '--zip-file', `fileb://${p2}`);
    assert.equal(u.status, 0, u.stderr);
    assert.equal(u.json().CodeSha256, lambdaSha(zip2));
    const uc = aws(
      'update-function-configuration',
      '--function-name',
      'hello',
      '--timeout',
      '60',
      '--description',
      'from the cli',
      '--ephemeral-storage',
      'Size=2048',
    );
    assert.equal(uc.status, 0, uc.stderr);
    assert.equal(uc.json().Timeout, 60);
    assert.equal(uc.json().Description, 'from the cli');
    assert.deepEqual(uc.json().EphemeralStorage, { Size: 2048 });
    const stale = aws(
      'update-function-configuration',
      '--function-name',
      'hello',
      '--timeout',
      '61',
      '--revision-id',
      'nope',
    );
    assert.equal(stale.status, 254);
    assert.match(stale.stderr, /PreconditionFailedException/);
  });

  it('reports errors the way the CLI prints AWS errors (exit 254)', () => {
    const missing = aws('get-function', '--function-name', 'missing');
    assert.equal(missing.status, 254);
    assert.match(missing.stderr, /ResourceNotFoundException.*GetFunction operation.*: Function not found/);
    const dup = createWithCli('hello', zipPath);
    assert.equal(dup.status, 254);
    assert.match(dup.stderr, /ResourceConflictException/);
    const runtime = createWithCli('rt', zipPath, { runtime: 'ruby3.2' });
    assert.equal(runtime.status, 254);
    assert.match(runtime.stderr, /InvalidParameterValueException.*nodejs20\.x/);
    const evil = join(dir, 'evil.zip');
    writeFileSync(evil, rawZip([{ name: '../../evil', data: Buffer.from('x') }]));
    const hostile = createWithCli('evil', evil);
    assert.equal(hostile.status, 254);
    assert.match(hostile.stderr, /InvalidParameterValueException/);
  });

  it('invoke: payload, output file, function errors, Tail logs and DryRun', async () => {
    const probe = join(dir, 'probe.zip');
    writeFileSync(probe, await nodeZip(nodeProbe));
    const c = createWithCli('probe', probe);
    assert.equal(c.status, 0, c.stderr);
    const outFile = join(dir, 'out.json');
    const inv = aws(
      'invoke',
      '--function-name',
      'probe',
      '--cli-binary-format',
      'raw-in-base64-out',
      '--payload',
      '{"from":"cli"}',
      '--log-type',
      'Tail',
      outFile,
    );
    assert.equal(inv.status, 0, inv.stderr);
    assert.equal(inv.json().StatusCode, 200);
    assert.equal(inv.json().ExecutedVersion, '$LATEST');
    const log = Buffer.from(String(inv.json().LogResult), 'base64').toString();
    assert.match(log, /START RequestId: .*\n[\s\S]*REPORT RequestId: /);
    const result = JSON.parse(readFileSync(outFile, 'utf8')) as { event: unknown };
    assert.deepEqual(result.event, { from: 'cli' });
    const empty = aws('invoke', '--function-name', 'probe', outFile);
    assert.equal(empty.status, 0, empty.stderr);
    assert.deepEqual(
      (JSON.parse(readFileSync(outFile, 'utf8')) as { event: unknown }).event,
      {},
      'no payload is {}',
    );
    const dry = aws('invoke', '--function-name', 'probe', '--invocation-type', 'DryRun', outFile);
    assert.equal(dry.status, 0, dry.stderr);
    assert.equal(dry.json().StatusCode, 204);
    const thrower = join(dir, 'throws.zip');
    writeFileSync(thrower, await nodeZip(nodeThrows));
    createWithCli('throws', thrower);
    const failed = aws('invoke', '--function-name', 'throws', outFile);
    assert.equal(failed.status, 0, 'a function error is not a CLI error');
    assert.equal(failed.json().FunctionError, 'Unhandled');
    assert.equal((JSON.parse(readFileSync(outFile, 'utf8')) as { errorType: string }).errorType, 'TypeError');
  });

  it('get-account-settings and delete-function', () => {
    const s = aws('get-account-settings');
    assert.equal(s.status, 0, s.stderr);
    assert.equal((s.json().AccountUsage as { FunctionCount: number }).FunctionCount, 6);
    const d = aws('delete-function', '--function-name', 'arn:aws:lambda:us-east-1:000000000000:function:b1');
    assert.equal(d.status, 0, d.stderr);
    assert.equal(aws('get-function', '--function-name', 'b1').status, 254);
  });
});
