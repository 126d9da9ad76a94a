// A plain keep-alive node:http client for loopback targets. The SDK is deliberately absent from the timed path:
// its signing and middleware would be measured as if they were the server's. Requests to a Kiln instance
// are signed (SigV4) before the clock starts, and a signature is reused for an identical request for a few
// minutes, as SigV4 allows within its 15-minute window: the server still verifies every one.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { signedHeaders, type Credentials } from '../../src/client/index.js';
import { knownKeys } from '../../test/support/credentials.js';

/** Well inside SigV4's 15 minutes of allowed clock difference. */
const signatureReuseMs = 5 * 60 * 1000;

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on this host. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** From just before the request was issued until the last byte of the response arrived. */
  readonly ms: number;
  /** epochNow() when the request was issued. */
  readonly sentAt: number;
  /** epochNow() when the response was complete. */
  readonly receivedAt: number;
}

export class Client {
  readonly agent: http.Agent;
  /** The key of the Kiln instance on this port; undefined for other servers (the echo floor). */
  private readonly keys: Credentials | undefined;
  private readonly signatures = new Map<string, { headers: Record<string, string>; until: number }>();

  constructor(
    readonly port: number,
    maxSockets = 1,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    this.keys = knownKeys(`http://127.0.0.1:${port}`);
  }

  async request(
    method: string,
    path: string,
    body: Buffer | string = '',
    headers: Record<string, string> = {},
    timeoutMs = 30_000,
  ): Promise<Reply> {
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    return this.send(method, path, payload, await this.sign(method, path, payload, headers), timeoutMs);
  }

  private async sign(
    method: string,
    path: string,
    payload: Buffer,
    headers: Record<string, string>,
  ): Promise<Record<string, string>> {
    if (this.keys === undefined) return headers;
    // Large bodies (code uploads) are signed each time rather than kept as cache keys.
    const key =
      payload.length <= 4096
        ? `${method} ${path} ${JSON.stringify(headers)} ${payload.toString('latin1')}`
        : undefined;
    const now = Date.now();
    const cached = key === undefined ? undefined : this.signatures.get(key);
    if (cached && cached.until > now) return cached.headers;
    const url = new URL(path, `http://127.0.0.1:${this.port}`);
    const signed = await signedHeaders({ method, url, headers, body: payload }, this.keys);
    if (key !== undefined) this.signatures.set(key, { headers: signed, until: now + signatureReuseMs });
    return signed;
  }

  private send(
    method: string,
    path: string,
    payload: Buffer,
    headers: Record<string, string>,
    timeoutMs: number,
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const sentAt = epochNow();
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          agent: this.agent,
          headers: { ...headers, 'content-length': String(payload.length) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const receivedAt = epochNow();
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
              ms: performance.now() - started,
              sentAt,
              receivedAt,
            });
          });
        },
      );
      req.setTimeout(timeoutMs, () =>
        req.destroy(new Error(`no answer within ${timeoutMs} ms: ${method} ${path}`)),
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface LoopResult {
  readonly latencies: number[];
  readonly elapsedMs: number;
  readonly errors: number;
  readonly firstError?: string;
}

/**
 * A closed loop: `concurrency` callers each issue their next request as soon as the previous one answered,
 * until `count` requests were issued or the deadline passed.
 */
export async function closedLoop(
  concurrency: number,
  count: number,
  deadline: () => boolean,
  one: () => Promise<number>,
): Promise<LoopResult> {
  let issued = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < count && !deadline()) {
        issued += 1;
        try {
          latencies.push(await one());
        } catch (err) {
          errors += 1;
          firstError ??= (err as Error).message;
        }
      }
    }),
  );
  return {
    latencies,
    elapsedMs: performance.now() - started,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}
