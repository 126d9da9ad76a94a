// A plain keep-alive node:http client for loopback targets. The SDK is deliberately absent from the timed path:
// its signing and middleware would be measured as if they were the server's.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

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

  constructor(
    readonly port: number,
    maxSockets = 1,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(
    method: string,
    path: string,
    body: Buffer | string = '',
    headers: Record<string, string> = {},
    timeoutMs = 30_000,
  ): Promise<Reply> {
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
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

/** Several loops of one subject as one: their samples, errors and time added up. */
export function mergeLoops(parts: readonly LoopResult[]): LoopResult {
  const firstError = parts.find((p) => p.firstError !== undefined)?.firstError;
  return {
    latencies: parts.flatMap((p) => p.latencies),
    elapsedMs: parts.reduce((s, p) => s + p.elapsedMs, 0),
    errors: parts.reduce((s, p) => s + p.errors, 0),
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

/** Completed requests per second of a loop. */
export const perSecond = (r: LoopResult): number => (r.latencies.length / r.elapsedMs) * 1000;
