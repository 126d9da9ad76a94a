// Drives the Runtime API server the way a runtime client does: plain HTTP on its unix socket.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import {
  RuntimeApiError,
  RuntimeApiServer,
  type InvocationOutcome,
  type InvocationRequest,
} from '../../src/runtime-api/index.js';
import { silentLogger } from '../../src/shared/index.js';

const root = mkdtempSync(path.join(tmpdir(), 'kiln-rapi-'));
after(() => rmSync(root, { recursive: true, force: true }));

const NEXT = '/2018-06-01/runtime/invocation/next';
const INIT_ERROR = '/2018-06-01/runtime/init/error';
const responsePath = (id: string): string =>
  `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/response`;
const errorPath = (id: string): string => `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/error`;
const ACCEPTED = '{"status":"OK"}';
const INVALID_ID = '{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}';
const ARN = 'arn:aws:lambda:us-east-1:000000000000:function:hello';
const TRACE = 'Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1';

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
  readonly socket: Socket;
}

interface CallOptions {
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body?: Buffer | string;
  readonly agent?: http.Agent;
  readonly chunks?: readonly string[];
  readonly trailers?: Record<string, string>;
}

let n = 0;
const servers: RuntimeApiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(maxResponseBytes?: number): Promise<{ server: RuntimeApiServer; sock: string }> {
  const sock = path.join(root, `rapi-${++n}.sock`);
  const server = new RuntimeApiServer({
    socketPath: sock,
    log: silentLogger(),
    ...(maxResponseBytes !== undefined ? { maxResponseBytes } : {}),
  });
  servers.push(server);
  await server.listen();
  return { server, sock };
}

function call(sock: string, method: string, p: string, o: CallOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: sock, method, path: p, headers: o.headers, agent: o.agent ?? false },
      (res) => {
        const socket = res.socket;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString(), socket });
        });
      },
    );
    req.on('error', reject);
    for (const c of o.chunks ?? []) req.write(c);
    if (o.trailers) req.addTrailers(o.trailers);
    req.end(o.body);
  });
}

function request(i = 1, extra: Partial<InvocationRequest> = {}): InvocationRequest {
  return {
    requestId: randomUUID(),
    payload: Buffer.from(`{"action":"ok","n":${i}}`),
    deadlineMs: 1795717642057,
    invokedFunctionArn: ARN,
    traceId: TRACE,
    ...extra,
  };
}

const json = (r: Reply): unknown => JSON.parse(r.text);
const idOf = (r: Reply): string => String(r.headers['lambda-runtime-aws-request-id']);

/** A ready server with one invocation delivered: returns it, the /next reply and the pending outcome. */
async function delivered(
  maxResponseBytes?: number,
  req: InvocationRequest = request(),
): Promise<{ server: RuntimeApiServer; sock: string; next: Reply; outcome: Promise<InvocationOutcome> }> {
  const { server, sock } = await start(maxResponseBytes);
  const pending = call(sock, 'GET', NEXT);
  assert.deepEqual(await server.waitReady(), { kind: 'ready' });
  const outcome = server.invoke(req);
  const next = await pending;
  assert.equal(next.status, 200);
  return { server, sock, next, outcome };
}

/** A raw HTTP/1.1 connection, to send the exact bytes a runtime client sends and read whole answers. */
function rawConnection(sock: string): {
  send: (b: string | Buffer) => void;
  reply: () => Promise<Reply>;
  end: () => void;
} {
  const socket = connect(sock);
  let buf = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    wake?.();
  });
  const reply = async (): Promise<Reply> => {
    for (;;) {
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd !== -1) {
        const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
        const headers: http.IncomingHttpHeaders = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (buf.length >= headEnd + 4 + length) {
          const body = Buffer.from(buf.subarray(headEnd + 4, headEnd + 4 + length));
          buf = buf.subarray(headEnd + 4 + length);
          const status = Number(lines[0]?.split(' ')[1]);
          return { status, headers, body, text: body.toString(), socket };
        }
      }
      await new Promise<void>((r) => (wake = r));
    }
  };
  return { send: (b) => socket.write(b), reply, end: () => socket.destroy() };
}

