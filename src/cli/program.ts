// The `kiln` command. It talks to a server only through src/client, so everything it does is also
// possible with the AWS CLI against the same endpoint.
import { basename, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  KilnClient,
  describeError,
  errorCode,
  logGroupOf,
  type LogLine,
  zipDirectory,
  type Credentials,
  type FunctionConfiguration,
  type FunctionSettings,
} from '../client/index.js';
import { KilnApi } from '../client/index.js';
import { registerAccountCommands } from './account-commands.js';
import { registerAsyncCommands } from './async-commands.js';
import { formatTable, humanBytes } from './format.js';

export interface UpOptions {
  port?: string;
  host?: string;
  dataDir?: string;
}

export interface Writer {
  write(text: string): unknown;
}

export interface CliDeps {
  /** Starts the server in this process; supplied by the composition root. */
  up: (opts: UpOptions) => Promise<void>;
  /**
   * The access key requests are signed with (the composition root reads AWS_ACCESS_KEY_ID and
   * AWS_SECRET_ACCESS_KEY, else the credentials file); undefined when none was found.
   */
  credentials?: () => Credentials | undefined;
  /** Says where a key can be found, for the error after Kiln refused one. */
  credentialsHint?: string;
  /** Where `--endpoint` points when not given (the composition root reads KILN_ENDPOINT). */
  defaultEndpoint?: string;
  version?: string;
  out?: Writer;
  err?: Writer;
  /**
   * Ends the command with an exit code; must not return. Defaults to `process.exit`, as commander
   * does. In-process callers pass one that throws (see `runCli`) to observe the code instead.
   */
  exit?: (code: number) => never;
}

export const fallbackEndpoint = 'http://127.0.0.1:9000';

/** Errors that mean the key is missing, unknown, wrong or not allowed. */
const authCodes = new Set([
  'MissingAuthenticationTokenException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'AccessDeniedException',
]);

const defaults = {
  runtime: 'nodejs20.x',
  handler: 'index.handler',
  role: 'arn:aws:iam::000000000000:role/kiln-function',
} as const;

/** Thrown by `runCli`'s exit hook: the command ended (its output already written) with this code. */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`kiln exited with code ${exitCode}`);
  }
}

