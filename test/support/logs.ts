// Helpers for the logs and metrics tests: the CloudWatch Logs SDK client, raw JSON-protocol calls,
// Prometheus scraping, and long-running followers (`aws logs tail --follow`, `kiln logs --follow`).
import { spawn, type ChildProcess } from 'node:child_process';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { keysFor, kilnFetch, type Credentials } from './credentials.js';

/** The CloudWatch Logs SDK client, signing with `keys` or else the instance's admin key. */
export function logsSdk(endpoint: string, keys: Credentials = keysFor(endpoint)): CloudWatchLogsClient {
  return new CloudWatchLogsClient({
    endpoint,
    region: 'us-east-1',
    credentials: { ...keys },
    maxAttempts: 1,
  });
}

export interface RawAnswer {
  readonly status: number;
  readonly errorType: string | null;
  readonly body: Record<string, unknown>;
}

/** POST / with X-Amz-Target `Logs_20140328.<operation>` and the body as given (raw, for bad input). */
export async function logsCall(endpoint: string, operation: string, body: string): Promise<RawAnswer> {
  const res = await kilnFetch(`${endpoint}/`, {
    service: 'logs',
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': operation.includes('.') ? operation : `Logs_20140328.${operation}`,
    },
    body,
  });
  return {
    status: res.status,
    errorType: res.headers.get('x-amzn-errortype'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

/** The value of one sample of GET /metrics (0 when the series does not exist yet). */
export async function metric(
  endpoint: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  return sampleOf(text, name, labels);
}

export function sampleOf(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const brace = line.indexOf('{');
    const labelText = brace === name.length ? line.slice(brace + 1, line.indexOf('}')) : '';
    const have = labelText === '' ? [] : labelText.split(',');
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return 0;
}

/** A spawned process whose output can be awaited line by line. */
export interface Follower {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once stdout contains `text`; rejects if the process exits or `deadlineMs` passes first. */
  waitFor(text: string, deadlineMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function follow(command: string, args: string[], env: NodeJS.ProcessEnv): Follower {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  return {
    child,
    output: () => out,
    waitFor(text, deadlineMs = 45_000) {
      return new Promise((res, rej) => {
        const check = (): void => {
          if (!out.includes(text)) return;
          cleanup();
          res();
        };
        const onExit = (): void => {
          cleanup();
          rej(new Error(`${command} exited before printing ${JSON.stringify(text)}:\n${out}\n${err}`));
        };
        // A bound on a hung follower, not a timing assertion: the event arrives long before.
        const timer = setTimeout(() => {
          cleanup();
          rej(
            new Error(
              `${command} did not print ${JSON.stringify(text)} in ${deadlineMs} ms:\n${out}\n${err}`,
            ),
          );
        }, deadlineMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          child.stdout?.off('data', check);
          child.off('exit', onExit);
        };
        child.stdout?.on('data', check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}
