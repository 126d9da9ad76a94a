// The cgroup v1 and v2 writers against fake cgroup trees in a temp directory: which files get which values,
// how killing and freezing proceed. A tiny "fake kernel" plays the parts of cgroupfs that react to writes.
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CgroupV1,
  CgroupV2,
  cpuQuotaFor,
  detectCgroups,
  type KillFn,
} from '../../src/worker/drivers/sandbox/cgroups.js';

const base = mkdtempSync(path.join(tmpdir(), 'kiln-cgroups-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => {
  const dir = path.join(base, `t${++n}`);
  mkdirSync(dir);
  return dir;
};
const read = (file: string): string => readFileSync(file, 'utf8');
const write = (file: string, text: string): void => writeFileSync(file, text);
const limits = { memoryBytes: 128 * 1024 * 1024, pidsMax: 1024 };
const noKill: KillFn = () => assert.fail('no process may be signalled here');

/** Records signals and, like the kernel, drops a killed pid from every cgroup.procs given. */
function fakeKill(procsFiles: () => string[], onKill?: (pid: number) => void): KillFn & { killed: number[] } {
  const killed: number[] = [];
  const fn = (pid: number, signal: NodeJS.Signals): void => {
    assert.equal(signal, 'SIGKILL');
    killed.push(pid);
    onKill?.(pid);
    for (const f of procsFiles()) {
      write(
        f,
        read(f)
          .split('\n')
          .filter((l) => l !== '' && Number(l) !== pid)
          .map((l) => `${l}\n`)
          .join(''),
      );
    }
  };
  return Object.assign(fn, { killed });
}

/** A v1 tree: a directory per controller with the `kiln` parent already holding each controller's files. */
function v1Tree(opts: { memsw?: boolean; comountCpuacct?: boolean } = {}): string {
  const root = fresh();
  const files: Record<string, string[]> = {
    memory: ['memory.limit_in_bytes', ...(opts.memsw === false ? [] : ['memory.memsw.limit_in_bytes'])],
    pids: ['pids.max'],
    cpu: ['cpu.cfs_quota_us'],
    freezer: ['freezer.state'],
    cpuacct: ['cpuacct.usage'],
  };
  for (const [controller, names] of Object.entries(files)) {
    if (controller === 'cpuacct' && opts.comountCpuacct) {
      symlinkSync(path.join(root, 'cpu'), path.join(root, 'cpuacct'));
      continue;
    }
    mkdirSync(path.join(root, controller, 'kiln'), { recursive: true });
    for (const f of names) write(path.join(root, controller, 'kiln', f), '');
  }
  return root;
}

/** A v2 tree: the root offers controllers; `kiln` exists with cgroup.freeze (a 5.2+ kernel). */
function v2Tree(opts: { controllers?: string; enabled?: string; swap?: boolean } = {}): string {
  const root = fresh();
  write(
    path.join(root, 'cgroup.controllers'),
    `${opts.controllers ?? 'cpuset cpu io memory hugetlb pids rdma misc'}\n`,
  );
  write(path.join(root, 'cgroup.subtree_control'), opts.enabled ?? '');
  mkdirSync(path.join(root, 'kiln'));
  write(path.join(root, 'kiln', 'cgroup.subtree_control'), '');
  write(path.join(root, 'kiln', 'cgroup.freeze'), '0');
  if (opts.swap !== false) write(path.join(root, 'kiln', 'memory.swap.max'), 'max');
  return root;
}

/** Plays cgroupfs for a v2 leaf: cgroup.freeze shows up in cgroup.events, a write to cgroup.kill empties it. */
function fakeV2Kernel(dir: string): { stop(): void } {
  const timer = setInterval(() => {
    const freeze = existsSync(path.join(dir, 'cgroup.freeze'))
      ? read(path.join(dir, 'cgroup.freeze')).trim()
      : '0';
    const kill = path.join(dir, 'cgroup.kill');
    if (existsSync(kill) && read(kill).trim() === '1') write(path.join(dir, 'cgroup.procs'), '');
    const populated = read(path.join(dir, 'cgroup.procs')).trim() === '' ? 0 : 1;
    write(path.join(dir, 'cgroup.events'), `populated ${populated}\nfrozen ${freeze === '1' ? 1 : 0}\n`);
  }, 1);
  return { stop: () => clearInterval(timer) };
}

describe('detectCgroups', () => {
  it('picks v2 for a unified mount, v1 for controller directories, and says what it looked for otherwise', () => {
    assert.equal(detectCgroups({ root: v2Tree(), parent: 'kiln' }).version, 2);
    assert.equal(detectCgroups({ root: v1Tree(), parent: 'kiln' }).version, 1);
    assert.throws(
      () => detectCgroups({ root: fresh(), parent: 'kiln' }),
      /no cgroup hierarchy at .*cgroup\.controllers.*cgroupRoot/,
    );
  });

  it('refuses parent and environment names that could leave the tree', () => {
    assert.throws(() => detectCgroups({ root: v2Tree(), parent: '../x' }), /invalid sandbox id/);
    const v2 = detectCgroups({ root: v2Tree(), parent: 'kiln' });
    assert.throws(() => v2.open('a/b'), /invalid sandbox id/);
    assert.throws(() => v2.open('..'), /invalid sandbox id/);
  });
});

describe('cpuQuotaFor', () => {
  it('gives one vCPU per 1,769 MB, with the kernel minimum of 1 ms', () => {
    assert.equal(cpuQuotaFor(1769, 100_000), 100_000);
    assert.equal(cpuQuotaFor(128, 100_000), 7236);
    assert.equal(cpuQuotaFor(3538, 100_000), 200_000);
    assert.equal(cpuQuotaFor(10_240, 100_000), 578_858);
    assert.equal(cpuQuotaFor(1, 100_000), 1000);
    assert.equal(cpuQuotaFor(128, 100_000, 256), 50_000);
  });
});

describe('cgroup v1', () => {
  it('creates the environment in every controller and writes its limits', async () => {
    const root = v1Tree();
    const v1 = new CgroupV1(root, 'kiln', noKill);
    const cg = await v1.create('env1', limits);
    const at = (c: string, f: string): string => read(path.join(root, c, 'kiln', 'env1', f));
    assert.equal(at('memory', 'memory.limit_in_bytes'), String(128 << 20));
    assert.equal(at('memory', 'memory.memsw.limit_in_bytes'), String(128 << 20));
    assert.equal(existsSync(path.join(root, 'memory', 'kiln', 'env1', 'memory.swappiness')), false);
    assert.equal(at('pids', 'pids.max'), '1024');
    assert.ok(existsSync(path.join(root, 'cpuacct', 'kiln', 'env1')));
    await cg.limitCpu({ quotaUs: 7236, periodUs: 100_000 });
    assert.equal(at('cpu', 'cpu.cfs_period_us'), '100000');
    assert.equal(at('cpu', 'cpu.cfs_quota_us'), '7236');
    // A zygote taking on a function's MemorySize: memory+swap moves with memory, up and down.
    await cg.setMemoryLimit(512 << 20);
    assert.equal(at('memory', 'memory.limit_in_bytes'), String(512 << 20));
    assert.equal(at('memory', 'memory.memsw.limit_in_bytes'), String(512 << 20));
    await cg.setMemoryLimit(256 << 20);
    assert.equal(at('memory', 'memory.limit_in_bytes'), String(256 << 20));
    assert.equal(at('memory', 'memory.memsw.limit_in_bytes'), String(256 << 20));
    assert.deepEqual(
      [...cg.procsFiles].sort(),
      ['cpu', 'cpuacct', 'freezer', 'memory', 'pids'].map((c) =>
        path.join(root, c, 'kiln', 'env1', 'cgroup.procs'),
      ),
    );
    assert.deepEqual(await v1.list(), ['env1']);
    await assert.rejects(v1.create('env1', limits), /cgroup env1: already exists/);
  });

  it('joins a co-mounted cpu,cpuacct once, and turns swapping off without memsw', async () => {
    const root = v1Tree({ memsw: false, comountCpuacct: true });
    const cg = await new CgroupV1(root, 'kiln', noKill).create('env1', limits);
    assert.equal(cg.procsFiles.length, 4);
    assert.equal(read(path.join(root, 'memory', 'kiln', 'env1', 'memory.swappiness')), '0');
    assert.equal(existsSync(path.join(root, 'memory', 'kiln', 'env1', 'memory.memsw.limit_in_bytes')), false);
  });

  it('says which controller is missing and how to mount it', async () => {
    const root = v1Tree();
    rmSync(path.join(root, 'freezer'), { recursive: true });
    await assert.rejects(
      new CgroupV1(root, 'kiln', noKill).prepare(),
      /the freezer controller is not mounted .*mount -t cgroup -o freezer/,
    );
    const wrong = v1Tree();
    rmSync(path.join(wrong, 'pids', 'kiln', 'pids.max'));
    await assert.rejects(
      new CgroupV1(wrong, 'kiln', noKill).prepare(),
      /is not a pids controller hierarchy \(no pids\.max/,
    );
  });

  it('freezes through freezer.state and names the wait that timed out', async () => {
    const root = v1Tree();
    const cg = await new CgroupV1(root, 'kiln', noKill).create('env1', limits);
    const state = path.join(root, 'freezer', 'kiln', 'env1', 'freezer.state');
    await cg.freeze(1000);
    assert.equal(read(state), 'FROZEN');
    await cg.thaw(1000);
    assert.equal(read(state), 'THAWED');
    // A freezer that never reports FROZEN (a task that never reaches the refrigerator): writes are taken, and
    // reads say nothing.
    const stuck = await new CgroupV1(root, 'kiln', noKill).create('env2', limits);
    const stuckState = path.join(root, 'freezer', 'kiln', 'env2', 'freezer.state');
    rmSync(stuckState, { force: true });
    symlinkSync('/dev/null', stuckState);
    await assert.rejects(
      stuck.freeze(50),
      /cgroup env2: waiting for freezer\.state FROZEN: not done after 50 ms/,
    );
  });

  it('reads OOM kills and peak memory', async () => {
    const root = v1Tree();
    const cg = await new CgroupV1(root, 'kiln', noKill).create('env1', limits);
    const mem = (f: string): string => path.join(root, 'memory', 'kiln', 'env1', f);
    write(mem('memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n');
    assert.equal(await cg.oomKilled(), false);
    write(mem('memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    assert.equal(await cg.oomKilled(), true);
    // Kernels before 4.13 have no oom_kill line: hitting the limit is taken as the sign.
    write(mem('memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\n');
    write(mem('memory.failcnt'), '3\n');
    assert.equal(await cg.oomKilled(), true);
    write(mem('memory.max_usage_in_bytes'), '4096\n');
    assert.equal(await cg.peakMemoryBytes(), 4096);
  });

  it('kills every pid while frozen, then thaws, until cgroup.procs is empty', async () => {
    const root = v1Tree();
    const procs = (): string[] =>
      ['memory', 'pids', 'cpu', 'freezer', 'cpuacct'].map((c) =>
        path.join(root, c, 'kiln', 'env1', 'cgroup.procs'),
      );
    const states: string[] = [];
    const kill = fakeKill(procs, () =>
      states.push(read(path.join(root, 'freezer', 'kiln', 'env1', 'freezer.state'))),
    );
    const cg = await new CgroupV1(root, 'kiln', kill).create('env1', limits);
    for (const f of procs()) write(f, '11\n12\n');
    // A launcher that joined only some hierarchies before it died is found too.
    write(path.join(root, 'pids', 'kiln', 'env1', 'cgroup.procs'), '11\n12\n13\n');
    await cg.killAll(1000);
    assert.deepEqual(kill.killed.sort(), [11, 12, 13]);
    assert.deepEqual(states, ['FROZEN', 'FROZEN', 'FROZEN']);
    assert.equal(read(path.join(root, 'freezer', 'kiln', 'env1', 'freezer.state')), 'THAWED');
    assert.deepEqual(await cg.pids(), []);
  });

  it('gives up on a process that will not die, naming the step', async () => {
    const root = v1Tree();
    const cg = await new CgroupV1(root, 'kiln', () => undefined).create('env1', limits);
    write(path.join(root, 'pids', 'kiln', 'env1', 'cgroup.procs'), '77\n');
    await assert.rejects(cg.killAll(30), /cgroup env1: killing every process: not done after 30 ms/);
  });

  it('lists environments left in any hierarchy', async () => {
    const root = v1Tree();
    mkdirSync(path.join(root, 'memory', 'kiln', 'a'));
    mkdirSync(path.join(root, 'pids', 'kiln', 'b'));
    assert.deepEqual(await new CgroupV1(root, 'kiln', noKill).list(), ['a', 'b']);
  });
});

describe('cgroup v2', () => {
  it('enables memory, pids and cpu down to the parent and writes the limits', async () => {
    const root = v2Tree();
    const v2 = new CgroupV2(root, 'kiln', noKill);
    const cg = await v2.create('env1', limits);
    assert.equal(read(path.join(root, 'cgroup.subtree_control')), '+memory +pids +cpu');
    assert.equal(read(path.join(root, 'kiln', 'cgroup.subtree_control')), '+memory +pids +cpu');
    const at = (f: string): string => read(path.join(root, 'kiln', 'env1', f));
    assert.equal(at('memory.max'), String(128 << 20));
    assert.equal(at('memory.swap.max'), '0');
    assert.equal(at('pids.max'), '1024');
    await cg.limitCpu({ quotaUs: 7236, periodUs: 100_000 });
    assert.equal(at('cpu.max'), '7236 100000');
    await cg.setMemoryLimit(512 << 20);
    assert.equal(at('memory.max'), String(512 << 20));
    assert.deepEqual(cg.procsFiles, [path.join(root, 'kiln', 'env1', 'cgroup.procs')]);
    assert.deepEqual(await v2.list(), ['env1']);
    await assert.rejects(v2.create('env1', limits), /cannot create .*env1: already exists/);
  });

  it('enables only what is missing, and skips swap when it is not accounted', async () => {
    const root = v2Tree({ enabled: 'cpu memory pids io\n', swap: false });
    await new CgroupV2(root, 'kiln', noKill).create('env1', limits);
    assert.equal(read(path.join(root, 'cgroup.subtree_control')), 'cpu memory pids io\n');
    assert.equal(existsSync(path.join(root, 'kiln', 'env1', 'memory.swap.max')), false);
  });

  it('explains missing controllers, an unwritable subtree_control and an old kernel', async () => {
    await assert.rejects(
      new CgroupV2(v2Tree({ controllers: 'cpu io' }), 'kiln', noKill).prepare(),
      /does not offer the memory, pids controller\(s\) \(cgroup\.controllers: "cpu io"\).*Delegate=yes/,
    );
    const busy = v2Tree();
    // A dangling symlink reads as absent and refuses the write, as a busy subtree_control would.
    rmSync(path.join(busy, 'cgroup.subtree_control'));
    symlinkSync(path.join(busy, 'no-such-dir', 'x'), path.join(busy, 'cgroup.subtree_control'));
    await assert.rejects(
      new CgroupV2(busy, 'kiln', noKill).prepare(),
      /enabling controllers: .*holds processes itself.*EBUSY/s,
    );
    const old = v2Tree();
    rmSync(path.join(old, 'kiln', 'cgroup.freeze'));
    await assert.rejects(
      new CgroupV2(old, 'kiln', noKill).prepare(),
      /no cgroup\.freeze: the kernel is too old/,
    );
  });

  it('freezes and thaws through cgroup.freeze, waiting for cgroup.events', async () => {
    const root = v2Tree();
    const cg = await new CgroupV2(root, 'kiln', noKill).create('env1', limits);
    const dir = path.join(root, 'kiln', 'env1');
    write(path.join(dir, 'cgroup.procs'), '5\n');
    write(path.join(dir, 'cgroup.events'), 'populated 1\nfrozen 0\n');
    await assert.rejects(
      cg.freeze(30),
      /cgroup env1: waiting for cgroup\.events "frozen 1": not done after 30 ms/,
    );
    const kernel = fakeV2Kernel(dir);
    try {
      await cg.freeze(1000);
      assert.equal(read(path.join(dir, 'cgroup.freeze')), '1');
      assert.match(read(path.join(dir, 'cgroup.events')), /^frozen 1$/m);
      await cg.thaw(1000);
      assert.equal(read(path.join(dir, 'cgroup.freeze')), '0');
      assert.match(read(path.join(dir, 'cgroup.events')), /^frozen 0$/m);
    } finally {
      kernel.stop();
    }
  });

  it('kills through cgroup.kill when the kernel has it, without signalling pids', async () => {
    const root = v2Tree();
    const cg = await new CgroupV2(root, 'kiln', noKill).create('env1', limits);
    const dir = path.join(root, 'kiln', 'env1');
    write(path.join(dir, 'cgroup.procs'), '21\n22\n');
    write(path.join(dir, 'cgroup.kill'), '');
    const kernel = fakeV2Kernel(dir);
    try {
      await cg.killAll(1000);
    } finally {
      kernel.stop();
    }
    assert.equal(read(path.join(dir, 'cgroup.kill')), '1');
    assert.deepEqual(await cg.pids(), []);
  });

  it('falls back to freezing and signalling every pid before Linux 5.14', async () => {
    const root = v2Tree();
    const dir = path.join(root, 'kiln', 'env1');
    const frozenAtKill: string[] = [];
    const kill = fakeKill(
      () => [path.join(dir, 'cgroup.procs')],
      () => frozenAtKill.push(read(path.join(dir, 'cgroup.freeze'))),
    );
    const cg = await new CgroupV2(root, 'kiln', kill).create('env1', limits);
    write(path.join(dir, 'cgroup.procs'), '31\n32\n');
    const kernel = fakeV2Kernel(dir);
    try {
      await cg.killAll(1000);
    } finally {
      kernel.stop();
    }
    assert.deepEqual(kill.killed.sort(), [31, 32]);
    assert.deepEqual(frozenAtKill, ['1', '1']);
    assert.equal(read(path.join(dir, 'cgroup.freeze')), '0');
  });

  it('reads OOM kills and peak memory, falling back to memory.current', async () => {
    const root = v2Tree();
    const cg = await new CgroupV2(root, 'kiln', noKill).create('env1', limits);
    const dir = path.join(root, 'kiln', 'env1');
    write(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 9\noom 1\noom_kill 0\n');
    assert.equal(await cg.oomKilled(), false);
    write(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n');
    assert.equal(await cg.oomKilled(), true);
    write(path.join(dir, 'memory.current'), '1000\n');
    assert.equal(await cg.peakMemoryBytes(), 1000);
    write(path.join(dir, 'memory.peak'), '5000\n');
    assert.equal(await cg.peakMemoryBytes(), 5000);
  });

  it('treats an environment that is already gone as killed', async () => {
    const cg = new CgroupV2(v2Tree(), 'kiln', noKill).open('gone');
    await cg.killAll(100);
    await cg.thaw(100);
    await cg.remove(100);
    assert.deepEqual(await cg.pids(), []);
  });
});
