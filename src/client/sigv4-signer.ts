// Signs requests to Kiln's own endpoints (`/_kiln/…`) with AWS Signature V4, using the signer the AWS SDK
// itself uses, so these requests pass the same verification as any Lambda call.
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

const bytes = (d: SourceData): Buffer =>
  typeof d === 'string'
    ? Buffer.from(d, 'utf8')
    : ArrayBuffer.isView(d)
      ? Buffer.from(d.buffer, d.byteOffset, d.byteLength)
      : Buffer.from(d);

/** The hash the signer asks for: sha256, or HMAC-sha256 when given a key. */
class Sha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

export interface RequestToSign {
  readonly method: string;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
}

export interface SigningOptions {
  readonly region?: string;
  /** `lambda` unless told (CloudWatch Logs signs as `logs`). */
  readonly service?: string;
  /** Now, unless told. */
  readonly signingDate?: Date;
}

/** The request's headers with `host`, `x-amz-date` and `authorization` added. */
export async function signedHeaders(
  req: RequestToSign,
  credentials: Credentials,
  { region = 'us-east-1', service = 'lambda', signingDate }: SigningOptions = {},
): Promise<Record<string, string>> {
  const signer = new SignatureV4({ credentials, region, service, sha256: Sha256 });
  const query: Record<string, string> = {};
  for (const [k, v] of req.url.searchParams) query[k] = v;
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: req.url.protocol,
      hostname: req.url.hostname,
      ...(req.url.port ? { port: Number(req.url.port) } : {}),
      path: req.url.pathname,
      query,
      headers: { ...req.headers, host: req.url.host },
      ...(req.body !== undefined ? { body: req.body } : {}),
    },
    signingDate ? { signingDate } : {},
  );
  return signed.headers as Record<string, string>;
}

export interface SignedFetchInit {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Unsigned when absent. */
  readonly credentials?: Credentials | undefined;
  readonly signing?: SigningOptions;
  readonly signal?: AbortSignal;
}

/** fetch(), signed as an SDK signs (fetch sets `host` itself, from the same URL). */
export async function signedFetch(url: URL, init: SignedFetchInit = {}): Promise<Response> {
  const method = init.method ?? 'GET';
  const body = init.body !== undefined ? { body: init.body } : {};
  const headers =
    init.credentials === undefined
      ? { ...init.headers }
      : await signedHeaders(
          { method, url, headers: init.headers ?? {}, ...body },
          init.credentials,
          init.signing,
        );
  delete headers.host;
  return fetch(url, { method, headers, ...body, ...(init.signal ? { signal: init.signal } : {}) });
}
