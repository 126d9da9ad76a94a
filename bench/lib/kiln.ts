// A Kiln instance for one scenario (its own data dir, stopped and removed however the scenario ends), and the
// few Lambda API calls the benchmarks make, as raw HTTP on a keep-alive connection.
import { removeDir, startKiln, type KilnProcess } from '../../test/support/server.js';
import { sleep } from './budget.js';
import { onCleanup } from './cleanup.js';
import { Client, type Reply } from './http.js';

export const role = 'arn:aws:iam::000000000000:role/kiln-bench';

const F = '/2015-03-31/functions';
const json = { 'content-type': 'application/json' };

/** Stops Kiln (SIGTERM, then SIGKILL if it has not exited in time) and removes its data dir. */
export async function shutdown(kiln: KilnProcess): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), 40_000)));
  const done = await Promise.race([kiln.stop(), late]);
  clearTimeout(timer);
  if (done === 'late') await kiln.kill();
  removeDir(kiln.dataDir);
}

/** Runs `fn` against a fresh `kiln up`; Kiln is stopped and its data dir removed afterwards, even on failure. */
export async function withKiln<T>(
  env: Record<string, string>,
  fn: (kiln: KilnProcess, api: KilnApi) => Promise<T>,
): Promise<T> {
  const kiln = await startKiln({ env });
  const api = new KilnApi(kiln.port);
  const teardown = async (): Promise<void> => {
    api.close();
    await shutdown(kiln);
  };
  const unregister = onCleanup(teardown);
  try {
    return await fn(kiln, api);
  } finally {
    unregister();
    await teardown();
  }
}

export class ApiCallError extends Error {}

function expect(reply: Reply, status: number, what: string): Reply {
  if (reply.status !== status) {
    throw new ApiCallError(`${what} answered ${reply.status}: ${reply.body.toString('utf8').slice(0, 500)}`);
  }
  return reply;
}

export interface EnvironmentView {
  readonly Id: string;
  readonly FunctionName: string;
  readonly State: string;
  readonly Frozen: boolean;
  readonly Prewarmed?: boolean;
}

export interface ZygoteView {
  readonly Id: string;
  readonly Runtime: string;
  readonly State: string;
}

export class KilnApi {
  readonly client: Client;

  constructor(port: number) {
    this.client = new Client(port, 4);
  }

  async createFunction(input: Record<string, unknown>): Promise<Reply> {
    return expect(
      await this.client.request('POST', F, JSON.stringify(input), json),
      201,
      `CreateFunction ${String(input.FunctionName)}`,
    );
  }

  /** `body` is the UpdateFunctionCode JSON, prepared by the caller so that encoding it is not timed. */
  async updateFunctionCode(name: string, body: Buffer): Promise<Reply> {
    return expect(
      await this.client.request('PUT', `${F}/${encodeURIComponent(name)}/code`, body, json),
      200,
      `UpdateFunctionCode ${name}`,
    );
  }

  async deleteFunction(name: string): Promise<void> {
    expect(
      await this.client.request('DELETE', `${F}/${encodeURIComponent(name)}`),
      204,
      `DeleteFunction ${name}`,
    );
  }

  async environments(): Promise<EnvironmentView[]> {
    return (await this.listing()).Environments;
  }

  async listing(): Promise<{ Environments: EnvironmentView[]; Zygotes: ZygoteView[] }> {
    const reply = expect(await this.client.request('GET', '/_kiln/environments'), 200, 'ListEnvironments');
    return JSON.parse(reply.body.toString('utf8')) as {
      Environments: EnvironmentView[];
      Zygotes: ZygoteView[];
    };
  }

  /** Kiln's Prometheus metrics, as text. */
  async metrics(): Promise<string> {
    return expect(await this.client.request('GET', '/metrics'), 200, 'GET /metrics').body.toString('utf8');
  }

  /** Waits until a pre-initialised environment of `runtime` is ready to take a cold start. */
  async waitZygote(runtime: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.listing()).Zygotes.some((z) => z.Runtime === runtime && z.State === 'ready')) {
      if (Date.now() > deadline) throw new Error(`no ${runtime} zygote became ready in ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  /** Waits until no environment of the function is left, so its teardown cannot overlap the next sample. */
  async waitGone(name: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.environments()).some((e) => e.FunctionName === name)) {
      if (Date.now() > deadline) throw new Error(`environments of ${name} still exist after ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  close(): void {
    this.client.close();
  }
}

/** An Invoke on a given client, so that load generators can bring their own connection pool. */
export function invoke(client: Client, name: string, payload = '{}', tail = false): Promise<Reply> {
  return client.request(
    'POST',
    `${F}/${encodeURIComponent(name)}/invocations`,
    payload,
    tail ? { 'x-amz-log-type': 'Tail' } : {},
  );
}

/** Throws unless the invocation succeeded: a failed one must never count as a fast sample. */
export function checkInvoke(reply: Reply, name: string): Reply {
  const fnError = reply.headers['x-amz-function-error'];
  if (reply.status !== 200 || fnError !== undefined) {
    throw new ApiCallError(
      `Invoke ${name} answered ${reply.status}${fnError ? ` (${String(fnError)})` : ''}: ${reply.body
        .toString('utf8')
        .slice(0, 300)}`,
    );
  }
  return reply;
}

/** The platform log lines of an invocation, from X-Amz-Log-Result. */
export function logTail(reply: Reply): string {
  const v = reply.headers['x-amz-log-result'];
  return typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : '';
}

export interface ReportLine {
  readonly durationMs: number;
  readonly initDurationMs?: number;
}

export function parseReport(log: string): ReportLine | undefined {
  const line = log.split('\n').find((l) => l.startsWith('REPORT RequestId:'));
  if (line === undefined) return undefined;
  const duration = /\tDuration: ([\d.]+) ms/.exec(line);
  const init = /\tInit Duration: ([\d.]+) ms/.exec(line);
  if (!duration?.[1]) return undefined;
  return {
    durationMs: Number(duration[1]),
    ...(init?.[1] ? { initDurationMs: Number(init[1]) } : {}),
  };
}