describe('RuntimeApiServer: socket and init', () => {
  it('replaces a stale socket file and listens with mode 0600', async () => {
    const sock = path.join(root, `stale-${++n}.sock`);
    writeFileSync(sock, 'left over');
    const server = new RuntimeApiServer({ socketPath: sock, log: silentLogger() });
    servers.push(server);
    await server.listen();
    const st = statSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    await server.close();
    assert.equal(existsSync(sock), false);
  });

  it('is ready at the first /next', async () => {
    const { server, sock } = await start();
    let ready = false;
    void server.waitReady().then(() => (ready = true));
    await call(sock, 'GET', '/2018-06-01/ping');
    assert.equal(ready, false);
    void call(sock, 'GET', NEXT).catch(() => undefined);
    assert.deepEqual(await server.waitReady(), { kind: 'ready' });
    await server.waitForNext();
  });

  it('reports an init error with the type from the header, and refuses everything after it', async () => {
    const { server, sock } = await start();
    const body =
      '{"errorType":"Runtime.ImportModuleError","errorMessage":"Error: Cannot find module \'missing\'","trace":["a","b"]}';
    const r = await call(sock, 'POST', INIT_ERROR, {
      headers: {
        'Content-Type': 'application/json',
        'Lambda-Runtime-Function-Error-Type': 'Runtime.ImportModuleError',
      },
      body,
    });
    assert.equal(r.status, 202);
    assert.equal(r.text, ACCEPTED);
    const outcome = await server.waitReady();
    assert.equal(outcome.kind, 'init-error');
    assert.ok(outcome.kind === 'init-error');
    assert.equal(outcome.errorType, 'Runtime.ImportModuleError');
    assert.equal(outcome.payload.toString(), body);

    const next = await call(sock, 'GET', NEXT);
    assert.equal(next.status, 403);
    assert.deepEqual(json(next), {
      errorMessage:
        'State transition from InitError to Ready failed for runtime. Error: State transition is not allowed',
      errorType: 'InvalidStateTransition',
    });
    const again = await call(sock, 'POST', INIT_ERROR, { body: '{}' });
    assert.equal(again.status, 403);
    await assert.rejects(
      server.invoke(request()),
      (e: unknown) => e instanceof RuntimeApiError && e.reason === 'init-failed',
    );
  });

  it('takes the init error type from the body, and wraps a body that is not JSON', async () => {
    const a = await start();
    const body = '{"errorType":"Error","errorMessage":"init failed at module load","trace":[]}';
    assert.equal((await call(a.sock, 'POST', INIT_ERROR, { body })).status, 202);
    const oa = await a.server.waitReady();
    assert.ok(oa.kind === 'init-error');
    assert.equal(oa.errorType, 'Error');
    assert.equal(oa.payload.toString(), body);

    const b = await start();
    assert.equal((await call(b.sock, 'POST', INIT_ERROR, { body: 'plain text failure' })).status, 202);
    const ob = await b.server.waitReady();
    assert.ok(ob.kind === 'init-error');
    assert.equal(ob.errorType, 'Unhandled');
    assert.deepEqual(JSON.parse(ob.payload.toString()), {
      errorMessage: 'plain text failure',
      errorType: 'Unhandled',
    });
  });

  it('refuses an init error once the runtime is ready', async () => {
    const { server, sock } = await start();
    void call(sock, 'GET', NEXT).catch(() => undefined);
    await server.waitReady();
    const r = await call(sock, 'POST', INIT_ERROR, {
      headers: { 'Lambda-Runtime-Function-Error-Type': 'Error' },
      body: '{}',
    });
    assert.equal(r.status, 403);
    assert.equal((json(r) as { errorType: string }).errorType, 'InvalidStateTransition');
    assert.deepEqual(await server.waitReady(), { kind: 'ready' });
  });

  it('fails an invocation queued before init with the init error', async () => {
    const { server, sock } = await start();
    const outcome = server.invoke(request());
    const r = await call(sock, 'POST', INIT_ERROR, {
      headers: { 'Lambda-Runtime-Function-Error-Type': 'Runtime.HandlerNotFound' },
      body: '{"errorType":"Runtime.HandlerNotFound","errorMessage":"index.nope is undefined or not exported"}',
    });
    assert.equal(r.status, 202);
    const o = await outcome;
    assert.ok(o.kind === 'error');
    assert.equal(o.errorType, 'Runtime.HandlerNotFound');
  });
});

