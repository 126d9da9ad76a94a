// Property-based fuzzing of the HTTP edge against a real `kiln up`: JSON nested 100,000 levels deep on
// every JSON operation, huge and numerous headers, bodies around every size limit, invalid UTF-8 and
// malformed percent-encoding, odd methods, repeated and conflicting framing headers, odd content types.
// Every answer must be a proper AWS answer, the process must survive, and nothing stored changes.
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { deepJson, enc, oddHeaders, oddText } from './arbitraries.js';
import { params, startFuzzTarget, type FuzzTarget, type RawRequest } from './harness.js';

const F = '/2015-03-31/functions';

/** Every operation with a JSON body, aimed at a fixture, and a member whose type a nested value breaks. */
const jsonRoutes: ReadonlyArray<readonly [method: string, target: string, member: string]> = [
  ['POST', F, 'FunctionName'],
  ['PUT', `${F}/fx/code`, 'ZipFile'],
  ['PUT', `${F}/fx/configuration`, 'Description'],
  ['POST', `${F}/fx/versions`, 'Description'],
  ['POST', `${F}/fx/aliases`, 'Name'],
  ['PUT', `${F}/fx/aliases/live`, 'FunctionVersion'],
  ['PUT', '/2017-10-31/functions/fx/concurrency', 'ReservedConcurrentExecutions'],
  ['PUT', '/2019-09-30/functions/fx/provisioned-concurrency?Qualifier=1', 'ProvisionedConcurrentExecutions'],
  ['PUT', '/2019-09-25/functions/fx/event-invoke-config', 'MaximumRetryAttempts'],
  ['POST', '/2019-09-25/functions/fx/event-invoke-config?Qualifier=live', 'MaximumEventAgeInSeconds'],
  ['POST', `${F}/fx/invocations`, 'payload'],
  ['POST', `${F}/fx/invocations?Qualifier=split`, 'payload'],
  ['POST', '/2014-11-13/functions/fx/invoke-async', 'payload'],
  ['POST', '/_kiln/async/pollers', 'paused'],
  ['POST', '/_kiln/async/clock', 'advanceMs'],
];

/** Routes that change nothing (or name no function), for requests whose framing or bytes are odd. */
const harmless: readonly string[] = [
  `${F}/fx`,
  `${F}/fx:live/configuration`,
  `${F}?MaxItems=1`,
  `${F}/nx-edge/configuration`,
  `${F}/nx-edge/invocations`,
  `/2019-09-25/functions/fx/event-invoke-config/list`,
  '/2016-08-19/account-settings',
  '/_kiln/async',
];