/** Builds the program; errors are reported on `err` and end in `deps.exit` (usage errors: 2). */
export function buildProgram(deps: CliDeps): Command {
  const out = deps.out ?? process.stdout;
  const err = deps.err ?? process.stderr;
  const exit = deps.exit ?? ((code: number): never => process.exit(code));
  const print = (line: string): unknown => out.write(`${line}\n`);
  const fail = (code: number, message: string): never => {
    err.write(`kiln: ${message}\n`);
    return exit(code);
  };

  const program = new Command('kiln')
    .description('Kiln: a self-hosted platform that speaks the AWS Lambda API')
    .addOption(
      new Option('--endpoint <url>', 'Kiln server to talk to')
        .default(deps.defaultEndpoint ?? fallbackEndpoint)
        .argParser(parseEndpoint),
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => out.write(s),
      writeErr: (s) => err.write(s),
      outputError: (s, write) => write(s.replace(/^error: /, 'kiln: ')),
    })
    // Commander exits 1 on usage errors; 2 is the convention scripts test for.
    .exitOverride((e) => exit(e.code === 'commander.helpDisplayed' || e.exitCode === 0 ? 0 : 2));
  if (deps.version !== undefined) program.version(deps.version);

  const credentials = (): Credentials | undefined => deps.credentials?.();
  const client = (): KilnClient => {
    const keys = credentials();
    return new KilnClient({
      endpoint: program.opts<{ endpoint: string }>().endpoint,
      ...(keys ? { credentials: { ...keys } } : {}),
    });
  };
  /** Runs one API-backed action and turns its failure into the message the user should see. */
  const guarded = async (endpoint: string, action: () => Promise<void>): Promise<void> => {
    try {
      await action();
    } catch (e) {
      if (e instanceof CliExit) throw e;
      const info = describeError(e);
      const message =
        info.kind === 'unreachable'
          ? `cannot reach Kiln at ${endpoint} (is \`kiln up\` running?)`
          : info.kind === 'api'
            ? `${info.code}: ${info.message}${authCodes.has(info.code) && deps.credentialsHint ? ` (${deps.credentialsHint})` : ''}`
            : info.message;
      fail(1, message);
    }
  };
  const withClient = async (action: (c: KilnClient) => Promise<void>): Promise<void> => {
    const c = client();
    try {
      await guarded(c.endpoint, () => action(c));
    } finally {
      c.destroy();
    }
  };
  const withApi = (action: (api: KilnApi) => Promise<void>): Promise<void> => {
    const endpoint = program.opts<{ endpoint: string }>().endpoint;
    return guarded(endpoint, () => action(new KilnApi(endpoint, credentials())));
  };

  program
    .command('up')
    .description('run a Kiln server in the foreground')
    .option('--port <n>', 'port to listen on')
    .option('--host <h>', 'address to bind')
    .option('--data-dir <d>', 'where functions and state are kept')
    .action(async (opts: UpOptions) => {
      await deps.up({ port: opts.port, host: opts.host, dataDir: opts.dataDir });
    });

  program
    .command('deploy')
    .description('create a function from a folder, or update it if it exists')
    .argument('<dir>', 'folder holding the code; zipped as is (only .git is left out)')
    .option('--name <n>', "function name (default: the folder's name)")
    .option('--runtime <r>', `runtime (default on create: ${defaults.runtime})`)
    .option('--handler <h>', `handler (default on create: ${defaults.handler})`)
    .option('--role <arn>', `execution role ARN (default on create: ${defaults.role})`)
    .option('--memory <mb>', 'memory in MB', parsePositiveInt('--memory'))
    .option('--timeout <s>', 'timeout in seconds', parsePositiveInt('--timeout'))
    .option(
      '--env <KEY=VALUE>',
      'environment variable; repeat for more (replaces the whole environment)',
      collectEnv,
    )
    .option('--description <d>', 'description')
    .action(async (dir: string, opts: DeployFlags) => {
      const name = opts.name ?? basename(resolve(dir));
      const settings: FunctionSettings = {
        runtime: opts.runtime,
        handler: opts.handler,
        role: opts.role,
        memorySize: opts.memory,
        timeout: opts.timeout,
        environment: opts.env,
        description: opts.description,
      };
      let zip: Buffer;
      try {
        zip = await zipDirectory(dir);
      } catch (e) {
        return fail(1, e instanceof Error ? e.message : String(e));
      }
      await withClient(async (c) => {
        let config: FunctionConfiguration;
        let verb: string;
        if (await c.functionExists(name)) {
          verb = 'updated';
          config = await c.updateFunctionCode(name, zip);
          if (Object.values(settings).some((v) => v !== undefined)) {
            try {
              if (config.LastUpdateStatus === 'InProgress') await c.waitForUpdate(name);
              config = await c.updateFunctionConfiguration(name, settings);
            } catch (e) {
              // The code change stands; say so, or the user assumes the deploy did nothing.
              err.write(`kiln: the code of ${name} was updated, but its configuration was not:\n`);
              throw e;
            }
          }
        } else {
          verb = 'created';
          config = await c.createFunction({
            ...settings,
            name,
            runtime: opts.runtime ?? defaults.runtime,
            handler: opts.handler ?? defaults.handler,
            role: opts.role ?? defaults.role,
            zip,
          });
        }
        const size = config.CodeSize ?? zip.length;
        print(
          `${verb} ${config.FunctionName ?? name} (${config.Runtime ?? '?'}, ${size} bytes, sha256 ${config.CodeSha256 ?? '?'})`,
        );
      });
    });

  const functions = program.command('functions').description('inspect and remove functions');
  functions
    .command('list')
    .description('list all functions')
    .option('--json', 'print the ListFunctions result as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withClient(async (c) => {
        const all = await c.listAllFunctions();
        if (opts.json) return void print(JSON.stringify({ Functions: all }, null, 2));
        if (all.length === 0) return void print('no functions');
        const rows = all.map((f) => [
          f.FunctionName ?? '',
          f.Runtime ?? '',
          f.MemorySize === undefined ? '' : `${f.MemorySize} MB`,
          f.Timeout === undefined ? '' : `${f.Timeout} s`,
          f.CodeSize === undefined ? '' : humanBytes(f.CodeSize),
          f.LastModified ?? '',
        ]);
        print(formatTable(['NAME', 'RUNTIME', 'MEMORY', 'TIMEOUT', 'CODE SIZE', 'LAST MODIFIED'], rows));
      });
    });
  functions
    .command('get')
    .description("print a function's configuration and code location as JSON")
    .argument('<name>', 'function name or ARN')
    .action(async (name: string) => {
      await withClient(async (c) => void print(JSON.stringify(await c.getFunction(name), null, 2)));
    });
  functions
    .command('delete')
    .description('delete a function')
    .argument('<name>', 'function name or ARN')
    .action(async (name: string) => {
      await withClient(async (c) => {
        await c.deleteFunction(name);
        print(`deleted ${name}`);
      });
    });

  registerAsyncCommands(program, withApi, print);
  registerAccountCommands(program, withApi, print);
  program
    .command('logs')
    .description("print a function's log events (its lines and Kiln's START/END/REPORT lines)")
    .argument('<function>', 'function name')
    .option('--since <when>', 'how far back: 30s, 10m, 2h, 1d, or an ISO 8601 time', '10m')
    .option('--filter <pattern>', 'CloudWatch Logs filter pattern: terms, "phrases", ?any, -none')
    .option('-f, --follow', 'keep printing new events until interrupted (Ctrl-C)')
    .action(async (name: string, opts: { since: string; filter?: string; follow?: boolean }) => {
      const startTime = parseSince(opts.since, Date.now());
      if (startTime === undefined) {
        return fail(
          2,
          `--since takes a duration such as 10m, 2h or 1d, or an ISO 8601 time; got ${opts.since}`,
        );
      }
      const show = (l: LogLine): unknown => print(`${new Date(l.timestamp).toISOString()} ${l.message}`);
      await withClient(async (c) => {
        const base = { startTime, ...(opts.filter ? { filterPattern: opts.filter } : {}) };
        if (!opts.follow) {
          try {
            for await (const line of c.logs.read(name, base)) show(line);
          } catch (e) {
            if (errorCode(e) !== 'ResourceNotFoundException') throw e;
            fail(
              1,
              `no logs for ${name}: ${logGroupOf(name)} does not exist (the function has not logged yet)`,
            );
          }
          return;
        }
        // Ctrl-C ends following cleanly (exit 0): it is how the user says "enough".
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const lines = c.logs.follow(name, {
            ...base,
            intervalMs: 1000,
            signal: stop.signal,
            onWaiting: () =>
              err.write(`kiln: waiting for ${logGroupOf(name)} (the function has not logged yet)\n`),
          });
          for await (const line of lines) show(line);
        } catch (e) {
          if (!stop.signal.aborted) throw e;
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      });
    });

  return program;
}