describe('RuntimeApiServer: invocations', () => {
  it('delivers an invocation with every header and takes its response as opaque bytes', async () => {
    const req = request(1, {
      clientContext: '{"client":{"installation_id":"i1"},"custom":{"a":1},"env":{"platform":"x"}}',
      cognitoIdentity: '{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}',
    });
    const { sock, next, outcome } = await delivered(undefined, req);
    assert.equal(next.headers['content-type'], 'application/json');
    assert.equal(next.headers['lambda-runtime-aws-request-id'], req.requestId);
    assert.equal(next.headers['lambda-runtime-deadline-ms'], '1795717642057');
    assert.equal(next.headers['lambda-runtime-invoked-function-arn'], ARN);
    assert.equal(next.headers['lambda-runtime-trace-id'], TRACE);
    assert.equal(next.headers['lambda-runtime-client-context'], req.clientContext);
    assert.equal(next.headers['lambda-runtime-cognito-identity'], req.cognitoIdentity);
    assert.deepEqual(next.body, req.payload);

    // The vercel python client posts with urllib's form content type.
    const body = Buffer.from('{"ok":true,"bytes":"\u00e9\u0000"}');
    const r = await call(sock, 'POST', responsePath(req.requestId), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    });
    assert.equal(r.status, 202);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.text, ACCEPTED);
    const o = await outcome;
    assert.equal(o.kind, 'success');
    assert.deepEqual(o.payload, body);
  });

  it('omits the optional headers when the invocation has none, and accepts a response with no content type', async () => {
    const { sock, next, outcome } = await delivered();
    assert.equal(next.headers['lambda-runtime-client-context'], undefined);
    assert.equal(next.headers['lambda-runtime-cognito-identity'], undefined);
    const r = await call(sock, 'POST', responsePath(idOf(next)), { body: 'null' });
    assert.equal(r.status, 202);
    assert.deepEqual(await outcome, { kind: 'success', payload: Buffer.from('null') });
  });

  it('accepts an empty response body', async () => {
    const { sock, next, outcome } = await delivered();
    assert.equal((await call(sock, 'POST', responsePath(idOf(next)))).status, 202);
    const o = await outcome;
    assert.equal(o.kind, 'success');
    assert.equal(o.payload.length, 0);
  });

  it('keeps control characters and non-ASCII text in client context from breaking the /next answer', async () => {
    const req = request(1, { clientContext: '{\n  "custom": {"name": "Zo\u00eb \u2603"}\n}' });
    const { next } = await delivered(undefined, req);
    const raw = Buffer.from(String(next.headers['lambda-runtime-client-context']), 'latin1').toString('utf8');
    assert.deepEqual(JSON.parse(raw), { custom: { name: 'Zo\u00eb \u2603' } });
  });

  it('takes the error type from the header and keeps a JSON error body as is', async () => {
    const { sock, next, outcome } = await delivered();
    const body =
      '{"errorMessage":"kaboom","errorType":"TypeError","stackTrace":["at x (/var/task/index.js:1:1)"]}';
    const r = await call(sock, 'POST', errorPath(idOf(next)), {
      headers: { 'Content-Type': 'application/json', 'Lambda-Runtime-Function-Error-Type': 'TypeError' },
      body,
    });
    assert.equal(r.status, 202);
    assert.equal(r.text, ACCEPTED);
    const o = await outcome;
    assert.ok(o.kind === 'error');
    assert.equal(o.errorType, 'TypeError');
    assert.equal(o.payload.toString(), body);
  });

  it('takes the error type from the body when the header is absent (the RIC sends none)', async () => {
    const { sock, next, outcome } = await delivered();
    const body =
      '{"errorType":"MyCustomError","errorMessage":"kaboom from handler","trace":["MyCustomError: kaboom"]}';
    const r = await call(sock, 'POST', errorPath(idOf(next)), {
      headers: {
        'Content-Type': 'application/json',
        'lambda-runtime-function-xray-error-cause':
          '{"working_directory":"/var/task","exceptions":[],"paths":[]}',
      },
      body,
    });
    assert.equal(r.status, 202);
    const o = await outcome;
    assert.ok(o.kind === 'error');
    assert.equal(o.errorType, 'MyCustomError');
    assert.equal(o.payload.toString(), body);
  });

  it('calls a JSON error without a type Unhandled and keeps it (vercel python)', async () => {
    const { sock, next, outcome } = await delivered();
    const body = '{"error": "<class \'ValueError\'>"}';
    const r = await call(sock, 'POST', errorPath(idOf(next)), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Connection: 'close' },
      body,
    });
    assert.equal(r.status, 202);
    const o = await outcome;
    assert.ok(o.kind === 'error');
    assert.equal(o.errorType, 'Unhandled');
    assert.equal(o.payload.toString(), body);
  });

  it('wraps an error body that is not a JSON object', async () => {
    const { sock, next, outcome } = await delivered();
    const r = await call(sock, 'POST', errorPath(idOf(next)), {
      headers: { 'Lambda-Runtime-Function-Error-Type': 'Runtime.Crash' },
      body: 'segfault "here"',
    });
    assert.equal(r.status, 202);
    const o = await outcome;
    assert.ok(o.kind === 'error');
    assert.equal(o.errorType, 'Runtime.Crash');
    assert.deepEqual(JSON.parse(o.payload.toString()), {
      errorMessage: 'segfault "here"',
      errorType: 'Runtime.Crash',
    });
  });

  it('drops the X-Ray errorCause of an error posted as application/vnd.aws.lambda.error.cause+json', async () => {
    const { sock, next, outcome } = await delivered();
    const r = await call(sock, 'POST', errorPath(idOf(next)), {
      headers: { 'Content-Type': 'application/vnd.aws.lambda.error.cause+json' },
      body: '{"errorMessage":"m","errorType":"java.lang.RuntimeException","stackTrace":["a"],"errorCause":{"paths":[]}}',
    });
    assert.equal(r.status, 202);
    const o = await outcome;
    assert.ok(o.kind === 'error');
    assert.deepEqual(JSON.parse(o.payload.toString()), {
      errorMessage: 'm',
      errorType: 'java.lang.RuntimeException',
      stackTrace: ['a'],
    });
  });

  it('answers an oversized response 413 and fails the invocation with Function.ResponseSizeTooLarge', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const { server, sock } = await start();
      const first = call(sock, 'GET', NEXT, { agent });
      await server.waitReady();
      const outcome = server.invoke(request());
      const next = await first;
      const big = Buffer.alloc(7_000_011, 0x61);
      const r = await call(sock, 'POST', responsePath(idOf(next)), { agent, body: big });
      assert.equal(r.status, 413);
      assert.equal(
        r.text,
        '{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}',
      );
      const o = await outcome;
      assert.ok(o.kind === 'error');
      assert.equal(o.errorType, 'Function.ResponseSizeTooLarge');
      assert.equal(
        o.payload.toString(),
        '{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"}',
      );
      // The RIC goes on to /next on the same connection, and gets the next event.
      const again = server.invoke(request(2));
      const next2 = await call(sock, 'GET', NEXT, { agent });
      assert.equal(next2.socket, r.socket);
      assert.equal(next2.text, '{"action":"ok","n":2}');
      assert.equal((await call(sock, 'POST', responsePath(idOf(next2)), { agent, body: 'ok' })).status, 202);
      assert.equal((await again).kind, 'success');
    } finally {
      agent.destroy();
    }
  });

  it('applies a configured cap to responses exactly at the limit and one byte over', async () => {
    const a = await delivered(100);
    assert.equal(
      (await call(a.sock, 'POST', responsePath(idOf(a.next)), { body: Buffer.alloc(100, 0x62) })).status,
      202,
    );
    assert.equal((await a.outcome).payload.length, 100);

    const b = await delivered(100);
    const r = await call(b.sock, 'POST', responsePath(idOf(b.next)), { body: Buffer.alloc(101, 0x62) });
    assert.equal(r.status, 413);
    assert.deepEqual(json(r), {
      errorMessage: 'Exceeded maximum allowed payload size (100 bytes).',
      errorType: 'RequestEntityTooLarge',
    });
    const o = await b.outcome;
    assert.ok(o.kind === 'error');
    assert.equal(o.errorType, 'Function.ResponseSizeTooLarge');
  });

  it('caps error bodies the same way, without a Content-Length (chunked)', async () => {
    const { sock, next, outcome } = await delivered(1000);
    const chunk = 'x'.repeat(300);
    const r = await call(sock, 'POST', errorPath(idOf(next)), { chunks: [chunk, chunk, chunk, chunk] });
    assert.equal(r.status, 413);
    const o = await outcome;
    assert.ok(o.kind === 'error');
    assert.equal(o.errorType, 'Function.ResponseSizeTooLarge');
  });

  it('answers 400 InvalidRequestID for an unknown, undecodable or finished id', async () => {
    const { sock, next, outcome } = await delivered();
    const other = await call(sock, 'POST', responsePath(randomUUID()), { body: 'x' });
    assert.equal(other.status, 400);
    assert.equal(other.text, INVALID_ID);
    const bad = await call(sock, 'POST', '/2018-06-01/runtime/invocation/%E0%A4%A/error', { body: 'x' });
    assert.equal(bad.status, 400);
    assert.equal(bad.text, INVALID_ID);
    assert.equal((await call(sock, 'POST', responsePath(idOf(next)), { body: '1' })).status, 202);
    assert.equal((await outcome).kind, 'success');
  });

  it('matches the id after percent-decoding', async () => {
    const { sock, next, outcome } = await delivered();
    const encoded = [...idOf(next)].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    const r = await call(sock, 'POST', `/2018-06-01/runtime/invocation/${encoded}/response`, { body: '1' });
    assert.equal(r.status, 202);
    assert.equal((await outcome).kind, 'success');
  });

  it('refuses a second answer for the same invocation: 403 until the next /next, 400 after', async () => {
    const { server, sock, next, outcome } = await delivered();
    const id = idOf(next);
    assert.equal((await call(sock, 'POST', responsePath(id), { body: '1' })).status, 202);
    const twice = await call(sock, 'POST', errorPath(id), { body: '{}' });
    assert.equal(twice.status, 403);
    assert.deepEqual(json(twice), {
      errorMessage:
        'State transition from RuntimeResponseSentState to InvocationErrorResponse failed for runtime. Error: State transition is not allowed',
      errorType: 'InvalidStateTransition',
    });
    assert.deepEqual(await outcome, { kind: 'success', payload: Buffer.from('1') });
    void call(sock, 'GET', NEXT).catch(() => undefined);
    await server.waitForNext();
    const late = await call(sock, 'POST', responsePath(id), { body: '2' });
    assert.equal(late.status, 400);
    assert.equal(late.text, INVALID_ID);
  });

  it('rejects a second invoke while one is in flight', async () => {
    const { server, outcome } = await delivered();
    await assert.rejects(
      server.invoke(request(2)),
      (e: unknown) => e instanceof RuntimeApiError && e.reason === 'busy',
    );
    server.abandon(randomUUID());
    void outcome.catch(() => undefined);
  });

  it('serves a /next pipelined behind a post on the same connection once the post is read', async () => {
    // Kiln's Node runtime writes its GET /next right behind each /response or /error, as one write.
    const { server, sock } = await start(64);
    const rt = rawConnection(sock);
    const get = `GET ${NEXT} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
    const post = (p: string, body: string): string =>
      `POST ${p} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    rt.send(get);
    assert.deepEqual(await server.waitReady(), { kind: 'ready' });
    const r1 = request(1);
    let outcome = server.invoke(r1);
    assert.equal(idOf(await rt.reply()), r1.requestId);

    rt.send(post(responsePath(r1.requestId), '"one"') + get);
    assert.deepEqual(await outcome, { kind: 'success', payload: Buffer.from('"one"') });
    assert.equal((await rt.reply()).text, ACCEPTED);
    const r2 = request(2);
    outcome = server.invoke(r2);
    assert.equal(idOf(await rt.reply()), r2.requestId);

    rt.send(post(errorPath(r2.requestId), '{"errorType":"E","errorMessage":"m"}') + get);
    assert.equal((await outcome).kind, 'error');
    assert.equal((await rt.reply()).text, ACCEPTED);
    const r3 = request(3);
    outcome = server.invoke(r3);
    assert.equal(idOf(await rt.reply()), r3.requestId);

    // Too large: the invocation fails, the post gets its 413, and the /next behind it is still served.
    rt.send(post(responsePath(r3.requestId), 'x'.repeat(100)) + get);
    const tooLarge = await outcome;
    assert.equal(
      tooLarge.kind === 'error' ? tooLarge.errorType : tooLarge.kind,
      'Function.ResponseSizeTooLarge',
    );
    assert.equal((await rt.reply()).status, 413);
    const r4 = request(4);
    outcome = server.invoke(r4);
    assert.equal(idOf(await rt.reply()), r4.requestId);
    rt.end();
    void outcome.catch(() => undefined);
  });
});

