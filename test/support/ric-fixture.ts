// A `provided.al2023` function whose bootstrap runs the official AWS Lambda runtime interface client
// (aws-lambda-ric) from its own node_modules, as a customer would deploy it. Installing the RIC compiles
// libcurl and aws-lambda-cpp into a native addon (about two minutes; needs the build tools that
// scripts/setup.sh installs), so the result is cached under ~/.cache/kiln and built at most once per
// machine: in a temp directory, renamed into place, and trusted only once its `.complete` marker exists.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { zipDirectory } from '../../src/client/index.js';

/** The version the Runtime API reference was captured with (shared/reference/runtime-api-wire.md). */
export const RIC_VERSION = '3.3.0';
/** Where the RIC's own launcher sits in this version (4.x moved it to the package root). */
export const RIC_ENTRY = 'node_modules/aws-lambda-ric/bin/index.mjs';
/** The native addon the install compiles; without it the RIC cannot start. */
export const RIC_ADDON = 'node_modules/aws-lambda-ric/dist/rapid-client.node';

const BUILD_TIMEOUT_MS = 15 * 60_000;
const LOCK_WAIT_MS = 20 * 60_000;

const files: Record<string, { content: string; mode: number }> = {
  'package.json': {
    content: `${JSON.stringify(
      {
        name: 'kiln-ric-fixture',
        version: '1.0.0',
        private: true,
        dependencies: { 'aws-lambda-ric': RIC_VERSION },
        allowScripts: { 'aws-lambda-ric': true },
      },
      null,
      2,
    )}\n`,
    mode: 0o644,
  },
  'index.js': {
    content:
      'exports.handler = async (event, context) => ({ echo: event, requestId: context.awsRequestId });\n',
    mode: 0o644,
  },
  // Not index.mjs: with both, which one `index.handler` means would depend on the RIC's lookup order.
  'esm.mjs': {
    content:
      'export const handler = async (event, context) => ({ esm: true, echo: event, requestId: context.awsRequestId });\n',
    mode: 0o644,
  },
  // The RIC resolves the handler module against its working directory, not LAMBDA_TASK_ROOT.
  bootstrap: {
    content: `#!/bin/sh\ncd "$LAMBDA_TASK_ROOT"\nexec /usr/bin/node ${RIC_ENTRY} "$_HANDLER"\n`,
    mode: 0o755,
  },
};

/** The fixture directory, built on first use. */
export async function ricFixtureDir(): Promise<string> {
  const cache = path.join(os.homedir(), '.cache', 'kiln');
  const final = path.join(cache, `ric-fixture-${RIC_VERSION}`);
  const marker = `${final}.complete`;
  if (existsSync(marker)) return final;
  await fs.mkdir(cache, { recursive: true });
  return withLock(`${final}.lock`, async () => {
    if (existsSync(marker)) return final;
    // Leftovers of a build that died: an unmarked tree and temp trees (nobody else builds while we hold the lock).
    for (const name of await fs.readdir(cache)) {
      if (name.startsWith(`${path.basename(final)}.tmp-`))
        await fs.rm(path.join(cache, name), { recursive: true, force: true });
    }
    await fs.rm(final, { recursive: true, force: true });
    const temp = `${final}.tmp-${randomUUID()}`;
    await build(temp);
    await fs.rename(temp, final);
    await fs.writeFile(marker, `${new Date().toISOString()}\n`);
    return final;
  });
}

/** The fixture as a deployment package: exec bits and node_modules/.bin symlinks kept. */
export async function ricFixtureZip(): Promise<Buffer> {
  return zipDirectory(await ricFixtureDir());
}

async function build(dir: string): Promise<void> {
  await fs.mkdir(dir);
  for (const [name, { content, mode }] of Object.entries(files)) {
    await fs.writeFile(path.join(dir, name), content);
    await fs.chmod(path.join(dir, name), mode);
  }
  const env = { ...process.env };
  // Set by `node --test` for its children; npm's scripts are not test files.
  delete env.NODE_TEST_CONTEXT;
  // node-gyp otherwise downloads Node's headers, which a machine without internet access cannot; the
  // headers of the running Node ship beside it in Debian's and NodeSource's packages.
  const headers = path.resolve(process.execPath, '..', '..');
  if (!env.npm_config_nodedir && existsSync(path.join(headers, 'include', 'node', 'node_api.h'))) {
    env.npm_config_nodedir = headers;
  }
  const log = `${dir}.log`;
  const out = await fs.open(log, 'w');
  try {
    const args = ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=warn'];
    const status = await run('npm', args, dir, env, out.fd);
    if (status !== 0) {
      const tail = (await fs.readFile(log, 'utf8')).split('\n').slice(-40).join('\n');
      throw new Error(
        `npm ${args.join(' ')} in ${dir} exited with ${status}; last lines of ${log}:\n${tail}`,
      );
    }
  } finally {
    await out.close();
  }
  // The RIC's postinstall means to delete its build leftovers, but its `[^gz]` globs only work in bash; under
  // Debian's dash they delete the source tarballs and keep 150 MB of unpacked curl and aws-lambda-cpp sources.
  const deps = path.join(dir, 'node_modules', 'aws-lambda-ric', 'deps');
  for (const name of await fs.readdir(deps)) {
    const full = path.join(deps, name);
    if (/^(aws-lambda-cpp|curl)-|^artifacts$/.test(name) && (await fs.lstat(full)).isDirectory()) {
      await fs.rm(full, { recursive: true, force: true });
    }
  }
  await fs.rm(path.join(dir, 'node_modules', 'aws-lambda-ric', 'build'), { recursive: true, force: true });
  if (!existsSync(path.join(dir, RIC_ADDON))) {
    throw new Error(`npm install finished but ${RIC_ADDON} is missing; see ${log}`);
  }
  await fs.rm(log, { force: true });
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, fd: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', fd, fd], timeout: BUILD_TIMEOUT_MS });
    child.on('error', reject);
    child.on('close', (status, signal) => resolve(status ?? (signal ? 128 : 1)));
  });
}

/**
 * Runs `fn` holding an exclusive lock file, so test processes running in parallel build the fixture once.
 * A lock whose process is gone (a killed test run) is taken over.
 */
async function withLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await fs.writeFile(lockFile, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await isStale(lockFile)) {
      await fs.rm(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${lockFile}; remove it if no build is running`);
    await new Promise((r) => setTimeout(r, 500));
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockFile, { force: true });
  }
}

async function isStale(lockFile: string): Promise<boolean> {
  const [text, stat] = await Promise.all([
    fs.readFile(lockFile, 'utf8').catch(() => undefined),
    fs.stat(lockFile).catch(() => undefined),
  ]);
  if (text === undefined || stat === undefined) return false; // gone already: just retry
  const pid = Number.parseInt(text, 10);
  // An empty file is a lock being written right now, unless it has stayed empty for a while.
  if (!Number.isInteger(pid) || pid <= 0) return Date.now() - stat.mtimeMs > 60_000;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
