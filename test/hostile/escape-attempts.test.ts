// A function that tries to break out of its environment: signal, ptrace or read the memory of other
// processes, mount, gain privileges, exhaust file descriptors. Each attempt fails or stays inside its own sandbox, and a
// benign function's warm environment keeps serving throughout (the same environment, not a replacement).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { nodeProbe, nodeZip, pythonZip } from '../support/functions.js';
import { nodeFunction, payloadJson, sdk } from '../support/lambda.js';
import { sandboxPids } from '../support/sandboxes.js';
import { removeDir, startKiln, type KilnProcess } from '../support/server.js';

/** Runs one named attack and reports what it achieved; never throws on its own. */
const attacker = `
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const status = () => Object.fromEntries(
  fs.readFileSync('/proc/self/status', 'utf8').split('\\n').filter(Boolean).map((l) => l.split(/:\\s+/)));
const attacks = {
  processes: () => ({
    pids: fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).map(Number),
    self: process.pid,
  }),
  privileges: () => {
    const s = status();
    const mount = spawnSync('/usr/bin/mount', ['-t', 'tmpfs', 'none', '/tmp'], { encoding: 'utf8' });
    const chroot = spawnSync('/usr/sbin/chroot', ['/', '/usr/bin/true'], { encoding: 'utf8' });
    let setuid;
    try { process.setuid(0); setuid = 'became root'; } catch (e) { setuid = e.code; }
    return { uid: process.getuid(), noNewPrivs: s.NoNewPrivs, capEff: s.CapEff, capBnd: s.CapBnd,
      mount: mount.status, chroot: chroot.status, setuid };
  },
  descriptors: () => {
    const fds = [];
    let error;
    try { for (;;) fds.push(fs.openSync('/dev/null', 'r')); } catch (e) { error = e.code; }
    for (const fd of fds) fs.closeSync(fd);
    const limits = fs.readFileSync('/proc/self/limits', 'utf8').split('\\n').find((l) => l.startsWith('Max open files'));
    return { opened: fds.length, error, limits: limits && limits.split(/\\s{2,}/) };
  },
  signals: () => {
    // Every process this uid may signal: inside a pid namespace, only the sandbox's own (this runtime too).
    process.kill(-1, 'SIGKILL');
    return 'still alive';
  },
};
exports.handler = async (event) => attacks[event.attack]();
`;

/** PTRACE_ATTACH and process_vm_readv from native code (libc through ctypes), on pids given by the test. */
const tracer = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
def attempt(call):
    ctypes.set_errno(0)
    r = call()
    return "succeeded" if r >= 0 else os.strerror(ctypes.get_errno())
def handler(event, context):
    out = {}
    buf = ctypes.create_string_buffer(16)
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), 16)
    remote = iovec(ctypes.c_void_p(0x400000), 16)
    for pid in event["pids"]:
        out[str(pid)] = {
            "ptrace": attempt(lambda: libc.ptrace(16, pid, None, None)),
            "vm_readv": attempt(lambda: libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)),
        }
    # The control: the same call on its own memory works, so the refusals above are the kernel's.
    mine = ctypes.create_string_buffer(b"kiln", 16)
    own = iovec(ctypes.cast(mine, ctypes.c_void_p), 16)
    out["self"] = attempt(lambda: libc.process_vm_readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(own), 1, 0))
    return out
`;

describe('hostile: escape attempts', () => {
  let kiln: KilnProcess;
  let lambda: LambdaClient;
  const invoke = async (name: string, payload: unknown) =>
    lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }));
  /** The benign function's environment id (made at its INIT): it must stay the same through every attack. */
  const benignEnv = async (): Promise<unknown> => {
    const out = await invoke('benign', {});
    assert.equal(out.FunctionError, undefined);
    return payloadJson(out).envId;
  };
  let benign: unknown;

  before(async () => {
    kiln = await startKiln();
    lambda = sdk(kiln.endpoint);
    await lambda.send(nodeFunction('benign', await nodeZip(nodeProbe)));
    await lambda.send(nodeFunction('attacker', await nodeZip(attacker), { Timeout: 30, MemorySize: 512 }));
    await lambda.send(
      nodeFunction('tracer', await pythonZip(tracer), { Runtime: 'python3.11', Handler: 'app.handler' }),
    );
    benign = await benignEnv();
  });
  after(async () => {
    lambda.destroy();
    await kiln.stop();
    removeDir(kiln.dataDir);
  });

  it('sees only its own processes', async () => {
    const r = payloadJson(await invoke('attacker', { attack: 'processes' })) as {
      pids: number[];
      self: number;
    };
    assert.ok(r.pids.length <= 8, `a handful of sandbox processes, saw ${r.pids.join(',')}`);
    assert.ok(r.pids.includes(r.self));
    assert.equal(await benignEnv(), benign);
  });

  it('has no privileges and cannot mount, chroot or become root', async () => {
    const r = payloadJson(await invoke('attacker', { attack: 'privileges' }));
    assert.notEqual(r.uid, 0);
    assert.equal(r.noNewPrivs, '1', 'no_new_privs: setuid binaries grant nothing');
    assert.equal(r.capEff, '0000000000000000');
    assert.notEqual(r.mount, 0, 'mount failed');
    assert.notEqual(r.chroot, 0, 'chroot failed');
    // EINVAL: uid 0 is not even mapped into the sandbox's user namespace.
    assert.ok(r.setuid === 'EPERM' || r.setuid === 'EINVAL', `setuid(0): ${String(r.setuid)}`);
    assert.equal(await benignEnv(), benign);
  });

  it('runs out of file descriptors at Lambda’s 1,024, soft and hard', async () => {
    const r = payloadJson(await invoke('attacker', { attack: 'descriptors' })) as {
      opened: number;
      error: string;
      limits: string[];
    };
    assert.equal(r.error, 'EMFILE');
    assert.ok(r.opened < 1024, `opened ${r.opened}`);
    assert.deepEqual(r.limits?.slice(1, 3), ['1024', '1024']);
    assert.equal(await benignEnv(), benign);
  });

  it('signalling every process it can kills only its own sandbox', async () => {
    // kill(-1) spares the caller and its namespace's init: the relay dies, the runtime answers.
    const out = await invoke('attacker', { attack: 'signals' });
    const answer = JSON.parse(Buffer.from(out.Payload ?? []).toString()) as unknown;
    assert.ok(
      answer === 'still alive' || (answer as { errorType?: string }).errorType === 'Runtime.ExitError',
      JSON.stringify(answer),
    );
    assert.equal(await benignEnv(), benign, 'the benign environment survived');
    assert.ok(kiln.child.exitCode === null, 'Kiln survived');
  });

  it('cannot ptrace or read the memory of Kiln or another environment', async () => {
    // Host pids: Kiln itself and every process of the benign function's sandbox (which is running).
    const benignPids = sandboxPids(kiln.cgroupParent);
    const targets = [kiln.child.pid ?? 0, ...benignPids].filter((p) => p > 100);
    assert.ok(targets.length >= 2, `Kiln and the benign sandbox: ${targets.join(',')}`);
    const out = await invoke('tracer', { pids: targets });
    assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
    const results = payloadJson(out) as Record<string, { ptrace: string; vm_readv: string } | string>;
    assert.equal(results.self, 'succeeded', 'process_vm_readv works on its own memory');
    for (const pid of targets) {
      const r = results[String(pid)];
      // Outside its pid namespace those numbers name nothing it can see.
      assert.deepEqual(r, { ptrace: 'No such process', vm_readv: 'No such process' }, `pid ${pid}`);
    }
    assert.equal(await benignEnv(), benign);
  });
});
