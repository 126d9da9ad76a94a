// Lambda's rules for function configuration, with its error types and wording.
import { ApiError, invalidParameter } from './errors.js';
import { limits, supportedRuntimes, type Runtime } from './function.js';

/** Collects constraint violations so one response lists them all, as Lambda's validation layer does. */
export class Violations {
  private readonly items: string[] = [];
  add(field: string, value: unknown, constraint: string): void {
    const shown =
      value === undefined || value === null
        ? 'null'
        : `'${typeof value === 'string' ? value : JSON.stringify(value)}'`;
    this.items.push(`Value ${shown} at '${field}' failed to satisfy constraint: ${constraint}`);
  }
  range(field: string, value: number | undefined, min: number, max: number): void {
    if (value === undefined) return;
    if (value < min) this.add(field, value, `Member must have value greater than or equal to ${min}`);
    else if (value > max) this.add(field, value, `Member must have value less than or equal to ${max}`);
  }
  maxLength(field: string, value: string | undefined, max: number): void {
    if (value !== undefined && value.length > max) {
      this.add(field, value, `Member must have length less than or equal to ${max}`);
    }
  }
  pattern(field: string, value: string | undefined, re: RegExp, text: string): void {
    if (value !== undefined && !re.test(value)) {
      this.add(field, value, `Member must satisfy regular expression pattern: ${text}`);
    }
  }
  throwIfAny(): void {
    if (this.items.length === 0) return;
    const n = this.items.length;
    throw new ApiError(
      'ValidationException',
      `${n} validation error${n === 1 ? '' : 's'} detected: ${this.items.join('; ')}`,
    );
  }
}

const rolePattern = /^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role\/?[a-zA-Z_0-9+=,.@\-_/]+$/;
const rolePatternText = 'arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+';
const handlerPattern = /^[^\s]+$/;
const envKeyPattern = /^[a-zA-Z]([a-zA-Z0-9_])+$/;
const deadLetterPattern = /^(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)$|^$/;
const deadLetterPatternText = '(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()';

/** Variables the runtime sets itself; Lambda refuses them in a function's configuration. */
export const reservedEnvKeys: ReadonlySet<string> = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);

export interface ConfigFields {
  role?: string | undefined;
  handler?: string | undefined;
  description?: string | undefined;
  timeout?: number | undefined;
  memorySize?: number | undefined;
  ephemeralStorage?: number | undefined;
  environment?: Record<string, string> | undefined;
  deadLetterTargetArn?: string | undefined;
}

/** Field constraints (ValidationException), shared by CreateFunction and UpdateFunctionConfiguration. */
export function checkConfigFields(f: ConfigFields, v: Violations): void {
  v.pattern('role', f.role, rolePattern, rolePatternText);
  v.maxLength('handler', f.handler, limits.handlerMax);
  v.pattern('handler', f.handler, handlerPattern, '[^\\s]+');
  v.maxLength('description', f.description, limits.descriptionMax);
  v.range('timeout', f.timeout, limits.timeoutMin, limits.timeoutMax);
  v.range('memorySize', f.memorySize, limits.memoryMin, limits.memoryMax);
  v.range('ephemeralStorage.size', f.ephemeralStorage, limits.ephemeralMin, limits.ephemeralMax);
  v.pattern('deadLetterConfig.targetArn', f.deadLetterTargetArn, deadLetterPattern, deadLetterPatternText);
  if (f.environment) {
    const bad = Object.keys(f.environment).filter((k) => !envKeyPattern.test(k));
    if (bad.length > 0) {
      v.add(
        'environment.variables',
        bad.join(','),
        'Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]',
      );
    }
  }
}

export function checkRuntime(runtime: string): Runtime {
  if (!(supportedRuntimes as readonly string[]).includes(runtime)) {
    throw invalidParameter(
      `The runtime parameter of ${runtime} is not supported by Kiln. Use one of: ${supportedRuntimes.join(', ')}.`,
    );
  }
  return runtime as Runtime;
}

/** Node and Python handlers name `<module>.<function>`; a `provided` runtime's handler is free-form. */
export function checkHandlerForRuntime(handler: string, runtime: Runtime): void {
  if (runtime.startsWith('provided')) return;
  const dot = handler.lastIndexOf('.');
  if (dot <= 0 || dot === handler.length - 1 || handler.startsWith('/')) {
    throw invalidParameter(
      `Handler '${handler}' is not valid for runtime ${runtime}: use <file>.<function>, for example index.handler.`,
    );
  }
}

export function checkEnvironment(vars: Record<string, string>): void {
  const reserved = Object.keys(vars).filter((k) => reservedEnvKeys.has(k));
  if (reserved.length > 0) {
    throw invalidParameter(
      'Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: ' +
        reserved.join(', '),
    );
  }
  const measured = JSON.stringify(vars);
  if (Buffer.byteLength(measured) > limits.envTotalBytes) {
    throw invalidParameter(
      `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${measured.slice(0, 200)}…`,
    );
  }
}
