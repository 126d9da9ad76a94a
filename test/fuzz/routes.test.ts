// Property-based fuzzing of every route Kiln serves, against a real `kiln up`: reads with any name,
// qualifier and query; writes that must be refused (each carries at least one poisoned part, so the
// fixtures they aim at cannot legitimately change); PublishVersion and Invoke with anything; unknown
// routes. Every answer must be a proper AWS answer, the process must survive, and nothing stored changes.
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  anyJson,
  anyName,
  deepJson,
  enc,
  fixtureRef,
  notAnObject,
  oddHeaders,
  oddQuery,
  oddText,
  poisonedBody,
  qualifier,
  refusedName,
  refusedQualifier,
  renderQuery,
  type MemberKind,
} from './arbitraries.js';
import { params, startFuzzTarget, type FuzzTarget, type RawRequest } from './harness.js';

const F = '/2015-03-31/functions';

const configMembers: Record<string, MemberKind> = {
  Role: 'string',
  Handler: 'string',
  Description: 'string',
  Timeout: 'int',
  MemorySize: 'int',
  Runtime: 'string',
  Environment: 'object',
  EphemeralStorage: 'object',
  VpcConfig: 'object',
  TracingConfig: 'object',
  Layers: 'array',
  DeadLetterConfig: 'object',
  KMSKeyArn: 'string',
  SnapStart: 'object',
  LoggingConfig: 'object',
};
const members = {
  create: {
    ...configMembers,
    FunctionName: 'string',
    Code: 'object',
    PackageType: 'string',
    Publish: 'boolean',
    Architectures: 'array',
    Tags: 'stringMap',
    CodeSigningConfigArn: 'string',
  },
  updateConfig: { ...configMembers, RevisionId: 'string' },
  updateCode: {
    ZipFile: 'string',
    S3Bucket: 'string',
    S3Key: 'string',
    ImageUri: 'string',
    Publish: 'boolean',
    DryRun: 'boolean',
    RevisionId: 'string',
    Architectures: 'array',
  },
  createAlias: { Name: 'string', FunctionVersion: 'string', Description: 'string', RoutingConfig: 'object' },
  updateAlias: {
    FunctionVersion: 'string',
    Description: 'string',
    RoutingConfig: 'object',
    RevisionId: 'string',
  },
  concurrency: { ReservedConcurrentExecutions: 'int' },
  provisioned: { ProvisionedConcurrentExecutions: 'int' },
  eventInvoke: { MaximumRetryAttempts: 'int', MaximumEventAgeInSeconds: 'int', DestinationConfig: 'object' },
} satisfies Record<string, Record<string, MemberKind>>;

type Poison = 'name' | 'body' | 'qualifier' | 'alias';

/** A route that changes stored state, and which of its parts can carry the poison that makes Kiln refuse it. */
interface WriteRoute {
  readonly op: string;
  readonly method: string;
  readonly path: (name: string, alias: string) => string;
  readonly poisons: readonly Poison[];
  readonly body?: Readonly<Record<string, MemberKind>>;
  /** Reads `?Qualifier=`. */
  readonly qualified?: boolean;
}

