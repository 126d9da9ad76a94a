// The only reader of the process environment. Flags win over environment variables, which win over defaults.
import { resolve } from 'node:path';
import { z } from 'zod';

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly region: string;
  readonly accountId: string;
  readonly logLevel: string;
  /**
   * Named crash points (`KILN_FAILPOINTS=a,b`): the process SIGKILLs itself on reaching one.
   * Exists so crash-consistency tests can stop the process at an exact step.
   */
  readonly failpoints: ReadonlySet<string>;
}

export interface Flags {
  readonly port?: string | undefined;
  readonly host?: string | undefined;
  readonly dataDir?: string | undefined;
}

const schema = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  dataDir: z.string().min(1),
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must look like us-east-1'),
  accountId: z.string().regex(/^\d{12}$/, 'must be 12 digits'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});

export class ConfigError extends Error {}

export function loadConfig(flags: Flags = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const raw = {
    host: flags.host ?? env.KILN_HOST ?? '127.0.0.1',
    port: flags.port ?? env.KILN_PORT ?? '9000',
    dataDir: flags.dataDir ?? env.KILN_DATA_DIR ?? '.kiln',
    region: env.KILN_REGION ?? 'us-east-1',
    accountId: env.KILN_ACCOUNT_ID ?? '000000000000',
    logLevel: env.KILN_LOG_LEVEL ?? 'info',
  };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(
      `invalid configuration (${issues}); fix the flag or the KILN_* environment variable`,
    );
  }
  const failpoints = new Set(
    (env.KILN_FAILPOINTS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  return { ...parsed.data, dataDir: resolve(parsed.data.dataDir), failpoints };
}

/** Where the CLI sends its requests unless told otherwise. */
export function defaultEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env.KILN_ENDPOINT ?? 'http://127.0.0.1:9000';
}