const sinceUnits: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Epoch ms for `--since`: a duration back from `now` (s, m, h, d, w) or an absolute ISO 8601 time. */
export function parseSince(value: string, now: number): number | undefined {
  const m = /^(\d+)([smhdw])$/.exec(value.trim());
  if (m) {
    const unit = sinceUnits[m[2] ?? ''] ?? 0;
    return Math.max(0, now - Number(m[1]) * unit);
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/** Runs the CLI in-process and resolves to its exit code instead of ending the process. */
export async function runCli(argv: readonly string[], deps: Omit<CliDeps, 'exit'>): Promise<number> {
  const exit = (code: number): never => {
    throw new CliExit(code);
  };
  try {
    await buildProgram({ ...deps, exit }).parseAsync([...argv]);
    return 0;
  } catch (e) {
    if (e instanceof CliExit) return e.exitCode;
    throw e;
  }
}

interface DeployFlags {
  name?: string;
  runtime?: string;
  handler?: string;
  role?: string;
  memory?: number;
  timeout?: number;
  env?: Record<string, string>;
  description?: string;
}

function parseEndpoint(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected a URL such as http://127.0.0.1:9000');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError('expected an http:// or https:// URL');
  }
  return value.replace(/\/+$/, '');
}

function parsePositiveInt(flag: string): (value: string) => number {
  return (value) => {
    if (!/^[0-9]+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
      throw new InvalidArgumentError(`${flag} takes a positive whole number`);
    }
    return Number(value);
  };
}

function collectEnv(pair: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected KEY=VALUE, e.g. --env STAGE=prod');
  return { ...previous, [pair.slice(0, eq)]: pair.slice(eq + 1) };
}