describe('RuntimeApiServer: long polls', () => {
  it('answers a /next issued before the invocation, and delivers an invocation issued before /next', async () => {
    const { server, sock } = await start();
    const pending = call(sock, 'GET', NEXT);
    await server.waitReady();
    await server.waitForNext();
    const req1 = request(1);
    const o1 = server.invoke(req1);
    const n1 = await pending;
    assert.equal(idOf(n1), req1.requestId);
    assert.equal((await call(sock, 'POST', responsePath(req1.requestId), { body: 'one' })).status, 202);
    assert.deepEqual(await o1, { kind: 'success', payload: Buffer.from('one') });

    const req2 = request(2);
    const o2 = server.invoke(req2);
    const n2 = await call(sock, 'GET', NEXT);
    assert.equal(idOf(n2), req2.requestId);
    assert.equal(n2.text, '{"action":"ok","n":2}');
    assert.equal((await call(sock, 'POST', responsePath(req2.requestId), { body: 'two' })).status, 202);
    assert.deepEqual(await o2, { kind: 'success', payload: Buffer.from('two') });
  });

  it('refuses a second concurrent /next with 403 and still serves the first', async () => {
    const { server, sock } = await start();
    const first = call(sock, 'GET', NEXT);
    await server.waitForNext();
    const second = await call(sock, 'GET', NEXT);
    assert.equal(second.status, 403);
    assert.equal((json(second) as { errorType: string }).errorType, 'InvalidStateTransition');
    const req = request();
    const outcome = server.invoke(req);
    assert.equal(idOf(await first), req.requestId);
    assert.equal((await call(sock, 'POST', responsePath(req.requestId), { body: 'x' })).status, 202);
    assert.equal((await outcome).kind, 'success');
  });

  it('lets a new /next replace one whose connection has gone', async () => {
    const { server, sock } = await start();
    const req = http.request({ socketPath: sock, path: NEXT, agent: false });
    req.on('error', () => undefined);
    const closed = new Promise((r) => req.on('close', r));
    req.end();
    await server.waitForNext();
    req.destroy();
    await closed;
    const pending = call(sock, 'GET', NEXT);
    const r = request();
    const outcome = server.invoke(r);
    const got = await pending;
    assert.equal(got.status, 200);
    assert.equal(idOf(got), r.requestId);
    void outcome.catch(() => undefined);
  });

  it('re-delivers the invocation in flight when the runtime asks for /next again', async () => {
    const { sock, next, outcome } = await delivered();
    const again = await call(sock, 'GET', NEXT);
    assert.equal(again.status, 200);
    assert.equal(idOf(again), idOf(next));
    assert.deepEqual(again.body, next.body);
    assert.equal(again.headers['lambda-runtime-deadline-ms'], next.headers['lambda-runtime-deadline-ms']);
    assert.equal((await call(sock, 'POST', responsePath(idOf(next)), { body: 'once' })).status, 202);
    assert.deepEqual(await outcome, { kind: 'success', payload: Buffer.from('once') });
  });

  it('abandons an invocation: invoke rejects, a late post gets 400, the runtime then waits for the next one', async () => {
    const { server, sock, next, outcome } = await delivered();
    server.abandon(idOf(next));
    await assert.rejects(outcome, (e: unknown) => e instanceof RuntimeApiError && e.reason === 'abandoned');
    const late = await call(sock, 'POST', responsePath(idOf(next)), { body: 'late' });
    assert.equal(late.status, 400);
    assert.equal(late.text, INVALID_ID);
    const lateErr = await call(sock, 'POST', errorPath(idOf(next)), { body: '{}' });
    assert.equal(lateErr.status, 400);
    const pending = call(sock, 'GET', NEXT);
    await server.waitForNext();
    const req = request(2);
    const o2 = server.invoke(req);
    assert.equal(idOf(await pending), req.requestId);
    assert.equal((await call(sock, 'POST', responsePath(req.requestId), { body: 'ok' })).status, 202);
    assert.equal((await o2).kind, 'success');
  });

  it('abandons an invocation that was never delivered', async () => {
    const { server, sock } = await start();
    const req = request();
    const outcome = server.invoke(req);
    server.abandon(req.requestId);
    await assert.rejects(outcome, RuntimeApiError);
    const pending = call(sock, 'GET', NEXT);
    await server.waitForNext();
    const req2 = request(2);
    const o2 = server.invoke(req2);
    assert.equal(idOf(await pending), req2.requestId);
    void o2.catch(() => undefined);
  });

  it('close() ends a pending /next, rejects what waits, and removes the socket', async () => {
    const { server, sock } = await start();
    const pending = call(sock, 'GET', NEXT).then(
      () => undefined,
      (e: unknown) => e,
    );
    await server.waitForNext();
    await server.close();
    assert.ok((await pending) instanceof Error);
    assert.equal(existsSync(sock), false);
    await assert.rejects(
      server.invoke(request()),
      (e: unknown) => e instanceof RuntimeApiError && e.reason === 'closed',
    );
    await server.close();
  });

  it('close() rejects an invocation in flight and a waitReady that never resolved', async () => {
    const a = await delivered();
    const closing = a.server.close();
    await assert.rejects(a.outcome, (e: unknown) => e instanceof RuntimeApiError && e.reason === 'closed');
    await closing;

    const b = await start();
    const ready = b.server.waitReady();
    await b.server.close();
    await assert.rejects(ready, RuntimeApiError);
  });
});

