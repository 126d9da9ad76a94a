// The sandbox driver against the real kernel: real bwrap sandboxes, cgroups and processes. Needs root.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { release, tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, afterEach, describe, it } from 'node:test';
import { silentLogger } from '../../src/shared/index.js';
import type { Sandbox, SandboxSpec } from '../../src/worker/driver.js';
import { defaultTools, planLaunch } from '../../src/worker/drivers/sandbox/bwrap-args.js';
import { parseCgroupMounts } from '../../src/worker/drivers/sandbox/cgroup-dynmods.js';
import { CgroupV2, signalProcess } from '../../src/worker/drivers/sandbox/cgroups.js';
import { SandboxDriver, type SandboxDriverOptions } from '../../src/worker/drivers/sandbox/index.js';
import { UidPool } from '../../src/worker/drivers/sandbox/uid-pool.js';

const isRoot = process.getuid?.() === 0;
// Own cgroup parent and uid range, so concurrent test files (and a running Kiln) are never touched.
const parent = `kiln-test-${process.pid}`;
const uidBase = 600_000 + (process.pid % 1000) * 32;
const uidCount = 24;
/** Drivers other than the main one get their own uids, as two Kiln processes on one host must. */
const spareUids = { uidBase: uidBase + uidCount, uidCount: 8 };
const root = mkdtempSync(path.join(tmpdir(), 'kiln-sandbox-'));
// The sandbox user must be able to reach the bind sources (mkdtemp makes 0700 directories).
chmodSync(root, 0o755);
const codeDir = path.join(root, 'code');
const runtimeDir = path.join(root, 'runtime');
mkdirSync(codeDir);
mkdirSync(runtimeDir);
writeFileSync(path.join(codeDir, 'index.js'), 'exports.handler = async () => 42;\n');
writeFileSync(path.join(runtimeDir, 'bootstrap'), '#!/bin/sh\n');

const options: SandboxDriverOptions = {
  log: silentLogger(),
  stateDir: path.join(root, 'state'),
  uidBase,
  uidCount,
  cgroupParent: parent,
  pidsMax: 64,
  // Half a CPU for 128 MB keeps the suite quick; the 1,769 MB rule itself is unit-tested.
  mbPerVcpu: 256,
};
const driver = new SandboxDriver(options);
const sandboxes: Sandbox[] = [];
const servers: Server[] = [];
let n = 0;

afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.destroy()));
});

after(async () => {
  if (isRoot) await driver.cleanupOrphans();
  for (const s of servers) s.close();
  for (const dir of parentDirs()) if (existsSync(dir)) rmdirSync(dir);
  rmSync(root, { recursive: true, force: true });
});