const writes: readonly WriteRoute[] = [
  { op: 'CreateFunction', method: 'POST', path: () => F, poisons: ['body'], body: members.create },
  {
    op: 'UpdateFunctionCode',
    method: 'PUT',
    path: (n) => `${F}/${enc(n)}/code`,
    poisons: ['name', 'body'],
    body: members.updateCode,
  },
  {
    op: 'UpdateFunctionConfiguration',
    method: 'PUT',
    path: (n) => `${F}/${enc(n)}/configuration`,
    poisons: ['name', 'body'],
    body: members.updateConfig,
  },
  {
    op: 'DeleteFunction',
    method: 'DELETE',
    path: (n) => `${F}/${enc(n)}`,
    poisons: ['name', 'qualifier'],
    qualified: true,
  },
  {
    op: 'CreateAlias',
    method: 'POST',
    path: (n) => `${F}/${enc(n)}/aliases`,
    poisons: ['name', 'body'],
    body: members.createAlias,
  },
  {
    op: 'UpdateAlias',
    method: 'PUT',
    path: (n, a) => `${F}/${enc(n)}/aliases/${enc(a)}`,
    poisons: ['name', 'alias', 'body'],
    body: members.updateAlias,
  },
  {
    op: 'DeleteAlias',
    method: 'DELETE',
    path: (n, a) => `${F}/${enc(n)}/aliases/${enc(a)}`,
    poisons: ['name', 'alias'],
  },
  {
    op: 'PutFunctionConcurrency',
    method: 'PUT',
    path: (n) => `/2017-10-31/functions/${enc(n)}/concurrency`,
    poisons: ['name', 'body'],
    body: members.concurrency,
  },
  {
    op: 'DeleteFunctionConcurrency',
    method: 'DELETE',
    path: (n) => `/2017-10-31/functions/${enc(n)}/concurrency`,
    poisons: ['name'],
  },
  {
    op: 'PutProvisionedConcurrencyConfig',
    method: 'PUT',
    path: (n) => `/2019-09-30/functions/${enc(n)}/provisioned-concurrency`,
    poisons: ['name', 'body', 'qualifier'],
    body: members.provisioned,
    qualified: true,
  },
  {
    op: 'DeleteProvisionedConcurrencyConfig',
    method: 'DELETE',
    path: (n) => `/2019-09-30/functions/${enc(n)}/provisioned-concurrency`,
    poisons: ['name', 'qualifier'],
    qualified: true,
  },
  ...(['PUT', 'POST'] as const).map((method): WriteRoute => ({
    op: method === 'PUT' ? 'PutFunctionEventInvokeConfig' : 'UpdateFunctionEventInvokeConfig',
    method,
    path: (n) => `/2019-09-25/functions/${enc(n)}/event-invoke-config`,
    poisons: ['name', 'body', 'qualifier'],
    body: members.eventInvoke,
    qualified: true,
  })),
  {
    op: 'DeleteFunctionEventInvokeConfig',
    method: 'DELETE',
    path: (n) => `/2019-09-25/functions/${enc(n)}/event-invoke-config`,
    poisons: ['name', 'qualifier'],
    qualified: true,
  },
];

/** Read-only routes, with the query parameters each reads. */
const reads: ReadonlyArray<
  readonly [path: (name: string, alias: string) => string, query: readonly string[]]
> = [
  [() => F, ['Marker', 'MaxItems', 'FunctionVersion']],
  [(n) => `${F}/${enc(n)}`, ['Qualifier']],
  [(n) => `${F}/${enc(n)}/configuration`, ['Qualifier']],
  [(n) => `${F}/${enc(n)}/versions`, ['Marker', 'MaxItems']],
  [(n) => `${F}/${enc(n)}/aliases`, ['Marker', 'MaxItems', 'FunctionVersion']],
  [(n, a) => `${F}/${enc(n)}/aliases/${enc(a)}`, []],
  [(n) => `/2019-09-30/functions/${enc(n)}/concurrency`, []],
  [
    (n) => `/2019-09-30/functions/${enc(n)}/provisioned-concurrency`,
    ['Qualifier', 'List', 'Marker', 'MaxItems'],
  ],
  [(n) => `/2019-09-25/functions/${enc(n)}/event-invoke-config`, ['Qualifier']],
  [(n) => `/2019-09-25/functions/${enc(n)}/event-invoke-config/list`, ['Marker', 'MaxItems']],
  [() => '/2016-08-19/account-settings', []],
  [() => '/_kiln/environments', []],
  [() => '/_kiln/async', []],
  [() => '/_kiln/async/events', ['FunctionName', 'MaxItems']],
  [(n) => `/_kiln/async/events/${enc(n)}`, []],
  [(n) => `/_kiln/code/${enc(n)}`, ['Expires', 'Signature']],
  [() => `/_kiln/code/${'a'.repeat(64)}.zip`, ['Expires', 'Signature']],
];

