// Wire-level pieces of the Runtime API: paths, canned answers, header rendering, body reading and
// error-body normalisation. The state machine lives in runtime-api-server.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InvocationOutcome, InvocationRequest } from './types.js';

export const NEXT_PATH = '/2018-06-01/runtime/invocation/next';
export const INIT_ERROR_PATH = '/2018-06-01/runtime/init/error';
export const INVOCATION_PREFIX = '/2018-06-01/runtime/invocation/';
export const PING_PATH = '/2018-06-01/ping';
/**
 * Kiln's private path for pre-initialised environments: the zygote's runtime long-polls it once, before any
 * function code exists, and gets the function's environment. Not part of Lambda's API; 404 for everyone else.
 */
export const SPECIALIZE_PATH = '/kiln/zygote/specialization';

export const ERROR_TYPE_HEADER = 'lambda-runtime-function-error-type';
const ERROR_BODY_TRAILER = 'lambda-runtime-function-error-body';
export const RESPONSE_MODE_HEADER = 'lambda-runtime-function-response-mode';
// The Java RIC posts errors in this type with an X-Ray `errorCause` member that RAPID strips from the payload.
const ERROR_CAUSE_CONTENT_TYPE = 'application/vnd.aws.lambda.error.cause+json';

export const NOT_ALLOWED = 'State transition is not allowed';
export const GATE_INTEGRITY = 'ErrGateIntegrity';

export const ACCEPTED = Buffer.from('{"status":"OK"}');
export const INVALID_REQUEST_ID = Buffer.from(
  '{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}',
);
export const INVALID_RESPONSE_MODE = Buffer.from(
  '{"errorMessage":"Invalid function response mode","errorType":"InvalidFunctionResponseMode"}',
);
export const NOT_FOUND = Buffer.from('{"errorMessage":"404 page not found","errorType":"NotFound"}');
export const METHOD_NOT_ALLOWED = Buffer.from(
  '{"errorMessage":"Method Not Allowed","errorType":"MethodNotAllowed"}',
);
export const INTERNAL_ERROR = Buffer.from(
  '{"errorMessage":"Internal Server Error","errorType":"InternalServerError"}',
);

// Node refuses header values with control characters (it would throw from writeHead). Client context and
// identity are caller-supplied JSON text, where such characters can only be insignificant whitespace.
// eslint-disable-next-line no-control-regex
const CONTROL_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\x00-\x08\x0a-\x1f\x7f]/g;
// eslint-disable-next-line no-control-regex
const NON_LATIN1 = /[^\x00-\xff]/;

export const noop = (): void => undefined;

function headerValue(s: string): string {
  const v = CONTROL_CHAR.test(s) ? s.replace(CONTROL_CHARS, ' ') : s;
  // Node writes header strings as latin1; sending the UTF-8 bytes keeps non-ASCII JSON intact on the wire.
  return NON_LATIN1.test(v) ? Buffer.from(v, 'utf8').toString('latin1') : v;
}

export function nextHeaders(req: InvocationRequest): string[] {
  const h = [
    'Content-Type',
    'application/json',
    'Content-Length',
    String(req.payload.length),
    'Lambda-Runtime-Aws-Request-Id',
    headerValue(req.requestId),
    'Lambda-Runtime-Deadline-Ms',
    String(Math.floor(req.deadlineMs)),
  ];
  // RAPID sets each of these only when it is not empty (setHeaderIfNotEmpty).
  if (req.invokedFunctionArn !== '')
    h.push('Lambda-Runtime-Invoked-Function-Arn', headerValue(req.invokedFunctionArn));
  if (req.traceId !== '') h.push('Lambda-Runtime-Trace-Id', headerValue(req.traceId));
  if (req.clientContext !== undefined && req.clientContext !== '')
    h.push('Lambda-Runtime-Client-Context', headerValue(req.clientContext));
  if (req.cognitoIdentity !== undefined && req.cognitoIdentity !== '')
    h.push('Lambda-Runtime-Cognito-Identity', headerValue(req.cognitoIdentity));
  return h;
}

export function send(res: ServerResponse, status: number, body: Buffer, extra?: readonly string[]): void {
  if (res.writableEnded || res.destroyed) return;
  const headers = ['Content-Type', 'application/json', 'Content-Length', String(body.length)];
  if (extra) headers.push(...extra);
  res.writeHead(status, headers);
  res.end(body);
}

export const errorJson = (errorType: string, errorMessage: string): Buffer =>
  Buffer.from(JSON.stringify({ errorMessage, errorType }));

export function firstHeader(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

/**
 * Lambda's error JSON from what the runtime posted. A JSON object is kept byte for byte (the RIC's `trace`,
 * vercel's `stackTrace`, even `{"error":…}`); anything else becomes {"errorMessage": <text>, "errorType"}.
 * The type comes from the header, else the body's `errorType`, else "Unhandled".
 */
export function normaliseError(
  body: Buffer,
  headerType: string | undefined,
  contentType: string | undefined,
): { errorType: string; payload: Buffer } {
  let parsed: unknown;
  if (body.length > 0) {
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
  }
  const obj =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  const bodyType =
    obj !== undefined && typeof obj.errorType === 'string' && obj.errorType !== ''
      ? obj.errorType
      : undefined;
  const errorType = headerType ?? bodyType ?? 'Unhandled';
  if (obj === undefined) return { errorType, payload: errorJson(errorType, body.toString('utf8')) };
  if (contentType?.split(';')[0]?.trim().toLowerCase() === ERROR_CAUSE_CONTENT_TYPE && 'errorCause' in obj) {
    delete obj.errorCause;
    return { errorType, payload: Buffer.from(JSON.stringify(obj)) };
  }
  return { errorType, payload: body };
}

/**
 * Reads a request body up to `cap` bytes. Past the cap it stops keeping chunks, calls onOverflow once and
 * keeps draining, so the runtime gets an answer on a reusable connection without us buffering its excess.
 * onDone runs once: with the body (undefined after an overflow) and whether the request arrived whole.
 */
export function readBody(
  req: IncomingMessage,
  cap: number,
  onOverflow: () => void,
  onDone: (body: Buffer | undefined, complete: boolean) => void,
): void {
  let chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  let finished = false;
  const overflow = (): void => {
    over = true;
    chunks = [];
    onOverflow();
  };
  const declared = Number(req.headers['content-length']);
  if (declared > cap) overflow();
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > cap) overflow();
    else chunks.push(chunk);
  });
  req.on('end', () => {
    if (finished) return;
    finished = true;
    onDone(over ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size), true);
  });
  req.on('close', () => {
    if (finished) return;
    finished = true;
    onDone(undefined, false);
  });
  // A connection reset mid-body surfaces here and then as 'close'.
  req.on('error', noop);
}

/** A streamed response that failed mid-stream carries its error in trailers (the body so far is dropped). */
export function streamedOutcome(req: IncomingMessage, body: Buffer): InvocationOutcome {
  const trailers = req.trailers;
  const errorType = firstHeader(trailers[ERROR_TYPE_HEADER]);
  if (errorType === undefined) return { kind: 'success', payload: body };
  const encoded = firstHeader(trailers[ERROR_BODY_TRAILER]);
  const decoded = encoded === undefined ? Buffer.alloc(0) : Buffer.from(encoded, 'base64');
  const normalised = normaliseError(decoded, errorType, undefined);
  return { kind: 'error', errorType: normalised.errorType, payload: normalised.payload };
}
