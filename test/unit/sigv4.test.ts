// SigV4 verification against what the real clients send: the AWS SDK for JavaScript v3, the Debian AWS
// CLI and Debian's boto3 sign requests to a capturing server, and every captured request must verify with
// the right secret and fail, with AWS's error type, when anything signed is changed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  CreateFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  LambdaClient,
  ListFunctionsCommand,
} from '@aws-sdk/client-lambda';
import { verifySigV4, type SignedRequest } from '../../src/http/sigv4.js';
import { cleanEnv } from '../support/server.js';

const keyId = 'AKIDKILNTEST00000001';
const secret = 'kiln/secret+key=with/odd+chars';
const captured: Array<SignedRequest & { from: string }> = [];

const expectation = (overrides: Partial<Parameters<typeof verifySigV4>[1]> = {}) => ({
  secretOf: (id: string) => (id === keyId ? secret : undefined),
  services: ['lambda'],
  region: 'us-east-1',
  nowMs: Date.now(),
  ...overrides,
});

describe('SigV4 verification of real clients', () => {
  let server: http.Server;
  let endpoint = '';
  let from = '';

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        captured.push({
          from,
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headersDistinct as Record<string, string[]>,
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    from = 'sdk';
    const sdk = new LambdaClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: keyId, secretAccessKey: secret },
      maxAttempts: 1,
    });
    const quiet = (p: Promise<unknown>) => p.catch(() => undefined);
    await quiet(sdk.send(new ListFunctionsCommand({ MaxItems: 7, Marker: 'a b+c/d' })));
    await quiet(
      sdk.send(
        new GetFunctionCommand({ FunctionName: 'arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST' }),
      ),
    );
    await quiet(
      sdk.send(
        new InvokeCommand({
          FunctionName: 'f',
          Qualifier: 'live',
          Payload: Buffer.from('{"a":"é"}'),
          LogType: 'Tail',
        }),
      ),
    );
    await quiet(
      sdk.send(
        new CreateFunctionCommand({
          FunctionName: 'f',
          Role: 'r',
          Runtime: 'nodejs20.x',
          Handler: 'i.h',
          Code: { ZipFile: Buffer.from('zip') },
        }),
      ),
    );
    sdk.destroy();

    const env = cleanEnv({
      AWS_ACCESS_KEY_ID: keyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_MAX_ATTEMPTS: '1',
      AWS_PAGER: '',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    const cli = (args: string[]) =>
      new Promise<void>((resolve) => {
        // Async so this process keeps serving the capture server while the CLI runs.
        const child = spawn('/usr/bin/aws', ['lambda', ...args, '--endpoint-url', endpoint], {
          env,
          stdio: 'ignore',
        });
        child.on('exit', () => resolve());
      });
    from = 'cli';
    await cli(['list-functions', '--max-items', '3']);
    await cli(['get-function', '--function-name', 'arn:aws:lambda:us-east-1:000000000000:function:f:1']);
    await cli([
      'invoke',
      '--function-name',
      'f',
      '--qualifier',
      'v2',
      '--payload',
      'eyJrIjoidiJ9',
      '/dev/null',
    ]);
    from = 'boto3';
    await new Promise<void>((resolve) => {
      const py = `
import boto3
c = boto3.client('lambda', endpoint_url='${endpoint}', region_name='us-east-1')
try:
    c.invoke(FunctionName='f', Payload=b'{"x": 1}', Qualifier='3')
except Exception:
    pass
try:
    c.list_functions(MaxItems=2, Marker='m n')
except Exception:
    pass
`;
      spawn('/usr/bin/python3', ['-c', py], { env, stdio: 'ignore' }).on('exit', () => resolve());
    });
  });
  after(() => server.close());

  it('captured requests from all three clients', () => {
    const by = (f: string) => captured.filter((c) => c.from === f).length;
    assert.ok(by('sdk') >= 4, `sdk ${by('sdk')}`);
    assert.ok(by('cli') >= 3, `cli ${by('cli')}`);
    assert.ok(by('boto3') >= 2, `boto3 ${by('boto3')}`);
  });

  it('verifies every request as signed', () => {
    for (const c of captured) {
      const r = verifySigV4(c, expectation());
      assert.deepEqual(r, { ok: true, accessKeyId: keyId }, `${c.from} ${c.method} ${c.url}`);
    }
  });

  it('refuses a changed body, path, query or signed header', () => {
    for (const c of captured) {
      const variants: SignedRequest[] = [
        { ...c, body: Buffer.concat([c.body, Buffer.from(' ')]) },
        { ...c, url: c.url.replace('/functions', '/functionz') },
        { ...c, url: c.url.includes('?') ? `${c.url}&extra=1` : `${c.url}?extra=1` },
        { ...c, headers: { ...c.headers, host: ['evil.example:1'] } },
        { ...c, method: c.method === 'GET' ? 'DELETE' : 'GET' },
      ];
      variants.forEach((v, i) => {
        const r = verifySigV4(v, expectation());
        assert.equal(
          r.ok ? 'ok' : r.code,
          'InvalidSignatureException',
          `${c.from} variant ${i}: ${v.method} ${v.url}`,
        );
      });
    }
  });

  it("answers with AWS's error types", () => {
    const c = captured[0];
    assert.ok(c);
    const code = (req: SignedRequest, o = {}) => {
      const r = verifySigV4(req, expectation(o));
      return r.ok ? 'ok' : r.code;
    };
    assert.equal(code(c, { secretOf: () => 'wrong' }), 'InvalidSignatureException');
    assert.equal(code(c, { secretOf: () => undefined }), 'UnrecognizedClientException');
    assert.equal(code(c, { nowMs: Date.now() + 16 * 60_000 }), 'InvalidSignatureException');
    assert.equal(code(c, { nowMs: Date.now() + 14 * 60_000 }), 'ok', 'within the 15-minute skew');
    assert.equal(code(c, { region: 'eu-west-1' }), 'InvalidSignatureException');
    assert.equal(code(c, { services: ['logs'] }), 'InvalidSignatureException');
    const { authorization: _drop, ...unsigned } = c.headers;
    void _drop;
    assert.equal(code({ ...c, headers: unsigned }), 'MissingAuthenticationTokenException');
    assert.equal(
      code({ ...c, headers: { ...c.headers, authorization: ['AWS4-HMAC-SHA256 Credential=x'] } }),
      'IncompleteSignatureException',
    );
    assert.equal(
      code({ ...c, headers: { ...c.headers, authorization: ['Basic dXNlcjpwYXNz'] } }),
      'IncompleteSignatureException',
    );
  });
});
