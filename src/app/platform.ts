// The composition root: picks the concrete backends and wires every role into one process.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.js';
import { CodeUrlSigner, FunctionService, registerControlPlane } from '../control-plane/index.js';
import { createHttpServer } from '../http/index.js';
import { functionArn } from '../model/index.js';
import { systemClock, type Clock, type Logger } from '../shared/index.js';
import { FileCodeStore } from '../store/files/index.js';
import { SqliteMetadataStore } from '../store/sqlite/index.js';

export interface Platform {
  readonly http: FastifyInstance;
  /** The URL clients use, e.g. http://127.0.0.1:9000. */
  readonly endpoint: string;
  close(): Promise<void>;
}

export interface PlatformOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly clock?: Clock;
}

export async function startPlatform({
  config,
  log,
  clock = systemClock,
}: PlatformOptions): Promise<Platform> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const account = { region: config.region, accountId: config.accountId };
  const failpoint = (name: string): void => {
    if (config.failpoints.has(name)) {
      log.warn({ failpoint: name }, 'failpoint reached: killing the process');
      process.kill(process.pid, 'SIGKILL');
    }
  };
  const metadata = new SqliteMetadataStore(join(config.dataDir, 'metadata.db'), (n) =>
    functionArn(account, n),
  );
  const code = new FileCodeStore(join(config.dataDir, 'code'), { failpoint });
  const functions = new FunctionService({ account, metadata, code, clock, log, failpoint });
  // A crash can leave a package written but never committed: sweep before serving.
  const swept = await functions.collectGarbage();
  if (swept > 0) log.info({ swept }, 'removed unreferenced code packages');

  const http = createHttpServer({ log, bodyLimit: 6 * 1024 * 1024 + 1024 });
  registerControlPlane(http, {
    account,
    functions,
    code,
    codeUrls: new CodeUrlSigner(secretKey(config.dataDir), () => clock.now()),
    concurrencyLimit: 1000,
  });
  await http.listen({ host: config.host, port: config.port });
  const addr = http.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const shownHost = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    http,
    endpoint: `http://${shownHost}:${port}`,
    async close() {
      await http.close();
      metadata.close();
    },
  };
}

/** The key that signs code download URLs: made once per data dir, readable by its owner only. */
function secretKey(dataDir: string): Buffer {
  const file = join(dataDir, 'code-url.key');
  try {
    return readFileSync(file);
  } catch {
    const key = randomBytes(32);
    writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
    return key;
  }
}
