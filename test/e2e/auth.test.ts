// Authentication end to end: AWS Signature V4 checked on every Lambda, Logs and /_kiln request, accounts
// and their keys managed with `kiln accounts`, the admin key shown once and kept in a 0600 file, and the
// local-only mode that skips the check but refuses a non-loopback address.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DeleteFunctionCommand, GetFunctionCommand, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { signedHeaders } from '../../src/client/index.js';
import { nodeZip } from '../support/functions.js';
import { keyEnv, keysFor, kilnFetch, type Credentials } from '../support/credentials.js';
import { awsLambda, nodeFunction, sdk } from '../support/lambda.js';
import { logsSdk } from '../support/logs.js';
import { freePort, removeDir, runKiln, startKiln, type CliRun, type KilnProcess } from '../support/server.js';
import { isError } from '../support/versioned.js';

/** `kiln --endpoint <endpoint> <args>`, signing with `keys`. */
const kilnCli = (endpoint: string, args: string[], keys: Credentials): Promise<CliRun> =>
  runKiln(['--endpoint', endpoint, ...args], keyEnv(endpoint, keys));

describe('authentication (SigV4, accounts)', () => {
  let kiln: KilnProcess;
  let admin: Credentials;

  before(async () => {
    kiln = await startKiln();
    admin = keysFor(kiln.endpoint);
    await sdk(kiln.endpoint).send(nodeFunction('owned', await nodeZip('exports.handler = async () => 1;')));
  });
  after(async () => {
    await kiln?.stop();
    if (kiln) removeDir(kiln.dataDir);
  });

  it('shows the admin key once and keeps it in a file only its owner can read', async () => {
    const file = join(kiln.dataDir, 'admin-credentials');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    for (const db of ['accounts.db', 'metadata.db', 'events.db', 'logs.db']) {
      assert.equal(statSync(join(kiln.dataDir, db)).mode & 0o777, 0o600, db);
    }
    assert.match(
      readFileSync(file, 'utf8'),
      new RegExp(`aws_secret_access_key = ${escape(admin.secretAccessKey)}`),
    );
    assert.ok(kiln.output().includes(`AWS_SECRET_ACCESS_KEY=${admin.secretAccessKey}`));

    // A restart on the same data dir keeps the key and does not show it again.
    await kiln.stop();
    kiln = await startKiln({ dataDir: kiln.dataDir });
    assert.ok(!kiln.output().includes(admin.secretAccessKey), kiln.output());
    assert.deepEqual(keysFor(kiln.endpoint), admin);
    const listed = await sdk(kiln.endpoint).send(new ListFunctionsCommand({}));
    assert.deepEqual(
      listed.Functions?.map((f) => f.FunctionName),
      ['owned'],
    );
  });

  it('refuses missing, unknown, wrong, stale and tampered signatures with AWS error types', async () => {
    const unsigned = await kilnFetch(`${kiln.endpoint}/2015-03-31/functions`, { keys: false });
    assert.equal(unsigned.status, 403);
    assert.equal(unsigned.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
    assert.equal(((await unsigned.json()) as { Type: string }).Type, 'User');

    const unknown = { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: admin.secretAccessKey };
    await assert.rejects(
      sdk(kiln.endpoint, unknown).send(new ListFunctionsCommand({})),
      isError('UnrecognizedClientException', 403),
    );
    const wrong = { accessKeyId: admin.accessKeyId, secretAccessKey: `${admin.secretAccessKey}x` };
    await assert.rejects(
      sdk(kiln.endpoint, wrong).send(new ListFunctionsCommand({})),
      isError('InvalidSignatureException', 403),
    );

    // Signed 20 minutes ago: outside SigV4's 15 minutes.
    const stale = await kilnFetch(`${kiln.endpoint}/2015-03-31/functions`, {
      signingDate: new Date(Date.now() - 20 * 60 * 1000),
    });
    assert.equal(stale.status, 403);
    assert.equal(stale.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
    assert.match(((await stale.json()) as { Message: string }).Message, /Signature expired/);
    // Within the window a replayed signature is accepted, as AWS accepts it.
    const recent = await kilnFetch(`${kiln.endpoint}/2015-03-31/functions`, {
      signingDate: new Date(Date.now() - 5 * 60 * 1000),
    });
    assert.equal(recent.status, 200);

    // A body other than the one signed.
    const url = `${kiln.endpoint}/2015-03-31/functions/owned/invocations`;
    const signed = await kilnFetch(url, { method: 'POST', body: '{"a":1}' });
    assert.equal(signed.status, 200);
    const headers = await signedHeaders({ method: 'POST', url: new URL(url), body: '{"a":1}' }, admin);
    delete headers.host;
    const tampered = await fetch(url, { method: 'POST', headers, body: '{"a":2}' });
    assert.equal(tampered.status, 403);
    assert.equal(tampered.headers.get('x-amzn-errortype'), 'InvalidSignatureException');

    // Scoped to another service or region.
    const asLogs = await kilnFetch(`${kiln.endpoint}/2015-03-31/functions`, { service: 'logs' });
    assert.equal(asLogs.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
  });

  it('checks the AWS CLI and the CloudWatch Logs API the same way', async () => {
    const bad = { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'nope' };
    const cli = awsLambda(kiln.endpoint, ['list-functions'], bad);
    assert.notEqual(cli.status, 0);
    assert.match(cli.stderr, /UnrecognizedClientException/);
    assert.equal(awsLambda(kiln.endpoint, ['list-functions']).status, 0);

    await assert.rejects(
      logsSdk(kiln.endpoint, bad).send(new DescribeLogGroupsCommand({})),
      isError('UnrecognizedClientException', 400),
    );
    const groups = await logsSdk(kiln.endpoint).send(new DescribeLogGroupsCommand({}));
    assert.ok(Array.isArray(groups.logGroups));
  });

  it('manages accounts with `kiln accounts`, admin keys only', async () => {
    const created = await kilnCli(kiln.endpoint, ['accounts', 'create', 'team-a', '--json'], admin);
    assert.equal(created.code, 0, created.stderr);
    const team = JSON.parse(created.stdout) as {
      Account: { AccountId: string; Name: string; Admin: boolean };
      AccessKey: { AccessKeyId: string; SecretAccessKey: string };
    };
    assert.match(team.Account.AccountId, /^\d{12}$/);
    assert.equal(team.Account.Admin, false);
    assert.match(team.AccessKey.AccessKeyId, /^AKIA[A-Z2-7]{16}$/);
    const teamKeys = {
      accessKeyId: team.AccessKey.AccessKeyId,
      secretAccessKey: team.AccessKey.SecretAccessKey,
    };

    const again = await kilnCli(kiln.endpoint, ['accounts', 'create', 'team-a'], admin);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /ResourceConflictException/);
    const badName = await kilnCli(kiln.endpoint, ['accounts', 'create', 'no spaces'], admin);
    assert.match(badName.stderr, /InvalidParameterValueException/);

    const listed = await kilnCli(kiln.endpoint, ['accounts', 'list'], admin);
    assert.match(listed.stdout, /000000000000\s+admin\s+yes/);
    assert.match(listed.stdout, new RegExp(`${team.Account.AccountId}\\s+team-a`));
    assert.ok(!listed.stdout.includes(team.AccessKey.SecretAccessKey), 'list never shows secrets');

    // The new key signs Lambda calls, through the AWS CLI too, but may not manage accounts.
    assert.equal(awsLambda(kiln.endpoint, ['list-functions'], teamKeys).status, 0);
    const denied = await kilnCli(kiln.endpoint, ['accounts', 'list'], teamKeys);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /AccessDeniedException/);
    const environments = await kilnFetch(`${kiln.endpoint}/_kiln/environments`, { keys: teamKeys });
    assert.equal(environments.status, 403);
    assert.equal(environments.headers.get('x-amzn-errortype'), 'AccessDeniedException');

    const self = await kilnCli(kiln.endpoint, ['accounts', 'delete', 'admin'], admin);
    assert.match(self.stderr, /ResourceConflictException/);
    // An account with functions is not deleted: they would stay behind, unreachable.
    const zip = await nodeZip('exports.handler = async () => 1;');
    await sdk(kiln.endpoint, teamKeys).send(nodeFunction('team-fn', zip));
    const busy = await kilnCli(kiln.endpoint, ['accounts', 'delete', 'team-a'], admin);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /ResourceConflictException: Account team-a still has functions/);
    await sdk(kiln.endpoint, teamKeys).send(new DeleteFunctionCommand({ FunctionName: 'team-fn' }));
    const deleted = await kilnCli(kiln.endpoint, ['accounts', 'delete', 'team-a'], admin);
    assert.equal(deleted.code, 0, deleted.stderr);
    await assert.rejects(
      sdk(kiln.endpoint, teamKeys).send(new ListFunctionsCommand({})),
      isError('UnrecognizedClientException', 403),
    );
  });

  it('serves /metrics to loopback scrapers and presigned code URLs without a signature', async () => {
    const metrics = await fetch(`${kiln.endpoint}/metrics`);
    assert.equal(metrics.status, 200);
    const got = await sdk(kiln.endpoint).send(new GetFunctionCommand({ FunctionName: 'owned' }));
    const zip = await fetch(got.Code?.Location ?? '');
    assert.equal(zip.status, 200);
  });
});

describe('local-only mode (KILN_AUTH=local)', () => {
  it('accepts unsigned requests on loopback and refuses to listen anywhere else', async () => {
    const kiln = await startKiln({ env: { KILN_AUTH: 'local' } });
    try {
      const r = await kilnFetch(`${kiln.endpoint}/2015-03-31/functions`, { keys: false });
      assert.equal(r.status, 200);
    } finally {
      await kiln.stop();
      removeDir(kiln.dataDir);
    }
    const port = await freePort();
    const refused = await runKiln(
      ['up', '--host', '0.0.0.0', '--port', String(port), '--data-dir', '/nonexistent/kiln-auth'],
      { KILN_AUTH: 'local' },
    );
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /KILN_AUTH=local .* only listens on a loopback address, not 0\.0\.0\.0/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
