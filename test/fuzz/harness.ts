// Shared pieces of the API fuzz suite: a raw HTTP/1.1 client (fetch would normalise or refuse the odd
// requests the fuzzer sends), the properties every answer must satisfy, the fixture functions whose
// stored state must survive the fuzzing unchanged, and the seed and run count.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import {
  CreateAliasCommand,
  PublishVersionCommand,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import type fc from 'fast-check';
import { errorTable } from '../../src/model/index.js';
import { nodeFunction, sdk } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { zipOf } from '../support/zips.js';

/** Fixed by default so `npm run check` is deterministic; KILN_FUZZ_SEED / KILN_FUZZ_RUNS explore further. */
export function fuzzSettings(defaultRuns: number): { seed: number; numRuns: number } {
  const seed = Number(process.env.KILN_FUZZ_SEED ?? 20261130);
  const factor = Number(process.env.KILN_FUZZ_RUNS ?? 1);
  assert.ok(Number.isInteger(seed), 'KILN_FUZZ_SEED must be an integer');
  assert.ok(factor > 0, 'KILN_FUZZ_RUNS must be a positive multiplier');
  return { seed, numRuns: Math.max(1, Math.round(defaultRuns * factor)) };
}

/** fast-check parameters for one property; the seed is printed so a failure can be replayed. */
export function params(name: string, defaultRuns: number): fc.Parameters<unknown> {
  const { seed, numRuns } = fuzzSettings(defaultRuns);
  console.log(`# fuzz ${name}: seed ${seed}, ${numRuns} runs (KILN_FUZZ_SEED / KILN_FUZZ_RUNS override)`);
  return { seed, numRuns, endOnFailure: true, includeErrorInReport: true };
}

export interface RawRequest {
  readonly method: string;
  /** The request target exactly as sent, already percent-encoded (or deliberately not). */
  readonly target: string | Buffer;
  /** Header lines as [name, value] pairs, repeated names allowed; values may hold any latin1 byte. */
  readonly headers?: ReadonlyArray<readonly [string, string | Buffer]>;
  readonly body?: Buffer | string;
  /** Leave out the Content-Length header (for requests that set their own framing). */
  readonly noContentLength?: boolean;
}

export interface RawResponse {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** Beyond this Kiln is considered hung: far above any answer it gives to a refused request. */
const answerDeadlineMs = 30_000;

/** Sends one request on its own connection (`Connection: close`) and reads the whole answer. */
export function rawRequest(port: number, req: RawRequest): Promise<RawResponse> {
  const body = typeof req.body === 'string' ? Buffer.from(req.body) : (req.body ?? Buffer.alloc(0));
  const lines: Buffer[] = [
    Buffer.concat([Buffer.from(`${req.method} `), Buffer.from(req.target), Buffer.from(' HTTP/1.1\r\n')]),
    Buffer.from(`Host: 127.0.0.1:${port}\r\nConnection: close\r\n`),
  ];
  for (const [name, value] of req.headers ?? []) {
    lines.push(Buffer.concat([Buffer.from(`${name}: `, 'latin1'), Buffer.from(value), Buffer.from('\r\n')]));
  }
  if (!req.noContentLength) lines.push(Buffer.from(`Content-Length: ${body.length}\r\n`));
  lines.push(Buffer.from('\r\n'), body);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let failure: Error | undefined;
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(answerDeadlineMs, () =>
      socket.destroy(new Error(`no answer within ${answerDeadlineMs} ms`)),
    );
    socket.on('data', (c: Buffer) => chunks.push(c));
    // The server may answer (e.g. 413) and close before reading the whole body: a write then fails with
    // EPIPE or ECONNRESET, but the answer may still be there to read.
    socket.on('error', (e) => (failure = e));
    socket.on('close', () => {
      if (chunks.length === 0) {
        reject(failure ?? new Error('connection closed without an answer'));
        return;
      }
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (e) {
        reject(e as Error);
      }
    });
    socket.write(Buffer.concat(lines));
  });
}