/** A Runtime API stand-in: an HTTP server on this environment's unix socket that echoes the path. */
async function runtimeApi(): Promise<{ socket: string; paths: string[] }> {
  const socket = path.join(root, `api-${++n}.sock`);
  const paths: string[] = [];
  const server = createHttpServer((req, res) => {
    paths.push(req.url ?? '');
    res.end(`pong ${req.url}`);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return { socket, paths };
}

async function start(
  argv: string[],
  over: Partial<SandboxSpec> = {},
): Promise<Sandbox & { out: Output; err: Output }> {
  const api = over.runtimeApiSocket ? undefined : await runtimeApi();
  const spec: SandboxSpec = {
    id: `t${++n}`,
    codeDir,
    runtimeDir,
    runtimeApiSocket: api?.socket ?? '',
    argv,
    env: { PATH: '/usr/bin:/bin' },
    memoryMb: 128,
    ephemeralStorageMb: 8,
    ...over,
  };
  const sandbox = await driver.create(spec);
  sandboxes.push(sandbox);
  return Object.assign(sandbox, { out: collect(sandbox.stdout), err: collect(sandbox.stderr) });
}

const sh = (script: string): string[] => ['/bin/sh', '-c', script];

interface Output {
  text(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
}

function collect(stream: Readable): Output {
  let text = '';
  const waiters: (() => void)[] = [];
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    text += chunk;
    for (const w of waiters.splice(0)) w();
  });
  return {
    text: () => text,
    waitFor(re, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${re} in output: ${JSON.stringify(text)}`)),
          timeoutMs,
        );
        const check = (): void => {
          if (re.test(text)) {
            clearTimeout(timer);
            resolve(text);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

/** Where the test can read an environment's cgroup files on this host. */
function cgroupFile(id: string, file: string): string {
  if (driver.cgroupInfo.version === 2) return path.join('/sys/fs/cgroup', parent, id, file);
  const controller = file.split('.')[0] === 'cgroup' ? 'pids' : (file.split('.')[0] as string);
  return path.join('/sys/fs/cgroup', controller, parent, id, file);
}

function cgroupDirs(id: string): string[] {
  return parentDirs().map((d) => path.join(d, id));
}

function parentDirs(): string[] {
  if (driver.cgroupInfo.version === 2) return [path.join('/sys/fs/cgroup', parent)];
  return ['memory', 'pids', 'cpu', 'freezer', 'cpuacct'].map((c) => path.join('/sys/fs/cgroup', c, parent));
}

const pidsOf = (id: string): number[] =>
  readFileSync(cgroupFile(id, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);

/** Host uids of an environment's processes; a process that exits between listing and reading is skipped. */
function hostUids(id: string): Set<number> {
  const uids = new Set<number>();
  for (const pid of pidsOf(id)) {
    const status = existsSync(`/proc/${pid}/status`) ? readFileSync(`/proc/${pid}/status`, 'utf8') : '';
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    if (uid !== undefined) uids.add(Number(uid));
  }
  return uids;
}

describe('SandboxDriver (real sandboxes)', { skip: isRoot ? false : 'needs root', timeout: 60_000 }, () => {
  it('passes its own check, and names what is missing', async () => {
    await driver.check();
    // The check turns on favordynmods where the host allows it (a cgroup2 mount and Linux 6.2+, as here).
    const mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    const [major = 0, minor = 0] = release().split('.').map(Number);
    if (mounts.some((m) => m.fsType === 'cgroup2') && (major > 6 || (major === 6 && minor >= 2))) {
      assert.ok(
        mounts.some((m) => m.superOptions.includes('favordynmods')),
        `no cgroup mount has favordynmods after check(): ${JSON.stringify(mounts)}`,
      );
    }
    const broken = new SandboxDriver({ ...options, ...spareUids, tools: { bwrap: '/nonexistent/bwrap' } });
    await assert.rejects(
      broken.check(),
      /bubblewrap is not installed: run \.\/scripts\/setup\.sh \(or apt-get install bubblewrap\)/,
    );
  });

  it('runs as uid 993 inside and as a pool uid on the host', async () => {
    const s = await start(sh('id -u; id -g; id -un; exec sleep 30'));
    await s.out.waitFor(/sbx_user1051\n/);
    assert.equal(s.out.text(), '993\n990\nsbx_user1051\n');
    const uids = hostUids(s.id);
    assert.equal(uids.size, 1, 'every process of the sandbox runs as the same host uid');
    const [uid] = [...uids] as [number];
    assert.ok(uid >= uidBase && uid < uidBase + uidCount, `host uid ${uid} is from the pool`);
    await s.destroy();
  });

  it('runs as the identity allocate() reserved, which the Runtime API socket is given to', async () => {
    const ids = await driver.allocate('reserved1');
    await assert.rejects(driver.allocate('reserved1'), /already has a uid/);
    const api = await runtimeApi();
    const s = await start(sh('echo up; exec sleep 30'), {
      id: 'reserved1',
      ids,
      runtimeApiSocket: api.socket,
    });
    await s.out.waitFor(/up/);
    assert.deepEqual([...hostUids(s.id)], [ids.uid]);
    const st = statSync(api.socket);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [ids.uid, ids.gid, 0o600]);
    await s.destroy();

    const other = await driver.allocate('reserved2');
    await assert.rejects(
      start(sh('true'), { id: 'reserved2', ids: { uid: other.uid + 1, gid: other.gid + 1 } }),
      /did not come from allocate\(reserved2\)/,
    );
    // The failed create() freed the reservation; so does release() for one create() never took.
    await assert.rejects(start(sh('true'), { id: 'reserved3', ids: other }), /did not come from allocate/);
    const third = await driver.allocate('reserved4');
    driver.release('reserved4');
    driver.release('reserved4');
    assert.notEqual(third.uid, ids.uid);
  });

  it('has a read-only /var/task, a size-capped /tmp, and no host files', async () => {
    const script = [
      'touch /var/task/x 2>/dev/null && echo task-writable || echo task-ro',
      'touch /x 2>/dev/null && echo root-writable || echo root-ro',
      'cat /var/task/index.js >/dev/null && echo code-readable',
      'test -f /var/runtime/bootstrap && echo runtime-visible',
      'echo hi >/tmp/a && echo tmp-ok',
      // The message is captured in memory: /tmp, where it would go, is full.
      'msg=$(head -c 10485760 /dev/zero 2>&1 >/tmp/big); echo "fill=$? $msg"',
      `for p in /etc/shadow /root /work /home /var/lib ${root} /sys/fs/cgroup; do test -e "$p" && echo "visible $p"; done`,
      'echo etc: $(ls /etc)',
      'echo root: $(ls /)',
    ].join('\n');
    const s = await start(sh(script), { ephemeralStorageMb: 4 });
    const exit = await s.exited;
    const out = s.out.text();
    assert.deepEqual(exit, { code: 0, signal: null, oomKilled: false }, s.err.text());
    for (const line of ['task-ro', 'root-ro', 'code-readable', 'runtime-visible', 'tmp-ok']) {
      assert.match(out, new RegExp(`^${line}$`, 'm'));
    }
    assert.match(out, /^fill=1 .*No space left on device$/m);
    assert.doesNotMatch(out, /visible \//);
    assert.match(out, /^etc: alternatives group hosts ld\.so\.cache nsswitch\.conf passwd$/m);
    assert.match(out, /^root: bin dev etc lib (lib32 )?(lib64 )?(libx32 )?proc run sbin tmp usr var$/m);
  });

  it('mounts code late into a running sandbox, read-only, from a directory its uid cannot reach', async (t) => {
    if (!driver.lateCode) return t.skip('this host cannot mount code into a running sandbox');
    // The late mount is made by root, so unlike a bind at start the directories above the code may be private.
    const hidden = path.join(root, 'late-hidden');
    const late = path.join(hidden, 'code');
    mkdirSync(late, { recursive: true, mode: 0o755 });
    chmodSync(hidden, 0o700);
    writeFileSync(path.join(late, 'index.js'), 'late code\n');
    const api = await runtimeApi();
    const sandbox = await driver.create({
      id: `t${++n}`,
      runtimeDir,
      runtimeApiSocket: api.socket,
      argv: sh(
        [
          'echo waiting',
          // Bounded: the test fails on the missing line rather than hanging.
          'for i in $(seq 1000); do test -e /var/task/index.js && break; sleep 0.01; done',
          'cat /var/task/index.js',
          'touch /var/task/x 2>/dev/null && echo task-writable || echo task-ro',
        ].join('\n'),
      ),
      env: { PATH: '/usr/bin:/bin' },
      memoryMb: 128,
      ephemeralStorageMb: 8,
    });
    sandboxes.push(sandbox);
    const out = collect(sandbox.stdout);
    await out.waitFor(/waiting/);
    assert.ok(sandbox.specialize, 'a sandbox started without code can be specialised');
    await sandbox.specialize(late, 256);
    const exit = await sandbox.exited;
    assert.equal(exit.code, 0);
    assert.equal(out.text(), 'waiting\nlate code\ntask-ro\n');
    await assert.rejects(sandbox.specialize(late, 256), /already specialised/);
  });

  it('has no network but the relay to its own Runtime API socket', async () => {
    const tcp = createNetServer((c) => c.end('host-secret'));
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const port = (tcp.address() as AddressInfo).port;
    const api = await runtimeApi();
    const js = `
      const net = require('net');
      const c = net.connect(${port}, '127.0.0.1');
      c.on('data', (d) => console.log('LEAK ' + d));
      c.on('error', (e) => {
        console.log('host-port ' + e.code);
        const o = net.connect(80, '1.1.1.1');
        o.on('error', (e2) => {
          console.log('internet ' + e2.code);
          fetch('http://127.0.0.1:9001/2018-06-01/runtime/invocation/next')
            .then((r) => r.text()).then((t) => console.log('api ' + t));
        });
      });`;
    const s = await start(['/usr/bin/node', '-e', js], { runtimeApiSocket: api.socket });
    const exit = await s.exited;
    tcp.close();
    const out = s.out.text();
    assert.equal(exit.code, 0, s.err.text());
    assert.match(out, /^host-port ECONNREFUSED$/m);
    assert.match(out, /^internet ENETUNREACH$/m);
    assert.match(out, /^api pong \/2018-06-01\/runtime\/invocation\/next$/m);
    assert.doesNotMatch(out, /LEAK/);
    assert.deepEqual(api.paths, ['/2018-06-01/runtime/invocation/next']);
  });

  it('sees exactly spec.env', async () => {
    const env = { PATH: '/usr/bin:/bin', A: 'x y', EMPTY: '', PWD: '/not/the/cwd', 'odd.name': 'ok' };
    const s = await start(['/usr/bin/env', '-0'], { env });
    await s.exited;
    const seen = Object.fromEntries(
      s.out
        .text()
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    assert.deepEqual(seen, env);
  });

  it('starts Python and Node runtimes', async () => {
    const py = await start([
      '/usr/bin/python3',
      '-c',
      'import os, ssl, json; print("py", os.getuid(), os.getcwd())',
    ]);
    const node = await start([
      '/usr/bin/node',
      '-e',
      'console.log("node", process.getuid(), process.cwd(), require("os").userInfo().username)',
    ]);
    assert.equal((await py.exited).code, 0, py.err.text());
    assert.equal((await node.exited).code, 0, node.err.text());
    assert.equal(py.out.text(), 'py 993 /var/task\n');
    assert.equal(node.out.text(), 'node 993 /var/task sbx_user1051\n');
  });

  it('OOM-kills only the sandbox that exceeds its memory', async () => {
    const bystander = await start(sh('echo up; exec sleep 30'));
    await bystander.out.waitFor(/up/);
    let bystanderExited = false;
    void bystander.exited.then(() => (bystanderExited = true));
    const hog = await start(
      ['/usr/bin/node', '-e', 'const a = []; for (;;) a.push(Buffer.alloc(4 << 20, 1));'],
      {
        memoryMb: 64,
      },
    );
    const exit = await hog.exited;
    assert.deepEqual(exit, { code: null, signal: 'SIGKILL', oomKilled: true });
    const peak = await hog.maxMemoryBytes();
    assert.ok(
      peak !== undefined && peak > 48 << 20 && peak <= 64 << 20,
      `peak ${peak} is near the 64 MiB limit`,
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(bystanderExited, false, 'the other sandbox survives');
    assert.ok(pidsOf(bystander.id).length > 0);
    assert.ok(((await bystander.maxMemoryBytes()) ?? 0) > 0);
    await bystander.destroy();
    assert.deepEqual(await bystander.exited, { code: null, signal: 'SIGKILL', oomKilled: false });
  });

  it('stops a fork loop at the pids limit', async () => {
    const s = await start(sh('for i in $(seq 5000); do sleep 5 & done; echo finished'));
    const exit = await s.exited;
    assert.notEqual(exit.code, 0);
    assert.match(s.err.text(), /Cannot fork/);
    assert.doesNotMatch(s.out.text(), /finished/);
    const hits = /^max (\d+)/m.exec(readFileSync(cgroupFile(s.id, 'pids.events'), 'utf8'));
    assert.ok(Number(hits?.[1]) > 0, 'pids.events counts the refused forks');
    assert.equal(readFileSync(cgroupFile(s.id, 'pids.max'), 'utf8').trim(), '64');
  });

  it('applies the CPU share in proportion to memory once INIT is over', async () => {
    const s = await start(sh('echo up; exec sleep 30'), { memoryMb: 192 });
    await s.out.waitFor(/up/);
    const quota = driver.cgroupInfo.version === 1 ? 'cpu.cfs_quota_us' : 'cpu.max';
    assert.match(readFileSync(cgroupFile(s.id, quota), 'utf8').trim(), /^(-1|max)/, 'INIT runs unthrottled');
    await s.limitCpu();
    // 192 MB at 256 MB per vCPU (this suite's setting) is three quarters of a CPU.
    if (driver.cgroupInfo.version === 1) {
      assert.equal(readFileSync(cgroupFile(s.id, 'cpu.cfs_quota_us'), 'utf8').trim(), '75000');
      assert.equal(readFileSync(cgroupFile(s.id, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
      assert.equal(readFileSync(cgroupFile(s.id, 'memory.limit_in_bytes'), 'utf8').trim(), String(192 << 20));
    } else {
      assert.equal(readFileSync(cgroupFile(s.id, 'cpu.max'), 'utf8').trim(), '75000 100000');
      assert.equal(readFileSync(cgroupFile(s.id, 'memory.max'), 'utf8').trim(), String(192 << 20));
    }
    await s.destroy();
  });

  it('freezes and thaws', async () => {
    const s = await start(['/usr/bin/node', '-e', 'let i = 0; setInterval(() => console.log(++i), 10);']);
    await s.out.waitFor(/^3$/m);
    await s.freeze();
    // Lines written just before the freeze may still be in the pipe; let them arrive before the snapshot.
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (driver.cgroupInfo.version === 1) {
      assert.equal(readFileSync(cgroupFile(s.id, 'freezer.state'), 'utf8').trim(), 'FROZEN');
      for (const pid of pidsOf(s.id)) {
        // v1 parks frozen tasks uninterruptibly in the refrigerator.
        assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^State:\s+D/m, `pid ${pid} is frozen`);
      }
    } else {
      assert.match(readFileSync(cgroupFile(s.id, 'cgroup.events'), 'utf8'), /^frozen 1$/m);
    }
    const frozenAt = s.out.text();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(s.out.text(), frozenAt, 'no output while frozen');
    await s.thaw();
    const last = Number(frozenAt.trim().split('\n').pop());
    await s.out.waitFor(new RegExp(`^${last + 2}$`, 'm'));
    await s.destroy();
  });

  it('destroy kills every process, removes the cgroups, and is idempotent', async () => {
    const s = await start(sh('sleep 100 & sleep 100 & (sleep 100 &) ; echo started; wait'));
    await s.out.waitFor(/started/);
    const pids = pidsOf(s.id);
    assert.ok(pids.length >= 5, `bwrap, init, sh and the sleeps: ${pids.join(' ')}`);
    await Promise.all([s.destroy(), s.destroy()]);
    await s.destroy();
    for (const pid of pids) assert.equal(existsSync(`/proc/${pid}`), false, `pid ${pid} is gone`);
    for (const dir of cgroupDirs(s.id)) assert.equal(existsSync(dir), false, `${dir} is removed`);
    assert.equal((await s.exited).signal, 'SIGKILL');
    await assert.rejects(s.freeze(), /destroyed/);
    assert.equal(await s.maxMemoryBytes(), undefined);
  });

  it('keeps sandboxes out of each other (pid namespace)', async () => {
    const b = await start(sh('echo up; exec sleep 31'));
    await b.out.waitFor(/up/);
    const a = await start(
      sh(
        'echo "pids: $(ls -d /proc/[0-9]* | wc -l)"; cat /proc/[0-9]*/cmdline | tr "\\0" " "; echo; cat /proc/1/comm',
      ),
    );
    await a.exited;
    assert.doesNotMatch(a.out.text(), /sleep 31/);
    assert.match(a.out.text(), /^bwrap$/m, 'pid 1 is the sandbox’s own init');
    const count = Number(/pids: (\d+)/.exec(a.out.text())?.[1]);
    assert.ok(count > 0 && count < 10, `only its own few processes (${count})`);
    await b.destroy();
  });

  it('refuses specs it cannot run, naming the step, and leaves nothing behind', async () => {
    const hidden = path.join(root, 'hidden');
    mkdirSync(path.join(hidden, 'code'), { recursive: true, mode: 0o700 });
    chmodSync(hidden, 0o700);
    await assert.rejects(
      start(sh('true'), { codeDir: path.join(hidden, 'code') }),
      /codeDir .* is not reachable by the sandbox user .*chmod o\+x/,
    );
    writeFileSync(path.join(root, 'not-a-socket'), '');
    await assert.rejects(
      start(sh('true'), { runtimeApiSocket: path.join(root, 'not-a-socket') }),
      /not a unix socket/,
    );
    await assert.rejects(start(sh('true'), { memoryMb: 0 }), /memoryMb must be a positive integer/);
    await assert.rejects(start(sh('true'), { id: '../escape' }), /invalid sandbox id/);

    const noRelay = new SandboxDriver({ ...options, ...spareUids, tools: { socat: '/usr/bin/false' } });
    const api = await runtimeApi();
    const spec = {
      id: 'norelay',
      codeDir,
      runtimeDir,
      runtimeApiSocket: api.socket,
      argv: ['/usr/bin/true'],
      env: {},
      memoryMb: 128,
      ephemeralStorageMb: 1,
    };
    await assert.rejects(
      noRelay.create(spec),
      /sandbox norelay failed to start: it exited \(exit status 125\).*relay \(socat\) exited/s,
    );
    for (const dir of cgroupDirs('norelay')) assert.equal(existsSync(dir), false);
  });

  it('cleanupOrphans kills and removes what a crashed run left', async () => {
    const s = await start(sh('echo up; exec sleep 30'));
    await s.out.waitFor(/up/);
    // A new driver on the same parent stands for the next run after a crash.
    await new SandboxDriver({ ...options, ...spareUids }).cleanupOrphans();
    assert.equal((await s.exited).signal, 'SIGKILL');
    for (const dir of cgroupDirs(s.id)) assert.equal(existsSync(dir), false);
    await s.destroy();
  });

  it('reports sandbox start latency (informational)', async () => {
    const time = async (argv: string[]): Promise<[number, number]> => {
      const t0 = performance.now();
      const s = await start(argv, { memoryMb: 1769 });
      const ready = performance.now() - t0;
      await s.out.waitFor(/./);
      const first = performance.now() - t0;
      await s.destroy();
      return [ready, first];
    };
    const [readyTrue, firstSh] = await time(sh('echo x'));
    const [, firstNode] = await time(['/usr/bin/node', '-e', 'console.log(1)']);
    const plain = await new Promise<number>((resolve) => {
      const t0 = performance.now();
      const c = spawn('/usr/bin/node', ['-e', 'console.log(1)'], {
        env: {},
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      c.stdout.once('data', () => resolve(performance.now() - t0));
    });
    const f = (x: number): string => `${x.toFixed(0)} ms`;
    console.log(
      `sandbox ready ${f(readyTrue)}, first line: sh ${f(firstSh)}, node ${f(firstNode)} (unsandboxed node ${f(plain)})`,
    );
  });
});

describe('cgroup v2 freeze and kill on a real unified hierarchy', () => {
  const unified = '/sys/fs/cgroup/unified';
  const usable =
    isRoot &&
    existsSync(path.join(unified, 'cgroup.procs')) &&
    !existsSync('/sys/fs/cgroup/cgroup.controllers');
  it(
    'freezes, thaws and kills through cgroup.freeze / cgroup.kill',
    { skip: usable ? false : 'no hybrid v2 mount here' },
    async () => {
      // Only the controller-free parts of v2 (freeze, kill, procs) exist on a hybrid host; limits are unit-tested.
      const hierarchy = new CgroupV2(unified, parent, signalProcess);
      const dir = path.join(unified, parent, 'env');
      mkdirSync(dir, { recursive: true });
      const child = spawn('/bin/sh', ['-c', 'read -r _; while :; do echo tick; sleep 0.01; done'], {
        stdio: ['pipe', 'pipe', 'ignore'],
      });
      const out = collect(child.stdout);
      writeFileSync(path.join(dir, 'cgroup.procs'), String(child.pid));
      child.stdin.end('go\n');
      await out.waitFor(/tick/);
      const cg = hierarchy.open('env');
      await cg.freeze(2000);
      assert.match(readFileSync(path.join(dir, 'cgroup.events'), 'utf8'), /^frozen 1$/m);
      await cg.thaw(2000);
      assert.match(readFileSync(path.join(dir, 'cgroup.events'), 'utf8'), /^frozen 0$/m);
      await cg.freeze(2000);
      const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      await cg.killAll(2000);
      assert.equal(await exited, 'SIGKILL');
      assert.deepEqual(await cg.pids(), []);
      await cg.remove(2000);
      assert.equal(existsSync(dir), false);
      rmdirSync(path.join(unified, parent));
    },
  );
});

describe('launch plan', () => {
  it('builds the documented command line', () => {
    const plan = planLaunch({
      spec: {
        id: 'e1',
        codeDir: '/data/code/abc',
        runtimeDir: '/opt/kiln/runtimes',
        runtimeApiSocket: '/run/kiln/e1.sock',
        argv: ['/var/runtime/bootstrap'],
        env: { AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001', SECRET: 's3cr3t' },
        memoryMb: 128,
        ephemeralStorageMb: 512,
      },
      uid: 200_007,
      gid: 200_007,
      procsFiles: ['/sys/fs/cgroup/kiln/e1/cgroup.procs'],
      tools: defaultTools,
      rootEntries: [
        { name: 'bin', kind: 'symlink', target: 'usr/bin' },
        { name: 'lib', kind: 'dir' },
      ],
      hostname: 'kiln',
    });
    assert.equal(plan.file, '/bin/sh');
    const args = plan.args.join(' ');
    assert.match(
      args,
      / kiln-launch \/sys\/fs\/cgroup\/kiln\/e1\/cgroup\.procs -- \/usr\/bin\/setpriv --reuid 200007 --regid 200007 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- \/usr\/bin\/bwrap --args 3 -- \/usr\/bin\/bash -c /,
    );
    assert.equal(plan.args.at(-1), '/var/runtime/bootstrap');
    assert.doesNotMatch(args, /s3cr3t/, 'env values stay out of the visible command line');
    const opts = plan.bwrapOptions.join(' ');
    assert.match(opts, /--symlink usr\/bin \/bin --ro-bind \/lib \/lib /);
    assert.match(
      opts,
      /--ro-bind \/data\/code\/abc \/var\/task --ro-bind \/opt\/kiln\/runtimes \/var\/runtime --bind \/run\/kiln\/e1\.sock \/run\/kiln\/runtime\.sock --size 536870912 --tmpfs \/tmp/,
    );
    assert.match(
      opts,
      / --clearenv --setenv AWS_LAMBDA_RUNTIME_API 127\.0\.0\.1:9001 --setenv SECRET s3cr3t$/,
    );
    assert.deepEqual(
      plan.files.map((f) => `${f.fd} ${f.path}`),
      ['5 /etc/passwd', '6 /etc/group', '7 /etc/hosts', '8 /etc/nsswitch.conf'],
    );
  });

  it('refuses variables bwrap or the kernel cannot carry', () => {
    const base = {
      id: 'e',
      codeDir: '/c',
      runtimeDir: '/r',
      runtimeApiSocket: '/s',
      argv: ['x'],
      memoryMb: 128,
      ephemeralStorageMb: 512,
    };
    const plan = (env: Record<string, string>) => () =>
      planLaunch({
        spec: { ...base, env },
        uid: 1,
        gid: 1,
        procsFiles: [],
        tools: defaultTools,
        rootEntries: [],
        hostname: 'k',
      });
    assert.throws(plan({ 'A=B': 'x' }), /invalid environment variable/);
    assert.throws(plan({ A: 'x\0y' }), /invalid environment variable/);
  });
});

describe('UidPool', () => {
  it('hands out distinct uids, reuses released ones last, and says when it is exhausted', () => {
    const pool = new UidPool(300_000, 3);
    const [a, b, c] = [pool.allocate(), pool.allocate(), pool.allocate()];
    assert.deepEqual([a, b, c], [300_000, 300_001, 300_002]);
    assert.throws(() => pool.allocate(), /no free sandbox uid: all 3 uids from 300000 are in use/);
    pool.release(b);
    assert.equal(pool.allocate(), 300_001);
    pool.release(a);
    pool.release(c);
    assert.equal(pool.allocate(), 300_002);
    assert.throws(() => new UidPool(0, 10), /base must be an integer >= 1000/);
  });
});
