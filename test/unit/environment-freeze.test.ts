// An environment whose freezes are slow, as they are on a loaded host: a fake sandbox, a real Runtime API.
// A freeze that outlasts its wait still completes in the kernel, so it must be undone; and destroying a
// sandbox while its freeze is in progress lets the freeze re-freeze it after destroy's thaw (found by the
// soak: sandboxes left frozen for good, outliving Kiln).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { NEXT_PATH } from '../../src/runtime-api/wire.js';
import { silentLogger, systemClock } from '../../src/shared/index.js';
import type { Driver, Sandbox, SandboxExit, SandboxSpec } from '../../src/worker/index.js';
import { Environment, type FunctionSpec } from '../../src/worker/index.js';

const stateDir = mkdtempSync(join(tmpdir(), 'kiln-env-freeze-'));
after(() => rmSync(stateDir, { recursive: true, force: true }));

/** What the fake kernel and driver saw, in order. */
type Event = 'freeze started' | 'freeze ended' | 'thawed' | 'destroyed';

class SlowFreezeSandbox implements Sandbox {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly events: Event[] = [];
  /** The kernel's view: set by a freeze even when the caller stopped waiting for it. */
  frozen = false;
  private exit!: (e: SandboxExit) => void;
  readonly exited = new Promise<SandboxExit>((r) => (this.exit = r));
  private readonly runtime: http.ClientRequest;

  constructor(
    readonly id: string,
    socketPath: string,
    private readonly freezeOutcome: 'times out' | 'succeeds late',
  ) {
    // The runtime's first GET /next ends INIT; it stays parked there.
    this.runtime = http.get({ socketPath, path: NEXT_PATH });
    this.runtime.on('error', () => undefined);
  }

  async limitCpu(): Promise<void> {}

  async freeze(): Promise<void> {
    this.events.push('freeze started');
    this.frozen = true;
    await new Promise((r) => setTimeout(r, 50));
    this.events.push('freeze ended');
    if (this.freezeOutcome === 'times out') throw new Error('waiting for freezer.state FROZEN: not done');
  }

  async thaw(): Promise<void> {
    this.frozen = false;
    this.events.push('thawed');
  }

  async maxMemoryBytes(): Promise<number | undefined> {
    return undefined;
  }

  async destroy(): Promise<void> {
    this.events.push('destroyed');
    this.runtime.destroy();
    this.exit({ code: null, signal: 'SIGKILL', oomKilled: false });
  }
}

class FakeDriver implements Driver {
  readonly name = 'fake';
  readonly lateCode = false;
  sandbox?: SlowFreezeSandbox;
  constructor(private readonly freezeOutcome: 'times out' | 'succeeds late') {}
  async check(): Promise<void> {}
  async allocate(): Promise<{ uid: number; gid: number }> {
    return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  }
  release(): void {}
  async create(spec: SandboxSpec): Promise<Sandbox> {
    this.sandbox = new SlowFreezeSandbox(spec.id, spec.runtimeApiSocket, this.freezeOutcome);
    return this.sandbox;
  }
  async cleanupOrphans(): Promise<void> {}
}

const spec: FunctionSpec = {
  functionName: 'f',
  functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
  version: '$LATEST',
  revisionId: 'r1',
  runtime: 'nodejs20.x',
  handler: 'index.handler',
  memorySize: 128,
  timeout: 3,
  ephemeralStorage: 512,
  environment: {},
  codeSha256Hex: '0'.repeat(64),
  region: 'us-east-1',
};

/** A started environment, idle, whose freeze has just begun. */
async function freezing(outcome: 'times out' | 'succeeds late'): Promise<[Environment, SlowFreezeSandbox]> {
  const driver = new FakeDriver(outcome);
  const env = new Environment(spec, stateDir, {
    driver,
    log: silentLogger(),
    clock: systemClock,
    sink: { append: () => undefined },
    stateDir,
    runtimeDir: stateDir,
    initTimeoutMs: 5000,
    freezeAfterMs: 0,
  });
  assert.deepEqual(await env.start(), { ok: true });
  env.release();
  const sandbox = driver.sandbox as SlowFreezeSandbox;
  while (!sandbox.events.includes('freeze started')) await new Promise((r) => setTimeout(r, 1));
  return [env, sandbox];
}

describe('Environment with slow freezes', () => {
  it('thaws a freeze that timed out, which the kernel completes anyway', async () => {
    const [env, sandbox] = await freezing('times out');
    while (!sandbox.events.includes('freeze ended')) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(sandbox.frozen, false, `left frozen: ${sandbox.events.join(', ')}`);
    await env.stop();
  });

  it('lets a freeze in progress end before destroying the sandbox', async () => {
    const [env, sandbox] = await freezing('succeeds late');
    await env.stop();
    assert.deepEqual(sandbox.events, ['freeze started', 'freeze ended', 'destroyed']);
  });
});
