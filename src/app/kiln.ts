// The `kiln` executable: the CLI, with `up` wired to the platform.
import { buildProgram } from '../cli/index.js';
import { cliCredentialSource, ConfigError, defaultEndpoint, loadConfig } from '../config/index.js';
import { readCredentials } from './credentials-file.js';
import { createLogger } from '../shared/index.js';
import { adminCredentialsFile } from './admin-account.js';
import { startPlatform } from './platform.js';

async function up(flags: { port?: string; host?: string; dataDir?: string }): Promise<void> {
  let config;
  try {
    config = loadConfig(flags);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kiln: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config.logLevel);
  let platform;
  try {
    platform = await startPlatform({ config, log });
  } catch (e) {
    // Missing sandbox prerequisites, a port in use, an unreadable data dir: say what and stop.
    process.stderr.write(`kiln: cannot start: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const key = platform.createdAdminKey;
  if (key) {
    process.stdout.write(
      [
        `Created the admin account ${key.accountId}. Its key is shown this once and kept in ${adminCredentialsFile(config.dataDir)} (mode 0600):`,
        `  AWS_ACCESS_KEY_ID=${key.accessKeyId}`,
        `  AWS_SECRET_ACCESS_KEY=${key.secretAccessKey}`,
        '',
      ].join('\n'),
    );
  }
  process.stdout.write(`Kiln listening on ${platform.endpoint} (data in ${config.dataDir})\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    platform.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

const source = cliCredentialSource();
await buildProgram({
  up,
  defaultEndpoint: defaultEndpoint(),
  credentials: () => ('file' in source ? readCredentials(source.file) : source),
  credentialsHint:
    'file' in source
      ? `the key is looked up in ${source.file}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or KILN_CREDENTIALS_FILE, to use another`
      : 'the key came from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
}).parseAsync(process.argv);