describe('RuntimeApiServer: streaming responses', () => {
  it('reads a streamed response whole', async () => {
    const { sock, next, outcome } = await delivered();
    const r = await call(sock, 'POST', responsePath(idOf(next)), {
      headers: {
        'Lambda-Runtime-Function-Response-Mode': 'streaming',
        Trailer: ['Lambda-Runtime-Function-Error-Type', 'Lambda-Runtime-Function-Error-Body'],
        'Content-Type': 'text/plain',
        'Transfer-Encoding': 'chunked',
      },
      chunks: ['chunk1 ', 'chunk2'],
    });
    assert.equal(r.status, 202);
    assert.deepEqual(await outcome, { kind: 'success', payload: Buffer.from('chunk1 chunk2') });
  });

  it('turns an error in the trailers into an error outcome', async () => {
    const { sock, next, outcome } = await delivered();
    const errBody =
      '{"errorType":"Error","errorMessage":"error mid-stream","trace":["Error: error mid-stream"]}';
    const r = await call(sock, 'POST', responsePath(idOf(next)), {
      headers: {
        'Lambda-Runtime-Function-Response-Mode': 'streaming',
        Trailer: ['Lambda-Runtime-Function-Error-Type', 'Lambda-Runtime-Function-Error-Body'],
        'Transfer-Encoding': 'chunked',
      },
      chunks: ['chunk1 '],
      trailers: {
        'Lambda-Runtime-Function-Error-Type': 'Error',
        'Lambda-Runtime-Function-Error-Body': Buffer.from(errBody).toString('base64'),
      },
    });
    assert.equal(r.status, 202);
    const o = await outcome;
    assert.ok(o.kind === 'error');
    assert.equal(o.errorType, 'Error');
    assert.equal(o.payload.toString(), errBody);
  });

  it('refuses an unknown response mode with 400 and fails the invocation', async () => {
    const { sock, next, outcome } = await delivered();
    const r = await call(sock, 'POST', responsePath(idOf(next)), {
      headers: { 'Lambda-Runtime-Function-Response-Mode': 'telepathic' },
      body: 'x',
    });
    assert.equal(r.status, 400);
    assert.deepEqual(json(r), {
      errorMessage: 'Invalid function response mode',
      errorType: 'InvalidFunctionResponseMode',
    });
    const o = await outcome;
    assert.ok(o.kind === 'error');
    assert.equal(o.errorType, 'Runtime.InvalidResponseModeHeader');
  });
});

