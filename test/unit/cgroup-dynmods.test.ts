// favordynmods: which mount gets remounted with which options, and what happens when it cannot be.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  favorDynamicMigrations,
  parseCgroupMounts,
  planDynmods,
} from '../../src/worker/drivers/sandbox/cgroup-dynmods.js';

// This VM's layout (hybrid: v1 controllers plus an empty unified tree), and a systemd cgroup2-only host.
const hybrid = [
  '22 1 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
  '30 22 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '32 30 0:28 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '33 30 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const systemd =
  '35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';

const dir = mkdtempSync(path.join(tmpdir(), 'kiln-dynmods-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const mountinfo = (text: string): string => {
  const file = path.join(dir, `mountinfo-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, text);
  return file;
};

describe('favordynmods', () => {
  it('reads cgroup mounts from mountinfo, optional fields and escaped spaces included', () => {
    const mounts = parseCgroupMounts(
      `${hybrid}\n40 30 0:31 / /sys/fs/cgroup/with\\040space rw shared:1 master:2 - cgroup2 none rw,favordynmods\n`,
    );
    assert.deepEqual(
      mounts.map((m) => [m.mountPoint, m.fsType, m.superOptions.join(',')]),
      [
        ['/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'],
        ['/sys/fs/cgroup/pids', 'cgroup', 'rw,pids'],
        ['/sys/fs/cgroup/unified', 'cgroup2', 'rw'],
        ['/sys/fs/cgroup/with space', 'cgroup2', 'rw,favordynmods'],
      ],
    );
  });

  it('remounts the cgroup2 mount keeping every option it has', () => {
    assert.deepEqual(planDynmods(parseCgroupMounts(systemd)), {
      kind: 'remount',
      mountPoint: '/sys/fs/cgroup',
      options: 'remount,rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot,favordynmods',
    });
    assert.deepEqual(
      planDynmods(parseCgroupMounts(systemd.replace('rw,nsdelegate', 'rw,seclabel,nsdelegate'))),
      {
        kind: 'remount',
        mountPoint: '/sys/fs/cgroup',
        options: 'remount,rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot,favordynmods',
      },
    );
    assert.deepEqual(planDynmods(parseCgroupMounts(hybrid)), {
      kind: 'remount',
      mountPoint: '/sys/fs/cgroup/unified',
      options: 'remount,rw,relatime,favordynmods',
    });
  });

  it('does nothing when any hierarchy already has it (the lock it relaxes is global)', () => {
    const v1On = hybrid.replace('rw,memory', 'rw,memory,favordynmods');
    assert.deepEqual(planDynmods(parseCgroupMounts(v1On)), {
      kind: 'on',
      mountPoint: '/sys/fs/cgroup/memory',
    });
  });

  it('says why when only v1 hierarchies exist', () => {
    const plan = planDynmods(parseCgroupMounts(hybrid.split('\n').slice(0, 4).join('\n')));
    assert.equal(plan.kind, 'unavailable');
    assert.match(plan.kind === 'unavailable' ? plan.why : '', /no cgroup2 mount.*first mounted/);
  });

  it('runs mount with the plan, and reports a failing mount instead of throwing', async () => {
    const calls: string[][] = [];
    const ok = await favorDynamicMigrations(mountinfo(systemd), async (args) => {
      calls.push([...args]);
    });
    assert.deepEqual(ok, { kind: 'turned-on', mountPoint: '/sys/fs/cgroup' });
    assert.deepEqual(calls, [
      [
        '-o',
        'remount,rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot,favordynmods',
        '/sys/fs/cgroup',
      ],
    ]);

    const failed = await favorDynamicMigrations(mountinfo(systemd), () =>
      Promise.reject(Object.assign(new Error('exit 32'), { stderr: 'mount: bad option\n' })),
    );
    assert.equal(failed.kind, 'off');
    assert.match(
      failed.kind === 'off' ? failed.why : '',
      /failed \(Linux 6\.2\+ knows favordynmods\): mount: bad option$/,
    );

    const missing = await favorDynamicMigrations(path.join(dir, 'absent'));
    assert.equal(missing.kind, 'off');
  });
});
