// The functions the soak keeps for its whole length: well-behaved ones in three runtimes, ones that crash
// or time out on every call, and the two recorders their asynchronous outcomes are delivered to.
import type { CreateFunctionCommandInput } from '@aws-sdk/client-lambda';
import { bashBootstrap, bootstrapZip, nodeZip, pythonZip } from '../../test/support/functions.js';

export const recorders = { success: 'rec-success', failure: 'rec-failure' } as const;

export const functionArn = (name: string): string => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

/** Logs one line per invocation record; `RECORD ` and the JSON after it are what the reconciliation reads. */
const recorderSource = `
exports.handler = async (record) => {
  const c = record.requestContext;
  console.log('RECORD ' + JSON.stringify({ id: c.requestId, condition: c.condition, count: c.approximateInvokeCount, arn: c.functionArn }));
};
`;

export const nodeEcho = (gen: number): string => `
const GEN = ${gen};
exports.handler = async (event) => ({ gen: GEN, n: event.n ?? null, env: process.env.GEN_ENV ?? null });
`;

export const pythonEcho = (gen: number): string => `
import os
GEN = ${gen}

def handler(event, context):
    return {"gen": GEN, "n": event.get("n"), "env": os.environ.get("GEN_ENV")}
`;

type Definition = Omit<CreateFunctionCommandInput, 'FunctionName' | 'Role'>;

export interface StableFunction {
  readonly name: string;
  readonly create: () => Promise<Definition>;
  /** The errorType of every synchronous answer, or undefined for a success. */
  readonly errorType: string | undefined;
  /** Asynchronous retries (the real schedule: a function error is retried 60 s later). */
  readonly maxRetries: number;
  /** Relative share of the invocations. */
  readonly weight: number;
}

/**
 * Room enough that only the injected faults fail: at Lambda's defaults (128 MB = 7% of a core, 3 s) a
 * function on this loaded 2-core host can time out merely waiting for CPU.
 */
export const sized = { MemorySize: 512, Timeout: 15 } as const;

const node = async (source: string): Promise<Definition> => ({
  Runtime: 'nodejs20.x',
  Handler: 'index.handler',
  Code: { ZipFile: await nodeZip(source) },
  ...sized,
});

const python = async (source: string): Promise<Definition> => ({
  Runtime: 'python3.11',
  Handler: 'app.handler',
  Code: { ZipFile: await pythonZip(source) },
  ...sized,
});

export const stable: readonly StableFunction[] = [
  { name: 'node-ok', create: () => node(nodeEcho(1)), errorType: undefined, maxRetries: 0, weight: 5 },
  { name: 'python-ok', create: () => python(pythonEcho(1)), errorType: undefined, maxRetries: 0, weight: 3 },
  {
    name: 'bash-ok',
    create: () =>
      Promise.resolve({
        Runtime: 'provided.al2023',
        Handler: 'echo',
        Code: { ZipFile: bootstrapZip(bashBootstrap) },
        ...sized,
      }),
    errorType: undefined,
    maxRetries: 0,
    weight: 2,
  },
  {
    name: 'node-exit',
    create: () => node('exports.handler = async () => { process.exit(3); };'),
    errorType: 'Runtime.ExitError',
    maxRetries: 0,
    weight: 1,
  },
  {
    // One retry on the real schedule: its events finish a minute after they were first tried.
    name: 'node-throw',
    create: () => node("exports.handler = async () => { throw new TypeError('soak: thrown on purpose'); };"),
    errorType: 'TypeError',
    maxRetries: 1,
    weight: 1,
  },
  {
    name: 'python-raise',
    create: () => python('def handler(event, context):\n    raise ValueError("soak: raised on purpose")\n'),
    errorType: 'ValueError',
    maxRetries: 0,
    weight: 1,
  },
  {
    name: 'node-timeout',
    create: async () => ({
      ...(await node('exports.handler = async () => { await new Promise((r) => setTimeout(r, 3000)); };')),
      Timeout: 1,
    }),
    errorType: 'Sandbox.Timedout',
    maxRetries: 0,
    weight: 1,
  },
];

export const recorder = (): Promise<Definition> => node(recorderSource);
