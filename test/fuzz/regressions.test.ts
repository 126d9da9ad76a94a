// Inputs the API fuzzer found answered wrongly, pinned as plain tests: each must get a proper AWS error.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkAnswer, rawRequest, type RawRequest, type RawResponse } from './harness.js';
import { nodeZip } from '../support/functions.js';
import { nodeFunction, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';

describe('API fuzzing: regressions', () => {
  let kiln: KilnProcess;
  before(async () => {
    kiln = await startKiln({ env: { KILN_AUTH: 'local' } });
  });
  after(async () => {
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  const answer = async (req: RawRequest, type: string, status: number): Promise<RawResponse> => {
    const res = await rawRequest(kiln.port, req);
    checkAnswer(req, res);
    assert.equal(res.headers['x-amzn-errortype'], type);
    assert.equal(res.status, status);
    return res;
  };

  it('headers over Node’s 16 KB limit get RequestEntityTooLargeException, not a bare 431', async () => {
    await answer(
      { method: 'GET', target: '/2015-03-31/functions/fx', headers: [['X-Big', 'h'.repeat(20_000)]] },
      'RequestEntityTooLargeException',
      413,
    );
  });

  it('requests Node cannot parse get InvalidRequestContentException, not a bare 400', async () => {
    // A raw non-ASCII byte in the request target, a line break inside a header value, no target at all.
    const requests: RawRequest[] = [
      { method: 'GET', target: Buffer.from('/2015-03-31/functions/f\u00e9', 'latin1') },
      { method: 'GET', target: '/2015-03-31/functions/fx', headers: [['X-Amz-Client-Context', 'a\nb']] },
      { method: 'PATCH', target: '?FunctionName=x' },
      { method: 'FOO', target: '/2015-03-31/functions' },
    ];
    for (const req of requests) await answer(req, 'InvalidRequestContentException', 400);
  });

  it('a malformed body after an answer on the same connection adds no second answer', async () => {
    // The bad path is answered as soon as the headers arrive; the broken chunk comes after it.
    const res = await answer(
      {
        method: 'OPTIONS',
        target: '/2019-09-30/functions/nx-%%',
        headers: [['Transfer-Encoding', 'chunked']],
        noContentLength: true,
        body: 'zz\r\n',
      },
      'InvalidParameterValueException',
      400,
    );
    assert.doesNotMatch(res.body.toString(), /HTTP\/1\.1/);
  });

  it('a path that is not valid percent-encoded UTF-8 gets InvalidParameterValueException', async () => {
    for (const target of ['/2015-03-31/functions/%E0%A4%A', '/2015-03-31/functions/%ZZ/configuration']) {
      await answer({ method: 'GET', target }, 'InvalidParameterValueException', 400);
    }
  });

  it('a path parameter over 2048 characters gets InvalidParameterValueException, not a bare 414', async () => {
    await answer(
      { method: 'GET', target: `/2015-03-31/functions/${'n'.repeat(3000)}` },
      'InvalidParameterValueException',
      400,
    );
  });

  it('a repeated query parameter is refused, not a 500 (and never one of the values guessed)', async () => {
    // `/_kiln/async/events` handed the array Fastify made of a repeated FunctionName to SQLite: 500.
    for (const target of [
      '/_kiln/async/events?FunctionName=a&FunctionName=b',
      '/2015-03-31/functions/fx?Qualifier=1&Qualifier=live',
      '/2015-03-31/functions?Marker=a&Marker=b',
    ]) {
      const res = await answer({ method: 'GET', target }, 'InvalidParameterValueException', 400);
      assert.match(res.body.toString(), /appears more than once/);
    }
    await answer(
      { method: 'DELETE', target: '/2015-03-31/functions/fx?Qualifier=1&Qualifier=1' },
      'InvalidParameterValueException',
      400,
    );
  });

  it('a query parameter named like an Object property is just a parameter', async () => {
    const res = await rawRequest(kiln.port, {
      method: 'GET',
      target: '/2015-03-31/functions?__proto__=1&constructor=2&MaxItems=1',
    });
    assert.equal(res.status, 200);
  });

  it('forged version markers, huge version numbers and DryRun client contexts are checked', async () => {
    await sdk(kiln.endpoint).send(nodeFunction('fx', await nodeZip('exports.handler = async () => 1;')));
    // A marker that decodes to the right kind but no number listed nothing instead of refusing.
    const forged = Buffer.from('versions:abc').toString('base64url');
    await answer(
      { method: 'GET', target: `/2015-03-31/functions/fx/versions?Marker=${forged}` },
      'InvalidParameterValueException',
      400,
    );
    // Version numbers past 2^53 were printed in exponent form (fx:1e+23).
    const res = await answer(
      { method: 'GET', target: '/2015-03-31/functions/fx?Qualifier=0100000000000000000000000' },
      'ResourceNotFoundException',
      404,
    );
    assert.match(res.body.toString(), /function:fx:100000000000000000000000\b/);
    // A dry run answers whether the real call would be accepted, client context included.
    await answer(
      {
        method: 'POST',
        target: '/2015-03-31/functions/fx/invocations',
        headers: [
          ['X-Amz-Invocation-Type', 'DryRun'],
          ['X-Amz-Client-Context', Buffer.from('not json').toString('base64')],
        ],
      },
      'InvalidRequestContentException',
      400,
    );
  });
});
