// AWS Signature Version 4, verified the way AWS verifies it: the canonical request rebuilt from the
// request as received (path normalised and URI-encoded a second time, as every non-S3 service does;
// query pairs sorted; the signed headers only, trimmed; the payload's sha256 or the client's declared
// x-amz-content-sha256), the scope checked, the signing key derived from the secret, and the signature
// compared in constant time. Clocks may differ by at most 15 minutes.
import * as crypto from 'node:crypto';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface SignedRequest {
  readonly method: string;
  /** The request target exactly as received: path and query, still percent-encoded. */
  readonly url: string;
  /** Header names in lower case; repeated headers as arrays. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: Buffer;
}

export interface SigV4Expectation {
  /** The secret of an access key id; undefined for a key that does not exist. */
  readonly secretOf: (accessKeyId: string) => string | undefined;
  /** Signing names this endpoint answers for, e.g. `lambda` or `logs`. */
  readonly services: readonly string[];
  readonly region: string;
  readonly nowMs: number;
}

export type SigV4Failure = {
  readonly ok: false;
  /** AWS's error type for the failure. */
  readonly code:
    | 'MissingAuthenticationTokenException'
    | 'IncompleteSignatureException'
    | 'UnrecognizedClientException'
    | 'InvalidSignatureException';
  readonly message: string;
};

export type SigV4Result = { readonly ok: true; readonly accessKeyId: string } | SigV4Failure;

const maxSkewMs = 15 * 60 * 1000;
const algorithm = 'AWS4-HMAC-SHA256';

export function verifySigV4(req: SignedRequest, expect: SigV4Expectation): SigV4Result {
  const auth = header(req, 'authorization');
  if (auth === undefined) {
    return fail('MissingAuthenticationTokenException', 'Missing Authentication Token');
  }
  const parsed = parseAuthorization(auth);
  if (typeof parsed === 'string') return fail('IncompleteSignatureException', parsed);
  const { accessKeyId, date, region, service, signedHeaders, signature } = parsed;

  const amzDate = header(req, 'x-amz-date');
  if (amzDate === undefined || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
    return fail(
      'IncompleteSignatureException',
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    );
  }
  if (!signedHeaders.includes('host')) {
    return fail('IncompleteSignatureException', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (amzDate.slice(0, 8) !== date) {
    return fail(
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    );
  }
  const signedAt = Date.UTC(
    Number(amzDate.slice(0, 4)),
    Number(amzDate.slice(4, 6)) - 1,
    Number(amzDate.slice(6, 8)),
    Number(amzDate.slice(9, 11)),
    Number(amzDate.slice(11, 13)),
    Number(amzDate.slice(13, 15)),
  );
  if (Math.abs(expect.nowMs - signedAt) > maxSkewMs) {
    return fail(
      'InvalidSignatureException',
      `Signature expired: ${amzDate} is now earlier than ${compact(expect.nowMs - maxSkewMs)} (${compact(expect.nowMs)} - 15 min.)`,
    );
  }
  const secret = expect.secretOf(accessKeyId);
  if (secret === undefined) {
    return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (region !== expect.region) {
    return fail(
      'InvalidSignatureException',
      `Credential should be scoped to a valid region, not '${region}'.`,
    );
  }
  if (!expect.services.includes(service)) {
    return fail(
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${expect.services[0] ?? ''}'.`,
    );
  }

  // The declared payload hash is what gets signed; it must also be the body's.
  const declared = header(req, 'x-amz-content-sha256');
  if (declared !== undefined && declared !== 'UNSIGNED-PAYLOAD' && declared !== sha256Hex(req.body)) {
    return fail(
      'InvalidSignatureException',
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  }
  const canonical = canonicalRequest(req, signedHeaders);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = [algorithm, amzDate, scope, sha256Hex(canonical)].join('\n');
  const key = signingKey(secret, date, region, service);
  const expected = Buffer.from(createHmac('sha256', key).update(toSign).digest('hex'));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return fail(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  }
  return { ok: true, accessKeyId };
}

/**
 * Derived signing keys, which stay the same for a key's whole day: deriving one costs four HMACs, most of
 * a verification's time. Bounded; emptied when full.
 */
const signingKeys = new Map<string, Buffer>();
const maxSigningKeys = 1024;

function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${date}\0${region}\0${service}\0${secret}`;
  let key = signingKeys.get(id);
  if (key === undefined) {
    key = hmac(`AWS4${secret}`, date);
    for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
    if (signingKeys.size >= maxSigningKeys) signingKeys.clear();
    signingKeys.set(id, key);
  }
  return key;
}

interface Authorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

/** The Authorization header's parts, or what is wrong with it. */
function parseAuthorization(value: string): Authorization | string {
  if (!value.startsWith(`${algorithm} `)) {
    return `Authorization header requires the algorithm ${algorithm}; got '${value.split(' ')[0] ?? ''}'.`;
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(algorithm.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signed = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  const missing = [
    credential === undefined ? 'Credential' : '',
    signed === undefined ? 'SignedHeaders' : '',
    signature === undefined ? 'Signature' : '',
  ].filter(Boolean);
  if (missing.length > 0 || credential === undefined || signed === undefined || signature === undefined) {
    return `Authorization header requires ${missing.map((m) => `'${m}'`).join(', ')} parameter(s). Authorization=${value}`;
  }
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || !/^\d{8}$/.test(scope[1] ?? '')) {
    return `Credential should be <access key>/<YYYYMMDD>/<region>/<service>/aws4_request, not '${credential}'.`;
  }
  if (!/^[0-9a-f]{64}$/.test(signature)) return 'Signature must be 64 lower-case hex digits.';
  const [accessKeyId = '', date = '', region = '', service = ''] = scope;
  return { accessKeyId, date, region, service, signedHeaders: signed.split(';'), signature };
}

function canonicalRequest(req: SignedRequest, signedHeaders: readonly string[]): string {
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  const headerLines = signedHeaders.map((name) => {
    const v = req.headers[name];
    const values = v === undefined ? [] : typeof v === 'string' ? [v] : v;
    return `${name}:${values.map((x) => x.trim().replace(/\s+/g, ' ')).join(',')}\n`;
  });
  const payloadHash = header(req, 'x-amz-content-sha256') ?? sha256Hex(req.body);
  return [
    req.method.toUpperCase(),
    canonicalPath(rawPath),
    canonicalQuery(rawQuery),
    headerLines.join(''),
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

/** Dot segments resolved, empty segments dropped, then the (already encoded) path encoded once more. */
function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const s of path.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return `/${segments.map(rfc3986).join('/')}${trailing}`;
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  return query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const k = eq < 0 ? p : p.slice(0, eq);
      const v = eq < 0 ? '' : p.slice(eq + 1);
      return [rfc3986(decode(k)), rfc3986(decode(v))] as const;
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Percent-encodes everything but RFC 3986's unreserved characters. */
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function header(req: SignedRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : v?.[0];
}

// crypto.hash (Node 20.12+) skips the Hash object: a fifth of a verification's time is its two sha256s.
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Buffer, encoding: 'hex') => string })
  .hash;
const sha256Hex = (data: string | Buffer): string =>
  oneShot !== undefined ? oneShot('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const compact = (ms: number): string => new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
const fail = (code: SigV4Failure['code'], message: string): SigV4Failure => ({ ok: false, code, message });