describe('API fuzzing: HTTP edge', () => {
  let t: FuzzTarget;

  before(async () => {
    t = await startFuzzTarget();
  });
  after(() => t.stop());

  const settled = async (what: string) => {
    await t.assertAlive();
    await t.assertUnchanged(what);
  };

  it('JSON nested up to 100,000 levels on every JSON operation', async () => {
    const req = fc
      .tuple(
        fc.constantFrom(...jsonRoutes),
        fc.constantFrom(1_000, 10_000, 100_000),
        fc.constantFrom('array', 'member', 'open'),
        fc.constantFrom('DryRun', 'RequestResponse', 'Event'),
      )
      .map(([[method, target, member], depth, shape, type]): RawRequest => {
        // Invoke payloads may be any JSON, so a deep array reaches the function itself; for the other
        // operations the nested value sits where the schema wants a string or a number.
        const body =
          shape === 'array'
            ? deepJson(depth)
            : shape === 'member'
              ? deepJson(depth, member)
              : `{${JSON.stringify(member)}:${'['.repeat(depth)}`;
        return {
          method,
          target,
          headers: [['X-Amz-Invocation-Type', type]],
          body,
        };
      });
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await t.check(r);
      }),
      params('deep JSON', 90),
    );
    await settled('deep JSON');
  });

  it('huge and numerous headers, and long paths', async () => {
    const req = fc
      .tuple(
        fc.constantFrom(...harmless),
        fc.oneof(
          fc.integer({ min: 1_000, max: 80_000 }).map((n) => [['X-Big', 'h'.repeat(n)]] as const),
          fc
            .integer({ min: 100, max: 3_000 })
            .map((n) => Array.from({ length: n }, (_, i) => [`X-H${i}`, 'v'] as const)),
          fc
            .integer({ min: 10, max: 3_000 })
            .map((n) => Array.from({ length: n }, () => ['X-Amz-Invocation-Type', 'DryRun'] as const)),
          fc.constant([]),
        ),
        fc.option(fc.integer({ min: 100, max: 40_000 }), { nil: undefined }),
      )
      .map(([target, headers, pathLength]): RawRequest => ({
        method: 'GET',
        target: pathLength === undefined ? target : `${F}/${'n'.repeat(pathLength)}`,
        headers,
      }));
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await t.check(r);
      }),
      params('huge headers', 60),
    );
    await settled('huge headers');
  });

  it('bodies around every size limit', async () => {
    const limits: ReadonlyArray<readonly [method: string, target: string, sizes: readonly number[]]> = [
      ['POST', `${F}/fx/invocations`, [6_291_456, 6_291_457, 7_000_000]],
      ['POST', `${F}/fx/invocations?Qualifier=live`, [1_048_577, 6_291_457]],
      ['POST', '/2014-11-13/functions/fx/invoke-async', [262_144, 262_145, 6_291_457]],
      ['PUT', `${F}/fx/configuration`, [6 * 1024 * 1024 + 1024, 6 * 1024 * 1024 + 1025, 8_000_000]],
      ['PUT', '/2019-09-25/functions/fx/event-invoke-config', [6 * 1024 * 1024 + 1025]],
      ['POST', F, [7_000_000]],
    ];
    const req = fc
      .tuple(fc.constantFrom(...limits), fc.constantFrom('X-Amz-Invocation-Type', 'X-Other'), fc.boolean())
      .chain(([[method, target, sizes], header, json]) =>
        fc.constantFrom(...sizes).map((size): RawRequest => {
          // A JSON string of that size for Invoke (valid payload), or a body that is not JSON at all.
          const body = json ? Buffer.alloc(size, 'a') : Buffer.alloc(size, '[');
          if (json) {
            body[0] = 0x22;
            body[size - 1] = 0x22;
          }
          return { method, target, headers: [[header, 'Event']], body };
        }),
      );
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await t.check(r);
      }),
      params('body limits', 20),
    );
    await settled('body limits');
  });

  it('invalid UTF-8, malformed escapes, odd methods, odd framing and content types', async () => {
    const rawSegment = fc.oneof(
      fc.constantFrom(
        '%',
        '%Z',
        '%E0%A4%A',
        '%C0%AF',
        '%ED%A0%80',
        '%FF%FE',
        '%00',
        '%2F',
        '%2e%2e',
        '..',
        '%u0041',
        '%%',
      ),
      fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.from(a).toString('latin1')),
    );
    // Framing headers with a body that completes the request as framed (a body shorter than declared
    // would only make the server wait for the rest); lies the other way leave bytes that Node must refuse.
    const framing = fc.oneof(
      fc.constantFrom<readonly [ReadonlyArray<readonly [string, string]>, string]>(
        [[['Content-Length', '0']], 'extra bytes after the body'],
        [[['Content-Length', '5']], '{"a":1}'],
        [[['Content-Length', '-1']], ''],
        [[['Content-Length', 'abc']], ''],
        [[['Content-Length', '99999999999999999999']], ''],
        [
          [
            ['Content-Length', '1'],
            ['Content-Length', '2'],
          ],
          '12',
        ],
        [
          [
            ['Content-Length', '2'],
            ['Content-Length', '2'],
          ],
          '12',
        ],
        [[['Transfer-Encoding', 'chunked']], '0\r\n\r\n'],
        [[['Transfer-Encoding', 'chunked']], '5\r\nhello\r\n0\r\n\r\n'],
        [[['Transfer-Encoding', 'chunked']], 'zz\r\n'],
        [
          [
            ['Transfer-Encoding', 'chunked'],
            ['Content-Length', '3'],
          ],
          '0\r\n\r\n',
        ],
        [[['Transfer-Encoding', 'gzip, chunked']], '0\r\n\r\n'],
      ),
      fc
        .tuple(
          fc.constantFrom<ReadonlyArray<readonly [string, string]>>(
            [['Content-Encoding', 'gzip']],
            [
              ['Content-Type', 'application/json'],
              ['Content-Type', 'text/plain'],
            ],
            [['Content-Type', 'application/json; charset=utf-16']],
            [['Content-Type', '']],
            [['Content-Type', ';;;']],
            [],
          ),
          fc.oneof(
            fc.constant<string | Buffer>(''),
            fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
            fc.constantFrom<string | Buffer>(
              Buffer.concat([
                Buffer.from('{"Description":"'),
                Buffer.from([0xff, 0xfe, 0xc0, 0xaf]),
                Buffer.from('"}'),
              ]),
              '{"Description":"\\ud800"}',
              '{"\\u0000":1}',
            ),
          ),
        )
        .map(([headers, body]) => [headers, body] as const),
    );
    const oddTarget = fc.oneof(
      fc
        .tuple(
          fc.constantFrom(`${F}/nx-`, `/2019-09-30/functions/nx-`, '/_kiln/async/events/', '/'),
          rawSegment,
          fc.constantFrom('', '/configuration', '/invocations', '/aliases/live', '?Qualifier=%ZZ', '?%=%'),
        )
        .map(([a, b, c]) => Buffer.from(`${a}${b}${c}`, 'latin1')),
      oddText.map((s) => Buffer.from(`${F}/nx-${enc(s)}`)),
    );
    const req = fc
      .tuple(
        fc.constantFrom(
          'GET',
          'POST',
          'PUT',
          'DELETE',
          'HEAD',
          'OPTIONS',
          'PATCH',
          'TRACE',
          'PROPFIND',
          'FOO',
          'get',
          'M-SEARCH',
        ),
        fc.oneof(
          fc.constantFrom(...harmless).map((p) => Buffer.from(p)),
          oddTarget,
        ),
        oddTarget,
        framing,
        oddHeaders,
      )
      .map(([method, anyTarget, nxTarget, [frame, body], headers]): RawRequest => ({
        method,
        // Methods that could change something only reach names that do not exist.
        target: ['GET', 'HEAD', 'get', 'OPTIONS', 'TRACE', 'PROPFIND'].includes(method)
          ? anyTarget
          : nxTarget,
        headers: [...frame, ...headers],
        body,
        noContentLength: frame.some(([k]) => k === 'Content-Length' || k === 'Transfer-Encoding'),
      }));
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await t.check(r);
      }),
      params('odd bytes and framing', 300),
    );
    await settled('odd bytes and framing');
  });
});