function parseResponse(raw: Buffer): RawResponse {
  let rest = raw;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`incomplete HTTP answer: ${JSON.stringify(rest.toString('latin1'))}`);
    const head = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1]);
    if (!Number.isInteger(status)) throw new Error(`not an HTTP status line: ${head[0]}`);
    rest = rest.subarray(end + 4);
    if (status >= 100 && status < 200) continue; // 100 Continue: the real answer follows.
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const body = headers['transfer-encoding']?.includes('chunked') ? dechunk(rest) : rest;
    return { status, headers, body };
  }
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) break;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

const describeRequest = (req: RawRequest, res: RawResponse): string => {
  const target = Buffer.from(req.target).toString('latin1');
  const body = typeof req.body === 'string' ? req.body : (req.body?.toString('latin1') ?? '');
  return `${req.method} ${target.slice(0, 300)} (body ${body.length} bytes: ${JSON.stringify(body.slice(0, 200))}) → ${res.status} ${JSON.stringify(res.headers)} ${res.body.toString('utf8').slice(0, 500)}`;
};

/**
 * The properties of every answer: no 5xx but the documented 501 NotImplementedException, a request id,
 * and every error rendered as Kiln renders AWS errors — an `x-amzn-ErrorType` from the error table with
 * its status, and a JSON body `{"Type","Message"}` whose Type is that error's fault.
 */
