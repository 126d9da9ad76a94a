// Pre-initialised environments (zygotes): a cold start served by a waiting runtime must look to the function
// exactly like one started from nothing, and keep every isolation property.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { nodeEscapeArtist } from '../support/hostile-functions.js';
import { zipOf } from '../support/zips.js';
import { nodeFunction, payloadJson, sdk, tailLog } from '../support/lambda.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';
import { until } from '../support/until.js';
import { kilnFetch } from '../support/credentials.js';

type Json = Record<string, unknown>;

interface Listing {
  Environments: { Id: string; FunctionName: string; State: string; Prewarmed: boolean }[];
  Zygotes: { Id: string; Runtime: string; State: string }[];
}

/** Reports what the function sees; `data.txt` is read relative to the working directory. */
const probe = (marker: string): Promise<Buffer> =>
  zipOf({
    'index.js': `
const fs = require('node:fs');
const envId = require('node:crypto').randomBytes(8).toString('hex');
exports.handler = async (event, context) => {
  console.log('probe ran for', ${JSON.stringify(marker)});
  let allocated = 0;
  if (event.allocateMb) {
    const keep = [];
    for (let i = 0; i < event.allocateMb; i++) keep.push(Buffer.alloc(1024 * 1024, i));
    allocated = keep.length;
  }
  return {
    marker: ${JSON.stringify(marker)},
    data: fs.readFileSync('data.txt', 'utf8'),
    cwd: process.cwd(),
    envId,
    env: { ...process.env },
    envOrder: Object.keys(process.env),
    uid: process.getuid(),
    memoryLimitInMB: context.memoryLimitInMB,
    logStreamName: context.logStreamName,
    paths: module.paths.length > 0 && require.resolve.paths('x'),
    allocated,
  };
};
`,
    'data.txt': `data of ${marker}`,
  });

