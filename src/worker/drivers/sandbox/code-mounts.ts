// Late code for pre-initialised sandboxes ("zygotes"). A zygote starts with an empty per-slot directory bound
// at /var/task; when it is specialised to a function, the function's code is mounted onto that slot and the
// mount propagates into the sandbox. For that:
//   - the slots' parent directory is a shared mount (a bind of itself), so every zygote's /var/task is a slave
//     of it and receives mounts made later on its own slot, and only on its own slot;
//   - the code must arrive read-only in one step: a bind followed by a read-only remount would propagate the
//     bind while it is still writable (remounts do not propagate). The new mount API does it atomically:
//     open_tree(CLONE) a detached copy, mount_setattr it read-only/nosuid/nodev, then move_mount it in place;
//   - none of these mounts may outlive Kiln on the host, even after a SIGKILL: they live in a mount namespace of
//     their own, which zygote launchers join (nsenter) before bwrap copies it, and which the kernel frees once
//     the helper and the last zygote are gone.
// Node has no binding for those syscalls and spawning a helper per specialisation costs milliseconds, so one
// long-lived root `perl` (perl-base, always on Debian) owns that namespace and makes the mounts on request. It
// reads "op\tpath[\tpath]" lines from Kiln only and answers one line each ("ok" or the error); it runs nothing
// else, and exits when Kiln closes its stdin (or dies).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';

/** Syscalls that differ per architecture; the new mount API (428 open_tree, 429 move_mount, 442 mount_setattr) does not. */
const syscallsByArch: Readonly<Record<string, { unshare: number; mount: number; umount2: number }>> = {
  x64: { unshare: 272, mount: 165, umount2: 166 },
  arm64: { unshare: 97, mount: 40, umount2: 39 },
};

// CLONE_NEWNS; MS_REC|MS_PRIVATE and MS_SHARED; MOUNT_ATTR_RDONLY|NOSUID|NODEV (what bwrap's --ro-bind gives);
// OPEN_TREE_CLONE|O_CLOEXEC; AT_EMPTY_PATH; MOVE_MOUNT_F_EMPTY_PATH; MNT_DETACH. AT_FDCWD is -100.
const helperScript = `
use POSIX ();
$| = 1;
my ($unshare, $mount, $umount2, $slots) = @ARGV;
my $empty = "";
my $none = "none";
my $root = "/";
my $attr = pack("QQQQ", 7, 0, 0, 0);
sub fail { print "$_[0]: $!\n"; exit 1; }
sub ro_bind {
  my ($from, $to, $ro) = @_;
  my $fd = syscall(428, -100, $from, 0x80001);
  return "open_tree $from: $!" if $fd < 0;
  my $err = "";
  $err = "mount_setattr: $!" if $ro && syscall(442, $fd, $empty, 0x1000, $attr, 32) != 0;
  $err = "move_mount $to: $!" if $err eq "" && syscall(429, $fd, $empty, -100, $to, 4) != 0;
  POSIX::close($fd);
  return $err;
}
syscall($unshare, 0x20000) == 0 or fail("unshare");
syscall($mount, $none, $root, 0, 0x44000, 0) == 0 or fail("making / private");
my $e = ro_bind($slots, $slots, 0);
if ($e ne "") { print "$e\n"; exit 1; }
syscall($mount, $none, $slots, 0, 0x100000, 0) == 0 or fail("making $slots shared");
print "ok\n";
while (my $line = <STDIN>) {
  chomp $line;
  my ($op, $a, $b) = split /\t/, $line, 3;
  if ($op eq "ro-bind") {
    my $err = ro_bind($a, $b, 1);
    print $err eq "" ? "ok\n" : "$err\n";
  } elsif ($op eq "umount") {
    print syscall($umount2, $a, 2) == 0 || $!{EINVAL} || $!{ENOENT} ? "ok\n" : "umount $a: $!\n";
  } else {
    print "unknown operation $op\n";
  }
}
`;

interface Pending {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class CodeMounts {
  private helper: ChildProcess | undefined;
  private readonly pending: Pending[] = [];
  private buffered = '';

  constructor(
    /** The shared parent of every slot (in the helper's namespace); only this driver uses it. */
    readonly slotsDir: string,
    private readonly perl = '/usr/bin/perl',
  ) {}

  /**
   * Starts the helper: its own mount namespace, `slotsDir` (emptied first) a shared mount in it. Throws what is
   * missing; the caller then starts sandboxes the ordinary way only.
   */
  async prepare(): Promise<void> {
    const calls = syscallsByArch[process.arch];
    if (calls === undefined)
      throw new Error(`late code mounts are not implemented for ${process.arch} (x64 and arm64 are)`);
    this.close();
    await rm(this.slotsDir, { recursive: true, force: true });
    await mkdir(this.slotsDir, { recursive: true, mode: 0o755 });
    const args = [String(calls.unshare), String(calls.mount), String(calls.umount2), this.slotsDir];
    if (args.some((a) => /[\t\n\0]/.test(a))) throw new Error(`unusable slots directory ${this.slotsDir}`);
    const child = spawn(this.perl, ['-e', helperScript, ...args], {
      env: {},
      cwd: '/',
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.helper = child;
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => this.onAnswer(text));
    const fail = (why: string): void => {
      if (this.helper === child) this.helper = undefined;
      this.buffered = '';
      for (const p of this.pending.splice(0))
        p.reject(new Error(`the code mount helper (${this.perl}) ${why}`));
    };
    child.on('error', (err) => fail(`could not run: ${err.message}`));
    child.on('exit', (code, signal) => fail(`exited (${signal ?? code})`));
    child.stdin?.on('error', () => undefined);
    // Its first answer says whether the namespace and the shared slots mount are in place.
    await new Promise<void>((resolve, reject) => this.pending.push({ resolve, reject }));
    // It idles between requests and must not keep Kiln's event loop alive.
    child.unref();
    for (const s of [child.stdin, child.stdout]) (s as unknown as { unref?: () => void } | null)?.unref?.();
  }

  /** The mount namespace zygote launchers join; undefined when the helper is not running. */
  get namespace(): string | undefined {
    const pid = this.helper?.pid;
    return pid === undefined ? undefined : `/proc/${pid}/ns/mnt`;
  }

  /** Mounts `codeDir` read-only (nosuid, nodev) onto `slot`, in one step, so no writable moment propagates. */
  roBind(codeDir: string, slot: string): Promise<void> {
    return this.request(['ro-bind', codeDir, slot]);
  }

  /** Detaches whatever is mounted on `slot` (nothing mounted is fine). */
  unmount(slot: string): Promise<void> {
    return this.request(['umount', slot]);
  }

  /** Ends the helper; its namespace goes once no zygote is left in it. */
  close(): void {
    this.helper?.stdin?.end();
    this.helper = undefined;
  }

  private onAnswer(text: string): void {
    this.buffered += text;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const answer = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      const p = this.pending.shift();
      if (answer === 'ok') p?.resolve();
      else p?.reject(new Error(`code mount failed: ${answer}`));
    }
  }

  private request(fields: string[]): Promise<void> {
    for (const f of fields) {
      if (/[\t\n\0]/.test(f))
        throw new Error(`code mount path ${JSON.stringify(f)} contains a tab or newline`);
    }
    const helper = this.helper;
    if (helper === undefined) return Promise.reject(new Error('the code mount helper is not running'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      helper.stdin?.write(`${fields.join('\t')}\n`);
    });
  }
}
