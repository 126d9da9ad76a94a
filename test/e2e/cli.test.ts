// The `kiln` CLI as a user runs it: a real `kiln up` process, and each command its own process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, removeDir, runKiln, startKiln, type CliRun, type KilnProcess } from '../support/server.js';

/** Where the CLI finds its key: the server's admin-credentials file, as an operator's CLI would. */
let keyFile: Record<string, string> = {};

const kiln = (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
  runKiln(args, { ...keyFile, ...env });

const createdLine = /^created (\S+) \(nodejs20\.x, (\d+) bytes, sha256 (\S+)\)\n$/;
const updatedLine = /^updated (\S+) \((\S+), (\d+) bytes, sha256 (\S+)\)\n$/;

describe('kiln CLI against a running server', () => {
  let server: KilnProcess;
  let work: string;
  let app: string;
  let e: string[];

  before(async () => {
    server = await startKiln();
    keyFile = { KILN_CREDENTIALS_FILE: join(server.dataDir, 'admin-credentials') };
    work = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
    app = join(work, 'hello-app');
    mkdirSync(join(app, 'lib'), { recursive: true });
    writeFileSync(join(app, 'index.js'), 'exports.handler = async () => ({ ok: true });\n');
    writeFileSync(join(app, 'lib', 'util.js'), 'module.exports = 1;\n');
    writeFileSync(join(app, 'bootstrap'), '#!/bin/sh\n');
    chmodSync(join(app, 'bootstrap'), 0o755);
    e = ['--endpoint', server.endpoint];
  });

  after(async () => {
    await server.stop();
    removeDir(server.dataDir);
    removeDir(work);
  });

  let firstSha = '';

  test('deploy creates the function, named after the folder by default', async () => {
    const r = await kiln([...e, 'deploy', app]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const m = createdLine.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[1], 'hello-app');
    firstSha = m[3] ?? '';
    assert.match(firstSha, /^[A-Za-z0-9+/]{43}=$/);
  });

  test('deploy of an unchanged folder updates with the same CodeSha256', async () => {
    const r = await kiln([...e, 'deploy', app]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(updatedLine.exec(r.stdout)?.[4], firstSha, r.stdout);
  });

  test('deploy after a file changed updates the code and its CodeSha256', async () => {
    writeFileSync(join(app, 'index.js'), 'exports.handler = async () => ({ ok: 2 });\n');
    const r = await kiln([...e, 'deploy', app, '--name', 'hello-app']);
    assert.equal(r.code, 0, r.stderr);
    const m = updatedLine.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[1], 'hello-app');
    assert.notEqual(m[4], firstSha);
  });

  test('deploy with config flags updates the configuration too', async () => {
    const flags = ['--memory', '256', '--timeout', '10', '--env', 'STAGE=prod', '--env', 'DSN=a=b'];
    const r = await kiln([...e, 'deploy', app, ...flags, '--description', 'from the cli']);
    assert.equal(r.code, 0, r.stderr);
    const got = await kiln([...e, 'functions', 'get', 'hello-app']);
    const config = (JSON.parse(got.stdout) as { Configuration: Record<string, unknown> }).Configuration;
    assert.equal(config.MemorySize, 256);
    assert.equal(config.Timeout, 10);
    assert.equal(config.Description, 'from the cli');
    assert.deepEqual(config.Environment, { Variables: { STAGE: 'prod', DSN: 'a=b' } });
  });

  test('deploy creates with explicit settings', async () => {
    const r = await kiln([...e, 'deploy', app, '--name', 'second', '--handler', 'lib/util.handler']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^created second \(nodejs20\.x, /);
  });

  test('functions list prints a table and --json the raw configurations', async () => {
    const r = await kiln([...e, 'functions', 'list']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+RUNTIME\s+MEMORY\s+TIMEOUT\s+CODE SIZE\s+LAST MODIFIED$/);
    assert.match(r.stdout, /^hello-app\s+nodejs20\.x\s+256 MB\s+10 s\s+\d+ B\s+\d{4}-\d\d-\d\dT/m);
    assert.match(r.stdout, /^second\s+nodejs20\.x\s+128 MB\s+3 s\s/m);

    const j = await kiln([...e, 'functions', 'list', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const names = (JSON.parse(j.stdout) as { Functions: { FunctionName: string }[] }).Functions.map(
      (f) => f.FunctionName,
    );
    assert.deepEqual(names.sort(), ['hello-app', 'second']);
  });

  test('functions get prints the configuration and a code location serving the deployed zip', async () => {
    const r = await kiln([...e, 'functions', 'get', 'hello-app']);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout) as {
      Configuration: { FunctionName: string; CodeSha256: string; Handler: string };
      Code: { Location: string };
    };
    assert.equal(got.Configuration.FunctionName, 'hello-app');
    assert.equal(got.Configuration.Handler, 'index.handler');
    const zip = Buffer.from(await (await fetch(got.Code.Location)).arrayBuffer());
    assert.equal(createHash('sha256').update(zip).digest('base64'), got.Configuration.CodeSha256);
  });

  test('functions delete removes it; get afterwards fails with ResourceNotFoundException', async () => {
    const r = await kiln([...e, 'functions', 'delete', 'second']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'deleted second\n');
    const g = await kiln([...e, 'functions', 'get', 'second']);
    assert.equal(g.code, 1);
    assert.equal(g.stdout, '');
    assert.match(g.stderr, /^kiln: ResourceNotFoundException: /);
    const d = await kiln([...e, 'functions', 'delete', 'second']);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /^kiln: ResourceNotFoundException: /);
  });

  test('the endpoint defaults to KILN_ENDPOINT', async () => {
    const r = await kiln(['functions', 'list', '--json'], { KILN_ENDPOINT: server.endpoint });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"hello-app"/);
  });

  test('an API error is shown with its code and exits 1', async () => {
    const r = await kiln([...e, 'deploy', app, '--name', 'bad-memory', '--memory', '64']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^kiln: (ValidationException|InvalidParameterValueException): .*64/);
  });

  test('a missing folder is an error naming it', async () => {
    const r = await kiln([...e, 'deploy', join(work, 'no-such-dir')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^kiln: .*no-such-dir: no such directory\n$/);
  });

  test('bad flags exit 2 with a clear message', async () => {
    const mem = await kiln([...e, 'deploy', app, '--memory', 'lots']);
    assert.equal(mem.code, 2);
    assert.match(mem.stderr, /--memory takes a positive whole number/);
    const env = await kiln([...e, 'deploy', app, '--env', 'NOEQUALS']);
    assert.equal(env.code, 2);
    assert.match(env.stderr, /expected KEY=VALUE/);
    const endpoint = await kiln(['--endpoint', 'not a url', 'functions', 'list']);
    assert.equal(endpoint.code, 2);
    const unknown = await kiln([...e, 'functions', 'frobnicate']);
    assert.equal(unknown.code, 2);
  });
});

test('an unreachable endpoint says so and exits 1', async () => {
  const endpoint = `http://127.0.0.1:${await freePort()}`;
  const r = await kiln(['--endpoint', endpoint, 'functions', 'list']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `kiln: cannot reach Kiln at ${endpoint} (is \`kiln up\` running?)\n`);
});
