// The aws-lambda-ric fixture builds (or comes from the cache), fits Lambda's package limits, and survives
// the trip through the code store: unpacked, its bootstrap still starts the RIC and the native addon loads.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { limits } from '../../src/model/index.js';
import { FileCodeStore, inspectZip } from '../../src/store/files/index.js';
import { RIC_ADDON, RIC_ENTRY, ricFixtureDir, ricFixtureZip } from '../support/ric-fixture.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'kiln-ric-fixture-'));
after(() => {
  // Unpacked trees are read-only; open them up so a non-root run can delete them too.
  execFileSync('chmod', ['-R', 'u+w', scratch]);
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs `bootstrap` against a Runtime API nobody listens on, until its output shows how far it got. */
function startAgainstNothing(taskRoot: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(taskRoot, 'bootstrap'), [], {
      // A clean environment, as a sandbox gives it: nothing of the test runner's leaks in.
      env: {
        PATH: '/usr/bin:/bin',
        AWS_LAMBDA_RUNTIME_API: '127.0.0.1:1',
        _HANDLER: 'index.handler',
        LAMBDA_TASK_ROOT: taskRoot,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    // It never gives up on its own: it logs an uncaught ECONNREFUSED thousands of times a second.
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      if (out.includes('ECONNREFUSED') || out.length > 64 * 1024) child.kill('SIGKILL');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

describe('aws-lambda-ric fixture', { timeout: 20 * 60_000 }, () => {
  it('has an executable bootstrap, the handler and the compiled addon', async () => {
    const dir = await ricFixtureDir();
    accessSync(path.join(dir, 'bootstrap'), constants.X_OK);
    assert.match(
      readFileSync(path.join(dir, 'bootstrap'), 'utf8'),
      new RegExp(RIC_ENTRY.replaceAll('.', '\\.')),
    );
    assert.match(readFileSync(path.join(dir, 'index.js'), 'utf8'), /exports\.handler/);
    const addon = readFileSync(path.join(dir, RIC_ADDON));
    assert.deepEqual(addon.subarray(0, 4), Buffer.from('\x7fELF', 'latin1'));
    assert.ok(lstatSync(path.join(dir, 'node_modules/.bin/aws-lambda-ric')).isSymbolicLink());
    // The build leftovers (150 MB of curl sources) are gone.
    assert.ok(lstatSync(path.join(dir, 'node_modules/aws-lambda-ric/deps')).isDirectory());
    assert.throws(() => lstatSync(path.join(dir, 'node_modules/aws-lambda-ric/deps/curl-curl-7_83_1')));
  });

  it('zips under Lambda limits and starts the RIC from the unpacked tree', async (t) => {
    const zip = await ricFixtureZip();
    const { entries, unzippedSize } = await inspectZip(zip);
    t.diagnostic(`zip ${zip.length} bytes, ${entries} entries, ${unzippedSize} bytes unzipped`);
    assert.ok(zip.length < limits.zippedBytes, `zipped ${zip.length}`);
    assert.ok(unzippedSize < limits.unzippedBytes, `unzipped ${unzippedSize}`);

    const store = new FileCodeStore(path.join(scratch, 'code'));
    const started = Date.now();
    const ref = await store.put(zip);
    t.diagnostic(`stored and unpacked in ${Date.now() - started} ms`);
    const { dir, release } = await store.unpacked(ref.sha256Hex);
    try {
      assert.equal(lstatSync(path.join(dir, 'bootstrap')).mode & 0o777, 0o555);
      assert.equal(lstatSync(path.join(dir, RIC_ADDON)).mode & 0o777, 0o555, 'the addon keeps its exec bits');
      assert.equal(
        readlinkSync(path.join(dir, 'node_modules/.bin/aws-lambda-ric')),
        '../aws-lambda-ric/bin/index.mjs',
      );

      const out = await startAgainstNothing(dir);
      t.diagnostic(out.split('\n').slice(0, 3).join('\n'));
      assert.ok(
        out.startsWith(`Executing 'index.handler' in function directory '${dir}'\n`),
        out.slice(0, 500),
      );
      // The native client (libcurl) made the request, so the addon loaded.
      assert.match(
        out,
        /LAMBDA_RUNTIME Failed to get next invocation\. No Response from endpoint "127\.0\.0\.1:1\//,
      );
    } finally {
      release();
    }
  });
});