describe('RuntimeApiServer: routing and hostile runtimes', () => {
  it('answers unknown paths 404 and wrong methods 405, in JSON', async () => {
    const { sock } = await start();
    for (const p of [
      '/',
      '/2018-06-01/runtime/invocation/',
      '/2018-06-01/runtime/invocation/x/other',
      '/nope?x=1',
    ]) {
      const r = await call(sock, 'POST', p, { body: 'x' });
      assert.equal(r.status, 404, p);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal((json(r) as { errorType: string }).errorType, 'NotFound');
    }
    const post = await call(sock, 'POST', NEXT, { body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET');
    const get = await call(sock, 'GET', responsePath(randomUUID()));
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.equal((await call(sock, 'GET', INIT_ERROR)).status, 405);
    const ping = await call(sock, 'GET', '/2018-06-01/ping');
    assert.equal(ping.status, 200);
    assert.equal(ping.text, 'pong');
  });

  it('survives huge headers, a request cut mid-body, and a flood of requests', async () => {
    const { server, sock, next, outcome } = await delivered();
    await call(sock, 'GET', NEXT, { headers: { 'X-Big': 'a'.repeat(300 * 1024) } }).then(
      (r) => assert.equal(r.status, 431),
      () => undefined,
    );

    // A post cut short leaves the invocation in flight, so a retry can still answer it.
    const cut = http.request({
      socketPath: sock,
      method: 'POST',
      path: responsePath(idOf(next)),
      headers: { 'Content-Length': '100' },
      agent: false,
    });
    cut.on('error', () => undefined);
    const cutClosed = new Promise((r) => cut.on('close', r));
    cut.write('only ten b');
    cut.destroy();
    await cutClosed;

    const flood = await Promise.allSettled(
      Array.from({ length: 300 }, (_, i) =>
        call(sock, i % 2 ? 'GET' : 'POST', i % 3 ? '/garbage' : responsePath(randomUUID()), { body: 'zz' }),
      ),
    );
    assert.ok(flood.some((s) => s.status === 'fulfilled'));

    let retry: Reply;
    let attempts = 0;
    // The server may not have seen the cut connection close yet; until it does, the post is still "in progress".
    do {
      retry = await call(sock, 'POST', responsePath(idOf(next)), { body: 'retried' });
      if (retry.status === 403) await new Promise((r) => setImmediate(r));
    } while (retry.status === 403 && ++attempts < 1000);
    assert.equal(retry.status, 202);
    assert.deepEqual(await outcome, { kind: 'success', payload: Buffer.from('retried') });
    assert.equal((await call(sock, 'GET', '/2018-06-01/ping')).status, 200);
    void server;
  });
});

describe('RuntimeApiServer: captured runtime traffic', () => {
  it('serves the RIC (libcurl) byte for byte on one keep-alive connection', async () => {
    const { server, sock } = await start();
    const conn = rawConnection(sock);
    try {
      const next =
        'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:39847\r\nAccept: */*\r\n' +
        'User-Agent: AWS_Lambda_Cpp/0.2.8\r\n\r\n';
      conn.send(next);
      await server.waitReady();
      const req = request(1, { requestId: '8476a536-e9f4-11e8-9739-2dfe598c3500' });
      const outcome = server.invoke(req);
      const ev = await conn.reply();
      assert.equal(ev.status, 200);
      assert.equal(ev.headers['lambda-runtime-aws-request-id'], req.requestId);
      assert.equal(ev.text, '{"action":"ok","n":1}');
      const body = '{"ok":true}';
      conn.send(
        `POST /2018-06-01/runtime/invocation/${req.requestId}/response HTTP/1.1\r\nHost: 127.0.0.1:39847\r\n` +
          `Accept: */*\r\ncontent-type: application/json\r\nUser-Agent: AWS_Lambda_Cpp/0.2.8\r\n` +
          `content-length: ${body.length}\r\n\r\n${body}`,
      );
      const ack = await conn.reply();
      assert.equal(ack.status, 202);
      assert.equal(ack.text, ACCEPTED);
      assert.deepEqual(await outcome, { kind: 'success', payload: Buffer.from(body) });
      // Straight back to /next on the same connection, where it waits for the next event.
      conn.send(next);
      await server.waitForNext();
    } finally {
      conn.end();
    }
  });

  it('accepts requests without a Host header', async () => {
    const { server, sock } = await start();
    const conn = rawConnection(sock);
    try {
      conn.send('GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n');
      await server.waitReady();
      const req = request();
      const outcome = server.invoke(req);
      assert.equal((await conn.reply()).status, 200);
      conn.send(`POST ${errorPath(req.requestId)} HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}`);
      assert.equal((await conn.reply()).status, 202);
      const o = await outcome;
      assert.ok(o.kind === 'error');
      assert.equal(o.errorType, 'Unhandled');
    } finally {
      conn.end();
    }
  });
});

describe('RuntimeApiServer: keep-alive and leaks', () => {
  /** A runtime loop on one keep-alive agent; the platform side invokes in step. Returns the sockets it used. */
  async function loop(count: number): Promise<Set<Socket>> {
    const { server, sock } = await start();
    const agent = new http.Agent({ keepAlive: true });
    const sockets = new Set<Socket>();
    const runtime = (async () => {
      for (let i = 0; i < count; i++) {
        const ev = await call(sock, 'GET', NEXT, { agent });
        sockets.add(ev.socket);
        const id = idOf(ev);
        const r =
          i % 5 === 4
            ? await call(sock, 'POST', errorPath(id), {
                agent,
                headers: { 'Lambda-Runtime-Function-Error-Type': 'E' },
                body: '{"errorMessage":"m"}',
              })
            : await call(sock, 'POST', responsePath(id), { agent, body: ev.body });
        sockets.add(r.socket);
        assert.equal(r.status, 202);
      }
    })();
    try {
      for (let i = 0; i < count; i++) {
        const req = request(i);
        const o = await server.invoke(req);
        if (i % 5 === 4) {
          assert.ok(o.kind === 'error');
          assert.equal(o.errorType, 'E');
        } else {
          assert.deepEqual(o, { kind: 'success', payload: req.payload });
        }
      }
      await runtime;
    } finally {
      agent.destroy();
    }
    return sockets;
  }

  it('reuses the runtime connection across invocations', async () => {
    const sockets = await loop(10);
    assert.ok(sockets.size <= 2, `used ${sockets.size} sockets`);
  });

  it('runs 1000 invocations without leaking listeners or connections', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): number => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const sockets = await loop(1000);
      assert.ok(sockets.size <= 2, `used ${sockets.size} sockets`);
      for (const s of sockets) assert.ok(s.listenerCount('close') < 10);
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(
      warnings.map((w) => w.message),
      [],
    );
  });
});

