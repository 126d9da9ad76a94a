// How each managed runtime starts inside a sandbox, and the environment Lambda gives it.
import type { Runtime } from '../model/index.js';
import type { FunctionSpec } from './function-spec.js';

export const sandboxSocketPath = '/run/kiln/runtime.sock';

/** Kiln's own runtime clients speak to the Runtime API socket directly; others go through the TCP relay. */
export const usesSocketDirectly = (runtime: Runtime): boolean =>
  runtime === 'nodejs20.x' || runtime === 'python3.11';

export function runtimeArgv(runtime: Runtime): string[] {
  switch (runtime) {
    case 'nodejs20.x':
      return ['/usr/bin/node', '/var/runtime/nodejs/bootstrap.cjs'];
    case 'python3.11':
      return ['/usr/bin/python3', '-u', '/var/runtime/python/bootstrap.py'];
    case 'provided.al2023':
    case 'provided.al2':
      return ['/var/task/bootstrap'];
  }
}

/** Lambda's defined runtime environment variables, over the function's own (which cannot override them). */
export function runtimeEnv(
  spec: FunctionSpec,
  logStream: string,
  initType = 'on-demand',
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin/:/bin:/opt/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    LD_LIBRARY_PATH:
      '/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib',
    ...spec.environment,
    _HANDLER: spec.handler,
    AWS_REGION: spec.region,
    AWS_DEFAULT_REGION: spec.region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${spec.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: spec.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: spec.version,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: logStream,
    AWS_LAMBDA_INITIALIZATION_TYPE: initType,
    AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001',
    LAMBDA_TASK_ROOT: '/var/task',
    LAMBDA_RUNTIME_DIR: '/var/runtime',
  };
  if (spec.runtime === 'nodejs20.x') {
    env.NODE_PATH =
      '/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task';
  }
  if (spec.runtime === 'python3.11') env.PYTHONPATH = '/var/runtime';
  // Kiln's own runtime clients skip the TCP relay and speak to the socket directly.
  if (usesSocketDirectly(spec.runtime)) env.KILN_RUNTIME_API_SOCKET = sandboxSocketPath;
  return env;
}