describe('pre-initialised environments', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  const listing = async (): Promise<Listing> =>
    (await (await kilnFetch(`${kiln.endpoint}/_kiln/environments`)).json()) as Listing;
  const invoke = (name: string, payload: Json = {}) =>
    lambda.send(
      new InvokeCommand({
        FunctionName: name,
        Payload: Buffer.from(JSON.stringify(payload)),
        LogType: 'Tail',
      }),
    );
  /** Watches the platform fill its pool after a cold start (bounded; the platform's own work drives it). */
  const zygoteReady = async (): Promise<void> => {
    await until(
      'a pre-initialised nodejs20.x environment is ready',
      listing,
      (l) => l.Zygotes.some((z) => z.Runtime === 'nodejs20.x' && z.State === 'ready'),
      20_000,
    );
  };
  const environmentOf = async (envId: string, name: string) => {
    const envs = (await listing()).Environments.filter((e) => e.FunctionName === name);
    assert.equal(envs.length, 1, `one environment of ${name} (${envId})`);
    return envs[0];
  };

  before(async () => {
    kiln = await startKiln({ env: { KILN_ZYGOTES_PER_RUNTIME: '1', KILN_FREEZE_AFTER_MS: '60000' } });
    lambda = sdk(kiln.endpoint);
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('a first cold start finds no zygote and starts one for the next', async () => {
    assert.deepEqual((await listing()).Zygotes, []);
    await lambda.send(
      nodeFunction('plain', await probe('plain'), { Environment: { Variables: { ALPHA: '1' } } }),
    );
    const out = await invoke('plain');
    assert.equal(out.FunctionError, undefined, JSON.stringify(payloadJson(out)));
    assert.equal((await environmentOf('', 'plain'))?.Prewarmed, false);
    await zygoteReady();
  });

  it('serves a cold start from a zygote, and the handler sees what a fresh start shows', async () => {
    await zygoteReady();
    const zygoteId = (await listing()).Zygotes[0]?.Id;
    await lambda.send(
      nodeFunction('warmed', await probe('warmed'), {
        MemorySize: 512,
        Environment: { Variables: { ALPHA: '2', GREETING: 'hello' } },
      }),
    );
    const out = await invoke('warmed');
    const r = payloadJson(out);
    assert.equal(out.FunctionError, undefined, JSON.stringify(r));
    const env = await environmentOf(String(r.envId), 'warmed');
    assert.equal(env?.Prewarmed, true, 'served by a pre-initialised environment');
    assert.equal(env?.Id, zygoteId, 'the zygote became the environment');
    assert.match(tailLog(out), /Init Duration: [\d.]+ ms/, 'a cold start, reported as one');
    assert.match(tailLog(out), /\tINFO\tprobe ran for warmed\n/, "the function's own log lines are captured");

    // The code, its working directory and the identity.
    assert.equal(r.marker, 'warmed');
    assert.equal(r.data, 'data of warmed');
    assert.equal(r.cwd, '/var/task');
    assert.equal(r.uid, 993);
    assert.equal(r.memoryLimitInMB, '512');

    // Exactly the variables that a runtime started from nothing gets (compared with 'plain').
    const plain = payloadJson(await invoke('plain'));
    const e = r.env as Record<string, string>;
    const p = plain.env as Record<string, string>;
    // (Their order is not compared: on a fresh start it is whatever order bash exports them in.)
    const names = (x: Json): string[] => [...(x.envOrder as string[])].sort();
    assert.deepEqual(names(r), [...names(plain), 'GREETING'].sort(), 'the same variables');
    assert.equal(e.AWS_LAMBDA_FUNCTION_NAME, 'warmed');
    assert.equal(e.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '512');
    assert.equal(e.AWS_LAMBDA_LOG_GROUP_NAME, '/aws/lambda/warmed');
    assert.equal(e.AWS_LAMBDA_LOG_STREAM_NAME, r.logStreamName);
    assert.equal(e.AWS_LAMBDA_INITIALIZATION_TYPE, 'on-demand');
    assert.equal(e.ALPHA, '2');
    assert.equal(e.GREETING, 'hello');
    assert.equal(e.KILN_ZYGOTE, undefined);
    assert.equal(e.KILN_RUNTIME_API_SOCKET, undefined);
    for (const k of ['PATH', 'LANG', 'TZ', 'LD_LIBRARY_PATH', 'NODE_PATH', 'LAMBDA_TASK_ROOT', 'AWS_REGION'])
      assert.equal(e[k], p[k], k);
    assert.deepEqual(r.paths, plain.paths, 'module search paths include NODE_PATH, as on a fresh start');
  });

  it('gives the function its own memory limit, not the pool default', async () => {
    await zygoteReady();
    await lambda.send(nodeFunction('roomy', await probe('roomy'), { MemorySize: 512, Timeout: 30 }));
    const big = payloadJson(await invoke('roomy', { allocateMb: 300 }));
    assert.equal(big.allocated, 300, JSON.stringify(big));
    assert.equal((await environmentOf('', 'roomy'))?.Prewarmed, true);

    await zygoteReady();
    await lambda.send(nodeFunction('small', await probe('small'), { MemorySize: 128, Timeout: 30 }));
    const out = await invoke('small', { allocateMb: 300 });
    assert.equal(out.FunctionError, 'Unhandled');
    assert.equal(payloadJson(out).errorType, 'Runtime.ExitError');
  });

  it('a specialised environment serves only its own function', async () => {
    const warmed = payloadJson(await invoke('warmed'));
    const plain = payloadJson(await invoke('plain'));
    assert.equal(warmed.marker, 'warmed');
    assert.equal(plain.marker, 'plain');
    assert.notEqual(warmed.envId, plain.envId);
    const envs = (await listing()).Environments;
    const prewarmedIds = envs.filter((x) => x.Prewarmed).map((x) => x.Id);
    for (const id of prewarmedIds) {
      assert.equal(envs.filter((x) => x.Id === id).length, 1, 'an environment belongs to one function');
    }
    assert.equal(payloadJson(await invoke('warmed')).envId, warmed.envId, 'and keeps serving it warm');
  });

  it('keeps /var/task read-only and the network closed', async () => {
    await zygoteReady();
    await lambda.send(nodeFunction('escape', await zipOf({ 'index.js': nodeEscapeArtist }), { Timeout: 10 }));
    const r = payloadJson(await invoke('escape', { dataDir: kiln.dataDir, kilnPort: kiln.port }));
    assert.equal((await environmentOf('', 'escape'))?.Prewarmed, true);
    assert.deepEqual(r.writeTask, { ok: false, code: 'EROFS' });
    assert.equal((r.readShadow as Json).ok, false);
    assert.equal((r.readDataDir as Json).ok, false);
    assert.notEqual(r.kilnEndpoint, 'connected', 'Kiln is unreachable from a function');
    assert.equal(r.runtimeRelay, 'connected', 'its own Runtime API is reachable');
  });

  describe('python3.11', () => {
    const pyProbe = (marker: string): Promise<Buffer> =>
      zipOf({
        'app.py': `
import json, logging, os, sys
logger = logging.getLogger()
def handler(event, context):
    print("probe ran for", ${JSON.stringify(marker)})
    logger.warning("logged by %s", ${JSON.stringify(marker)})
    with open("data.txt") as f:
        data = f.read()
    return {
        "marker": ${JSON.stringify(marker)},
        "data": data,
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "env": dict(os.environ),
        "uid": os.getuid(),
        "memoryLimitInMB": context.memory_limit_in_mb,
        "logStreamName": context.log_stream_name,
        "path": sys.path,
    }
`,
        'data.txt': `data of ${marker}`,
      });
    const pyFunction = (name: string, zip: Buffer, variables: Record<string, string> = {}) =>
      nodeFunction(name, zip, {
        Runtime: 'python3.11',
        Handler: 'app.handler',
        Environment: { Variables: variables },
      });
    const pythonZygoteReady = (): Promise<Listing> =>
      until(
        'a pre-initialised python3.11 environment is ready',
        listing,
        (l) => l.Zygotes.some((z) => z.Runtime === 'python3.11' && z.State === 'ready'),
        20_000,
      );

    it('serves a Python cold start from a zygote, and the handler sees what a fresh start shows', async () => {
      await lambda.send(pyFunction('py-plain', await pyProbe('py-plain'), { ALPHA: '1' }));
      const plain = payloadJson(await invoke('py-plain'));
      assert.equal(plain.marker, 'py-plain', JSON.stringify(plain));
      assert.equal((await environmentOf('', 'py-plain'))?.Prewarmed, false, 'the first finds no zygote');

      await pythonZygoteReady();
      await lambda.send(
        pyFunction('py-warmed', await pyProbe('py-warmed'), {
          ALPHA: '2',
          GREETING: 'hello',
          AWS_LAMBDA_LOG_FORMAT: 'JSON',
        }),
      );
      const out = await invoke('py-warmed');
      const r = payloadJson(out);
      assert.equal(out.FunctionError, undefined, JSON.stringify(r));
      assert.equal((await environmentOf('', 'py-warmed'))?.Prewarmed, true, 'served by a zygote');
      assert.match(tailLog(out), /Init Duration: [\d.]+ ms/);
      assert.match(tailLog(out), /probe ran for py-warmed\n/, 'print() reaches the log');
      // The function's own log format, read after the environment was swapped in.
      const record = tailLog(out)
        .split('\n')
        .find((l) => l.includes('logged by py-warmed'));
      assert.ok(record !== undefined, tailLog(out));
      assert.equal((JSON.parse(record) as Json).level, 'WARNING');

      assert.equal(r.data, 'data of py-warmed');
      assert.equal(r.cwd, '/var/task');
      assert.equal(r.uid, plain.uid);
      assert.equal(r.memoryLimitInMB, '128');
      assert.deepEqual(r.path, plain.path, 'the same module search path');
      const e = r.env as Record<string, string>;
      const p = plain.env as Record<string, string>;
      assert.deepEqual(
        Object.keys(e).sort(),
        [...Object.keys(p), 'GREETING', 'AWS_LAMBDA_LOG_FORMAT'].sort(),
        'the same variables',
      );
      assert.equal(e.AWS_LAMBDA_FUNCTION_NAME, 'py-warmed');
      assert.equal(e.AWS_LAMBDA_LOG_STREAM_NAME, r.logStreamName);
      assert.equal(e.ALPHA, '2');
      assert.equal(e.KILN_ZYGOTE, undefined);
      assert.equal(e.KILN_RUNTIME_API_SOCKET, undefined);
      for (const k of [
        'PATH',
        'LANG',
        'TZ',
        'LD_LIBRARY_PATH',
        'PYTHONPATH',
        'LAMBDA_TASK_ROOT',
        'AWS_REGION',
      ])
        assert.equal(e[k], p[k], k);
      // And it stays that function's, warm.
      const again = payloadJson(await invoke('py-warmed'));
      assert.equal(again.pid, r.pid);
    });

    it('keeps /var/task read-only and the specialisation poll closed to the function', async () => {
      await pythonZygoteReady();
      const prober = await zipOf({
        'app.py': `
import errno, http.client
def handler(event, context):
    try:
        open("/var/task/evil.py", "w").write("x")
        write = "written"
    except OSError as e:
        write = errno.errorcode.get(e.errno, str(e.errno))
    conn = http.client.HTTPConnection("127.0.0.1", 9001, timeout=5)
    conn.request("GET", "/kiln/zygote/specialization")
    return {"write": write, "poll": conn.getresponse().status}
`,
      });
      await lambda.send(pyFunction('py-prober', prober));
      const r = payloadJson(await invoke('py-prober'));
      assert.equal((await environmentOf('', 'py-prober'))?.Prewarmed, true);
      assert.deepEqual(r, { write: 'EROFS', poll: 404 });
    });

    it('starts from nothing a Python function that sets variables the interpreter reads at startup', async () => {
      await pythonZygoteReady();
      await lambda.send(pyFunction('py-opts', await pyProbe('py-opts'), { PYTHONDONTWRITEBYTECODE: '1' }));
      const r = payloadJson(await invoke('py-opts'));
      assert.equal(r.marker, 'py-opts', JSON.stringify(r));
      assert.equal((await environmentOf('', 'py-opts'))?.Prewarmed, false);
      assert.ok(
        (await listing()).Zygotes.some((z) => z.Runtime === 'python3.11'),
        'the zygote stays for a function it fits',
      );
    });
  });

  it('starts from nothing a function that sets variables Node reads at startup', async () => {
    await zygoteReady();
    await lambda.send(
      nodeFunction('opts', await probe('opts'), {
        Environment: { Variables: { NODE_OPTIONS: '--max-old-space-size=100' } },
      }),
    );
    const r = payloadJson(await invoke('opts'));
    assert.equal(r.marker, 'opts');
    assert.equal((await environmentOf('', 'opts'))?.Prewarmed, false);
    assert.ok((await listing()).Zygotes.length > 0, 'the zygote stays for a function it fits');
  });
});