describe('RuntimeApiServer: pre-initialised runtimes', () => {
  const SPECIALIZE = '/kiln/zygote/specialization';

  it('answers the specialisation poll once, with what specialize() was given, and is not ready until /next', async () => {
    const sock = path.join(root, `rapi-${++n}.sock`);
    const server = new RuntimeApiServer({ socketPath: sock, log: silentLogger(), zygote: true });
    servers.push(server);
    await server.listen();
    let ready = false;
    void server.waitReady().then(() => (ready = true));
    const poll = call(sock, 'GET', SPECIALIZE);
    await server.waitZygote();
    server.specialize(Buffer.from('{"env":{"A":"1"}}'));
    const answer = await poll;
    assert.equal(answer.status, 200);
    assert.deepEqual(json(answer), { env: { A: '1' } });
    assert.equal(ready, false, 'the specialisation poll is not the first /next');
    // Function code can never ask again, nor be specialised twice.
    assert.equal((await call(sock, 'GET', SPECIALIZE)).status, 404);
    assert.throws(() => server.specialize(Buffer.from('{}')), /already specialised/);
    const next = call(sock, 'GET', NEXT);
    assert.deepEqual(await server.waitReady(), { kind: 'ready' });
    const outcome = server.invoke(request());
    const id = idOf(await next);
    await call(sock, 'POST', responsePath(id), { body: '"ok"' });
    assert.equal((await outcome).kind, 'success');
  });

  it('keeps the path unknown on an ordinary server', async () => {
    const { sock } = await start();
    assert.equal((await call(sock, 'GET', SPECIALIZE)).status, 404);
  });
});