export function checkAnswer(req: RawRequest, res: RawResponse): void {
  const what = describeRequest(req, res);
  const type = res.headers['x-amzn-errortype'];
  assert.ok(
    res.status < 500 || (res.status === 501 && type === 'NotImplementedException'),
    `server error: ${what}`,
  );
  assert.ok(res.headers['x-amzn-requestid'], `no x-amzn-RequestId: ${what}`);
  if (res.status < 400) return;
  // Signed code URLs answer as S3 presigned URLs do (XML AccessDenied), by design: see control-plane/routes.ts.
  const target = Buffer.from(req.target).toString('latin1');
  if (target.startsWith('/_kiln/code/') && res.status === 403) {
    assert.match(res.headers['content-type'] ?? '', /^application\/xml/, what);
    if (req.method !== 'HEAD') assert.match(res.body.toString(), /<Code>AccessDenied<\/Code>/, what);
    return;
  }
  assert.ok(type !== undefined && type in errorTable, `no known x-amzn-ErrorType: ${what}`);
  const entry = errorTable[type as keyof typeof errorTable];
  assert.equal(res.status, entry.status, `status does not match ${type}: ${what}`);
  if (req.method === 'HEAD') return;
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, `not JSON: ${what}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body.toString('utf8'));
  } catch {
    assert.fail(`error body is not JSON: ${what}`);
  }
  const obj = parsed as { Type?: unknown; Message?: unknown };
  assert.equal(obj.Type, entry.fault, `Type is not ${entry.fault}: ${what}`);
  assert.equal(typeof obj.Message, 'string', `no Message: ${what}`);
}

/** A Kiln process with fixtures whose stored state the fuzzing must not change. */
export interface FuzzTarget {
  readonly kiln: KilnProcess;
  readonly pid: number;
  send(req: RawRequest): Promise<RawResponse>;
  /** Sends and checks the answer's properties; returns it for further checks. */
  check(req: RawRequest): Promise<RawResponse>;
  /** Asserts the process is the same one and still answers. */
  assertAlive(): Promise<void>;
  /** Asserts the fixtures' stored state is what it was when the target started. */
  assertUnchanged(cause: string): Promise<void>;
  /** Stops Kiln and removes its data dir. */
  stop(): Promise<void>;
}

/**
 * Fixtures: `fx` with versions 1 and 2 (`$LATEST` equal to 2, so PublishVersion publishes nothing),
 * aliases `live` → 1 and `split` → 1 with half of the traffic on 2 (so neither version can be deleted),
 * reserved concurrency and an event invoke config; `fy`, published once, with `fx` as its dead-letter target.
 */
export async function startFuzzTarget(): Promise<FuzzTarget> {
  // Unsigned raw requests reach every route: local mode treats them as the admin account's.
  const kiln = await startKiln({ env: { KILN_TEST_ASYNC_CLOCK: '1', KILN_AUTH: 'local' } });
  const pid = kiln.child.pid ?? 0;
  const lambda = sdk(kiln.endpoint);
  try {
    const zip = await zipOf({ 'index.js': 'exports.handler = async () => "ok";\n' });
    await lambda.send(nodeFunction('fx', zip));
    await lambda.send(new PublishVersionCommand({ FunctionName: 'fx' }));
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'fx', Timeout: 7 }));
    await lambda.send(new PublishVersionCommand({ FunctionName: 'fx' }));
    await lambda.send(new CreateAliasCommand({ FunctionName: 'fx', Name: 'live', FunctionVersion: '1' }));
    await lambda.send(
      new CreateAliasCommand({
        FunctionName: 'fx',
        Name: 'split',
        FunctionVersion: '1',
        RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } },
      }),
    );
    await lambda.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'fx', ReservedConcurrentExecutions: 10 }),
    );
    await lambda.send(
      new PutFunctionEventInvokeConfigCommand({ FunctionName: 'fx', MaximumRetryAttempts: 1 }),
    );
    await lambda.send(
      nodeFunction('fy', zip, {
        DeadLetterConfig: { TargetArn: 'arn:aws:lambda:us-east-1:000000000000:function:fx' },
      }),
    );
    await lambda.send(new PublishVersionCommand({ FunctionName: 'fy' }));
  } finally {
    lambda.destroy();
  }
  const send = (req: RawRequest) => rawRequest(kiln.port, req);
  const get = async (target: string): Promise<string> => {
    const res = await send({ method: 'GET', target });
    // Code.Location is signed with an expiry that moves with the clock; everything else must not move.
    return `${target} ${res.status} ${res.body.toString('utf8').replace(/\?Expires=[^"]*/g, '?…')}`;
  };
  const snapshotPaths = [
    '/2015-03-31/functions',
    '/2016-08-19/account-settings',
    ...['fx', 'fx:1', 'fx:2', 'fx:live', 'fx:split', 'fy', 'fy:1'].map((n) => `/2015-03-31/functions/${n}`),
    ...['fx', 'fy'].flatMap((n) => [
      `/2015-03-31/functions/${n}/versions`,
      `/2015-03-31/functions/${n}/aliases`,
      `/2019-09-30/functions/${n}/concurrency`,
      `/2019-09-30/functions/${n}/provisioned-concurrency?List=ALL`,
      `/2019-09-25/functions/${n}/event-invoke-config/list`,
    ]),
  ];
  /** What is stored about the fixtures, as Kiln serves it. */
  const snapshot = async (): Promise<string> => {
    const parts: string[] = [];
    for (const p of snapshotPaths) parts.push(await get(p));
    return parts.join('\n');
  };
  const baseline = await snapshot();
  const target: FuzzTarget = {
    kiln,
    pid,
    send,
    async check(req) {
      const res = await send(req);
      checkAnswer(req, res);
      return res;
    },
    async assertUnchanged(cause) {
      assert.equal(await snapshot(), baseline, `stored state changed after ${cause}`);
    },
    async stop() {
      await kiln.stop();
      removeDir(kiln.dataDir);
    },
    async assertAlive() {
      assert.equal(kiln.child.exitCode, null, `kiln exited:\n${kiln.output().slice(-2000)}`);
      assert.equal(kiln.child.pid, pid);
      const res = await send({ method: 'GET', target: '/2016-08-19/account-settings' });
      assert.equal(res.status, 200);
    },
  };
  return target;
}