const aliasName = fc.oneof(fc.constantFrom('live', 'split', 'nx-alias', '1', '$LATEST'), oddText);
const refusedAlias = fc.oneof(refusedQualifier, oddText).filter((a) => a !== 'live' && a !== 'split');

/** Known parameters with plausible or odd values, then odd extra pairs (repeats included). */
const queryFor = (known: readonly string[], valueOf: fc.Arbitrary<string>) =>
  fc
    .tuple(fc.subarray([...known]), oddQuery, fc.boolean())
    .chain(([names, extra, raw]) =>
      fc
        .tuple(...names.map(() => valueOf))
        .map((vals) => renderQuery([...names.map((k, i) => [k, vals[i] ?? ''] as const), ...extra], raw)),
    );

describe('API fuzzing: routes', () => {
  let t: FuzzTarget;

  before(async () => {
    t = await startFuzzTarget();
  });
  after(() => t.stop());

  /** The stored state must not move; checked after every property and after any write that succeeded. */
  const assertUnchanged = (cause: string) => t.assertUnchanged(cause);

  it('reads: any name, qualifier and query answer as AWS answers', async () => {
    const req = fc
      .tuple(
        fc.constantFrom(...reads),
        anyName,
        aliasName,
        fc.constantFrom('GET', 'GET', 'GET', 'HEAD'),
        oddHeaders,
      )
      .chain(([[path, known], name, alias, method, headers]) =>
        queryFor(known, fc.oneof(qualifier, oddText)).map((q): RawRequest => ({
          method,
          target: `${path(name, alias)}${q}`,
          headers,
        })),
      );
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await t.check(r);
      }),
      params('reads', 300),
    );
    await t.assertAlive();
    await assertUnchanged('reads');
  });

  it('writes with a poisoned part are refused and change nothing', async () => {
    const req = fc.constantFrom(...writes).chain((route) =>
      fc.constantFrom(...route.poisons).chain((poison) =>
        fc
          .tuple(
            poison === 'name' ? refusedName : fc.oneof(fixtureRef, refusedName),
            poison === 'alias' ? refusedAlias : aliasName,
            // A poisoned qualifier is always sent: without one, a delete would hit the fixture itself.
            poison === 'qualifier'
              ? refusedQualifier
              : route.qualified
                ? fc.option(qualifier, { nil: undefined })
                : fc.constant(undefined),
            route.body
              ? poison === 'body'
                ? fc.oneof(
                    { weight: 3, arbitrary: poisonedBody(route.body) },
                    { weight: 1, arbitrary: notAnObject },
                  )
                : fc.oneof(
                    poisonedBody(route.body),
                    notAnObject,
                    anyJson.map((v) => JSON.stringify(v)),
                  )
              : fc.oneof(fc.constant(''), notAnObject),
            oddQuery,
            oddHeaders,
          )
          .map(([name, alias, q, body, extra, headers]): [WriteRoute, RawRequest] => {
            const qualifierPair = q === undefined ? [] : [['Qualifier', q] as const];
            // The generated qualifier must be the only one: an extra `Qualifier` pair could be a valid one.
            const extras = route.qualified ? extra.filter(([k]) => k !== 'Qualifier') : extra;
            return [
              route,
              {
                method: route.method,
                target: `${route.path(name, alias)}${renderQuery([...qualifierPair, ...extras])}`,
                headers,
                body,
              },
            ];
          }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(req, async ([route, r]) => {
        const res = await t.check(r);
        if (res.status < 300)
          await assertUnchanged(`${route.op} answered ${res.status}: ${r.method} ${String(r.target)}`);
      }),
      params('writes', 500),
    );
    await t.assertAlive();
    await assertUnchanged('writes');
  });

  it('PublishVersion with anything publishes nothing new ($LATEST equals the newest version)', async () => {
    const req = fc
      .tuple(
        anyName,
        fc.oneof(
          notAnObject,
          anyJson.map((v) => JSON.stringify(v)),
          poisonedBody({ CodeSha256: 'string', Description: 'string', RevisionId: 'string' }),
        ),
        oddQuery,
        oddHeaders,
      )
      .map(([name, body, q, headers]): RawRequest => ({
        method: 'POST',
        target: `${F}/${enc(name)}/versions${renderQuery(q)}`,
        body,
        headers,
      }));
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await t.check(r);
      }),
      params('publish', 100),
    );
    await t.assertAlive();
    await assertUnchanged('PublishVersion');
  });

  it('Invoke and InvokeAsync with any name, qualifier, headers and payload', async () => {
    const payload = fc.oneof(
      fc.constantFrom('', '{}', '"s"', '[]', 'null'),
      notAnObject,
      anyJson.map((v) => JSON.stringify(v)),
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    );
    const invokeHeaders = fc
      .tuple(
        fc.option(fc.constantFrom('RequestResponse', 'Event', 'DryRun', 'DryRun', 'event', '', 'Async'), {
          nil: undefined,
        }),
        fc.option(fc.constantFrom('Tail', 'None', 'tail', ''), { nil: undefined }),
        fc.option(fc.oneof(fc.constantFrom('e30=', 'bnVsbA==', '!!!', '', 'x'.repeat(4000)), oddText), {
          nil: undefined,
        }),
        oddHeaders,
      )
      .map(([type, log, ctx, extra]) => [
        ...(type === undefined ? [] : [['X-Amz-Invocation-Type', type] as const]),
        ...(log === undefined ? [] : [['X-Amz-Log-Type', log] as const]),
        ...(ctx === undefined ? [] : [['X-Amz-Client-Context', Buffer.from(ctx)] as const]),
        ...extra,
      ]);
    const req = fc
      .tuple(
        anyName,
        fc.option(qualifier, { nil: undefined }),
        invokeHeaders,
        payload,
        oddQuery,
        fc.boolean(),
      )
      .map(([name, q, headers, body, extra, legacy]): RawRequest => ({
        method: 'POST',
        target: legacy
          ? `/2014-11-13/functions/${enc(name)}/invoke-async${renderQuery(extra)}`
          : `${F}/${enc(name)}/invocations${renderQuery([...(q === undefined ? [] : [['Qualifier', q] as const]), ...extra])}`,
        headers,
        body,
      }));
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await t.check(r);
      }),
      params('invoke', 150),
    );
    await t.assertAlive();
    await assertUnchanged('Invoke');
  });

  it('Kiln routes and unknown routes answer as AWS answers', async () => {
    const prefixes = [
      '',
      '/',
      '/2015-03-31',
      '/2015-03-31/functions/nx-a/unknown',
      '/2015-03-31/functions/nx-a/policy',
      '/2015-03-31/event-source-mappings',
      '/2099-01-01/functions',
      '/2018-10-31/layers',
      '/2017-03-31/tags/nx',
      '/2021-10-31/functions/nx/url',
      '/_kiln',
      '/_kiln/nope',
      '/_kiln/async/pollers',
      '/_kiln/async/clock',
      '/_kiln/environments/x',
      '//2015-03-31//functions',
      '/2015-03-31/functions/../functions',
      '/%2e%2e/%2e%2e/etc/passwd',
    ];
    const req = fc
      .tuple(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
        fc.constantFrom(...prefixes),
        fc.array(oddText, { maxLength: 3 }),
        fc.oneof(
          fc.constant(''),
          notAnObject,
          anyJson.map((v) => JSON.stringify(v)),
          fc.constant(deepJson(10_000)),
        ),
        oddQuery,
        oddHeaders,
      )
      .map(([method, prefix, segments, body, q, headers]): RawRequest => ({
        method,
        target: `${prefix}${segments.map((s) => `/${enc(s)}`).join('')}${renderQuery(q)}` || '/',
        headers,
        body,
      }));
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await t.check(r);
      }),
      params('unknown routes', 250),
    );
    await t.assertAlive();
    await assertUnchanged('unknown routes');
  });
});
