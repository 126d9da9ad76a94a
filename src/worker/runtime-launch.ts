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

/** Runtimes whose client can start before it knows its function (see the bootstraps' KILN_ZYGOTE). */
export const zygoteRuntimes: readonly Runtime[] = ['nodejs20.x', 'python3.11'];

/** What a pre-initialised sandbox is created with, until a function's values replace them. */
export const zygoteMemoryMb = 128;
/** /tmp's size is fixed when the sandbox starts, so only functions with this EphemeralStorage can use one. */
export const zygoteEphemeralMb = 512;

/**
 * Variables a process reads once, at its start (the dynamic loader, libc and ICU locales, the allocator,
 * OpenSSL), and per runtime (Node's options and paths; the interpreter's PYTHON* settings and HOME, from which
 * Python's site module derives the user site directory): a function setting any of them must start a runtime of
 * its own, since a pre-initialised one started without them.
 */
const readAtStart = /^(LD_|LC_|MALLOC_|GLIBC_|OPENSSL_|SSL_CERT_)|^(LANGUAGE|TZDIR)$/;
const readAtStartBy: Partial<Record<Runtime, RegExp>> = {
  'nodejs20.x': /^(NODE_|UV_)/,
  'python3.11': /^PYTHON|^HOME$/,
};

/** The environment a pre-initialised runtime starts with: everything of runtimeEnv that no function decides. */
export function zygoteEnv(runtime: Runtime): Record<string, string> {
  const generic: Record<string, string> = {
    PATH: basePath,
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    LD_LIBRARY_PATH: baseLdLibraryPath,
    AWS_EXECUTION_ENV: `AWS_Lambda_${runtime}`,
    AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001',
    LAMBDA_TASK_ROOT: '/var/task',
    LAMBDA_RUNTIME_DIR: '/var/runtime',
    ...runtimePaths(runtime),
    KILN_ZYGOTE: '1',
  };
  return generic;
}

/**
 * Whether a cold start of `spec` may be served by a pre-initialised runtime, with the handler seeing exactly
 * what a fresh one would: same /tmp size, and no variable the runtime has already read differs.
 */
export function zygoteFits(spec: FunctionSpec): boolean {
  if (!zygoteRuntimes.includes(spec.runtime) || spec.ephemeralStorage !== zygoteEphemeralMb) return false;
  const own = readAtStartBy[spec.runtime];
  if (Object.keys(spec.environment).some((k) => readAtStart.test(k) || own?.test(k) === true)) return false;
  const wanted = runtimeEnv(spec, '');
  const generic = zygoteEnv(spec.runtime);
  return Object.keys(generic).every((k) => k === 'KILN_ZYGOTE' || wanted[k] === generic[k]);
}

const basePath = '/usr/local/bin:/usr/bin/:/bin:/opt/bin';
const baseLdLibraryPath =
  '/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib';

/** Module search paths and Kiln's socket, per runtime. */
function runtimePaths(runtime: Runtime): Record<string, string> {
  const env: Record<string, string> = {};
  if (runtime === 'nodejs20.x') {
    env.NODE_PATH =
      '/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task';
  }
  if (runtime === 'python3.11') env.PYTHONPATH = '/var/runtime';
  // Kiln's own runtime clients skip the TCP relay and speak to the socket directly.
  if (usesSocketDirectly(runtime)) env.KILN_RUNTIME_API_SOCKET = sandboxSocketPath;
  return env;
}

/** Lambda's defined runtime environment variables, over the function's own (which cannot override them). */
export function runtimeEnv(
  spec: FunctionSpec,
  logStream: string,
  initType = 'on-demand',
): Record<string, string> {
  return {
    PATH: basePath,
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    LD_LIBRARY_PATH: baseLdLibraryPath,
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
    ...runtimePaths(spec.runtime),
  };
}
